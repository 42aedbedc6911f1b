import AMQP
import Foundation
import TestSupport
import Testing

/// Crashes, stops and a deleted queue: nothing lost, nothing wrong.
@Suite("Reliability against the broker")
struct ReliabilityTests {
    /// Sends `count` requests and collects replies until each correlation id
    /// has one (duplicates from redelivery are fine), or `timeout`.
    func collect(_ requester: Requester, sent: Set<[UInt8]>, timeout: TimeInterval) throws -> [[UInt8]: Requester.Reply] {
        var replies: [[UInt8]: Requester.Reply] = [:]
        let deadline = Date().addingTimeInterval(timeout)
        while replies.count < sent.count && Date() < deadline {
            for reply in try requester.replies(count: 1, timeout: 0.2) {
                if let id = reply.properties.correlationID, sent.contains(id) { replies[id] = reply }
            }
        }
        return replies
    }

    @Test("kill -9 in the middle of a load: the unacknowledged requests are redelivered and answered")
    func killNine() throws {
        let queue = Broker.uniqueQueueName("kill")
        // Every request answered at once, whatever the window's phase (with
        // the default 5 s, those near a window's end would wait for the next).
        let first = try WorkerProcess(queue: queue, extra: "reply: {default_min_validity_ms: 0}", workers: 1).start()
        let requester = try Requester(requestQueue: queue)
        var sent = Set<[UInt8]>()
        for _ in 0..<3000 { sent.insert(try requester.send(account: "sf-eu")!) }
        // Let it answer some, then kill it without a word.
        var early: [Requester.Reply] = []
        while early.count < 300 { early += try requester.replies(count: 300 - early.count, timeout: 5) }
        let killed = first.stop(signal: SIGKILL)
        #expect(killed == Int32(137), "killed by signal 9")
        let answeredBeforeKill = Set(early.compactMap { $0.properties.correlationID })

        let second = try WorkerProcess(queue: queue, extra: "reply: {default_min_validity_ms: 0}", workers: 2, keysFrom: first).start()
        defer { second.stop() }
        var replies = try collect(requester, sent: sent.subtracting(answeredBeforeKill), timeout: 60)
        for reply in early { replies[reply.properties.correlationID!] = reply }
        #expect(replies.count == 3000, "\(3000 - replies.count) requests were lost")
        // oathtool once per window, not per reply.
        var expected: [Int64: String] = [:]
        var wrong = 0
        for reply in replies.values {
            let start = reply.windowStart ?? 0
            if expected[start] == nil { expected[start] = try first.expectedCode(account: "sf-eu", windowStart: start) }
            if reply.code != expected[start] { wrong += 1 }
        }
        #expect(wrong == 0)
        #expect(second.log.contains("info request"))
        print("kill -9: \(answeredBeforeKill.count) answered before the kill, the rest by the next worker; 3,000 of 3,000 answered, 0 wrong")
    }

    @Test("A graceful stop in the middle of a load loses nothing; the next worker answers the rest")
    func gracefulStopUnderLoad() throws {
        let queue = Broker.uniqueQueueName("stop")
        let first = try WorkerProcess(queue: queue, extra: "reply: {default_min_validity_ms: 0}", workers: 2).start()
        let requester = try Requester(requestQueue: queue)
        var sent = Set<[UInt8]>()
        for _ in 0..<3000 { sent.insert(try requester.send(account: "sf-eu")!) }
        var early: [Requester.Reply] = []
        while early.count < 300 { early += try requester.replies(count: 300 - early.count, timeout: 5) }
        #expect(first.stop() == 0)
        #expect(first.log.contains("notice stopped"))
        let second = try WorkerProcess(queue: queue, extra: "reply: {default_min_validity_ms: 0}", workers: 2, keysFrom: first).start()
        defer { second.stop() }
        var replies = try collect(requester, sent: sent, timeout: 60)
        for reply in early { replies[reply.properties.correlationID!] = reply }
        #expect(replies.count == 3000)
    }

