import AMQP
import Foundation
import TestSupport
import Testing

/// Section 3 of the protocol: acknowledgement, dead-lettering, held
/// replies, unroutable replies, and many requesters at once.
@Suite("Delivery against the broker")
struct DeliveryTests {
    @Test("No reply_to: rejected without requeue, dead-lettered, and the worker keeps serving")
    func noReplyToDeadLettered() throws {
        let dlx = "mfa-code-request-\(UUID().uuidString.prefix(8).lowercased()).dlx"
        let admin = try Broker.admin()
        defer { admin.close() }
        try admin.declareExchange(dlx, type: "fanout", autoDelete: true)
        let dead = try admin.declareQueue("", exclusive: true, autoDelete: true).queue
        try admin.bindQueue(dead, exchange: dlx, routingKey: "")
        try admin.consume(queue: dead, noAck: true)

        let worker = try WorkerProcess(queueExtra: "  dead_letter_exchange: \(dlx)").start()
        defer { worker.stop() }
        let requester = try Requester(requestQueue: worker.queue)
        try requester.send(body: #"{"account":"sf-eu"}"#, correlationID: Array("no-reply-to".utf8), replyTo: .some(nil))

        var deadLettered: Delivery?
        let deadline = Date().addingTimeInterval(5)
        while deadLettered == nil && Date() < deadline {
            if case .delivery(let delivery) = try admin.nextEvent(timeoutMilliseconds: 100) { deadLettered = delivery }
        }
        #expect(deadLettered?.properties.correlationID == Array("no-reply-to".utf8))
        #expect(deadLettered?.properties.userID == "rpa-bot-eu-1")
        #expect(worker.waitForLog("request rejected: nobody can be answered"))
        // No reply went anywhere, and the worker still serves.
        #expect(try requester.ask(account: "sf-eu")?.status == "ok")
        try? admin.deleteQueue(worker.queue)
    }

    @Test("min_validity_ms across a window boundary: the next window's code, within a second of its start")
    func minValidityAcrossBoundary() throws {
        // A 3 s account: min_validity_ms may be 0 to 2000.
        let worker = try WorkerProcess(accounts: ["short": (3, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["short"]]).start()
        defer { worker.stop() }
        let requester = try Requester(requestQueue: worker.queue)
        // Send when 0.8 to 1.8 s are left in the window.
        Phase.wait(period: 3000, from: 1200, to: 2200)
        let sentAt = Int64(Date().timeIntervalSince1970 * 1000)
        let windowAtSend = sentAt / 3000 * 3
        let correlation = try requester.send(account: "short", minValidity: 2000)
        let reply = try #require(try requester.reply(to: correlation, timeout: 10))
        let receivedAt = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(reply.status == "ok", "\(reply.text)")
        let start = try #require(reply.windowStart)
        #expect(start == windowAtSend + 3)
        #expect(reply.code == (try worker.expectedCode(account: "short", windowStart: start)))
        #expect(try #require(reply.expiresIn) >= 2000)
        #expect(receivedAt < (start + 1) * 1000 + 500, "the reply came more than a second after its window opened")
    }

    @Test("The reply's TTL ends no later than its window, for an account of 2 s")
    func expirationWithinWindow() throws {
        let worker = try WorkerProcess(accounts: ["tiny": (2, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["tiny"]]).start()
        defer { worker.stop() }
        let requester = try Requester(requestQueue: worker.queue)
        for _ in 0..<10 {
            let reply = try #require(try requester.ask(account: "tiny"))
            let expiration = try #require(reply.properties.expiration.flatMap(Int64.init))
            #expect(expiration <= 2000)
            #expect(expiration <= max(1, try #require(reply.expiresIn)))
            #expect(reply.properties.deliveryMode == .transient)
            usleep(150_000)
        }
    }

    @Test("A reply queue deleted before the reply: logged and counted as unroutable, the worker keeps serving")
    func replyQueueGone() throws {
        let worker = try WorkerProcess(accounts: ["short": (3, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["short"]]).start()
        defer { worker.stop() }
        do {
            let leaving = try Requester(requestQueue: worker.queue)
            // 0.8 to 1.8 s left: the request waits for the next window even
            // if the worker is slow to take it.
            Phase.wait(period: 3000, from: 1200, to: 2200)
            try leaving.send(account: "short", minValidity: 2000, correlationID: Array("gone-away".utf8))
            // Closing the connection (after the publish, on the same
            // connection) deletes the exclusive reply queue.
        }
        #expect(worker.waitForLog("reply unroutable", timeout: 6))
        #expect(worker.log.contains("correlation_id=gone-away"))
        let requester = try Requester(requestQueue: worker.queue)
        #expect(try requester.ask(account: "short")?.status == "ok")
    }

    @Test("1,000 requests from 20 connections are all answered with correct codes")
    func thousandFromTwenty() throws {
        let worker = try WorkerProcess().start()
        defer { worker.stop() }
        let results = ResultBox()
        let group = DispatchGroup()
        for _ in 0..<20 {
            group.enter()
            let queue = worker.queue
            Thread {
                defer { group.leave() }
                do {
                    let requester = try Requester(requestQueue: queue)
                    var sent: [[UInt8]] = []
                    for _ in 0..<50 { sent.append(try requester.send(account: "sf-eu")!) }
                    let replies = try requester.replies(count: 50, timeout: 30)
                    results.add(replies.map { ($0.properties.correlationID ?? [], $0.code, $0.windowStart) }, sent: sent)
                } catch {
                    results.fail("\(error)")
                }
            }.start()
        }
        group.wait()
        let (replies, sent, failures) = results.snapshot()
        #expect(failures.isEmpty, "\(failures)")
        #expect(sent.count == 1000)
        #expect(replies.count == 1000)
        #expect(Set(replies.map(\.0)) == Set(sent))
        var expected: [Int64: String] = [:]
        var wrong = 0
        for (_, code, start) in replies {
            guard let code, let start else {
                wrong += 1
                continue
            }
            if expected[start] == nil { expected[start] = try worker.expectedCode(account: "sf-eu", windowStart: start) }
            if expected[start] != code { wrong += 1 }
        }
        #expect(wrong == 0)
    }

    @Test("500 requests waiting for their window do not hold up a plain request")
    func waitingDoNotBlock() throws {
        // prefetch 64: were the waiting requests kept unacknowledged, the
        // plain one would sit behind them until the window turns. One robot
        // user stands for many robots: it may hold all 500.
        let worker = try WorkerProcess(extra: "reply: {max_held_per_requester: 1000}", workers: 1).start()
        defer { worker.stop() }
        let requester = try Requester(requestQueue: worker.queue)
        // Between 5 and 28.5 s left: all 500 wait (29 s asked), and there is
        // time to send them and the plain one before the window turns.
        Phase.wait(period: 30_000, from: 1500, to: 25_000)
        for index in 0..<500 {
            try requester.send(account: "sf-eu", minValidity: 29_000, correlationID: Array("wait-\(index)".utf8))
        }
        let plain = try #require(try requester.ask(account: "sf-eu", timeout: 10))
        #expect(plain.status == "ok")
        // The plain reply arrived while the 500 were still waiting for their window.
        let windowEnd = try #require(plain.windowEnd)
        #expect(Int64(Date().timeIntervalSince1970) < windowEnd)
        let held = try requester.replies(count: 1, timeout: 0.2)
        #expect(held.isEmpty, "a held request was answered before its window")
        // Then all 500 come, with the next window's code.
        let later = try requester.replies(count: 500, timeout: 40)
        #expect(later.count == 500)
        #expect(later.allSatisfy { $0.windowStart == windowEnd && $0.status == "ok" })
    }
}

/// Collects results from several threads.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var replies: [([UInt8], String?, Int64?)] = []
    private var sent: [[UInt8]] = []
    private var failures: [String] = []

    func add(_ more: [([UInt8], String?, Int64?)], sent more2: [[UInt8]]) {
        lock.withLock {
            replies += more
            sent += more2
        }
    }

    func fail(_ message: String) { lock.withLock { failures.append(message) } }

    func snapshot() -> ([([UInt8], String?, Int64?)], [[UInt8]], [String]) {
        lock.withLock { (replies, sent, failures) }
    }
}

/// Waiting for a point in a TOTP window.
enum Phase {
    /// Returns once `now % period` (ms) is in `from..<to`.
    static func wait(period: Int64, from: Int64, to: Int64) {
        while true {
            let phase = Int64(Date().timeIntervalSince1970 * 1000) % period
            if phase >= from && phase < to { return }
            usleep(10_000)
        }
    }
}
