import AMQP
import Foundation
import MFAClient
import Testing
import TestSupport

/// MFAClient and `mfa-worker request` against the worker.
@Suite("MFAClient and request against the worker")
struct ClientTests {
    static func client(_ worker: WorkerProcess, user: String = "rpa-bot-eu-1") throws -> MFAClient {
        MFAClient(MFAClientConfiguration(
            urls: [try BrokerURL(parsing: "amqp://\(user)@127.0.0.1:\(Broker.port)/%2F")],
            password: Broker.password(of: user),
            requestQueue: worker.queue
        ))
    }

    @Test("Many concurrent callers over one connection, each with the right code")
    func concurrentCallers() async throws {
        let worker = try WorkerProcess(accounts: ["sf-eu": (30, 6, "SHA1"), "other": (30, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["sf-eu"]]).start()
        defer { worker.stop() }
        let client = try Self.client(worker)
        defer { client.close() }
        let codes = try await withThrowingTaskGroup(of: MFACode.self) { group in
            for _ in 0..<200 {
                group.addTask { try await client.code(for: "sf-eu", timeout: .seconds(20)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(codes.count == 200)
        for code in codes {
            #expect(code.code == (try worker.expectedCode(account: "sf-eu", windowStart: code.windowStart)))
        }
        #expect(!"\(codes[0])".contains(codes[0].code))

        await #expect(throws: MFAClientError.forbidden(message: "requester is not allowed this account")) {
            try await client.code(for: "other")
        }
        await #expect(throws: MFAClientError.badRequest(message: "min_validity_ms must be at most 29000 for this account")) {
            try await client.code(for: "sf-eu", minValidity: .seconds(29.5))
        }
    }

    @Test("minValidity: the code stays valid at least that long")
    func minValidity() async throws {
        let worker = try WorkerProcess(accounts: ["short": (3, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["short"]]).start()
        defer { worker.stop() }
        let client = try Self.client(worker)
        defer { client.close() }
        for _ in 0..<3 {
            let code = try await client.code(for: "short", minValidity: .seconds(2), timeout: .seconds(10))
            #expect(code.expiresIn >= .seconds(2))
        }
    }

    @Test("No worker: a timeout; no request queue: said so; a wrong password: connection failed")
    func failures() async throws {
        let noWorker = MFAClient(MFAClientConfiguration(
            urls: [try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:\(Broker.port)/%2F")],
            password: "rpa-bot-eu-1-password", requestQueue: "mfa-code-request-nobody-\(UUID().uuidString.prefix(6))"
        ))
        defer { noWorker.close() }
        await #expect(throws: MFAClientError.noRequestQueue(noWorker.configuration.requestQueue)) {
            try await noWorker.code(for: "sf-eu", timeout: .seconds(3))
        }

        // A queue with no consumer: the request waits, the caller times out.
        let admin = try Broker.admin()
        let idle = Broker.uniqueQueueName("idle")
        try admin.declareQueue(idle, autoDelete: false)
        defer {
            _ = try? admin.deleteQueue(idle)
            admin.close()
        }
        let waiting = MFAClient(MFAClientConfiguration(
            urls: [try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:\(Broker.port)/%2F")],
            password: "rpa-bot-eu-1-password", requestQueue: idle
        ))
        defer { waiting.close() }
        await #expect(throws: MFAClientError.timeout) {
            try await waiting.code(for: "sf-eu", timeout: .milliseconds(500))
        }

        let wrong = MFAClient(MFAClientConfiguration(
            urls: [try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:\(Broker.port)/%2F")], password: "wrong"
        ))
        defer { wrong.close() }
        do {
            _ = try await wrong.code(for: "sf-eu", timeout: .seconds(5))
            Issue.record("a wrong password got a code")
        } catch {
            #expect(error.kind == "connection_failed")
            #expect(error.description.contains("403 ACCESS_REFUSED"))
        }
    }

    @Test("A closed client fails its callers with closed")
    func closed() async throws {
        let client = MFAClient(MFAClientConfiguration(urls: [try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:1/%2F")], password: "x"))
        client.close()
        await #expect(throws: MFAClientError.closed) { try await client.code(for: "a", timeout: .seconds(1)) }
    }

    @Test("mfa-worker request prints the code alone; errors have one line and their exit status")
    func requestCommand() throws {
        let worker = try WorkerProcess(accounts: ["sf-eu": (30, 6, "SHA1"), "other": (30, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["sf-eu"]]).start()
        defer { worker.stop() }
        let environment = ["MFA_BROKER_URL": "amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:\(Broker.port)/%2F", "PATH": "/usr/bin:/bin"]

        let ok = try mfaWorker("request", "--account", "sf-eu", "--queue", worker.queue, environment: environment)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.range(of: #"^\d{6}\n$"#, options: .regularExpression) != nil)
        let json = try mfaWorker("request", "--account", "sf-eu", "--queue", worker.queue, "--json", environment: environment)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let start = try #require((object["window_start"] as? NSNumber)?.int64Value)
        #expect(object["code"] as? String == (try worker.expectedCode(account: "sf-eu", windowStart: start)))

        let forbidden = try mfaWorker("request", "--account", "other", "--queue", worker.queue, environment: environment)
        #expect(forbidden.status == 2)
        #expect(forbidden.stderr == "forbidden: requester is not allowed this account\n")
        let bad = try mfaWorker("request", "--account", "sf-eu", "--min-validity-ms", "30000", "--queue", worker.queue, environment: environment)
        #expect(bad.status == 3)

        // The password from a file, the user from a flag.
        let folder = TemporaryDirectory()
        let file = folder.write("password", "rpa-bot-eu-1-password\n")
        let fromFile = try mfaWorker("request", "--account", "sf-eu", "--queue", worker.queue, "--url", "amqp://127.0.0.1:\(Broker.port)/%2F",
                                     "--user", "rpa-bot-eu-1", "--password-file", file, environment: ["PATH": "/usr/bin:/bin"])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")

        let unreachable = try mfaWorker("request", "--account", "sf-eu", "--url", "amqp://u:p@127.0.0.1:1/%2F", "--timeout", "1")
        #expect(unreachable.status == 8)
        #expect(unreachable.stderr == "connection failed: cannot connect to 127.0.0.1:1: connection refused\n")
    }
}
