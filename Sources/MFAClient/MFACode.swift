/// A code the worker issued, with its window.
///
/// Like the worker's own types, it does not print its code: `"\(code)"`
/// shows the account and window only. Read ``code`` where it is meant to go
/// (a login form).
public struct MFACode: Sendable, Equatable, CustomStringConvertible {
    /// The code, zero-padded to ``digits``.
    public let code: String
    public let account: String
    public let digits: Int
    public let period: Int
    /// The window `[windowStart, windowEnd)`, Unix seconds.
    public let windowStart: Int64
    public let windowEnd: Int64
    /// Time left in the window when the worker answered.
    public let expiresIn: Duration
    /// Whom to log in as, when the account has a `username` configured.
    public let username: String?
    /// The pool asked for, when the request named one (``account`` is then
    /// the member the worker chose).
    public let pool: String?

    public init(
        code: String, account: String, digits: Int, period: Int, windowStart: Int64, windowEnd: Int64, expiresIn: Duration, username: String? = nil,
        pool: String? = nil
    ) {
        self.code = code
        self.account = account
        self.digits = digits
        self.period = period
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.expiresIn = expiresIn
        self.username = username
        self.pool = pool
    }

    public var description: String {
        "MFACode(account: \(account), window: \(windowStart)..<\(windowEnd), \(digits) digits, code redacted)"
    }
}

/// Why no code came.
public enum MFAClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The requester may not have this account, or it does not exist.
    case forbidden(message: String)
    /// The requester is over its rate; ask again after `retryAfter`.
    case rateLimited(retryAfter: Duration?, message: String)
    /// The request was malformed (for this account).
    case badRequest(message: String)
    /// No window for this request opens within its wait (`max_wait_ms`):
    /// ask again after `retryAfter`, when the window it would have had opens.
    case busy(retryAfter: Duration?, message: String)
    /// The worker could not answer now (stopping, secret unusable).
    case unavailable(retryAfter: Duration?, message: String)
    /// The account (or every member of the pool) is paused by its lockout
    /// guard after failed logins: ask again after `retryAfter`, or have an
    /// operator resume it.
    case paused(retryAfter: Duration?, message: String)
    /// The worker failed in another way (or answered with an error kind
    /// this client does not know).
    case `internal`(message: String)
    /// No answer within the caller's timeout.
    case timeout
    /// No connection to the broker could be made (or the login was refused).
    case connectionFailed(String)
    /// Every broker URL refused the connection (`HOST:PORT`, joined by
    /// " or "), and this client never reached a worker.
    case connectionRefused(String)
    /// The broker has no request queue: no worker has declared it.
    case noRequestQueue(String)
    /// The request queue has no consumer, and this client never saw one.
    case noWorker(String)
    /// The reply was not the protocol's.
    case invalidReply(String)
    /// The client was closed.
    case closed
    /// The calling task was cancelled.
    case cancelled

    /// A short name per kind: `forbidden`, `timeout`, ...
    public var kind: String {
        switch self {
        case .forbidden: "forbidden"
        case .rateLimited: "rate_limited"
        case .badRequest: "bad_request"
        case .busy: "busy"
        case .unavailable: "unavailable"
        case .paused: "paused"
        case .internal: "internal"
        case .timeout: "timeout"
        case .connectionFailed: "connection_failed"
        case .connectionRefused: "connection_refused"
        case .noRequestQueue: "no_request_queue"
        case .noWorker: "no_worker"
        case .invalidReply: "invalid_reply"
        case .closed: "closed"
        case .cancelled: "cancelled"
        }
    }

    public var description: String {
        func retry(_ after: Duration?) -> String {
            after.map { " (retry after \($0.milliseconds) ms)" } ?? ""
        }
        return switch self {
        case .forbidden(let message): "forbidden: \(message)"
        case .rateLimited(let after, let message): "rate_limited: \(message)\(retry(after))"
        case .badRequest(let message): "bad_request: \(message)"
        case .busy(let after, let message): "busy: \(message)\(retry(after))"
        case .unavailable(let after, let message): "unavailable: \(message)\(retry(after))"
        case .paused(let after, let message): "paused: \(message)\(retry(after))"
        case .internal(let message): "internal: \(message)"
        case .timeout: "timeout: no reply in time"
        case .connectionFailed(let reason): "connection failed: \(reason)"
        case .connectionRefused(let endpoints): "connection refused: is RabbitMQ running on \(endpoints)?"
        case .noRequestQueue(let queue): "the request queue \(queue) does not exist"
        case .noWorker(let queue): "no worker is consuming \(queue)"
        case .invalidReply(let reason): "invalid reply: \(reason)"
        case .closed: "the client is closed"
        case .cancelled: "cancelled"
        }
    }
}

extension Duration {
    /// Whole milliseconds.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
