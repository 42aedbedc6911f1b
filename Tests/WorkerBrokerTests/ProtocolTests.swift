import AMQP
import Foundation
import TestSupport
import Testing

/// One test per row of the protocol, against the real broker and the real
/// worker process. Codes are checked with oathtool, not the worker's engine.
@Suite("Protocol against the broker", .serialized)
final class ProtocolTests {
    let worker: WorkerProcess

    init() throws {
        worker = WorkerProcess(
            accounts: ["sf-eu": (30, 6, "SHA1"), "sf-us": (30, 8, "SHA256"), "other": (30, 6, "SHA1")],
            allow: ["rpa-bot-eu-1": ["sf-eu", "sf-us"], "rpa-bot-eu-2": ["other"]]
        )
        try worker.start()
    }

    deinit { worker.stop() }

    @Test("An allowed requester gets the right code, with every reply property")
    func allowedRequester() throws {
        let requester = try Requester(requestQueue: worker.queue)
        let sent = SystemTimeMs.now()
        let correlation = try requester.send(account: "sf-eu")
        let reply = try #require(try requester.reply(to: correlation))
        #expect(reply.status == "ok", "\(reply.text)")
        let start = try #require(reply.windowStart)
        #expect(reply.code == (try worker.expectedCode(account: "sf-eu", windowStart: start)))
        #expect(reply.json["account"] as? String == "sf-eu")
        #expect(reply.json["digits"] as? Int == 6)
        #expect(reply.json["period"] as? Int == 30)
        #expect(reply.windowEnd == start + 30)
        // The window of the send, or (reply.default_min_validity_ms is 5 s)
        // the next one when the send's window had less than that left.
        let sentWindow = sent / 1000 / 30 * 30
        #expect(start == sentWindow || start == sentWindow + 30, "window \(start) for a request sent at \(sent) ms")
        if start == sentWindow + 30 {
            #expect(sent - sentWindow * 1000 >= 25_000 - 1000, "the next window, with \(30_000 - (sent - sentWindow * 1000)) ms left in the current one")
        }

        let properties = reply.properties
        #expect(properties.correlationID == correlation)
        #expect(properties.contentType == "application/json")
        #expect(properties.type == "mfa-code-reply")
        #expect(properties.deliveryMode == .transient)
        let expiration = try #require(properties.expiration.flatMap(Int64.init))
        let expiresIn = try #require(reply.expiresIn)
        #expect(expiration >= 1 && expiration <= 30_000)
        #expect(expiration <= expiresIn)
        // The TTL ends no later than the window does.
        #expect(sent + expiration <= (start + 30) * 1000 + 1000)
        #expect(properties.timestamp.map { Int64($0) >= start } == true)

        // SHA256, 8 digits.
        let us = try #require(try requester.ask(account: "sf-us"))
        #expect(us.code == (try worker.expectedCode(account: "sf-us", windowStart: us.windowStart ?? 0)))
        #expect(us.code?.count == 8)
    }

