import CRabbitMQ

/// What `queue.declare` answered.
public struct QueueDeclareOK: Sendable, Equatable {
    public var queue: String
    public var messageCount: UInt32
    public var consumerCount: UInt32
}

extension AMQPConnection {
    /// `basic.qos`: at most `prefetchCount` unacknowledged deliveries.
    public func setPrefetch(_ prefetchCount: Int) throws(AMQPError) {
        try flush()
        amqp_basic_qos(state, Self.channel, 0, UInt16(clamping: prefetchCount), 0)
        try check(amqp_get_rpc_reply(state), "basic.qos")
    }

    /// `queue.declare`. An empty `name` asks the broker to name the queue.
    /// A queue that exists with other arguments makes the broker close the
    /// channel with 406 PRECONDITION_FAILED, thrown as ``AMQPError/channelClosed(code:text:)``
    /// with the broker's text, which names the argument.
    @discardableResult
    public func declareQueue(
        _ name: String,
        passive: Bool = false,
        durable: Bool = false,
        exclusive: Bool = false,
        autoDelete: Bool = false,
        arguments: [(String, FieldValue)] = []
    ) throws(AMQPError) -> QueueDeclareOK {
        try flush()
        defer { arena.reset() }
        let ok = amqp_queue_declare(
            state, Self.channel, arena.bytes(name),
            passive ? 1 : 0, durable ? 1 : 0, exclusive ? 1 : 0, autoDelete ? 1 : 0,
            arena.table(arguments)
        )
        try check(amqp_get_rpc_reply(state), "queue.declare")
        guard let ok else { throw .library(operation: "queue.declare", reason: "no reply") }
        // The name lives in the connection's pool: copy it at once.
        return QueueDeclareOK(queue: Self.string(ok.pointee.queue), messageCount: ok.pointee.message_count, consumerCount: ok.pointee.consumer_count)
    }

    /// `queue.delete`; returns the number of messages deleted with it.
    @discardableResult
    public func deleteQueue(_ name: String, ifUnused: Bool = false, ifEmpty: Bool = false) throws(AMQPError) -> UInt32 {
        try flush()
        defer { arena.reset() }
        let ok = amqp_queue_delete(state, Self.channel, arena.bytes(name), ifUnused ? 1 : 0, ifEmpty ? 1 : 0)
        try check(amqp_get_rpc_reply(state), "queue.delete")
        return ok?.pointee.message_count ?? 0
    }

    /// `queue.purge`; returns the number of messages purged.
    @discardableResult
    public func purgeQueue(_ name: String) throws(AMQPError) -> UInt32 {
        try flush()
        defer { arena.reset() }
        let ok = amqp_queue_purge(state, Self.channel, arena.bytes(name))
        try check(amqp_get_rpc_reply(state), "queue.purge")
        return ok?.pointee.message_count ?? 0
    }

    /// `exchange.declare`.
    public func declareExchange(_ name: String, type: String, durable: Bool = false, autoDelete: Bool = false) throws(AMQPError) {
        try flush()
        defer { arena.reset() }
        amqp_exchange_declare(
            state, Self.channel, arena.bytes(name), arena.bytes(type), 0, durable ? 1 : 0, autoDelete ? 1 : 0, 0, amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(state), "exchange.declare")
    }

    /// `exchange.delete`.
    public func deleteExchange(_ name: String) throws(AMQPError) {
        try flush()
        defer { arena.reset() }
        amqp_exchange_delete(state, Self.channel, arena.bytes(name), 0)
        try check(amqp_get_rpc_reply(state), "exchange.delete")
    }

