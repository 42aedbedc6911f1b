/// What went wrong talking to the broker, in one line for a person.
public enum AMQPError: Error, Equatable, CustomStringConvertible {
    /// The TCP (or TLS) connection could not be made.
    case connectFailed(endpoint: String, reason: String)
    /// The broker refused the login (wrong user or password, or a vhost the
    /// user may not open).
    case loginRefused(user: String, vhost: String, reason: String)
    /// The broker closed the channel: `code` is the AMQP reply code (406
    /// PRECONDITION_FAILED, 404 NOT_FOUND, 403 ACCESS_REFUSED...).
    case channelClosed(code: UInt16, text: String)
    /// The broker closed the connection (320 CONNECTION_FORCED at a broker
    /// shutdown, 501 FRAME_ERROR...).
    case connectionClosed(code: UInt16, text: String)
    /// The connection dropped: the socket closed, a heartbeat was missed.
    case connectionLost(reason: String)
    /// A TLS setting could not be applied (a file missing, a bad key).
    case tlsSetup(String)
    /// Any other library failure, with the operation it happened in.
    case library(operation: String, reason: String)

    /// The AMQP reply code when the broker said why, else nil.
    public var replyCode: UInt16? {
        switch self {
        case .channelClosed(let code, _), .connectionClosed(let code, _): code
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .connectFailed(let endpoint, let reason):
            "cannot connect to \(endpoint): \(reason)"
        case .loginRefused(let user, let vhost, let reason):
            "the broker refused the login of user '\(user)' on vhost '\(vhost)': \(reason)"
        case .channelClosed(let code, let text):
            "the broker closed the channel: \(code) \(text)"
        case .connectionClosed(let code, let text):
            "the broker closed the connection: \(code) \(text)"
        case .connectionLost(let reason):
            "connection lost: \(reason)"
        case .tlsSetup(let reason):
            "TLS set-up failed: \(reason)"
        case .library(let operation, let reason):
            "\(operation) failed: \(reason)"
        }
    }
}
