import Foundation

/// Reads the worker's compact replies without a JSON parser (the load
/// generator's CPU competes with the broker's), falling back to
/// Foundation's reader for anything else.
enum ReplyScanner {
    struct Result {
        var status: String
        var error: String?
        var code: String?
        var windowStart: Int64?
    }

    static func scan(_ body: [UInt8]) -> Result? {
        if body.starts(with: okPrefix) {
            guard let code = string(after: codeKey, in: body), let start = integer(after: startKey, in: body) else { return fallback(body) }
            return Result(status: "ok", error: nil, code: code, windowStart: start)
        }
        if body.starts(with: errorPrefix), let kind = string(after: errorKey, in: body) {
            return Result(status: "error", error: kind, code: nil, windowStart: nil)
        }
        return fallback(body)
    }

    private static let okPrefix = Array(#"{"status":"ok""#.utf8)
    private static let errorPrefix = Array(#"{"status":"error""#.utf8)
    private static let codeKey = Array(#""code":""#.utf8)
    private static let errorKey = Array(#""error":""#.utf8)
    private static let startKey = Array(#""window_start":"#.utf8)

    private static func find(_ key: [UInt8], in body: [UInt8]) -> Int? {
        guard body.count >= key.count else { return nil }
        var index = 0
        while index <= body.count - key.count {
            if body[index] == key[0], body[index..<(index + key.count)].elementsEqual(key) { return index + key.count }
            index += 1
        }
        return nil
    }

    private static func string(after key: [UInt8], in body: [UInt8]) -> String? {
        guard let start = find(key, in: body), let end = body[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return String(decoding: body[start..<end], as: UTF8.self)
    }

    private static func integer(after key: [UInt8], in body: [UInt8]) -> Int64? {
        guard var index = find(key, in: body) else { return nil }
        var value: Int64 = 0
        var digits = 0
        while index < body.count, (0x30...0x39).contains(body[index]) {
            value = value * 10 + Int64(body[index] - 0x30)
            index += 1
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    private static func fallback(_ body: [UInt8]) -> Result? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let status = object["status"] as? String else {
            return nil
        }
        return Result(status: status, error: object["error"] as? String, code: object["code"] as? String,
                      windowStart: (object["window_start"] as? NSNumber)?.int64Value)
    }
}
