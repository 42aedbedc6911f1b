import AMQP
import Foundation
import MFABroker
import MFAClient
import TestSupport
import Testing

/// MFAClient and `mfa-worker request` against the worker.
@Suite("MFAClient and request against the worker")
struct ClientTests {
    static func client(_ worker: WorkerProcess, user: String = "rpa-bot-eu-1") throws -> MFAClient {
        MFAClient(
            MFAClientConfiguration(
                urls: [try BrokerURL(parsing: "amqp://\(user)@127.0.0.1:\(Broker.port)/%2F")],
                password: Broker.password(of: user),
                requestQueue: worker.queue
            ))
    }

    /// A request queue that exists and that no worker consumes.
    static func declareIdleQueue() throws -> String {
        let idle = Broker.uniqueQueueName("idle")
        let admin = try Broker.admin()
        defer { admin.close() }
        try admin.declareQueue(idle, durable: true)
        return idle
    }

    /// A request queue with a consumer that never answers: a slow worker.
    /// Close the connection, then delete the queue.
    static func declareSilentWorker() throws -> (queue: String, consumer: AMQPConnection) {
        let queue = try declareIdleQueue()
        let consumer = try Broker.admin()
        try consumer.consume(queue: queue)
        return (queue, consumer)
    }

    /// Deletes queues as the test administrator.
    static func deleteQueues(_ queues: [String]) {
        guard let admin = try? Broker.admin() else { return }
        defer { admin.close() }
        for queue in queues { _ = try? admin.deleteQueue(queue) }
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

        await #expect(throws: MFAClientError.forbidden(message: "requester is not allowed this account, or there is no such account")) {
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

    @Test("A client that never saw a worker says at once why nobody can answer; a wrong password: connection failed")
    func failures() async throws {
        // Every call may wait 30 s: these errors come only from the checks
        // before a request is sent; a call that waited would end in timeout.
        let missing = MFAClient(
            MFAClientConfiguration(
                urls: [try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:\(Broker.port)/%2F")],
                password: "rpa-bot-eu-1-password", requestQueue: Broker.uniqueQueueName("nobody")
            ))
        defer { missing.close() }
        await #expect(throws: MFAClientError.noRequestQueue(missing.configuration.requestQueue)) {
            try await missing.code(for: "sf-eu", timeout: .seconds(30))
        }
        #expect(MFAClientError.noRequestQueue("q").description == "the request queue q does not exist")

        // A queue with no consumer (a robot may not configure it: the check
        // is a passive declare, which needs no permission). The same client
        // checks again for its next call.
        let idle = try Self.declareIdleQueue()
        defer { Self.deleteQueues([idle]) }
        let waiting = MFAClient(
            MFAClientConfiguration(
                urls: [try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:\(Broker.port)/%2F")],
                password: "rpa-bot-eu-1-password", requestQueue: idle
            ))
        defer { waiting.close() }
        for _ in 0..<2 {
            await #expect(throws: MFAClientError.noWorker(idle)) {
                try await waiting.code(for: "sf-eu", timeout: .seconds(30))
            }
        }
        #expect(MFAClientError.noWorker("q").description == "no worker is consuming q")

        // Something consumes but does not answer (a slow worker): the caller
        // waits its whole timeout.
        let silent = try Self.declareSilentWorker()
        defer {
            silent.consumer.close()
            Self.deleteQueues([silent.queue])
        }
        let slow = MFAClient(
            MFAClientConfiguration(
                urls: [try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:\(Broker.port)/%2F")],
                password: "rpa-bot-eu-1-password", requestQueue: silent.queue
            ))
        defer { slow.close() }
        await #expect(throws: MFAClientError.timeout) {
            try await slow.code(for: "sf-eu", timeout: .seconds(2))
        }

        // No broker on any of the URLs.
        let refused = MFAClient(
            MFAClientConfiguration(
                urls: [try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:1/%2F"), try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:2/%2F")],
                password: "x"
            ))
        defer { refused.close() }
        await #expect(throws: MFAClientError.connectionRefused("127.0.0.1:1 or 127.0.0.1:2")) {
            try await refused.code(for: "sf-eu", timeout: .seconds(30))
        }
        #expect(MFAClientError.connectionRefused("h:1").description == "connection refused: is RabbitMQ running on h:1?")

        let wrong = MFAClient(
            MFAClientConfiguration(
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

    @Test("A client that has seen a worker takes a missing one for a restart: its caller waits and gets the next worker's code")
    func workerReplaced() async throws {
        let first = try WorkerProcess().start()
        defer {
            first.stop()
            Self.deleteQueues([first.queue])
        }
        let client = try Self.client(first)
        defer { client.close() }
        _ = try await client.code(for: "sf-eu")

        first.stop()
        // No consumer now. The call is asked anyway and waits in the queue
        // for the worker that replaces the first.
        let call = Task { try await client.code(for: "sf-eu", timeout: .seconds(60)) }
        let second = try WorkerProcess(queue: first.queue, keysFrom: first).start()
        defer { second.stop() }
        let code = try await call.value
        let right = try code.code == second.expectedCode(account: "sf-eu", windowStart: code.windowStart)
        #expect(right, "not the code of the worker's key for its window")
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
        #expect(forbidden.stderr == "forbidden: requester is not allowed this account, or there is no such account\n")
        let bad = try mfaWorker("request", "--account", "sf-eu", "--min-validity-ms", "30000", "--queue", worker.queue, environment: environment)
        #expect(bad.status == 3)

        // The password from a file, the user from a flag.
        let folder = TemporaryDirectory()
        let file = folder.write("password", "rpa-bot-eu-1-password\n")
        let fromFile = try mfaWorker(
            "request", "--account", "sf-eu", "--queue", worker.queue, "--url", "amqp://127.0.0.1:\(Broker.port)/%2F",
            "--user", "rpa-bot-eu-1", "--password-file", file, environment: ["PATH": "/usr/bin:/bin"])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")

        // Nobody to answer: said at once, with the status of today's
        // failures (7 no answer, 8 no connection or no queue). Each run may
        // wait 30 s: these lines come only from the checks before the
        // request, a run that waited would say "timeout".
        let unreachable = try mfaWorker("request", "--account", "sf-eu", "--url", "amqp://u:p@127.0.0.1:1/%2F", "--timeout", "30")
        #expect(unreachable.status == 8)
        #expect(unreachable.stderr == "connection refused: is RabbitMQ running on 127.0.0.1:1?\n")
        let missing = Broker.uniqueQueueName("missing")
        let noQueue = try mfaWorker("request", "--account", "sf-eu", "--queue", missing, "--timeout", "30", environment: environment)
        #expect(noQueue.status == 8)
        #expect(noQueue.stderr == "the request queue \(missing) does not exist\n")
        let idle = try Self.declareIdleQueue()
        defer { Self.deleteQueues([idle]) }
        let noWorker = try mfaWorker("request", "--account", "sf-eu", "--queue", idle, "--timeout", "30", environment: environment)
        #expect(noWorker.status == 7)
        #expect(noWorker.stderr == "no worker is consuming \(idle)\n")
        // A consumer that does not answer: the whole timeout, then 7.
        let silent = try Self.declareSilentWorker()
        defer {
            silent.consumer.close()
            Self.deleteQueues([silent.queue])
        }
        let slow = try mfaWorker("request", "--account", "sf-eu", "--queue", silent.queue, "--timeout", "1", environment: environment)
        #expect(slow.status == 7)
        #expect(slow.stderr == "timeout: no reply in time\n")
    }
}
