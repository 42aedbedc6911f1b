/// A request as the worker received it: the body and the properties the
/// protocol reads, as plain values (no broker types).
public struct RequestMessage: Sendable {
    public var body: [UInt8]
    public var replyTo: String?
    public var correlationID: [UInt8]?
    /// The broker-checked AMQP user that published the request.
    public var userID: String?
    public var contentType: String?
    public var type: String?
    /// False when `reply_to` is a direct reply-to name on a node the broker
    /// does not run (found by the loop's probe, ``DirectReplyNodes``).
    public var replyToReachable = true

    public init(body: [UInt8], replyTo: String?, correlationID: [UInt8]?, userID: String?, contentType: String? = nil, type: String? = nil) {
        self.body = body
        self.replyTo = replyTo
        self.correlationID = correlationID
        self.userID = userID
        self.contentType = contentType
        self.type = type
    }
}
