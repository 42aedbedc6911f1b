import AMQP
import Foundation
import Logging
import MFAProtocol
import MFAWorkerCore
import TOTP

/// What every reply gets, whichever thread sends it: the protocol's
/// properties, and once sent, its count, audit entry and log line.
struct ReplyOutput {
    let shared: SharedWorkerState
    let logger: Logger
    /// The worker's broker login: every reply carries it as `user_id`
    /// (checked by the broker), so that a requester can tell the worker's
    /// replies from anything another user publishes into its queue.
    let login: String
    private let requestLine: RequestLogLine?

    init(shared: SharedWorkerState, logger: Logger, login: String) {
        self.shared = shared
        self.logger = logger
        self.login = login
        requestLine = RequestLogLine(logger)
    }

    /// Publishes `reply` with every property of the protocol and
    /// `mandatory` (but to a direct reply-to); returns the publish's sequence number (0 without
    /// publisher confirms).
    func publish(_ reply: Reply, _ connection: AMQPConnection, audited: Bool = true) throws(AMQPError) -> UInt64 {
        // The audit record reaches the kernel before the reply leaves: a
        // code handed out is never missing from the trail, whatever
        // happens to the process next (audit.fsync: and to the machine).
        if !reply.quiet && audited { shared.audit.record(reply) }
        let properties = MessageProperties(
            contentType: ProtocolConstants.contentType,
            deliveryMode: .transient,
            correlationID: reply.correlationID,
            expiration: String(reply.expirationMilliseconds),
            timestamp: UInt64(reply.timestamp),
            type: ProtocolConstants.replyType,
            userID: login
        )
        // Direct reply-to: RabbitMQ delivers the reply and yet returns it as
        // unroutable (312 NO_ROUTE) when it is mandatory, so it is not; a
        // requester gone away is simply not answered (the broker drops it).
        let mandatory = !reply.routingKey.hasPrefix(Self.directReplyTo)
        return try connection.publish(routingKey: reply.routingKey, mandatory: mandatory, properties: properties, body: reply.body)
    }

    static let directReplyTo = "amq.rabbitmq.reply-to"

    /// Counts and logs a reply sent (audited as it was published);
    /// `receivedAt` is the uptime (ns) when the request came in.
    func record(_ reply: Reply, receivedAt: UInt64) {
        let nanoseconds = DispatchTime.now().uptimeNanoseconds &- receivedAt
        shared.metrics.counted(reply.outcome, nanoseconds: nanoseconds)
        if reply.quiet {
            let requester = reply.requester ?? "-"
            switch shared.noteQuiet(requester: requester, outcome: reply.outcome.rawValue, now: SystemTime.unixMilliseconds()) {
            case .say: Self.refusedOverRate(requester, [reply.outcome.rawValue: 1], logger: logger, audit: shared.audit)
            case .summarize(let counts): Self.refusedOverRate(requester, counts, logger: logger, audit: shared.audit)
            case .hold: break
            }
            return
        }
        // Built only when the line is written: this is the hot path.
        guard logger.logLevel <= .info else { return }
        let micros = nanoseconds / 1000
        if let requestLine {
            LogSink.write(
                requestLine.line(
                    requester: reply.requester ?? "-", account: reply.account ?? "-", correlationID: TextEscaping.correlationID(reply.correlationID),
                    outcome: reply.outcome.rawValue, latency: Self.milliseconds(micros), reason: reply.message, pool: reply.pool))
            return
        }
        var metadata: Logger.Metadata = [
            "requester": .string(reply.requester ?? "-"),
            "account": .string(reply.account ?? "-"),
            "correlation_id": .string(TextEscaping.correlationID(reply.correlationID)),
            "outcome": .string(reply.outcome.rawValue),
            "latency_ms": .string(Self.milliseconds(micros)),
        ]
        if let pool = reply.pool { metadata["pool"] = .string(pool) }
        if let message = reply.message { metadata["reason"] = .string(message) }
        logger.info("request", metadata: metadata)
    }

    /// The summary of a requester's refusals while over its rate: one log
    /// line and one audit record, at most one a minute per requester.
    static func refusedOverRate(_ requester: String, _ counts: [String: Int], logger: Logger, audit: AuditTrail) {
        logger.warning(
            "requests refused while the requester is over its rate",
            metadata: [
                "requester": .string(requester), "reason": .string(CountedNotices<String>.describe(counts) + " since the last such line"),
            ])
        audit.recordRefusals(requester: requester, counts: counts)
    }

    /// Logs a reply the broker returned: the requester's queue is gone. A
    /// few lines a minute, then a count: anyone may send requests whose
    /// `reply_to` names no queue.
    func returned(_ message: ReturnedMessage) {
        shared.statistics.unroutableReplies.add(1, ordering: .relaxed)
        switch shared.noteUnroutable(now: SystemTime.unixMilliseconds()) {
        case .say:
            logger.warning(
                "reply unroutable: the requester's queue is gone",
                metadata: [
                    "correlation_id": .string(TextEscaping.correlationID(message.properties.correlationID)),
                    "reason": .string("\(message.replyCode) \(message.replyText), routing key \(message.routingKey)"),
                ])
        case .summarize(let counts):
            Self.unroutableSummary(counts, logger: logger)
        case .hold:
            break
        }
    }

    static func unroutableSummary(_ counts: [String: Int], logger: Logger) {
        logger.warning(
            "replies unroutable: the requesters' queues are gone",
            metadata: ["reason": .string("\(counts.values.reduce(0, +)) since the last such line (mfa_replies_unroutable_total counts them all)")])
    }

    /// `micros` as milliseconds with three decimals, without Foundation's formatter.
    static func milliseconds(_ micros: UInt64) -> String {
        let fraction = micros % 1000
        return "\(micros / 1000)." + (fraction < 10 ? "00" : fraction < 100 ? "0" : "") + "\(fraction)"
    }
}
