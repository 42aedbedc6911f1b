/// How a request ended: `ok`, or one of the protocol's error kinds.
public enum Outcome: String, Sendable, CaseIterable, Hashable {
    case ok
    case badRequest = "bad_request"
    case forbidden
    case rateLimited = "rate_limited"
    /// The request's window would open later than its `max_wait_ms`.
    case busy
    case unavailable
    /// The account (or every member of the pool) is paused by its lockout
    /// guard: failed logins reached `max_failures`.
    case paused
    case `internal`
    /// Not an answer: the request had no `reply_to` and was rejected.
    case rejected
}

/// The protocol's names and constants.
public enum ProtocolConstants {
    public static let requestType = "mfa-code-request"
    public static let replyType = "mfa-code-reply"
    /// A robot's report of how a login with a code went.
    public static let outcomeType = "mfa-login-outcome"
    public static let contentType = "application/json"
    public static let maxCorrelationIDBytes = 128
}
