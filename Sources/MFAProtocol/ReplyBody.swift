import TOTP

/// Writes reply bodies as compact JSON into a reusable buffer.
///
/// Account and pool names have a syntax (`A-Z a-z 0-9 . _ @ -`) that needs
/// no escaping; a `username` (from the configuration) and messages are
/// escaped.
public enum ReplyBody {
    /// `{"status":"ok","account":...[,"pool":...][,"username":...],"code":...,
    /// "digits":...,"period":...,"window_start":...,"window_end":...,"expires_in_ms":...}`
    public static func success(
        into buffer: inout [UInt8],
        account: String,
        pool: String? = nil,
        username: String? = nil,
        code: OneTimeCode,
        period: Int,
        window: TOTPWindow,
        expiresInMilliseconds: Int64
    ) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: #"{"status":"ok","account":""#.utf8)
        buffer.append(contentsOf: account.utf8)
        if let pool {
            buffer.append(contentsOf: #"","pool":""#.utf8)
            buffer.append(contentsOf: pool.utf8)
        }
        if let username {
            buffer.append(contentsOf: #"","username":""#.utf8)
            JSONText.appendEscaped(username, to: &buffer)
        }
        buffer.append(contentsOf: #"","code":""#.utf8)
        buffer.append(contentsOf: code.asciiDigits)
        buffer.append(contentsOf: #"","digits":"#.utf8)
        JSONText.appendInteger(Int64(code.digitCount), to: &buffer)
        buffer.append(contentsOf: #","period":"#.utf8)
        JSONText.appendInteger(Int64(period), to: &buffer)
        buffer.append(contentsOf: #","window_start":"#.utf8)
        JSONText.appendInteger(window.start, to: &buffer)
        buffer.append(contentsOf: #","window_end":"#.utf8)
        JSONText.appendInteger(window.end, to: &buffer)
        buffer.append(contentsOf: #","expires_in_ms":"#.utf8)
        JSONText.appendInteger(expiresInMilliseconds, to: &buffer)
        buffer.append(UInt8(ascii: "}"))
    }

    /// `{"status":"error","error":KIND,"message":MESSAGE[,"retry_after_ms":N]}`
    public static func error(
        into buffer: inout [UInt8],
        _ outcome: Outcome,
        message: String,
        retryAfterMilliseconds: Int64? = nil
    ) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: #"{"status":"error","error":""#.utf8)
        buffer.append(contentsOf: outcome.rawValue.utf8)
        buffer.append(contentsOf: #"","message":""#.utf8)
        JSONText.appendEscaped(message, to: &buffer)
        buffer.append(UInt8(ascii: "\""))
        if let retryAfterMilliseconds {
            buffer.append(contentsOf: #","retry_after_ms":"#.utf8)
            JSONText.appendInteger(retryAfterMilliseconds, to: &buffer)
        }
        buffer.append(UInt8(ascii: "}"))
    }

    /// `{"status":"ok"}`: a login outcome taken.
    public static func accepted(into buffer: inout [UInt8]) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: #"{"status":"ok"}"#.utf8)
    }
}
