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

    /// A worker with metrics on, and a robot's connection (closed with the
    /// test).
    static func attacked() throws -> (WorkerProcess, Int, AMQPConnection) {
        let port = OperationsTests.freePort()
        let worker = try WorkerProcess(metricsPort: port).start()
        return (worker, port, try Broker.connect("rpa-bot-eu-1"))
    }

    /// The metric once it reaches `target` (or its value after 10 s).
    static func metric(_ port: Int, _ name: String, reaching target: Double) throws -> Double {
        var value = try metric(port, name)
        for _ in 0..<200 where value < target {
            Thread.sleep(forTimeInterval: 0.05)
            value = try metric(port, name)
        }
        return value
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
        #expect(worker.waitForLog("reply_to names one of the worker's own queues, or a guard log or turn queue", count: 2), "\(worker.log)")
        #expect(!worker.log.contains("requester=mfa-worker"), "a reply came back to the worker as a request")
        #expect(!worker.log.contains("dropped unread"), "a reply landed in the turn queue")
        #expect(try requester.ask(account: "sf-eu")?.status == "ok")
    }

    @Test(
        "Direct reply-to names the broker did not give out are never published to: no lost connection, the requests held beside them answered, real direct reply-to served"
    )
    func forgedDirectReplyTo() throws {
        let port = OperationsTests.freePort()
        // One consumer thread, 3 s windows: what is held is answered at the
        // next boundary, one after another on one connection.
        let worker = try WorkerProcess(
            accounts: ["sf-eu": (3, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["sf-eu"], "rpa-bot-eu-2": ["sf-eu"]], workers: 1, metricsPort: port
        ).start()
        defer { worker.stop() }
        let attacker = try Broker.connect("rpa-bot-eu-1")
        defer { attacker.close() }
        // RabbitMQ 3.10 closes the publisher's connection (541) on each of
        // these: a pid it cannot decode; a well-formed pid on a node hash no
        // node has (reply@1); a name whose base64 it cannot read.
        let forged = [
            "amq.rabbitmq.reply-to.g2dkABNyYWJiaXRAbG9jYWxob3N0AAAD5QAAAAAA.abc",
            "amq.rabbitmq.reply-to.g1h2AAdyZXBseUAxAAAAAAAAAAAAAAAA.bWZh",
            "amq.rabbitmq.reply-to.!!!!.abc",
        ]
        for (index, name) in forged.enumerated() {
            // Held until the next window (min_validity_ms), as the innocent's below.
            try Self.send(attacker, queue: worker.queue, replyTo: name, correlation: "forged-\(index)", body: #"{"account":"sf-eu","min_validity_ms":1900}"#)
        }
        let innocent = try Requester("rpa-bot-eu-2", requestQueue: worker.queue)
        let held = try innocent.send(account: "sf-eu", minValidity: 1900, correlationID: Array("held-innocent".utf8))
        #expect(worker.waitForLog("reply_to is not a direct reply-to name of a running node", count: 3), "\(worker.log)")
        #expect(worker.waitForLog("a direct reply-to name on a node the broker does not run"), "\(worker.log)")
        // Held beside the forged ones, and answered when its window opens.
        #expect(try innocent.reply(to: held, timeout: 10)?.status == "ok")

        // A real direct reply-to requester: its node is probed and found running.
        let direct = try Broker.connect("rpa-bot-eu-1")
        defer { direct.close() }
        try direct.consume(queue: "amq.rabbitmq.reply-to", noAck: true)
        try Self.send(direct, queue: worker.queue, replyTo: "amq.rabbitmq.reply-to", correlation: "real-direct")
        var answer: Delivery?
        while answer == nil, case .delivery(let delivery) = try direct.nextEvent(timeoutMilliseconds: 10_000) { answer = delivery }
        #expect(answer.map { String(decoding: $0.body, as: UTF8.self).contains(#""status":"ok""#) } == true)

        #expect(try Self.metric(port, "mfa_reconnects_total") == 0)
        #expect(!worker.log.contains("connection lost"), "\(worker.log)")
        for index in forged.indices {
            #expect(!worker.audit.contains("forged-\(index)\",\"outcome\":\"ok"), "a forged name's request was answered")
        }
    }

    @Test("A reply queue that dead-letters the reply back into the request queue: the worker drops it as its own, says why, and does not dead-letter it on")
    func replyReflectedByDeadLetter() throws {
        let worker = try WorkerProcess().start()
        defer { worker.stop() }
        let connection = try Broker.connect("rpa-bot-eu-1")
        defer { connection.close() }
        // Allowed to any robot: its own queue, with arguments of its choosing.
        let queue = try connection.declareQueue(
            "", exclusive: true, autoDelete: true,
            arguments: [
                ("x-message-ttl", .int(0)), ("x-dead-letter-exchange", .string("")), ("x-dead-letter-routing-key", .string(worker.queue)),
            ]
        ).queue
        try Self.send(connection, queue: worker.queue, replyTo: queue, correlation: "reflected")
        #expect(worker.waitForLog("published by a worker login"), "\(worker.log)")
        #expect(!worker.log.contains("no usable reply_to"), "the reply was read as a request without reply_to")
        #expect(try Requester(requestQueue: worker.queue).ask(account: "sf-eu")?.status == "ok")
        // Dropped, not rejected into the request queue's dead-letter exchange.
        let admin = try Broker.admin()
        defer { admin.close() }
        #expect(try admin.declareQueue(worker.queue, passive: true).messageCount == 0)
    }

    @Test("Replies to queues that do not exist, 40 of them: five lines, then a count; every one in the metric")
    func unroutableFlood() throws {
        let (worker, port, connection) = try Self.attacked()
        defer { worker.stop() }
        for index in 0..<40 {
            try Self.send(connection, queue: worker.queue, replyTo: "amq.gen-nobody-\(index)", correlation: "nowhere-\(index)")
        }
        #expect(try Self.metric(port, "mfa_replies_unroutable_total", reaching: 40) == 40)
        // Lines are written in order: once a later request's line is out,
        // every unroutable line there is to be is too.
        #expect(try Requester("rpa-bot-eu-2", requestQueue: worker.queue).ask(account: "sf-eu")?.error == "forbidden")
        #expect(worker.waitForLog("requester=rpa-bot-eu-2"))
        let lines = worker.log.split(separator: "\n").filter { $0.contains("reply unroutable") }
        #expect(lines.count == 5, "\(lines.count) lines for 40 unroutable replies")
    }

    @Test("A reply queue that refuses every message: the reply is not sent again, the request is settled, one log line")
    func replyQueueRefuses() throws {
        let (worker, port, connection) = try Self.attacked()
        defer { worker.stop() }
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
        #expect(try Self.metric(port, "mfa_replies_unroutable_total", reaching: 5) == 5)
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
