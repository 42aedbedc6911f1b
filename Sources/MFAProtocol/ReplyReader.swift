/// A reply as a requester reads it (docs/protocol.md, section 2): read with
/// the protocol's strict JSON reader; fields a later version may add are
/// read and ignored.
public enum ReplyMessage: Sendable, Equatable {
    /// `{"status":"ok",...}`: the code of the window `[windowStart, windowEnd)`;
    /// `username` when the account has one, `pool` when the request named a
    /// pool (`account` is then the member chosen).
    case code(
        account: String, code: String, digits: Int, period: Int, windowStart: Int64, windowEnd: Int64, expiresInMilliseconds: Int64,
        username: String?, pool: String?)
    /// `{"status":"error","error":...}`; `kind` as sent (a client treats a
    /// kind it does not know as an error with a message).
    case error(kind: String, message: String, retryAfterMilliseconds: Int64?)
    /// `{"status":"ok"}` with no code: a login outcome taken.
    case accepted

    /// The largest number any field of a reply carries (a window's end in
    /// Unix seconds, a wait in ms).
    static let largestNumber = Int(TurnBody.largestTimestampMilliseconds)

    /// nil for anything that is not a reply of the protocol.
    public static func decode(_ body: [UInt8]) -> ReplyMessage? {
        guard body.count <= 64 * 1024 else { return nil }
        var status: String?, kind: String?, message: String?, account: String?, code: String?
        var digits: Int?, period: Int?, start: Int?, end: Int?, expires: Int?, retryAfter: Int?
        var username: String?, pool: String?
        let valid = RequestBodyDecoder.readObject(body) { parser, key throws(RequestBodyError) in
            let bytes = parser.bytes
            if key.equals("status", in: bytes) {
                status = try parser.parseText()
            } else if key.equals("error", in: bytes) {
                kind = try parser.parseText()
            } else if key.equals("message", in: bytes) {
                message = try parser.parseText()
            } else if key.equals("account", in: bytes) {
                account = try parser.parseText()
            } else if key.equals("code", in: bytes) {
                code = try parser.parseText()
            } else if key.equals("digits", in: bytes) {
                digits = try parser.parseInteger(upTo: 10)
            } else if key.equals("period", in: bytes) {
                period = try parser.parseInteger(upTo: 3600)
            } else if key.equals("window_start", in: bytes) {
                start = try parser.parseInteger(upTo: largestNumber)
            } else if key.equals("window_end", in: bytes) {
                end = try parser.parseInteger(upTo: largestNumber)
            } else if key.equals("expires_in_ms", in: bytes) {
                expires = try parser.parseInteger(upTo: largestNumber)
            } else if key.equals("retry_after_ms", in: bytes) {
                retryAfter = try parser.parseInteger(upTo: largestNumber)
            } else if key.equals("username", in: bytes) {
                username = try parser.parseText()
            } else if key.equals("pool", in: bytes) {
                pool = try parser.parseText()
            } else {
                try parser.parseValue()
            }
        }
        guard valid else { return nil }
        switch status {
        case "ok":
            if account == nil, code == nil, digits == nil, period == nil, start == nil, end == nil, expires == nil { return .accepted }
            guard let account, let code, let digits, let period, let start, let end, let expires else { return nil }
            return .code(
                account: account, code: code, digits: digits, period: period, windowStart: Int64(start), windowEnd: Int64(end),
                expiresInMilliseconds: Int64(expires), username: username, pool: pool)
        case "error":
            guard let kind else { return nil }
            return .error(kind: kind, message: message ?? "", retryAfterMilliseconds: retryAfter.map(Int64.init))
        default:
            return nil
        }
    }
}

extension RequestBody {
    /// The request's JSON body: `{"account":...,"min_validity_ms":...,"max_wait_ms":...}`
    /// (the numbers only when set; `max_wait_ms` kept within 0 to an hour).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96)
        out.append(contentsOf: #"{"account":"#.utf8)
        JSONText.appendString(account, to: &out)
        if let minValidityMilliseconds {
            out.append(contentsOf: #","min_validity_ms":"#.utf8)
            JSONText.appendInteger(Int64(minValidityMilliseconds), to: &out)
        }
        if let maxWaitMilliseconds {
            out.append(contentsOf: #","max_wait_ms":"#.utf8)
            JSONText.appendInteger(Int64(min(RequestBody.largestMaxWait, max(0, maxWaitMilliseconds))), to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}

extension ProtocolConstants {
    /// The request queue when a deployment names none.
    public static let defaultRequestQueue = "mfa-code-request"
}
