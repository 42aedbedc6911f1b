/// The frames a consumer sends per message (`basic.publish` with its
/// content, `basic.ack`, `basic.nack`, `basic.reject`), encoded into one
/// byte buffer by the wrapper itself, so that a publish is one write rather
/// than librabbitmq's three, and a connection that coalesces sends a batch
/// of replies and their acks in one (``AMQPConnection/coalescesWrites``).
///
/// Pure: AMQP 0-9-1 framing (section 4.2.3 and the `basic` class of the
/// specification), no I/O. Every append adds whole frames or nothing.
struct OutboundFrames {
    private(set) var bytes: [UInt8] = []
    /// When the oldest frame that waits was appended (monotonic ns).
    private(set) var waitingSince: UInt64?

    var isEmpty: Bool { bytes.isEmpty }
    var count: Int { bytes.count }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        waitingSince = nil
    }

    /// Frames were appended at `now` and wait (a coalescing connection).
    mutating func waiting(since now: UInt64) {
        if waitingSince == nil, !bytes.isEmpty { waitingSince = now }
    }

    /// Whether the frames that wait must be written before the next read:
    /// when that read would wait for the broker (no input buffered), or when
    /// the oldest has waited `limit` ns already. The limit keeps a stream of
    /// deliveries that never lets the input run dry (large bodies, say) from
    /// holding replies made long ago.
    func mustWrite(now: UInt64, inputBuffered: Bool, limit: UInt64) -> Bool {
        guard !bytes.isEmpty else { return false }
        guard inputBuffered, let since = waitingSince else { return true }
        return now &- since >= limit
    }

    // Frame types and the methods of the `basic` class this encodes.
    static let methodFrame: UInt8 = 1
    static let headerFrame: UInt8 = 2
    static let bodyFrame: UInt8 = 3
    static let frameEnd: UInt8 = 0xCE
    static let basicClass: UInt16 = 60
    static let publishMethod: UInt16 = 40
    static let ackMethod: UInt16 = 80
    static let rejectMethod: UInt16 = 90
    static let nackMethod: UInt16 = 120
    /// A frame's header (type, channel, size) and end byte.
    static let frameOverhead = 8

    /// `basic.publish`, its content header and its body, in frames of at
    /// most `frameMax` bytes. Throws, appending nothing, when a short
    /// string (a name, a property) is longer than AMQP's 255 bytes.
    mutating func appendPublish(
        channel: UInt16, exchange: String, routingKey: String, mandatory: Bool, properties: MessageProperties, body: [UInt8], frameMax: Int
    ) throws(AMQPError) {
        let mark = bytes.count
        do throws(AMQPError) {
            var start = beginFrame(Self.methodFrame, channel: channel)
            append(Self.basicClass)
            append(Self.publishMethod)
            append(UInt16(0))  // reserved (ticket)
            try appendShortString(exchange.utf8, "exchange")
            try appendShortString(routingKey.utf8, "routing key")
            bytes.append(mandatory ? 1 : 0)  // mandatory, and immediate off
            endFrame(start)

            start = beginFrame(Self.headerFrame, channel: channel)
            append(Self.basicClass)
            append(UInt16(0))  // weight
            append(UInt64(body.count))
            try appendProperties(properties)
            endFrame(start)
        } catch {
            bytes.removeSubrange(mark...)
            throw error
        }

        let chunk = max(frameMax, 4096) - Self.frameOverhead
        var offset = 0
        while offset < body.count {
            let end = min(offset + chunk, body.count)
            let start = beginFrame(Self.bodyFrame, channel: channel)
            bytes.append(contentsOf: body[offset..<end])
            endFrame(start)
            offset = end
        }
    }

    /// `basic.ack` of `deliveryTag` (and every earlier one when `multiple`).
    mutating func appendAck(channel: UInt16, deliveryTag: UInt64, multiple: Bool) {
        appendTagMethod(Self.ackMethod, channel: channel, deliveryTag: deliveryTag, bits: multiple ? 1 : 0)
    }

    /// `basic.nack`: bit 0 `multiple`, bit 1 `requeue`.
    mutating func appendNack(channel: UInt16, deliveryTag: UInt64, multiple: Bool, requeue: Bool) {
        appendTagMethod(Self.nackMethod, channel: channel, deliveryTag: deliveryTag, bits: (multiple ? 1 : 0) | (requeue ? 2 : 0))
    }

    /// `basic.reject`: bit 0 `requeue`.
    mutating func appendReject(channel: UInt16, deliveryTag: UInt64, requeue: Bool) {
        appendTagMethod(Self.rejectMethod, channel: channel, deliveryTag: deliveryTag, bits: requeue ? 1 : 0)
    }

    private mutating func appendTagMethod(_ method: UInt16, channel: UInt16, deliveryTag: UInt64, bits: UInt8) {
        let start = beginFrame(Self.methodFrame, channel: channel)
        append(Self.basicClass)
        append(method)
        append(deliveryTag)
        bytes.append(bits)
        endFrame(start)
    }

    /// The content header's property flags and values, in the order of
    /// their flag bits (15 down): content_type, content_encoding, headers
    /// (never sent), delivery_mode, priority, correlation_id, reply_to,
    /// expiration, message_id, timestamp, type, user_id, app_id.
    private mutating func appendProperties(_ properties: MessageProperties) throws(AMQPError) {
        var flags: UInt16 = 0
        func flag(_ present: Bool, _ bit: UInt16) { if present { flags |= 1 << bit } }
        flag(properties.contentType != nil, 15)
        flag(properties.contentEncoding != nil, 14)
        flag(properties.deliveryMode != nil, 12)
        flag(properties.priority != nil, 11)
        flag(properties.correlationID != nil, 10)
        flag(properties.replyTo != nil, 9)
        flag(properties.expiration != nil, 8)
        flag(properties.messageID != nil, 7)
        flag(properties.timestamp != nil, 6)
        flag(properties.type != nil, 5)
        flag(properties.userID != nil, 4)
        flag(properties.appID != nil, 3)
        append(flags)
        if let value = properties.contentType { try appendShortString(value.utf8, "content_type") }
        if let value = properties.contentEncoding { try appendShortString(value.utf8, "content_encoding") }
        if let value = properties.deliveryMode { bytes.append(value.rawValue) }
        if let value = properties.priority { bytes.append(value) }
        if let value = properties.correlationID { try appendShortString(value, "correlation_id") }
        if let value = properties.replyTo { try appendShortString(value.utf8, "reply_to") }
        if let value = properties.expiration { try appendShortString(value.utf8, "expiration") }
        if let value = properties.messageID { try appendShortString(value.utf8, "message_id") }
        if let value = properties.timestamp { append(value) }
        if let value = properties.type { try appendShortString(value.utf8, "type") }
        if let value = properties.userID { try appendShortString(value.utf8, "user_id") }
        if let value = properties.appID { try appendShortString(value.utf8, "app_id") }
    }

    /// Starts a frame; returns where it starts, for ``endFrame(_:)``.
    private mutating func beginFrame(_ type: UInt8, channel: UInt16) -> Int {
        let start = bytes.count
        bytes.append(type)
        append(channel)
        append(UInt32(0))  // the payload's size, set by endFrame
        return start
    }

    private mutating func endFrame(_ start: Int) {
        let size = UInt32(bytes.count - start - 7)
        for index in 0..<4 { bytes[start + 3 + index] = UInt8(truncatingIfNeeded: size >> (24 - 8 * index)) }
        bytes.append(Self.frameEnd)
    }

    /// A short string: at most 255 bytes (`name` says which, if longer).
    private mutating func appendShortString(_ value: some Collection<UInt8>, _ name: String) throws(AMQPError) {
        guard value.count <= 255 else { throw .library(operation: "basic.publish", reason: "the \(name) is longer than 255 bytes") }
        bytes.append(UInt8(value.count))
        bytes.append(contentsOf: value)
    }

    private mutating func append(_ value: some FixedWidthInteger) {
        var bigEndian = value.bigEndian
        withUnsafeBytes(of: &bigEndian) { bytes.append(contentsOf: $0) }
    }
}
