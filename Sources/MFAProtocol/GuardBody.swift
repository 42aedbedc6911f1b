/// The records the workers write into the guard log (`<queue>.guard`, a
/// stream every replica reads whole): which requester was handed which
/// account's window, the login outcomes they reported, and `resume`.
/// Internal to the workers, but read with the same care as a request: any
/// user with write on the default exchange can publish into the stream, so
/// a record is taken only from a worker login (the broker-checked
/// `user_id`), decoded strictly and range-checked.
public enum GuardRecord: Sendable, Equatable {
    /// `requester` was handed `account`'s code of the window starting at
    /// `windowStart` (Unix s), which ends at `windowEnd`, at `atMilliseconds`.
    case handout(requester: String, account: String, windowStart: Int64, windowEnd: Int64, atMilliseconds: Int64)
    /// A login outcome a replica received (`origin`, its `id` there) at
    /// `atMilliseconds`; the log's order decides whether it counts.
    case outcome(origin: String, id: UInt64, requester: String, account: String, windowStart: Int64, succeeded: Bool, atMilliseconds: Int64)
    /// `mfa-worker resume`: ends `account`'s pause and clears its failures.
    case resume(origin: String, id: UInt64, account: String, atMilliseconds: Int64)
    /// Written by a reader when it starts: once it reads its own marker
    /// back, it has read everything before it.
    case marker(origin: String, id: UInt64)

    public static let handoutType = "mfa-guard-handout"
    public static let outcomeType = "mfa-guard-outcome"
    public static let resumeType = "mfa-guard-resume"
    public static let markerType = "mfa-guard-marker"
    /// No record is longer (names are at most 255 bytes each).
    public static let largestBody = 2048

    /// The AMQP `type` property of the record.
    public var type: String {
        switch self {
        case .handout: Self.handoutType
        case .outcome: Self.outcomeType
        case .resume: Self.resumeType
        case .marker: Self.markerType
        }
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        func string(_ key: String, _ value: String) {
            out.append(out.isEmpty ? UInt8(ascii: "{") : UInt8(ascii: ","))
            JSONText.appendString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            JSONText.appendString(value, to: &out)
        }
        func integer(_ key: String, _ value: Int64) {
            out.append(out.isEmpty ? UInt8(ascii: "{") : UInt8(ascii: ","))
            JSONText.appendString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            JSONText.appendInteger(value, to: &out)
        }
        switch self {
        case .handout(let requester, let account, let start, let end, let at):
            string("requester", requester)
            string("account", account)
            integer("window_start", start)
            integer("window_end", end)
            integer("at_ms", at)
        case .outcome(let origin, let id, let requester, let account, let start, let succeeded, let at):
            string("origin", origin)
            integer("id", Int64(clamping: id))
            string("requester", requester)
            string("account", account)
            integer("window_start", start)
            string("outcome", succeeded ? "success" : "failure")
            integer("at_ms", at)
        case .resume(let origin, let id, let account, let at):
            string("origin", origin)
            integer("id", Int64(clamping: id))
            string("account", account)
            integer("at_ms", at)
        case .marker(let origin, let id):
            string("origin", origin)
            integer("id", Int64(clamping: id))
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Reads a record of `type`: exactly the fields that type needs, each
    /// in range (times below the year 9999); nil for anything else.
    public static func decode(type: String?, body: [UInt8]) -> GuardRecord? {
        guard let type, body.count <= largestBody else { return nil }
        let largestSeconds = Int(TurnBody.largestTimestampMilliseconds / 1000)
        var origin: String?, requester: String?, account: String?, outcome: Bool?
        var id: Int?, start: Int?, end: Int?, at: Int?
        let valid = RequestBodyDecoder.readObject(body) { parser, key throws(RequestBodyError) in
            if key.equals("origin", in: parser.bytes) {
                origin = try parser.parseName()
            } else if key.equals("requester", in: parser.bytes) {
                requester = try parser.parseName()
            } else if key.equals("account", in: parser.bytes) {
                account = try parser.parseAccountName()
            } else if key.equals("id", in: parser.bytes) {
                id = try parser.parseInteger(upTo: Int.max)
            } else if key.equals("window_start", in: parser.bytes) {
                start = try parser.parseInteger(upTo: largestSeconds)
            } else if key.equals("window_end", in: parser.bytes) {
                end = try parser.parseInteger(upTo: largestSeconds)
            } else if key.equals("at_ms", in: parser.bytes) {
                at = try parser.parseInteger(upTo: Int(TurnBody.largestTimestampMilliseconds))
            } else if key.equals("outcome", in: parser.bytes) {
                switch try parser.parseText() {
                case "success": outcome = true
                case "failure": outcome = false
                default: throw .notJSON(offset: parser.index)
                }
            } else {
                throw .notJSON(offset: parser.index)
            }
        }
        guard valid else { return nil }
        switch type {
        case handoutType:
            // Without at_ms: a handout of the guard log's first version (its
            // time unknown, so older than any resume).
            guard origin == nil, id == nil, outcome == nil, let requester, let account, let start, let end, start < end else { return nil }
            return .handout(requester: requester, account: account, windowStart: Int64(start), windowEnd: Int64(end), atMilliseconds: Int64(at ?? 0))
        case outcomeType:
            guard end == nil, let origin, let id, let requester, let account, let start, let outcome, let at else { return nil }
            return .outcome(
                origin: origin, id: UInt64(id), requester: requester, account: account, windowStart: Int64(start), succeeded: outcome,
                atMilliseconds: Int64(at))
        case resumeType:
            guard requester == nil, start == nil, end == nil, outcome == nil, let origin, let id, let account, let at else { return nil }
            return .resume(origin: origin, id: UInt64(id), account: account, atMilliseconds: Int64(at))
        case markerType:
            guard requester == nil, account == nil, start == nil, end == nil, outcome == nil, at == nil, let origin, let id else { return nil }
            return .marker(origin: origin, id: UInt64(id))
        default:
            return nil
        }
    }
}
