import AMQP
import Foundation
import MFABroker
import MFAClient
import TestSupport
import Testing

/// `issue: once_per_window` through the broker: each window's code goes to
/// one request, in arrival order, at the window's start; `busy` when the
/// window would open too late; and a restart forgets nothing.
@Suite("One code per window against the broker", .serialized)
struct OncePerWindowTests {
    /// Waits until `offset` ms into a window of `period` s, so that a test's
    /// first request meets a window that has just opened.
    static func alignToWindow(period: Int, offset: Int64 = 100) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let periodMs = Int64(period) * 1000
        var wait = periodMs - now % periodMs + offset
        if wait >= periodMs { wait -= periodMs }
        Thread.sleep(forTimeInterval: Double(wait) / 1000)
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 * 1000) }

    static func deleteTurnQueue(of worker: WorkerProcess, _ account: String) {
        if let admin = try? Broker.admin() {
            _ = try? admin.deleteQueue(worker.turnQueue(account))
            admin.close()
        }
    }

    @Test("10 robots at once: 10 consecutive windows in arrival order, each reply at its window's start; busy, then a retry at retry_after_ms gets its window")
    func tenRobots() throws {
        let period = 2
        // One robot user stands for the ten robots. Arrival order is the
        // order the turns are given: each robot sends once the one before
        // has its turn (the worker's debug line says so), so that a loaded
        // machine cannot reorder them.
        let worker = try WorkerProcess(
            accounts: ["sf-eu": (period, 6, "SHA1")], extra: "log: {level: debug}", workers: 2, oncePerWindow: ["sf-eu"], turnsPerRequester: 20
        ).start()
        defer { Self.deleteTurnQueue(of: worker, "sf-eu") }
        let robots = try (0..<10).map { _ in try Requester(requestQueue: worker.queue) }

        Self.alignToWindow(period: period)
        var sent: [[UInt8]] = []
        for (index, robot) in robots.enumerated() {
            sent.append(try robot.send(account: "sf-eu")!)
            #expect(worker.waitForLog("debug \"turn given\"", count: index + 1), "turn \(index + 1) was not given")
        }
        var replies: [Requester.Reply] = []
        for (robot, id) in zip(robots, sent) {
            guard let reply = try robot.reply(to: id, timeout: Double(period * 10 + 5)) else {
                Issue.record("request \(replies.count + 1) had no reply")
                return
            }
            replies.append(reply)
        }
        #expect(replies.allSatisfy { $0.status == "ok" }, "\(replies.map(\.text))")
        let starts = replies.compactMap(\.windowStart)
        let first = starts[0]
        #expect(starts == (0..<10).map { first + Int64($0 * period) }, "windows \(starts) are not consecutive in arrival order")
        var latest: Int64 = 0
        for reply in replies {
            let start = reply.windowStart! * 1000
            let arrived = Self.milliseconds(reply.arrivedAt)
            // Never before its window: no reply can be read before it is sent.
            #expect(arrived >= start, "a reply arrived \(start - arrived) ms before its window opened")
            latest = max(latest, arrived - start)
            #expect(reply.code == (try worker.expectedCode(account: "sf-eu", windowStart: reply.windowStart!)))
            // Made in its window, and its TTL ends no later than its code
            // (the worker's own figures, not when this thread read it).
            let left = reply.expiresIn ?? -1
            #expect(left > 0 && left <= Int64(period) * 1000, "expires_in_ms \(left)")
            let ttl = Int64(reply.properties.expiration ?? "") ?? 0
            #expect(ttl > 0 && ttl <= left, "the reply outlives its window: TTL \(ttl) ms, \(left) ms left")
        }
        print("ten robots: replies read at most \(latest) ms after their window opened")
        #expect(Set(replies.compactMap(\.code)).count == 10)

        // Every window up to first+18 s is taken: a request that waits at
        // most 1 s is busy, and told when the next free window opens.
        let asker = robots[0]
        let askedAt = Self.milliseconds(Date())
        let busyID = try asker.send(account: "sf-eu", maxWait: 1000)
        guard let busy = try asker.reply(to: busyID) else {
            Issue.record("the busy request had no reply")
            return
        }
        #expect(busy.status == "error" && busy.error == "busy", "\(busy.text)")
        #expect(busy.code == nil)
        let retryAfter = (busy.json["retry_after_ms"] as? NSNumber)?.int64Value ?? -1
        let nextFree = (first + Int64(10 * period)) * 1000
        #expect(
            WorkerClock.points(retryAfter, at: nextFree, sentAt: askedAt, receivedAt: Self.milliseconds(busy.arrivedAt)),
            "retry_after_ms \(retryAfter) does not point at the next free window")

        // Ask again when told: that window, at once.
        Thread.sleep(forTimeInterval: Double(max(0, askedAt + retryAfter - Self.milliseconds(Date()))) / 1000)
        let retryID = try asker.send(account: "sf-eu", maxWait: 1000)
        guard let retry = try asker.reply(to: retryID) else {
            Issue.record("the retry had no reply")
            return
        }
        #expect(retry.status == "ok", "\(retry.text)")
        #expect(retry.windowStart == first + Int64(10 * period))
        #expect(worker.log.contains("outcome=busy"))
    }

    @Test("A restart between two requests of one window: the second request gets the next window")
    func restartKeepsTheRecord() throws {
        let period = 10
        let first = try WorkerProcess(accounts: ["sf-eu": (period, 6, "SHA1")], workers: 1, oncePerWindow: ["sf-eu"]).start()
        defer { Self.deleteTurnQueue(of: first, "sf-eu") }
        let robot = try Requester(requestQueue: first.queue)

        Self.alignToWindow(period: period)
        guard let one = try robot.ask(account: "sf-eu") else {
            Issue.record("no reply before the restart")
            return
        }
        #expect(one.status == "ok", "\(one.text)")
        #expect(first.stop() == 0)

        let second = try WorkerProcess(accounts: ["sf-eu": (period, 6, "SHA1")], queue: first.queue, workers: 1, keysFrom: first, oncePerWindow: ["sf-eu"])
            .start()
        defer { second.stop() }
        let askedAt = Self.milliseconds(Date())
        try #require(askedAt < one.windowEnd! * 1000, "the restart took longer than the window; nothing is shown")
        guard let two = try robot.ask(account: "sf-eu", timeout: Double(period + 5)) else {
            Issue.record("no reply after the restart")
            return
        }
        #expect(two.status == "ok", "\(two.text)")
        #expect(
            two.windowStart == one.windowStart! + Int64(period), "the restarted worker handed out window \(two.windowStart ?? -1) after \(one.windowStart!)")
        #expect(two.code != one.code)
        #expect(Self.milliseconds(two.arrivedAt) >= two.windowStart! * 1000)
        #expect(second.log.contains("1 windows handed out before are kept"), "\(second.log)")
    }

    @Test("A shared account: min_validity_ms beyond max_wait_ms is busy at once, and busy takes nothing")
    func sharedBusy() throws {
        let worker = try WorkerProcess(accounts: ["sf-eu": (3600, 6, "SHA1")]).start()
        let robot = try Requester(requestQueue: worker.queue)
        let sentAt = Self.milliseconds(Date())
        let id = try robot.send(account: "sf-eu", minValidity: 3_599_000, maxWait: 0)
        let reply = try #require(try robot.reply(to: id))
        #expect(reply.error == "busy", "\(reply.text)")
        let retryAfter = (reply.json["retry_after_ms"] as? NSNumber)?.int64Value ?? -1
        let nextWindow = (sentAt / 3_600_000 + 1) * 3_600_000
        #expect(WorkerClock.points(retryAfter, at: nextWindow, sentAt: sentAt, receivedAt: Self.milliseconds(reply.arrivedAt)))
        #expect((try robot.ask(account: "sf-eu"))?.status == "ok")
    }

    @Test("max_wait_ms must be an integer from 0 to 3600000")
    func maxWaitChecked() throws {
        let worker = try WorkerProcess(oncePerWindow: ["sf-eu"]).start()
        defer { Self.deleteTurnQueue(of: worker, "sf-eu") }
        let robot = try Requester(requestQueue: worker.queue)
        for body in [#"{"account":"sf-eu","max_wait_ms":-1}"#, #"{"account":"sf-eu","max_wait_ms":1.5}"#, #"{"account":"sf-eu","max_wait_ms":3600001}"#] {
            let reply = try #require(try robot.reply(to: try robot.send(body: body)))
            #expect(reply.error == "bad_request", "\(body): \(reply.text)")
        }
    }

    @Test("mfa-worker burst reports per account how many codes each window served and how long requests waited")
    func burstReport() throws {
        let worker = try WorkerProcess(
            accounts: ["once": (2, 6, "SHA1"), "shared": (30, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["once", "shared"]], oncePerWindow: ["once"],
            turnsPerRequester: 1000
        ).start()
        defer { Self.deleteTurnQueue(of: worker, "once") }
        let keys = TemporaryDirectory()
        let sharedKey = keys.write("shared.key", worker.keys["shared"]!.base32)
        let environment = ["MFA_BROKER_URL": "amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:\(Broker.port)/%2F", "PATH": "/usr/bin:/bin"]

        // 12 requests at once, 6 for each account. min_validity_ms 300: a
        // two-second window with less left is not given (its reply, held
        // for the record's confirm on a loaded machine, could miss it and be
        // unavailable; CI saw that with one-second windows and 0).
        let run = try mfaWorker(
            "burst", "--account", "once", "--account", "shared", "--connections", "12", "--requests", "12", "--at-once",
            "--max-wait-ms", "30000", "--min-validity-ms", "300", "--timeout", "30", "--queue", worker.queue, "--json", environment: environment)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let accounts = try #require(report["accounts"] as? [[String: Any]])
        #expect(accounts.map { $0["account"] as? String } == ["once", "shared"])
        let once = try #require(accounts.first?["codesPerWindow"] as? [String: Int])
        let shared = try #require(accounts.last?["codesPerWindow"] as? [String: Int])
        // once_per_window: six windows, one code each; shared: six codes in
        // one window (two, when the burst straddles a window's end).
        #expect(once.count == 6 && once.values.allSatisfy { $0 == 1 }, "\(once)")
        #expect(shared.values.reduce(0, +) == 6 && shared.count <= 2, "\(shared)")
        let onceWait = try #require((accounts.first?["waitMilliseconds"] as? [String: Any])?["max"] as? Double)
        let sharedWait = try #require((accounts.last?["waitMilliseconds"] as? [String: Any])?["max"] as? Double)
        // Six two-second windows: the last request waited at least four
        // whole windows, 8 s; the shared account's, a round trip.
        #expect(onceWait >= 8000, "\(onceWait)")
        #expect(sharedWait < onceWait)

        let text = try mfaWorker(
            "burst", "--account", "shared", "--requests", "3", "--queue", worker.queue,
            "--verify-secret-file", sharedKey, environment: environment)
        #expect(text.status == 0, "\(text.stdout)\(text.stderr)")
        #expect(text.stdout.contains("account shared\n  ok         3\n  windows    "), "\(text.stdout)")
        #expect(text.stdout.contains("wrong codes  0"))
    }

    @Test("MFAClient and mfa-worker request: the caller's timeout is its max_wait_ms, and busy is its own error and exit status")
    func clientBusy() async throws {
        let worker = try WorkerProcess(accounts: ["sf-eu": (3600, 6, "SHA1")], oncePerWindow: ["sf-eu"]).start()
        defer { Self.deleteTurnQueue(of: worker, "sf-eu") }
        let client = MFAClient(
            MFAClientConfiguration(
                urls: [try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:\(Broker.port)/%2F")],
                password: Broker.password(of: "rpa-bot-eu-1"), requestQueue: worker.queue
            ))
        defer { client.close() }
        // The hour's window goes to the first call; the next window opens
        // later than a 10 s timeout: busy at once, not a timeout.
        let first = try await client.code(for: "sf-eu")
        #expect(first.code == (try worker.expectedCode(account: "sf-eu", windowStart: first.windowStart)))
        let started = Self.milliseconds(Date())
        var failure: MFAClientError?
        do {
            _ = try await client.code(for: "sf-eu")
        } catch {
            failure = error
        }
        guard case .busy(let retryAfter, _)? = failure else {
            Issue.record("expected busy, got \(failure.map { "\($0)" } ?? "a second code in the same window")")
            return
        }
        // busy, not a timeout: the worker said when the next window opens.
        #expect(WorkerClock.points(retryAfter?.milliseconds ?? -1, at: first.windowEnd * 1000, sentAt: started, receivedAt: Self.milliseconds(Date())))

        let environment = ["MFA_BROKER_URL": "amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:\(Broker.port)/%2F", "PATH": "/usr/bin:/bin"]
        let busy = try mfaWorker("request", "--account", "sf-eu", "--queue", worker.queue, environment: environment)
        #expect(busy.status == 9, "\(busy.stdout)\(busy.stderr)")
        #expect(busy.stderr.hasPrefix("busy: no window for this request opens within its max_wait_ms"), "\(busy.stderr)")
        #expect(busy.stdout.isEmpty)
    }

    @Test("A reload that switches an account to once_per_window is refused whole, and the account stays shared")
    func reloadCannotSwitchIssue() throws {
        let worker = try WorkerProcess(accounts: ["sf-eu": (3600, 6, "SHA1")]).start()
        defer { worker.stop() }
        let config = try String(contentsOfFile: worker.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: "issue: shared", with: "issue: once_per_window").write(toFile: worker.configPath, atomically: true, encoding: .utf8)
        kill(worker.pid!, SIGHUP)
        #expect(worker.waitForLog("the accounts with issue: once_per_window, their pools or their keys changed; that needs a restart"), "\(worker.log)")
        // Still shared: two requests in the hour get the same window.
        let robot = try Requester(requestQueue: worker.queue)
        let one = try #require(try robot.ask(account: "sf-eu"))
        let two = try #require(try robot.ask(account: "sf-eu"))
        #expect(one.status == "ok" && two.status == "ok")
        #expect(one.windowStart == two.windowStart)
    }

    @Test("A new holder syncs behind 2,500 waiting turns (more than the broker delivers unacknowledged) and answers them all")
    func syncBehindABacklog() throws {
        let worker = WorkerProcess(accounts: ["sf-eu": (3600, 6, "SHA1")], workers: 1, oncePerWindow: ["sf-eu"])
        defer { Self.deleteTurnQueue(of: worker, "sf-eu") }
        let robot = try Requester(requestQueue: worker.queue)
        // Turns left in the queue as a worker that stopped would leave them
        // (written with the worker's login: nothing else is read there).
        let admin = try Broker.connect("mfa-worker")
        defer { admin.close() }
        let queue = worker.turnQueue("sf-eu")
        try admin.declareQueue(queue, durable: true, arguments: [("x-queue-type", .string("quorum")), ("x-single-active-consumer", .bool(true))])
        let now = Self.milliseconds(Date())
        let count = 2500
        for index in 0..<count {
            let body = #"{"account":"sf-eu","max_wait_ms":0,"min_validity_ms":0,"received_ms":\#(now),"requester":"rpa-bot-eu-1"}"#
            try admin.publish(
                routingKey: queue,
                properties: MessageProperties(
                    contentType: "application/json", deliveryMode: .persistent, correlationID: Array("t-\(index)".utf8),
                    replyTo: robot.replyQueue, type: "mfa-turn-request", userID: "mfa-worker"
                ), body: Array(body.utf8))
        }
        try worker.start()
        let replies = try robot.replies(count: count, timeout: 60)
        #expect(replies.count == count, "\(replies.count) of \(count) turns answered; log:\n\(worker.log.suffix(2000))")
        // max_wait_ms 0: the hour's window to the first, busy to the rest.
        #expect(replies.filter { $0.status == "ok" }.count == 1)
        #expect(replies.filter { $0.error == "busy" }.count == count - 1)
        #expect(replies.first { $0.status == "ok" }?.properties.correlationID == Array("t-0".utf8))
    }

    @Test(
        "A turn whose window is further off than half the broker's consumer_timeout is acknowledged when recorded; at a stop it hears unavailable with retry_after_ms"
    )
    func farTurnsAcknowledged() throws {
        let period = 10
        let worker = try WorkerProcess(
            accounts: ["sf-eu": (period, 6, "SHA1")], brokerExtra: "  consumer_timeout_ms: 3000", extra: "log: {level: debug}", workers: 1, shutdownTimeout: 0,
            oncePerWindow: ["sf-eu"]
        ).start()
        defer { Self.deleteTurnQueue(of: worker, "sf-eu") }
        let robot = try Requester(requestQueue: worker.queue)
        Self.alignToWindow(period: period, offset: 200)
        let first = try #require(try robot.ask(account: "sf-eu"))
        #expect(first.status == "ok")
        // The next two windows open about 10 and 20 s from now: over 1.5 s.
        let second = try robot.send(account: "sf-eu")
        let third = try robot.send(account: "sf-eu")
        // Both recorded and acknowledged (the worker says so at debug level).
        #expect(worker.waitForLog("turn kept by the worker", count: 2), "\(worker.log)")
        let stoppedAt = Self.milliseconds(Date())
        #expect(worker.stop() == 0)
        for (index, id) in [second, third].enumerated() {
            let reply = try #require(try robot.reply(to: id, timeout: 5), "turn \(index + 2) was not answered at the stop")
            #expect(reply.error == "unavailable", "\(reply.text)")
            let retryAfter = (reply.json["retry_after_ms"] as? NSNumber)?.int64Value ?? -1
            let opens = (first.windowStart! + Int64((index + 1) * period)) * 1000
            #expect(
                WorkerClock.points(retryAfter, at: opens, sentAt: stoppedAt, receivedAt: Self.milliseconds(reply.arrivedAt)),
                "retry_after_ms \(retryAfter) does not point at window \(index + 2)")
        }
    }

    @Test("Two replicas: exactly one holds the account (mfa_turn_accounts_held); a turns connection that cannot consume makes /healthz degraded, and recovers")
    func heldAndHealth() throws {
        let ports = (OperationsTests.freePort(), OperationsTests.freePort())
        let first = try WorkerProcess(workers: 1, metricsPort: ports.0, oncePerWindow: ["sf-eu"]).start()
        let second = try WorkerProcess(queue: first.queue, workers: 1, keysFrom: first, metricsPort: ports.1, oncePerWindow: ["sf-eu"]).start()
        defer { Self.deleteTurnQueue(of: first, "sf-eu") }
        func held(_ port: Int) throws -> Double? {
            OperationsTests.value(try OperationsTests.get(port, "/metrics").body, "mfa_turn_accounts_held")
        }
        #expect(try held(ports.0) == 0 && held(ports.1) == 0, "nobody holds an account before its first turn")
        let robot = try Requester(requestQueue: first.queue)
        #expect(try robot.ask(account: "sf-eu")?.status == "ok")
        #expect(try held(ports.0)! + held(ports.1)! == 1, "exactly one replica gives out the account's windows")
        #expect(!(try OperationsTests.get(ports.0, "/healthz").body.contains("turns")))

        // The turn queue replaced by one the turns thread cannot declare: it
        // reconnects and fails until the queue is right again.
        second.stop()
        let admin = try Broker.admin()
        defer { admin.close() }
        let queue = first.turnQueue("sf-eu")
        try admin.deleteQueue(queue)
        try admin.declareQueue(queue, durable: true)
        var health = ""
        for _ in 0..<50 where !health.contains("the turns connection is down") {
            health = try OperationsTests.get(ports.0, "/healthz").body
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(health.contains("degraded") && health.contains("the turns connection is down"), "\(health)")
        try admin.deleteQueue(queue)
        for _ in 0..<50 where health.contains("turns") {
            Thread.sleep(forTimeInterval: 0.1)
            health = try OperationsTests.get(ports.0, "/healthz").body
        }
        #expect(!health.contains("turns"), "\(health)")
        #expect(try robot.ask(account: "sf-eu", timeout: 40)?.status == "ok")
    }

    @Test("A turn queue that exists with other arguments stops start-up with one line naming it")
    func turnQueueWithOtherArguments() throws {
        let worker = WorkerProcess(oncePerWindow: ["sf-eu"])
        defer { Self.deleteTurnQueue(of: worker, "sf-eu") }
        let admin = try Broker.admin()
        defer { admin.close() }
        try admin.declareQueue(worker.turnQueue("sf-eu"), durable: true)
        try worker.start(waitForConsuming: false)
        #expect(worker.waitForExit() == 1)
        #expect(
            worker.log.contains(
                "Error: the turn queue of sf-eu '\(worker.turnQueue("sf-eu"))' exists with other arguments than a quorum queue with a single active consumer: 406 PRECONDITION_FAILED"
            ), "\(worker.log)")
    }
}
