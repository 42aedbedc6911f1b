import TOTP

/// Writes reply bodies as compact JSON into a reusable buffer.
///
/// Everything written is either a constant, a number, or an account name
/// whose syntax (`A-Z a-z 0-9 . _ @ -`) needs no escaping; messages are
/// constants of this file and the decoder's, so the writer needs no
/// general escaping.
public enum ReplyBody {
    /// `{"status":"ok","account":...,"code":...,"digits":...,"period":...,
    /// "window_start":...,"window_end":...,"expires_in_ms":...}`
    public static func success(
        into buffer: inout [UInt8],
        account: String,
        code: OneTimeCode,
        period: Int,
        window: TOTPWindow,
        expiresInMilliseconds: Int64
    ) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: #"{"status":"ok","account":""#.utf8)
        buffer.append(contentsOf: account.utf8)
        buffer.append(contentsOf: #"","code":""#.utf8)
        buffer.append(contentsOf: code.asciiDigits)
        buffer.append(contentsOf: #"","digits":"#.utf8)
        appendNumber(Int64(code.digitCount), to: &buffer)
        buffer.append(contentsOf: #","period":"#.utf8)
        appendNumber(Int64(period), to: &buffer)
        buffer.append(contentsOf: #","window_start":"#.utf8)
        appendNumber(window.start, to: &buffer)
        buffer.append(contentsOf: #","window_end":"#.utf8)
        appendNumber(window.end, to: &buffer)
        buffer.append(contentsOf: #","expires_in_ms":"#.utf8)
        appendNumber(expiresInMilliseconds, to: &buffer)
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
        appendEscaped(message, to: &buffer)
        buffer.append(UInt8(ascii: "\""))
        if let retryAfterMilliseconds {
            buffer.append(contentsOf: #","retry_after_ms":"#.utf8)
            appendNumber(retryAfterMilliseconds, to: &buffer)
        }
        buffer.append(UInt8(ascii: "}"))
    }

    static func appendNumber(_ value: Int64, to buffer: inout [UInt8]) {
        if value < 0 {
            buffer.append(UInt8(ascii: "-"))
            appendNumber(-value, to: &buffer)
            return
        }
        if value >= 10 { appendNumber(value / 10, to: &buffer) }
        buffer.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    /// Escapes `"`, `\` and control characters (messages are constants, but
    /// the writer stays correct for any text).
    static func appendEscaped(_ text: String, to buffer: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): buffer.append(contentsOf: #"\\"#.utf8)
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                buffer.append(contentsOf: #"\u00"#.utf8)
                buffer.append(hex[Int(byte >> 4)])
                buffer.append(hex[Int(byte & 15)])
            default: buffer.append(byte)
            }
        }
    }
}
