import Foundation
import MFABroker
import TestSupport
import Testing

/// Login outcomes and the lockout guard through the broker: failures pause
/// an account, the pause holds across a restart and ends with `resume`;
/// outcomes count only from a requester handed that window.
@Suite("Lockout guard against the broker", .serialized)
struct LockoutGuardTests {
    static let members = ["sf-eu-1", "sf-eu-2", "sf-eu-3"]
    static let period = 2

    static func worker(
        keysFrom other: WorkerProcess? = nil, queue: String = Broker.uniqueQueueName(), lockoutGuard: String? = nil
    )
        -> WorkerProcess
    {
        WorkerProcess(
            accounts: Dictionary(uniqueKeysWithValues: members.map { ($0, (period, 6, "SHA1")) }),
            allow: ["rpa-bot-eu-1": ["sf-eu", "sf-eu-1"], "rpa-bot-eu-2": ["sf-eu-1"]], queue: queue,
            extra: "pools:\n  sf-eu: {members: [\(members.joined(separator: ", "))]}\nreply: {default_min_validity_ms: 0}",
            workers: 1, keysFrom: other, oncePerWindow: Set(members), turnsPerRequester: 50, lockoutGuard: lockoutGuard)
    }

    /// Reports an outcome as `robot`; returns the answer.
    static func report(
        _ robot: Requester, account: String, windowStart: Int64, _ outcome: String, reason: String? = nil
    ) throws -> Requester.Reply? {
        var body = #"{"account":"\#(account)","window_start":\#(windowStart),"outcome":"\#(outcome)""#
        if let reason { body += #","reason":"\#(reason)""# }
        body += "}"
        let id = try robot.send(body: body, type: "mfa-login-outcome")
        return try robot.reply(to: id, timeout: 15)
    }

    /// A code by name or pool, checked.
    static func code(_ robot: Requester, _ name: String, worker: WorkerProcess) throws -> (account: String, windowStart: Int64)? {
        let id = try robot.send(account: name, maxWait: 60_000)
        guard let reply = try robot.reply(to: id, timeout: 30), reply.status == "ok", let account = reply.json["account"] as? String,
            let start = reply.windowStart
        else { return nil }
        #expect(reply.code == (try worker.expectedCode(account: account, windowStart: start)))
        return (account, start)
    }

    @Test(
        "Three failed logins pause a member: by name it answers paused, the pool serves the others; the pause holds across a restart and ends with resume"
    )
    func threeFailuresPause() throws {
        let first = try Self.worker().start()
        defer {
            if let admin = try? Broker.admin() {
                _ = try? admin.deleteQueue(first.turnQueue(pool: "sf-eu", firstMember: Self.members[0]))
                admin.close()
            }
        }
        let robot = try Requester(requestQueue: first.queue)
        // Three windows of sf-eu-1, each reported failed.
        var windows: [Int64] = []
        for _ in 0..<3 {
            let given = try #require(try Self.code(robot, "sf-eu-1", worker: first))
            #expect(given.account == "sf-eu-1")
            windows.append(given.windowStart)
        }
        #expect(Set(windows).count == 3, "once_per_window gives three windows: \(windows)")
        for (index, window) in windows.enumerated() {
            let answer = try #require(try Self.report(robot, account: "sf-eu-1", windowStart: window, "failure", reason: "INVALID_CODE \(index + 1)"))
            #expect(answer.text == #"{"status":"ok"}"#, "\(answer.text)")
        }
        // A repeated report of the same window is taken and not counted again.
        #expect(try Self.report(robot, account: "sf-eu-1", windowStart: windows[0], "failure")?.text == #"{"status":"ok"}"#)

        // The third failure's answer came after the pause was in force.
        let byName = try #require(try robot.ask(account: "sf-eu-1", timeout: 15))
        #expect(byName.error == "paused", "\(byName.text)")
        let retryAfter = (byName.json["retry_after_ms"] as? NSNumber)?.int64Value ?? 0
        #expect(retryAfter > 3_500_000 && retryAfter <= 3_600_000, "\(byName.text)")
        // The pool skips the paused member.
        for _ in 0..<4 {
            let given = try #require(try Self.code(robot, "sf-eu", worker: first))
            #expect(given.account != "sf-eu-1", "the pool gave the paused member")
        }
        #expect(first.waitForLog("account paused by its lockout guard"))
        #expect(first.audit.contains(#""outcome":"paused""#))
        #expect(first.audit.contains(#""outcome":"login_failure","verdict":"counted","failures":3"#), "\(first.audit)")
        #expect(first.audit.contains(#""verdict":"repeated""#))
        #expect(first.stop() == 0)

        // A restart reads the pause back from the guard log before serving.
        let second = try Self.worker(keysFrom: first, queue: first.queue).start()
        defer { second.stop() }
        #expect(second.waitForLog("paused: sf-eu-1"), "the guard log read at start names the paused account")
        let restarted = try #require(try robot.ask(account: "sf-eu-1", timeout: 15))
        #expect(restarted.error == "paused", "\(restarted.text)")

        // resume, with the worker's login: exit 0 once the pause has ended.
        let resumed = try mfaWorker("resume", "sf-eu-1", "--config", second.configPath)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("sf-eu-1: pause ended"), "\(resumed.stdout)")
        #expect(resumed.stdout.contains("3 failures cleared"), "\(resumed.stdout)")
        #expect(second.waitForLog("pause ended by resume"))
        let served = try #require(try Self.code(robot, "sf-eu-1", worker: second))
        #expect(served.account == "sf-eu-1")
    }

    @Test("An outcome from a requester that was not handed that window is refused (forbidden) and does not count; the handed one counts")
    func outcomeFromAnotherRequester() throws {
        let worker = try Self.worker(lockoutGuard: "{max_failures: 1}").start()
        let handed = try Requester(requestQueue: worker.queue)
        let other = try Requester("rpa-bot-eu-2", requestQueue: worker.queue)
        let given = try #require(try Self.code(handed, "sf-eu-1", worker: worker))

        // rpa-bot-eu-2 may have sf-eu-1, but was not handed this window.
        let refused = try #require(try Self.report(other, account: "sf-eu-1", windowStart: given.windowStart, "failure"))
        #expect(refused.error == "forbidden", "\(refused.text)")
        // Not counted: with max_failures 1, one counted failure pauses.
        let still = try #require(try Self.code(handed, "sf-eu-1", worker: worker))
        #expect(still.account == "sf-eu-1", "a refused outcome paused the account")
        // A window nobody was handed, and one in the future: refused alike.
        let future = given.windowStart + 3600
        #expect(try Self.report(handed, account: "sf-eu-1", windowStart: future, "failure")?.error == "forbidden")
        #expect(try Self.report(handed, account: "sf-eu-2", windowStart: given.windowStart, "failure")?.error == "forbidden")

        // The requester handed the window: counted, and the account pauses.
        #expect(try Self.report(handed, account: "sf-eu-1", windowStart: still.windowStart, "failure")?.text == #"{"status":"ok"}"#)
        #expect(try handed.ask(account: "sf-eu-1", timeout: 15)?.error == "paused")
        #expect(worker.audit.contains(#""verdict":"refused""#))
        // A success does not count as a failure, nor does it need a pause.
        let success = try #require(try Self.report(handed, account: "sf-eu-1", windowStart: given.windowStart, "success"))
        #expect(success.text == #"{"status":"ok"}"#)
    }
}
