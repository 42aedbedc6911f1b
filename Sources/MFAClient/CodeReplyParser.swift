import MFAProtocol

/// Reads a reply body (docs/protocol.md, section 2) into a code or an error,
/// with the protocol's own reader; builds request bodies with its writer.
public enum CodeReplyParser {
    public static func parse(_ body: [UInt8]) -> Result<MFACode, MFAClientError> {
        switch ReplyMessage.decode(body) {
        case .accepted:
            return .failure(.invalidReply("an outcome's answer, not a code"))
        case .code(let account, let code, let digits, let period, let start, let end, let expires, let username, let pool):
            return .success(
                MFACode(
                    code: code, account: account, digits: digits, period: period, windowStart: start, windowEnd: end, expiresIn: .milliseconds(expires),
                    username: username, pool: pool))
        case .error(let kind, let message, let retryAfterMilliseconds):
            let retryAfter = retryAfterMilliseconds.map { Duration.milliseconds($0) }
            switch kind {
            case "forbidden": return .failure(.forbidden(message: message))
            case "rate_limited": return .failure(.rateLimited(retryAfter: retryAfter, message: message))
            case "bad_request": return .failure(.badRequest(message: message))
            case "busy": return .failure(.busy(retryAfter: retryAfter, message: message))
            case "unavailable": return .failure(.unavailable(retryAfter: retryAfter, message: message))
            case "paused": return .failure(.paused(retryAfter: retryAfter, message: message))
            default: return .failure(.internal(message: message))
            }
        case nil:
            return .failure(.invalidReply("not a reply of the protocol"))
        }
    }

    /// Reads the answer to a login outcome: `{"status":"ok"}`, or an error.
    public static func parseOutcomeAnswer(_ body: [UInt8]) -> Result<Void, MFAClientError> {
        switch ReplyMessage.decode(body) {
        case .accepted: return .success(())
        case .code: return .failure(.invalidReply("a code, not an outcome's answer"))
        case .error, nil: return parse(body).map { _ in () }
        }
    }

    /// The request body for `account`.
    public static func requestBody(account: String, minValidityMilliseconds: Int64?, maxWaitMilliseconds: Int64? = nil) -> [UInt8] {
        RequestBody(
            account: account, minValidityMilliseconds: minValidityMilliseconds.map { Int($0) }, maxWaitMilliseconds: maxWaitMilliseconds.map { Int($0) }
        ).encoded()
    }
}