    @Test("A forged user_id is refused by the broker and no code leaves")
    func forgedUserID() throws {
        // rpa-bot-eu-2 may have 'other'; rpa-bot-eu-1 pretends to be it.
        let requester = try Requester("rpa-bot-eu-1", requestQueue: worker.queue)
        let correlation = try requester.send(body: #"{"account":"other"}"#, userID: "rpa-bot-eu-2")
        var closed = false
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline {
            let event = try requester.connection.nextEvent(timeoutMilliseconds: 100)
            if case .channelClosed(let code, _) = event {
                #expect(code == 406)
                closed = true
            }
            if case .delivery = event { Issue.record("a reply arrived for a forged request") }
        }
        #expect(closed)
        #expect(!worker.log.contains(String(decoding: correlation!, as: UTF8.self)))
    }

    @Test("Not-allowed and unknown accounts give byte-identical forbidden bodies")
    func forbiddenAlike() throws {
        let requester = try Requester(requestQueue: worker.queue)
        let notAllowed = try #require(try requester.ask(account: "other"))
        let unknown = try #require(try requester.ask(account: "no-such-account"))
        #expect(notAllowed.error == "forbidden")
        #expect(notAllowed.delivery.body == unknown.delivery.body)
        #expect(notAllowed.properties.expiration == unknown.properties.expiration)
        #expect(notAllowed.text == #"{"status":"error","error":"forbidden","message":"requester is not allowed this account, or there is no such account"}"#)
    }

    @Test("A request without user_id is forbidden")
    func missingUserID() throws {
        let requester = try Requester(requestQueue: worker.queue)
        let correlation = try requester.send(body: #"{"account":"sf-eu"}"#, userID: .some(nil))
        let reply = try #require(try requester.reply(to: correlation))
        #expect(reply.error == "forbidden")
    }

    @Test(
        "Shape errors are bad_request",
        arguments: [
            ("bad JSON", #"{"account": "sf-eu""#, "application/json", "body is not valid JSON"),
            ("oversized body", "OVERSIZED", "application/json", "body is 4097 bytes; at most 4096 are read"),
            ("wrong content_type", #"{"account":"sf-eu"}"#, "text/plain", "content_type must be application/json"),
            ("duplicate keys", #"{"account":"sf-eu","account":"sf-us"}"#, "application/json", "duplicate key"),
            ("min_validity_ms as a decimal", #"{"account":"sf-eu","min_validity_ms":5000.0}"#, "application/json", "min_validity_ms must be a JSON integer"),
        ])
    func badRequests(name: String, body: String, contentType: String, message: String) throws {
        let requester = try Requester(requestQueue: worker.queue)
        // 4097 bytes of valid JSON: refused for its size alone.
        let head = #"{"account":"sf-eu","pad":""#
        let text = body == "OVERSIZED" ? head + String(repeating: "x", count: 4097 - head.utf8.count - 2) + #""}"# : body
        let correlation = try requester.send(body: text, contentType: contentType)
        let reply = try #require(try requester.reply(to: correlation), "\(name)")
        #expect(reply.error == "bad_request", "\(name): \(reply.text)")
        #expect((reply.json["message"] as? String)?.contains(message) == true, "\(name): \(reply.text)")
        #expect(reply.properties.expiration == "30000")
        #expect(reply.properties.correlationID == correlation)
    }

    @Test("A missing correlation_id is bad_request, and the reply has none")
    func missingCorrelationID() throws {
        let requester = try Requester(requestQueue: worker.queue)
        try requester.connection.publish(
            routingKey: worker.queue,
            properties: MessageProperties(
                contentType: "application/json", correlationID: nil, replyTo: requester.replyQueue, userID: "rpa-bot-eu-1"
            ), body: Array(#"{"account":"sf-eu"}"#.utf8))
        let reply = try #require(try requester.reply(to: nil))
        #expect(reply.error == "bad_request")
        #expect(reply.text.contains("correlation_id is missing"))
        #expect(reply.properties.correlationID == nil)
    }

    @Test("A binary correlation id comes back unchanged; an over-long one is bad_request and still echoed")
    func correlationEcho() throws {
        let requester = try Requester(requestQueue: worker.queue)
        let binary: [UInt8] = [0, 1, 0xFF, 0x80, 0x22, 0x5C] + Array(repeating: 0x41, count: 122)
        let reply = try #require(try requester.reply(to: try requester.send(body: #"{"account":"sf-eu"}"#, correlationID: binary)))
        #expect(reply.status == "ok")
        #expect(reply.properties.correlationID == binary)
        let long = Array(repeating: UInt8(0x42), count: 200)
        let tooLong = try #require(try requester.reply(to: try requester.send(body: #"{"account":"sf-eu"}"#, correlationID: long)))
        #expect(tooLong.error == "bad_request")
        #expect(tooLong.properties.correlationID == long)
    }

    @Test("Direct reply-to answers are not counted as unroutable; a reply queue that does not exist is")
    func directReplyToNotUnroutable() throws {
        let port = OperationsTests.freePort()
        let worker = try WorkerProcess(metricsPort: port).start()
        defer { worker.stop() }
        let connection = try Broker.connect("rpa-bot-eu-1")
        defer { connection.close() }
        try connection.consume(queue: "amq.rabbitmq.reply-to", noAck: true)
        for index in 0..<5 {
            try connection.publish(
                routingKey: worker.queue,
                properties: MessageProperties(
                    contentType: "application/json", correlationID: [UInt8(index)], replyTo: "amq.rabbitmq.reply-to", userID: "rpa-bot-eu-1"
                ), body: Array(#"{"account":"sf-eu","min_validity_ms":0}"#.utf8))
        }
        var replies = 0
        let deadline = Date().addingTimeInterval(10)
        while replies < 5 && Date() < deadline {
            if case .delivery = try connection.nextEvent(timeoutMilliseconds: 100) { replies += 1 }
        }
        #expect(replies == 5)
        // Then one reply to a queue nobody has: that one is unroutable.
        let requester = try Requester(requestQueue: worker.queue)
        try requester.send(body: #"{"account":"sf-eu","min_validity_ms":0}"#, replyTo: .some("amq.gen-nobody-here"))
        #expect(worker.waitForLog("reply unroutable"))
        #expect(try requester.ask(account: "sf-eu")?.status == "ok")
        let metrics = try OperationsTests.get(port, "/metrics").body
        #expect(OperationsTests.value(metrics, "mfa_replies_unroutable_total") == 1, "\(metrics)")
        #expect(worker.log.components(separatedBy: "reply unroutable").count - 1 == 1, "\(worker.log)")
    }

    @Test("Direct reply-to (amq.rabbitmq.reply-to) works")
    func directReplyTo() throws {
        let connection = try Broker.connect("rpa-bot-eu-1")
        defer { connection.close() }
        try connection.consume(queue: "amq.rabbitmq.reply-to", noAck: true)
        try connection.publish(
            routingKey: worker.queue,
            properties: MessageProperties(
                contentType: "application/json", correlationID: [9], replyTo: "amq.rabbitmq.reply-to", userID: "rpa-bot-eu-1"
            ), body: Array(#"{"account":"sf-eu"}"#.utf8))
        var reply: Delivery?
        let deadline = Date().addingTimeInterval(5)
        while reply == nil && Date() < deadline {
            if case .delivery(let delivery) = try connection.nextEvent(timeoutMilliseconds: 100) { reply = delivery }
        }
        #expect(reply?.properties.correlationID == [9])
        #expect(reply.map { String(decoding: $0.body, as: UTF8.self).contains(#""status":"ok""#) } == true)
    }

    @Test("Each request gets one log line with requester, account, correlation id, outcome and latency; no code")
    func logLine() throws {
        let requester = try Requester(requestQueue: worker.queue)
        let correlation = try requester.send(account: "sf-eu", correlationID: Array("log-line-check".utf8))
        let reply = try #require(try requester.reply(to: correlation))
        // The whole line: its last field is written with it.
        #expect(worker.waitForLog("correlation_id=log-line-check outcome=ok latency_ms="))
        let line = worker.log.split(separator: "\n").first { $0.contains("correlation_id=log-line-check") }.map(String.init) ?? ""
        #expect(line.contains("info request"))
        #expect(line.contains("requester=rpa-bot-eu-1"))
        #expect(line.contains("account=sf-eu"))
        #expect(line.contains("outcome=ok"))
        #expect(line.range(of: #"latency_ms=\d+\.\d{3}"#, options: .regularExpression) != nil)
        #expect(!worker.log.contains(try #require(reply.code)))
        #expect(!worker.log.contains(worker.keys["sf-eu"]!.base32))
    }
}

enum SystemTimeMs {
    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