    /// `queue.bind`.
    public func bindQueue(_ queue: String, exchange: String, routingKey: String) throws(AMQPError) {
        try flush()
        defer { arena.reset() }
        amqp_queue_bind(state, Self.channel, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey), amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(state), "queue.bind")
    }

    /// `basic.consume`; returns the consumer tag (the broker's when
    /// `consumerTag` is empty). `arguments`: the consumer's `x-` arguments
    /// (a stream's `x-stream-offset`).
    @discardableResult
    public func consume(
        queue: String, consumerTag: String = "", noAck: Bool = false, exclusive: Bool = false, arguments: [(String, FieldValue)] = []
    ) throws(AMQPError) -> String {
        try flush()
        defer { arena.reset() }
        let ok = amqp_basic_consume(
            state, Self.channel, arena.bytes(queue), arena.bytes(consumerTag), 0, noAck ? 1 : 0, exclusive ? 1 : 0, arena.table(arguments))
        try check(amqp_get_rpc_reply(state), "basic.consume")
        guard let ok else { throw .library(operation: "basic.consume", reason: "no reply") }
        return Self.string(ok.pointee.consumer_tag)
    }

    /// `basic.cancel`: no new deliveries for `consumerTag`. Deliveries
    /// already sent may still arrive.
    public func cancel(consumerTag: String) throws(AMQPError) {
        try flush()
        defer { arena.reset() }
        amqp_basic_cancel(state, Self.channel, arena.bytes(consumerTag))
        try check(amqp_get_rpc_reply(state), "basic.cancel")
    }

    /// `confirm.select`: from now on the broker acknowledges every publish;
    /// ``publish(exchange:routingKey:mandatory:properties:body:)`` returns
    /// the sequence number that the acknowledgement will carry.
    public func enablePublisherConfirms() throws(AMQPError) {
        try flush()
        amqp_confirm_select(state, Self.channel)
        try check(amqp_get_rpc_reply(state), "confirm.select")
        nextPublishSequence = 1
    }

    public var publisherConfirmsEnabled: Bool { nextPublishSequence > 0 }

    /// Publishes one message. Asynchronous: a refusal (a forged `user_id`,
    /// an exchange that does not exist) comes later as a channel close.
    ///
    /// - Returns: with publisher confirms on, the publish's sequence number;
    ///   otherwise 0.
    @discardableResult
    public func publish(
        exchange: String = "",
        routingKey: String,
        mandatory: Bool = false,
        properties: MessageProperties,
        body: [UInt8]
    ) throws(AMQPError) -> UInt64 {
        if writesOwnFrames {
            try outbound.appendPublish(
                channel: UInt16(Self.channel), exchange: exchange, routingKey: routingKey, mandatory: mandatory, properties: properties, body: body,
                frameMax: frameMax)
            try flushUnlessCoalescing()
        } else {
            defer { arena.reset() }
            var raw = rawProperties(properties)
            let status = body.withUnsafeBytes { buffer in
                amqp_basic_publish(
                    state, Self.channel, arena.bytes(exchange), arena.bytes(routingKey),
                    mandatory ? 1 : 0, 0, &raw,
                    amqp_bytes_t(len: buffer.count, bytes: UnsafeMutableRawPointer(mutating: buffer.baseAddress))
                )
            }
            guard status == AMQP_STATUS_OK.rawValue else { throw lost(status, "basic.publish") }
        }
        guard nextPublishSequence > 0 else { return 0 }
        defer { nextPublishSequence += 1 }
        return nextPublishSequence
    }

    /// `basic.ack` of a delivery (and every earlier one when `multiple`).
    public func ack(deliveryTag: UInt64, multiple: Bool = false) throws(AMQPError) {
        if writesOwnFrames {
            outbound.appendAck(channel: UInt16(Self.channel), deliveryTag: deliveryTag, multiple: multiple)
            return try flushUnlessCoalescing()
        }
        let status = amqp_basic_ack(state, Self.channel, deliveryTag, multiple ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else { throw lost(status, "basic.ack") }
    }

    /// `basic.reject`: without `requeue`, the broker drops the message or
    /// dead-letters it where the queue has a dead-letter exchange.
    public func reject(deliveryTag: UInt64, requeue: Bool) throws(AMQPError) {
        if writesOwnFrames {
            outbound.appendReject(channel: UInt16(Self.channel), deliveryTag: deliveryTag, requeue: requeue)
            return try flushUnlessCoalescing()
        }
        let status = amqp_basic_reject(state, Self.channel, deliveryTag, requeue ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else { throw lost(status, "basic.reject") }
    }

    /// `basic.nack`, for giving back several deliveries at once.
    public func nack(deliveryTag: UInt64, multiple: Bool, requeue: Bool) throws(AMQPError) {
        if writesOwnFrames {
            outbound.appendNack(channel: UInt16(Self.channel), deliveryTag: deliveryTag, multiple: multiple, requeue: requeue)
            return try flushUnlessCoalescing()
        }
        let status = amqp_basic_nack(state, Self.channel, deliveryTag, multiple ? 1 : 0, requeue ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else { throw lost(status, "basic.nack") }
    }

    private func rawProperties(_ properties: MessageProperties) -> amqp_basic_properties_t {
        var raw = amqp_basic_properties_t()
        var flags: Int32 = 0
        if let value = properties.contentType {
            raw.content_type = arena.bytes(value)
            flags |= AMQP_BASIC_CONTENT_TYPE_FLAG
        }
        if let value = properties.contentEncoding {
            raw.content_encoding = arena.bytes(value)
            flags |= AMQP_BASIC_CONTENT_ENCODING_FLAG
        }
        if let value = properties.deliveryMode {
            raw.delivery_mode = value.rawValue
            flags |= AMQP_BASIC_DELIVERY_MODE_FLAG
        }
        if let value = properties.priority {
            raw.priority = value
            flags |= AMQP_BASIC_PRIORITY_FLAG
        }
        if let value = properties.correlationID {
            raw.correlation_id = arena.bytes(value)
            flags |= AMQP_BASIC_CORRELATION_ID_FLAG
        }
        if let value = properties.replyTo {
            raw.reply_to = arena.bytes(value)
            flags |= AMQP_BASIC_REPLY_TO_FLAG
        }
        if let value = properties.expiration {
            raw.expiration = arena.bytes(value)
            flags |= AMQP_BASIC_EXPIRATION_FLAG
        }
        if let value = properties.messageID {
            raw.message_id = arena.bytes(value)
            flags |= AMQP_BASIC_MESSAGE_ID_FLAG
        }
        if let value = properties.timestamp {
            raw.timestamp = value
            flags |= AMQP_BASIC_TIMESTAMP_FLAG
        }
        if let value = properties.type {
            raw.type = arena.bytes(value)
            flags |= AMQP_BASIC_TYPE_FLAG
        }
        if let value = properties.userID {
            raw.user_id = arena.bytes(value)
            flags |= AMQP_BASIC_USER_ID_FLAG
        }
        if let value = properties.appID {
            raw.app_id = arena.bytes(value)
            flags |= AMQP_BASIC_APP_ID_FLAG
        }
        raw._flags = amqp_flags_t(flags)
        return raw
    }

    static func properties(_ raw: amqp_basic_properties_t) -> MessageProperties {
        let flags = Int32(raw._flags)
        func has(_ flag: Int32) -> Bool { flags & flag != 0 }
        var properties = MessageProperties()
        if has(AMQP_BASIC_CONTENT_TYPE_FLAG) { properties.contentType = string(raw.content_type) }
        if has(AMQP_BASIC_CONTENT_ENCODING_FLAG) { properties.contentEncoding = string(raw.content_encoding) }
        if has(AMQP_BASIC_DELIVERY_MODE_FLAG) { properties.deliveryMode = MessageProperties.DeliveryMode(rawValue: raw.delivery_mode) }
        if has(AMQP_BASIC_PRIORITY_FLAG) { properties.priority = raw.priority }
        if has(AMQP_BASIC_CORRELATION_ID_FLAG) { properties.correlationID = array(raw.correlation_id) }
        // Not UTF-8: no usable reply_to (and a lossy decoding would be a
        // different, possibly over-long, name).
        if has(AMQP_BASIC_REPLY_TO_FLAG) { properties.replyTo = strictString(raw.reply_to) }
        if has(AMQP_BASIC_EXPIRATION_FLAG) { properties.expiration = string(raw.expiration) }
        if has(AMQP_BASIC_MESSAGE_ID_FLAG) { properties.messageID = string(raw.message_id) }
        if has(AMQP_BASIC_TIMESTAMP_FLAG) { properties.timestamp = raw.timestamp }
        if has(AMQP_BASIC_TYPE_FLAG) { properties.type = string(raw.type) }
        if has(AMQP_BASIC_USER_ID_FLAG) { properties.userID = strictString(raw.user_id) }
        if has(AMQP_BASIC_APP_ID_FLAG) { properties.appID = string(raw.app_id) }
        if has(AMQP_BASIC_HEADERS_FLAG), raw.headers.num_entries > 0, let entries = raw.headers.entries {
            properties.headerNames = (0..<Int(raw.headers.num_entries)).map { string(entries[$0].key) }
        }
        return properties
    }
}
