import AMQP
import Foundation
import Testing

/// The librabbitmq wrapper against the real broker that `scripts/broker.sh`
/// starts on 127.0.0.1:5672 with the demo users.
@Suite("AMQP wrapper against RabbitMQ")
struct AMQPBrokerTests {
    static let port = Int(ProcessInfo.processInfo.environment["MFA_BROKER_PORT"] ?? "") ?? 5672

    static func connect(_ user: String = "rpa-bot-eu-1", password: String? = nil) throws -> AMQPConnection {
        try AMQPConnection(
            ConnectionSettings(
                host: "127.0.0.1", port: port,
                credentials: .plain(user: user, password: password ?? "\(user)-password"),
                heartbeatSeconds: 10, timeoutMilliseconds: 5000, connectionName: "AMQPBrokerTests"
            ))
    }

    /// Waits for the first event that `accept` takes, skipping timeouts.
    static func next(_ connection: AMQPConnection, within milliseconds: Int = 5000, _ accept: (AMQPEvent) -> Bool = { _ in true }) throws -> AMQPEvent? {
        let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
        while Date() < deadline {
            let event = try connection.nextEvent(timeoutMilliseconds: 100)
            if case .timeout = event { continue }
            if accept(event) { return event }
        }
        return nil
    }

    @Test("Publish to an own queue and receive every property and the body")
    func roundTrip() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let queue = try connection.declareQueue("", exclusive: true, autoDelete: true).queue
        #expect(queue.hasPrefix("amq.gen-"))
        try connection.consume(queue: queue, noAck: true)
        let properties = MessageProperties(
            contentType: "application/json", contentEncoding: "identity", deliveryMode: .transient, priority: 3, correlationID: [0, 1, 2, 0xFF],
            replyTo: queue, expiration: "60000", messageID: "m-1", timestamp: 1_764_372_600,
            type: "mfa-code-request", userID: "rpa-bot-eu-1", appID: "tests"
        )
        try connection.publish(routingKey: queue, properties: properties, body: Array("{\"a\":1}".utf8))
        guard case .delivery(let delivery) = try Self.next(connection) else {
            Issue.record("no delivery")
            return
        }
        #expect(delivery.body == Array("{\"a\":1}".utf8))
        #expect(delivery.properties == properties)
        #expect(delivery.routingKey == queue)
        #expect(!delivery.redelivered)
    }

    @Test("A body larger than a frame arrives whole, and an empty one empty")
    func bodyAcrossFrames() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let queue = try connection.declareQueue("", exclusive: true, autoDelete: true).queue
        try connection.consume(queue: queue, noAck: true)
        let large = (0..<(connection.frameMax * 2 + 17)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try connection.publish(routingKey: queue, properties: MessageProperties(type: "large"), body: large)
        try connection.publish(routingKey: queue, properties: MessageProperties(type: "empty"), body: [])
        guard case .delivery(let first) = try Self.next(connection), case .delivery(let second) = try Self.next(connection) else {
            Issue.record("the messages did not arrive")
            return
        }
        #expect(first.properties.type == "large" && first.body == large)
        #expect(second.properties.type == "empty" && second.body.isEmpty)
    }

    @Test("Coalesced publishes and acks wait for the next read that waits, then leave in the order of the calls")
    func coalescedWrites() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let observer = try Self.connect()
        defer { observer.close() }
        let queue = try connection.declareQueue("", autoDelete: false).queue
        defer { _ = try? observer.deleteQueue(queue) }
        connection.coalescesWrites = true
        for index in 0..<3 {
            try connection.publish(routingKey: queue, properties: MessageProperties(messageID: "m-\(index)"), body: [UInt8(index)])
        }
        // Nothing written yet: the broker has none of them.
        #expect(try observer.declareQueue(queue, passive: true).messageCount == 0)
        // A read with nothing buffered writes them first.
        _ = try connection.nextEvent(timeoutMilliseconds: 0)
        var count: UInt32 = 0
        for _ in 0..<100 where count < 3 {
            count = try observer.declareQueue(queue, passive: true).messageCount
            if count < 3 { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(count == 3)

        // Acked coalesced, then the socket closes without a flush: the acks
        // never left, and the broker gives the three back.
        #expect(try Self.consumeAndAck(queue, flushing: false) == ["m-0", "m-1", "m-2"])
        #expect(try Self.messagesOnceUnconsumed(queue, observer) == 3)
        // The same with a flush: acked, so none come back.
        #expect(try Self.consumeAndAck(queue, flushing: true) == ["m-0", "m-1", "m-2"])
        #expect(try Self.messagesOnceUnconsumed(queue, observer) == 0)
    }

    /// Consumes `queue` on a coalescing connection, acks 3 deliveries and
    /// drops the connection without closing it (a flush and a round trip
    /// first when `flushing`); returns the deliveries' message ids.
    static func consumeAndAck(_ queue: String, flushing: Bool) throws -> [String] {
        let connection = try connect()
        connection.coalescesWrites = true
        try connection.setPrefetch(3)
        try connection.consume(queue: queue)
        var ids: [String] = []
        while ids.count < 3, case .delivery(let delivery) = try next(connection) {
            ids.append(delivery.properties.messageID ?? "")
            try connection.ack(deliveryTag: delivery.deliveryTag)
        }
        if flushing {
            try connection.flush()
            // Answered after the channel took the acks.
            _ = try connection.declareQueue(queue, passive: true)
        }
        return ids
    }

    /// The queue's ready messages once it has no consumer.
    static func messagesOnceUnconsumed(_ queue: String, _ observer: AMQPConnection) throws -> UInt32 {
        for _ in 0..<200 {
            let ok = try observer.declareQueue(queue, passive: true)
            if ok.consumerCount == 0 { return ok.messageCount }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("the consumer did not go away")
        return UInt32.max
    }

    @Test("A wrong password is a clear login refusal")
    func wrongPassword() {
        #expect(
            throws: AMQPError.loginRefused(
                user: "rpa-bot-eu-1", vhost: "/",
                reason: "403 ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.")
        ) {
            try Self.connect(password: "wrong")
        }
    }

    @Test("A port nobody listens on is a clear connect failure")
    func unreachable() {
        #expect(throws: AMQPError.connectFailed(endpoint: "127.0.0.1:1", reason: "connection refused")) {
            try AMQPConnection(ConnectionSettings(host: "127.0.0.1", port: 1, credentials: .plain(user: "x", password: "y")))
        }
    }

    @Test("A queue declared again with other arguments: 406 naming the argument, and the channel opens again")
    func inequivalentArguments() throws {
        let connection = try Self.connect("mfa-test-admin")
        defer { connection.close() }
        let name = "mfa-code-request-test-\(UUID().uuidString)"
        try connection.declareQueue(name, durable: false, autoDelete: true, arguments: [("x-max-length", .int(10))])
        defer { _ = try? connection.deleteQueue(name) }
        do {
            try connection.declareQueue(name, durable: false, autoDelete: true, arguments: [("x-max-length", .int(20))])
            Issue.record("the broker accepted other arguments")
        } catch {
            #expect(error.replyCode == 406)
            #expect(error.description.contains("inequivalent arg 'x-max-length'"))
        }
        #expect(!connection.isChannelOpen)
        try connection.reopenChannel()
        #expect(try connection.declareQueue(name, passive: true).queue == name)
    }

    @Test("A mandatory message nobody can route comes back as a return")
    func returned() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        try connection.publish(
            routingKey: "amq.gen-nobody-\(UUID().uuidString)", mandatory: true, properties: MessageProperties(correlationID: [7]), body: [1, 2, 3])
        guard case .returned(let message) = try Self.next(connection) else {
            Issue.record("no return")
            return
        }
        #expect(message.replyCode == 312)
        #expect(message.replyText == "NO_ROUTE")
        #expect(message.properties.correlationID == [7])
        #expect(message.body == [1, 2, 3])
    }

    @Test("Publisher confirms: every publish is acknowledged by sequence number")
    func confirms() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let queue = try connection.declareQueue("", exclusive: true, autoDelete: true).queue
        try connection.enablePublisherConfirms()
        var sequences: [UInt64] = []
        for _ in 0..<3 {
            sequences.append(try connection.publish(routingKey: queue, properties: MessageProperties(), body: [0]))
        }
        #expect(sequences == [1, 2, 3])
        var confirmed: UInt64 = 0
        while confirmed < 3 {
            guard case .publisherAck(let tag, _) = try Self.next(connection, { if case .publisherAck = $0 { true } else { false } }) else {
                Issue.record("missing confirms after \(confirmed)")
                return
            }
            confirmed = max(confirmed, tag)
        }
    }

    @Test("A forged user_id closes the channel with 406 and nothing is queued")
    func forgedUserID() throws {
        let connection = try Self.connect()
        defer { connection.close() }
        let queue = try connection.declareQueue("", exclusive: true, autoDelete: true).queue
        try connection.publish(routingKey: queue, properties: MessageProperties(userID: "rpa-bot-eu-2"), body: [1])
        guard case .channelClosed(let code, let text) = try Self.next(connection) else {
            Issue.record("the broker took a forged user_id")
            return
        }
        #expect(code == 406)
        #expect(text.contains("user_id property set to 'rpa-bot-eu-2' but authenticated user was 'rpa-bot-eu-1'"))
        try connection.reopenChannel()
    }

    @Test("Deleting a consumed queue cancels the consumer (consumer_cancel_notify)")
    func consumerCancelled() throws {
        let connection = try Self.connect("mfa-test-admin")
        defer { connection.close() }
        let name = "mfa-code-request-cancel-\(UUID().uuidString)"
        try connection.declareQueue(name, autoDelete: false)
        let tag = try connection.consume(queue: name)
        let other = try Self.connect("mfa-test-admin")
        try other.deleteQueue(name)
        other.close()
        guard case .consumerCancelled(let cancelled) = try Self.next(connection) else {
            Issue.record("no cancel")
            return
        }
        #expect(cancelled == tag)
    }
}
