import AMQP
import MFAProtocol
import MFAWorkerCore

extension AMQPConnection {
    /// Publishes a turn-queue message to `queue`: persistent (the turn
    /// queue is a quorum queue: every message is on disk anyway) and
    /// `mandatory`, so that a missing queue comes back rather than vanishing.
    /// A request rides with its requester's `reply_to` and `correlation_id`;
    /// a fence with its id as `message_id`. Every one carries `user_id` =
    /// the worker's login (`login`), which the broker checks: the turn
    /// thread believes nothing else (``TurnQueueGuard``).
    /// - Returns: the publish's sequence number (confirms are on).
    func publish(_ message: TurnMessage, to queue: String, as login: String) throws(AMQPError) -> UInt64 {
        var properties = MessageProperties(deliveryMode: .persistent, messageID: message.messageID, type: message.type, userID: login)
        switch message {
        case .request(let turn):
            properties.contentType = ProtocolConstants.contentType
            properties.correlationID = turn.correlationID
            properties.replyTo = turn.replyTo
        case .record:
            properties.contentType = ProtocolConstants.contentType
        case .fence:
            break
        }
        return try publish(routingKey: queue, mandatory: true, properties: properties, body: message.body())
    }
}

extension AMQPConnection {
    /// Writes a record into the guard log, with `user_id` = the worker's
    /// login (the guard reader believes nothing else).
    func publish(_ record: GuardRecord, to queue: String, as login: String) throws(AMQPError) -> UInt64 {
        let properties = MessageProperties(
            contentType: ProtocolConstants.contentType, deliveryMode: .persistent, type: record.type, userID: login)
        return try publish(routingKey: queue, mandatory: false, properties: properties, body: record.encoded())
    }
}
