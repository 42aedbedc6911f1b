import MFAProtocol
import TOTP

/// What to do with a request.
public enum Decision: Sendable {
    /// Publish this reply now, then acknowledge the request.
    case reply(Reply)
    /// Acknowledge the request now and reply at `dueMilliseconds` (Unix ms),
    /// when the next window opens (`min_validity_ms`).
    case schedule(PendingRequest, dueMilliseconds: Int64)
    /// The requester may have the account, and the account has a rate of
    /// its own across requesters: take a token, then
    /// ``RequestDecider/decide(_:accountWait:)``.
    case admitAccount(RequestDecider.AccountCheck)
    /// A `once_per_window` account: send the checked request to the
    /// account's turn queue, and acknowledge it once the broker has it.
    case takeTurn(TurnRequest)
    /// Nobody can be answered: reject without requeue (the queue's
    /// dead-letter exchange takes it, where it has one). `quiet`: the
    /// requester is over its rate (logged in a summary only).
    case reject(requester: String?, correlationID: [UInt8]?, reason: RejectReason, quiet: Bool)
    /// A login outcome to write into the guard log; the log's order
    /// decides whether it counts, and the guard reader answers it.
    case claimOutcome(OutcomeClaim)
    /// A login outcome that cannot count and asked for no answer
    /// (no `reply_to` or no `correlation_id`): acknowledged, nothing sent.
    case discard(requester: String?, reason: String)
}

/// A login outcome that passed the checks a single replica can make (its
/// shape, the requester's rate, the allowlist, the window's range), on its
/// way to the guard log.
public struct OutcomeClaim: Sendable {
    public var requester: String
    public var outcome: LoginOutcome
    /// Where the answer goes; nil: the robot asked for none.
    public var replyTo: String?
    public var correlationID: [UInt8]?
    /// Unix ms when the worker received it.
    public var receivedMilliseconds: Int64

    public init(requester: String, outcome: LoginOutcome, replyTo: String?, correlationID: [UInt8]?, receivedMilliseconds: Int64) {
        self.requester = requester
        self.outcome = outcome
        self.replyTo = replyTo
        self.correlationID = correlationID
        self.receivedMilliseconds = receivedMilliseconds
    }

    /// The record for the guard log; `origin` and `id` let this replica
    /// find the claim again when it reads the record back.
    public func record(origin: String, id: UInt64) -> GuardRecord {
        .outcome(
            origin: origin, id: id, requester: requester, account: outcome.account, windowStart: outcome.windowStart,
            succeeded: outcome.succeeded, atMilliseconds: receivedMilliseconds)
    }

    /// The answer once the log decided, or nil when none was asked for:
    /// `{"status":"ok"}`, or `forbidden` (alike for every reason).
    public func answer(_ verdict: GuardBook.Verdict, maxTTLMilliseconds: Int64, now: Int64) -> Reply? {
        guard let replyTo else { return nil }
        var body: [UInt8] = []
        let outcome: Outcome
        let message: String?
        if verdict == .refused {
            outcome = .forbidden
            message = Messages.outcomeForbidden
            ReplyBody.error(into: &body, .forbidden, message: Messages.outcomeForbidden)
        } else {
            outcome = .ok
            message = nil
            ReplyBody.accepted(into: &body)
        }
        return Reply(
            routingKey: replyTo, correlationID: correlationID, expirationMilliseconds: maxTTLMilliseconds, timestamp: now / 1000, body: body,
            outcome: outcome, requester: requester, account: self.outcome.account, window: nil, message: message)
    }
}

/// Why a request cannot be answered at all.
public enum RejectReason: String, Sendable {
    /// No `reply_to`, an empty one, or one that is not UTF-8.
    case noReplyTo = "no usable reply_to"
    /// `reply_to` names the worker's own request queue or a turn queue: an
    /// answer there would be read back by the worker.
    case ownQueue = "reply_to names one of the worker's own queues, or a guard log or turn queue"
    /// A direct reply-to name the broker did not write, or on a node that
    /// does not run (``DirectReplyTo``): publishing to it would cost the
    /// worker its connection.
    case unusableDirectReplyTo = "reply_to is not a direct reply-to name of a running node"
    /// A message a worker login published (a reply a requester's queue sent
    /// back to the request queue through a dead-letter exchange): dropped,
    /// not dead-lettered, since it may carry a code.
    case fromWorkerLogin = "published by a worker login: a reply sent back to the request queue (a dead-letter exchange on a reply queue?)"
}

/// A reply ready to publish, with what the log line and audit need.
public struct Reply: Sendable {
    /// The routing key: the request's `reply_to`.
    public var routingKey: String
    /// The request's correlation id, unchanged (nil when it had none).
    public var correlationID: [UInt8]?
    /// The message TTL in ms (`expiration`), at least 1.
    public var expirationMilliseconds: Int64
    /// Unix seconds when the reply was made (`timestamp`).
    public var timestamp: Int64
    /// The JSON body.
    public var body: [UInt8]

    public var outcome: Outcome
    public var requester: String?
    /// The account asked for (syntax-checked), when the body had one; for
    /// a code of a pool, the member whose code it is.
    public var account: String?
    /// The pool asked for, when a code of one of its members is sent.
    public var pool: String?
    /// The window whose code the reply carries (success only).
    public var window: TOTPWindow?
    /// For error replies: the message sent (a constant, never a secret).
    public var message: String?
    /// A refusal of a requester over its rate: counted, but logged and
    /// audited only in a summary (at most a line a minute per requester),
    /// so that no requester can flood the log or the audit trail.
    public var quiet: Bool = false
}

/// A request that waits for its window: the next one (`min_validity_ms`; it
/// was acknowledged when scheduled, and the worker keeps it until it
/// answers), or the window its turn gave it.
public struct PendingRequest: Sendable {
    public var replyTo: String
    public var correlationID: [UInt8]?
    public var requester: String
    public var account: String
    public var minValidityMilliseconds: Int64
    /// When the worker received the request (the worker's own clock, for
    /// latency).
    public var receivedAt: UInt64
    /// The window its turn gave it (`once_per_window`); nil: the window
    /// current when the reply is made.
    public var window: TOTPWindow?
    /// The turn-queue delivery to acknowledge once the reply is confirmed;
    /// nil when the request was acknowledged already.
    public var deliveryTag: UInt64?
    /// The pool asked for, when `account` is the member chosen.
    public var pool: String?

    public init(
        replyTo: String, correlationID: [UInt8]?, requester: String, account: String, minValidityMilliseconds: Int64, receivedAt: UInt64,
        window: TOTPWindow? = nil, deliveryTag: UInt64? = nil
    ) {
        self.replyTo = replyTo
        self.correlationID = correlationID
        self.requester = requester
        self.account = account
        self.minValidityMilliseconds = minValidityMilliseconds
        self.receivedAt = receivedAt
        self.window = window
        self.deliveryTag = deliveryTag
    }
}
