/// The AMQP basic properties of a message, as plain Swift values.
///
/// `correlationID` is bytes because the protocol echoes it unchanged, and a
/// requester may send any bytes; the other text properties are short
/// strings that RabbitMQ keeps as UTF-8.
public struct MessageProperties: Sendable, Equatable {
    public enum DeliveryMode: UInt8, Sendable {
        case transient = 1
        case persistent = 2
    }

    public var contentType: String?
    public var contentEncoding: String?
    public var deliveryMode: DeliveryMode?
    public var priority: UInt8?
    public var correlationID: [UInt8]?
    public var replyTo: String?
    /// Milliseconds, as decimal text.
    public var expiration: String?
    public var messageID: String?
    /// Unix seconds.
    public var timestamp: UInt64?
    public var type: String?
    public var userID: String?
    public var appID: String?
    /// Header names that the message carried (values are not kept).
    public var headerNames: [String]?

    public init(
        contentType: String? = nil,
        contentEncoding: String? = nil,
        deliveryMode: DeliveryMode? = nil,
        priority: UInt8? = nil,
        correlationID: [UInt8]? = nil,
        replyTo: String? = nil,
        expiration: String? = nil,
        messageID: String? = nil,
        timestamp: UInt64? = nil,
        type: String? = nil,
        userID: String? = nil,
        appID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
    }
}

/// A message delivered to a consumer.
public struct Delivery: Sendable {
    public var consumerTag: String
    public var deliveryTag: UInt64
    public var redelivered: Bool
    public var exchange: String
    public var routingKey: String
    public var properties: MessageProperties
    public var body: [UInt8]
}

/// A `mandatory` message that the broker could not route, sent back.
public struct ReturnedMessage: Sendable {
    public var replyCode: UInt16
    public var replyText: String
    public var exchange: String
    public var routingKey: String
    public var properties: MessageProperties
    public var body: [UInt8]
}

/// What ``AMQPConnection/nextEvent(timeoutMilliseconds:)`` found.
public enum AMQPEvent: Sendable {
    /// A message for one of this connection's consumers.
    case delivery(Delivery)
    /// Nothing arrived within the timeout. The connection is fine.
    case timeout
    /// An unroutable `mandatory` message came back.
    case returned(ReturnedMessage)
    /// The broker cancelled a consumer (its queue was deleted, a node was
    /// lost): it needs to consume again.
    case consumerCancelled(consumerTag: String)
    /// Publisher confirms: the broker has taken responsibility for every
    /// publish up to `deliveryTag` (when `multiple`), or for that one.
    case publisherAck(deliveryTag: UInt64, multiple: Bool)
    /// Publisher confirms: the broker lost these publishes.
    case publisherNack(deliveryTag: UInt64, multiple: Bool)
    /// The broker closed the channel (close-ok already sent). The channel
    /// can be opened again with ``AMQPConnection/reopenChannel()``.
    case channelClosed(code: UInt16, text: String)
    /// The broker blocked (`true`) or unblocked publishing on this
    /// connection (a memory or disk alarm); `reason` is the broker's
    /// ("low on memory"), empty when unblocked.
    case blocked(Bool, reason: String)
}
