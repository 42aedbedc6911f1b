import Foundation
import Testing
import TestSupport

/// A client written from the protocol alone, in another language (Python,
/// pika): the proof that the contract is the protocol and not our code.
@Suite("Foreign client (pika) against the worker")
struct ForeignClientTests {
    static let script = repositoryRoot + "/examples/python/get_code.py"

    @Test("The pika example gets the right code; forbidden and bad requests give their exit status")
    func pikaExample() throws {
        let worker = try WorkerProcess(
            accounts: ["sf-eu": (30, 6, "SHA1"), "other": (30, 6, "SHA1")],
            allow: ["rpa-bot-eu-1": ["sf-eu"]]
        ).start()
        defer { worker.stop() }
        let url = "amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:\(Broker.port)/%2F"

        let ok = try run("/usr/bin/env", ["python3", Self.script, "--account", "sf-eu", "--url", url, "--queue", worker.queue, "--json"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let reply = try #require(try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any])
        let start = try #require((reply["window_start"] as? NSNumber)?.int64Value)
        #expect(reply["code"] as? String == (try worker.expectedCode(account: "sf-eu", windowStart: start)))
        let properties = try #require(reply["_properties"] as? [String: Any])
        #expect(properties["delivery_mode"] as? Int == 1)
        #expect(properties["type"] as? String == "mfa-code-reply")
        #expect(properties["content_type"] as? String == "application/json")

        let forbidden = try run("/usr/bin/env", ["python3", Self.script, "--account", "other", "--url", url, "--queue", worker.queue])
        #expect(forbidden.status == 2)
        #expect(forbidden.stderr == "forbidden: requester is not allowed this account\n")

        let bad = try run("/usr/bin/env", ["python3", Self.script, "--account", "sf-eu", "--min-validity-ms", "40000", "--url", url, "--queue", worker.queue])
        #expect(bad.status == 3)
        #expect(bad.stderr == "bad_request: min_validity_ms must be at most 29000 for this account\n")
    }

    @Test("The pika example on a once_per_window account: one code per window, then busy with retry_after_ms")
    func pikaOncePerWindow() throws {
        let worker = try WorkerProcess(accounts: ["sf-eu": (3600, 6, "SHA1")], oncePerWindow: ["sf-eu"]).start()
        defer {
            worker.stop()
            if let admin = try? Broker.admin() {
                _ = try? admin.deleteQueue(worker.turnQueue("sf-eu"))
                admin.close()
            }
        }
        let url = "amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:\(Broker.port)/%2F"
        let first = try run("/usr/bin/env", ["python3", Self.script, "--account", "sf-eu", "--url", url, "--queue", worker.queue])
        #expect(first.status == 0, "\(first.stderr)")
        let second = try run("/usr/bin/env", ["python3", Self.script, "--account", "sf-eu", "--url", url, "--queue", worker.queue])
        #expect(second.status == 9, "\(second.stdout)\(second.stderr)")
        #expect(second.stderr.range(of: #"^busy: .* \(retry after \d+ ms\)\n$"#, options: .regularExpression) != nil, "\(second.stderr)")
    }
}
