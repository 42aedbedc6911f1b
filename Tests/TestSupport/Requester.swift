import AMQP
import Foundation

/// A requester written against the protocol with the AMQP wrapper: its own
/// server-named reply queue, requests published with `user_id`, replies
/// matched by correlation id.
public final class Requester {
    public let user: String
    public let connection: AMQPConnection
    public let replyQueue: String
    public let requestQueue: String
    private var stash: [Reply] = []

    public init(_ user: String = "rpa-bot-eu-1", requestQueue: String, port: Int = Broker.port) throws {
        self.user = user
        self.requestQueue = requestQueue
        connection = try Broker.connect(user, port: port, name: "tests requester \(user)")
        replyQueue = try connection.declareQueue("", exclusive: true, autoDelete: true).queue
        try connection.consume(queue: replyQueue, noAck: true)
    }

    deinit { connection.close() }

    /// A parsed reply.
    public struct Reply {
        public let delivery: Delivery
        /// When the requester read it off the socket.
        public var arrivedAt = Date()
        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(delivery.body))) as? [String: Any] ?? [:]
        }
        public var text: String { String(decoding: delivery.body, as: UTF8.self) }
        public var status: String? { json["status"] as? String }
        public var error: String? { json["error"] as? String }
        public var code: String? { json["code"] as? String }
        public var windowStart: Int64? { (json["window_start"] as? NSNumber)?.int64Value }
        public var windowEnd: Int64? { (json["window_end"] as? NSNumber)?.int64Value }
        public var expiresIn: Int64? { (json["expires_in_ms"] as? NSNumber)?.int64Value }
        public var properties: MessageProperties { delivery.properties }
    }

    /// Publishes a request; returns its correlation id.
    @discardableResult
    public func send(
        body: String,
        correlationID: [UInt8]? = nil,
        replyTo: String?? = .none,
        userID: String?? = .none,
        contentType: String? = "application/json",
        type: String? = "mfa-code-request",
        expiration: String? = nil
    ) throws -> [UInt8]? {
        let correlation = correlationID ?? Array(UUID().uuidString.utf8)
        let properties = MessageProperties(
            contentType: contentType,
            correlationID: correlation,
            replyTo: replyTo ?? replyQueue,
            expiration: expiration,
            type: type,
            userID: userID ?? user
        )
        try connection.publish(routingKey: requestQueue, properties: properties, body: Array(body.utf8))
        return correlation
    }

    public func send(account: String, minValidity: Int? = nil, maxWait: Int? = nil, correlationID: [UInt8]? = nil) throws -> [UInt8]? {
        var body = #"{"account":"\#(account)""#
        if let minValidity { body += #","min_validity_ms":\#(minValidity)"# }
        if let maxWait { body += #","max_wait_ms":\#(maxWait)"# }
        body += "}"
        return try send(body: body, correlationID: correlationID)
    }

    /// Waits for the reply with `correlationID` (or any reply when nil).
    public func reply(to correlationID: [UInt8]?, timeout: TimeInterval = 10) throws -> Reply? {
        if let index = stash.firstIndex(where: { correlationID == nil || $0.properties.correlationID == correlationID }) {
            return stash.remove(at: index)
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let event = try connection.nextEvent(timeoutMilliseconds: 50)
            if case .delivery(let delivery) = event {
                if correlationID == nil || delivery.properties.correlationID == correlationID {
                    return Reply(delivery: delivery)
                }
                stash.append(Reply(delivery: delivery))
            }
        }
        return nil
    }

    /// Every reply that arrives within `timeout`.
    public func replies(count: Int, timeout: TimeInterval = 30) throws -> [Reply] {
        var replies = stash
        stash.removeAll()
        let deadline = Date().addingTimeInterval(timeout)
        while replies.count < count && Date() < deadline {
            if case .delivery(let delivery) = try connection.nextEvent(timeoutMilliseconds: 50) {
                replies.append(Reply(delivery: delivery))
            }
        }
        return replies
    }

    /// One request and its reply.
    public func ask(account: String, minValidity: Int? = nil, timeout: TimeInterval = 10) throws -> Reply? {
        let correlation = try send(account: account, minValidity: minValidity)
        return try reply(to: correlation, timeout: timeout)
    }
}

/// Figures the worker computes from its clock, checked without assuming
/// how fast it answered.
public enum WorkerClock {
    /// The worker computed `retryAfter` (ms) at some moment between
    /// `sentAt` and `receivedAt` (Unix ms, this machine's clock): true when,
    /// counted from that moment, it points at `target`. `slack` covers the
    /// rounding of two millisecond clocks.
    public static func points(_ retryAfter: Int64, at target: Int64, sentAt: Int64, receivedAt: Int64, slack: Int64 = 50) -> Bool {
        sentAt + retryAfter - slack <= target && target <= receivedAt + retryAfter + slack
    }
}