    /// Waits until the worker holds `count` requests for their window
    /// (mfa_replies_pending), so that a stop signal finds them in hand.
    func waitUntilHeld(_ count: Int, port: Int) throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if OperationsTests.value(try OperationsTests.get(port, "/metrics").body, "mfa_replies_pending") == Double(count) { return }
            usleep(50_000)
        }
        Issue.record("the worker never held \(count) requests")
    }

    @Test("At a stop, a held request gets its code when its window opens in time, else unavailable with retry_after_ms")
    func heldRequestsAtStop() throws {
        let port = OperationsTests.freePort()
        let worker = try WorkerProcess(
            accounts: ["short": (3, 6, "SHA1"), "long": (300, 6, "SHA1")],
            allow: ["rpa-bot-eu-1": ["short", "long"]],
            shutdownTimeout: 4,
            metricsPort: port
        ).start()
        let requester = try Requester(requestQueue: worker.queue)
        // long: a 300 s window with at least 20 s left, so its next window
        // opens well after the 4 s timeout, even on a loaded machine.
        Phase.wait(period: 300_000, from: 2000, to: 280_000)
        // short: 0.8 to 1.8 s left, so its next window opens within the timeout.
        Phase.wait(period: 3000, from: 1200, to: 2200)
        let short = try requester.send(account: "short", minValidity: 2000)
        let long = try requester.send(account: "long", minValidity: 299_000, maxWait: 300_000)
        try waitUntilHeld(2, port: port)
        let stopping = Date()
        #expect(worker.stop() == 0)
        let stopped = Date()
        let shortReply = try #require(try requester.reply(to: short, timeout: 5))
        let longReply = try #require(try requester.reply(to: long, timeout: 5))
        #expect(shortReply.status == "ok")
        #expect(shortReply.code == (try worker.expectedCode(account: "short", windowStart: shortReply.windowStart ?? 0)))
        #expect(longReply.error == "unavailable")
        let retryAfter = try #require((longReply.json["retry_after_ms"] as? NSNumber)?.int64Value)
        let nextWindow = (Int64(stopping.timeIntervalSince1970) / 300 + 1) * 300_000
        // Computed at the stop, between the signal and the exit.
        #expect(
            WorkerClock.points(
                retryAfter, at: nextWindow, sentAt: Int64(stopping.timeIntervalSince1970 * 1000), receivedAt: Int64(stopped.timeIntervalSince1970 * 1000)))
    }

    @Test("A second stop signal exits at once")
    func secondSignal() throws {
        let port = OperationsTests.freePort()
        // A 300 s account: the held request's window is minutes away, and
        // the 600 s shutdown timeout makes the worker wait for it.
        let worker = try WorkerProcess(accounts: ["long": (300, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["long"]], shutdownTimeout: 600, metricsPort: port).start()
        let requester = try Requester(requestQueue: worker.queue)
        Phase.wait(period: 300_000, from: 2000, to: 280_000)
        try requester.send(account: "long", minValidity: 299_000, maxWait: 300_000)
        try waitUntilHeld(1, port: port)
        kill(worker.pid!, SIGTERM)
        #expect(worker.waitForLog("answering held requests before stopping"))
        kill(worker.pid!, SIGTERM)
        #expect(worker.waitForExit(timeout: 3) == 1)
        #expect(worker.log.contains("second stop signal: exiting at once"))
    }

    @Test("The request queue deleted under the worker: the consumer is re-established")
    func queueDeleted() throws {
        let worker = try WorkerProcess().start()
        defer { worker.stop() }
        let admin = try Broker.admin()
        defer { admin.close() }
        try admin.deleteQueue(worker.queue)
        #expect(worker.waitForLog("the broker cancelled the consumer; consuming again", count: 2))
        let requester = try Requester(requestQueue: worker.queue)
        #expect(try requester.ask(account: "sf-eu")?.status == "ok")
    }
}
