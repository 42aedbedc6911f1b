import AMQP
import Foundation
import TestSupport
import Testing

/// Requests crafted by a robot with the robot permissions to wedge a worker,
/// flood its log or audit trail, or make it publish where it should not
/// (found by an attack review of the turn-queue and hardening changes).
@Suite("Requests that attack the worker")
struct RobotAttackTests {
    static func metric(_ port: Int, _ name: String) throws -> Double {
        OperationsTests.value(try OperationsTests.get(port, "/metrics").body, name) ?? -1
    }

    /// Publishes a request with a reply_to.
    static func send(
        _ connection: AMQPConnection, queue: String, user: String = "rpa-bot-eu-1", replyTo: String, correlation: String, body: String = #"{"account":"sf-eu"}"#
    ) throws {
        let properties = MessageProperties(contentType: "application/json", correlationID: Array(correlation.utf8), replyTo: replyTo, userID: user)
        try connection.publish(routingKey: queue, properties: properties, body: Array(body.utf8))
    }

    @Test("A reply_to that is not UTF-8 is rejected once: no reconnect loop, and the queue keeps flowing")
    func replyToNotUTF8() throws {
        let port = OperationsTests.freePort()
        let worker = try WorkerProcess(metricsPort: port).start()
        defer { worker.stop() }
        // 86 bytes 0xFF: not UTF-8 (read leniently, 258 bytes of U+FFFD, too
        // long for a routing key). Swift strings cannot hold them: amqp-publish
        // sends them, as a robot with any client could.
        let publish = try run(
            "/bin/bash", ["-c", #"amqp-publish --url "$URL" -r "$QUEUE" -t "$(printf '\377%.0s' $(seq 86))" -C application/json -b '{"account":"sf-eu"}'"#],
            environment: ["URL": "amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:\(Broker.port)/%2F", "QUEUE": worker.queue, "PATH": "/usr/bin:/bin"])
        #expect(publish.status == 0, "\(publish.stderr)")
        #expect(worker.waitForLog("no usable reply_to"), "\(worker.log)")
        #expect(try Requester(requestQueue: worker.queue).ask(account: "sf-eu")?.status == "ok")
        #expect(try Self.metric(port, "mfa_reconnects_total") == 0)
        #expect(!worker.log.contains("connection lost"), "\(worker.log)")
    }

    @Test("A reply_to naming the worker's own request queue or a turn queue is rejected: nothing is published there")
    func replyToOwnQueue() throws {
        let worker = try WorkerProcess(oncePerWindow: ["sf-eu"]).start()
        defer {
            worker.stop()
            if let admin = try? Broker.admin() {
                _ = try? admin.deleteQueue(worker.turnQueue("sf-eu"))
                admin.close()
            }
        }
        let requester = try Requester(requestQueue: worker.queue)
        try requester.send(body: #"{"account":"sf-eu"}"#, correlationID: Array("reflect-request".utf8), replyTo: .some(worker.queue))
        try requester.send(body: #"{"account":"sf-eu"}"#, correlationID: Array("reflect-turns".utf8), replyTo: .some(worker.turnQueue("sf-eu")))
        #expect(worker.waitForLog("reply_to names one of the worker's own queues", count: 2), "\(worker.log)")
        #expect(!worker.log.contains("requester=mfa-worker"), "a reply came back to the worker as a request")
        #expect(!worker.log.contains("dropped unread"), "a reply landed in the turn queue")
        #expect(try requester.ask(account: "sf-eu")?.status == "ok")
    }

    @Test("A direct reply-to name the broker fails on: dropped as poison after a few lost connections; everyone else is answered")
    func poisonedDirectReplyTo() throws {
        let worker = try WorkerProcess(allow: ["rpa-bot-eu-1": ["sf-eu"]]).start()
        defer { worker.stop() }
        let connection = try Broker.connect("rpa-bot-eu-2")
        defer { connection.close() }
        // A name the broker cannot decode (RabbitMQ 3.10 closes the
        // publisher's connection with 541 on it). A forbidden account: the
        // reply carries no code.
        let name = "amq.rabbitmq.reply-to.g2dkABNyYWJiaXRAbG9jYWxob3N0AAAD5QAAAAAA.abc"
        try Self.send(connection, queue: worker.queue, user: "rpa-bot-eu-2", replyTo: name, correlation: "poison")
        #expect(worker.waitForLog("dropped as poison", timeout: 60), "\(worker.log.suffix(3000))")
        #expect(worker.isRunning)
        #expect(try Requester(requestQueue: worker.queue).ask(account: "sf-eu", timeout: 30)?.status == "ok")
        let lost = worker.log.components(separatedBy: "connection lost").count - 1
        print("poison: dropped after \(lost) lost connections")
        #expect(lost <= 2 * 3, "more lost connections than the guard allows")
    }

    @Test("A reply queue that refuses every message: the reply is not sent again, the request is settled, one log line")
    func replyQueueRefuses() throws {
        let port = OperationsTests.freePort()
        let worker = try WorkerProcess(metricsPort: port).start()
        defer { worker.stop() }
        let connection = try Broker.connect("rpa-bot-eu-1")
        defer { connection.close() }
        let queue = try connection.declareQueue(
            "", exclusive: true, autoDelete: true,
            arguments: [
                ("x-max-length", .int(0)), ("x-overflow", .string("reject-publish")),
            ]
        ).queue
        for index in 0..<5 {
            try Self.send(connection, queue: worker.queue, replyTo: queue, correlation: "refused-\(index)")
        }
        #expect(worker.waitForLog("the broker refused replies"), "\(worker.log)")
        var refused = 0.0
        for _ in 0..<100 where refused < 5 {
            refused = try Self.metric(port, "mfa_replies_unroutable_total")
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(refused == 5)
        #expect(try Requester(requestQueue: worker.queue).ask(account: "sf-eu")?.status == "ok")
        // Each request handled once: one request line per correlation id.
        for index in 0..<5 {
            #expect(worker.log.components(separatedBy: "correlation_id=refused-\(index) ").count - 1 == 1, "refused-\(index) was handled again:\n\(worker.log)")
        }
    }

    @Test("Requests without user_id or without reply_to take from one shared rate and flood no log: a few lines, then counts")
    func anonymousFlood() throws {
        let worker = try WorkerProcess(extra: "rate_limit: {per_requester: {rate_per_s: 0.01, burst: 3}}").start()
        defer { worker.stop() }
        let requester = try Requester(requestQueue: worker.queue)
        for index in 0..<200 {
            try requester.send(body: #"{"account":"sf-eu"}"#, correlationID: Array("anon-\(index)".utf8), userID: .some(nil))
            try requester.send(body: #"{"account":"sf-eu"}"#, correlationID: Array("noreply-\(index)".utf8), replyTo: .some(nil))
        }
        let replies = try requester.replies(count: 200, timeout: 30)
        #expect(replies.count == 200)
        // Without user_id: forbidden (that comes before the rate), all of
        // them, but past the shared bucket's three tokens quietly.
        #expect(replies.allSatisfy { $0.error == "forbidden" })
        // A last request of another robot (its own bucket): once its line is
        // out, the lines of everything handled before it are too.
        #expect(try Requester("rpa-bot-eu-2", requestQueue: worker.queue).ask(account: "sf-eu")?.error == "forbidden")
        #expect(worker.waitForLog("requester=rpa-bot-eu-2"))
        let lines = worker.log.split(separator: "\n")
        let anonymous = lines.filter { $0.contains("correlation_id=anon-") }.count
        let rejected = lines.filter { $0.contains("correlation_id=noreply-") }.count
        #expect(anonymous <= 3, "\(anonymous) lines for requests without user_id")
        #expect(rejected <= 5, "\(rejected) lines for requests without reply_to")
        #expect(worker.audit.components(separatedBy: "anon-").count - 1 <= 3)
    }

    @Test("One requester holds at most reply.max_held_per_requester requests for their window (per consumer thread); past them, busy at once")
    func heldCap() throws {
        let worker = try WorkerProcess(accounts: ["sf-eu": (3600, 6, "SHA1")], extra: "reply: {max_held_per_requester: 3}", workers: 1).start()
        defer { worker.stop() }
        let greedy = try Requester(requestQueue: worker.queue)
        for _ in 0..<10 { try greedy.send(account: "sf-eu", minValidity: 3_599_000, maxWait: 3_600_000) }
        let busy = try greedy.replies(count: 7, timeout: 20)
        #expect(busy.count == 7 && busy.allSatisfy { $0.error == "busy" }, "\(busy.map(\.text))")
        #expect(busy.first.map { $0.text.contains("as many requests waiting for their window") } == true)
        #expect(try greedy.ask(account: "sf-eu")?.status == "ok")
    }
}
