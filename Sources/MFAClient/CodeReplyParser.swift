import Foundation

/// Reads a reply body (docs/protocol.md, section 2) into a code or an error.
public enum CodeReplyParser {
    public static func parse(_ body: [UInt8]) -> Result<MFACode, MFAClientError> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            return .failure(.invalidReply("not a JSON object"))
        }
        switch object["status"] as? String {
        case "ok":
            guard let code = object["code"] as? String,
                  let account = object["account"] as? String,
                  let digits = (object["digits"] as? NSNumber)?.intValue,
                  let period = (object["period"] as? NSNumber)?.intValue,
                  let start = (object["window_start"] as? NSNumber)?.int64Value,
                  let end = (object["window_end"] as? NSNumber)?.int64Value,
                  let expires = (object["expires_in_ms"] as? NSNumber)?.int64Value else {
                return .failure(.invalidReply("an ok reply without its fields"))
            }
            return .success(MFACode(code: code, account: account, digits: digits, period: period, windowStart: start, windowEnd: end, expiresIn: .milliseconds(expires)))
        case "error":
            let message = object["message"] as? String ?? ""
            let retryAfter = (object["retry_after_ms"] as? NSNumber).map { Duration.milliseconds($0.int64Value) }
            switch object["error"] as? String {
            case "forbidden": return .failure(.forbidden(message: message))
            case "rate_limited": return .failure(.rateLimited(retryAfter: retryAfter, message: message))
            case "bad_request": return .failure(.badRequest(message: message))
            case "busy": return .failure(.busy(retryAfter: retryAfter, message: message))
            case "unavailable": return .failure(.unavailable(retryAfter: retryAfter, message: message))
            default: return .failure(.internal(message: message))
            }
        default:
            return .failure(.invalidReply("no status"))
        }
    }

    /// The request body for `account`.
    public static func requestBody(account: String, minValidityMilliseconds: Int64?, maxWaitMilliseconds: Int64? = nil) -> [UInt8] {
        var body = #"{"account":"#
        body += jsonString(account)
        if let minValidityMilliseconds { body += #","min_validity_ms":\#(minValidityMilliseconds)"# }
        if let maxWaitMilliseconds { body += #","max_wait_ms":\#(min(3_600_000, max(0, maxWaitMilliseconds)))"# }
        body += "}"
        return Array(body.utf8)
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
