/// The JSON bodies of the messages workers write into a `once_per_window`
/// account's turn queue: a checked request waiting for its turn, and the
/// record of the windows handed out. Internal to the workers, but read with
/// the same care as a request: a turn queue is a queue any user with write
/// on the default exchange can publish into, so a body is decoded strictly
/// and every field range-checked before anything trusts it, even after its
/// sender was checked.
public enum TurnBody {
    /// `received_ms` and the windows stay below the year 9999: arithmetic on
    /// them cannot overflow.
    public static let largestTimestampMilliseconds: Int64 = 253_402_300_799_999
    /// A ledger holds at most an hour of one-second windows ahead (the
    /// longest `max_wait_ms`), plus the current one; more is not a record
    /// a worker wrote.
    public static let largestWindowCount = 4096
    /// Holder ids and requester names: AMQP short strings at most.
    public static let largestNameBytes = 255

    /// A request of a `once_per_window` account, checked by the worker that
    /// received it.
    public struct Request: Sendable, Equatable {
        /// The broker-checked `user_id` of the request.
        public var requester: String
        public var account: String
        public var minValidityMilliseconds: Int64
        public var maxWaitMilliseconds: Int64
        /// Unix ms when a worker received the request.
        public var receivedMilliseconds: Int64

        public init(requester: String, account: String, minValidityMilliseconds: Int64, maxWaitMilliseconds: Int64, receivedMilliseconds: Int64) {
            self.requester = requester
            self.account = account
            self.minValidityMilliseconds = minValidityMilliseconds
            self.maxWaitMilliseconds = maxWaitMilliseconds
            self.receivedMilliseconds = receivedMilliseconds
        }
    }

    /// The windows (TOTP counters) of `account` that `holder` handed out.
    public struct Record: Sendable, Equatable {
        public var holder: String
        public var account: String
        public var windows: [UInt64]

        public init(holder: String, account: String, windows: [UInt64]) {
            self.holder = holder
            self.account = account
            self.windows = windows
        }
    }

    // MARK: - Writing

    public static func encode(_ request: Request) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        out.append(contentsOf: #"{"requester":"#.utf8)
        JSONText.appendString(request.requester, to: &out)
        out.append(contentsOf: #","account":"#.utf8)
        JSONText.appendString(request.account, to: &out)
        out.append(contentsOf: #","min_validity_ms":"#.utf8)
        JSONText.appendInteger(request.minValidityMilliseconds, to: &out)
        out.append(contentsOf: #","max_wait_ms":"#.utf8)
        JSONText.appendInteger(request.maxWaitMilliseconds, to: &out)
        out.append(contentsOf: #","received_ms":"#.utf8)
        JSONText.appendInteger(request.receivedMilliseconds, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    public static func encode(_ record: Record) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + record.windows.count * 11)
        out.append(contentsOf: #"{"holder":"#.utf8)
        JSONText.appendString(record.holder, to: &out)
        out.append(contentsOf: #","account":"#.utf8)
        JSONText.appendString(record.account, to: &out)
        out.append(contentsOf: #","windows":["#.utf8)
        for (index, window) in record.windows.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendInteger(Int64(clamping: window), to: &out)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }

    // MARK: - Reading

    /// Reads a turn request's body: one JSON object with exactly the known
    /// fields (unknown ones are read and ignored, for a later version), each
    /// in range; nil for anything else.
    public static func decodeRequest(_ body: [UInt8]) -> Request? {
        guard body.count <= RequestBody.maxBytes else { return nil }
        var requester: String?, account: String?
        var minValidity: Int?, maxWait: Int?, received: Int?
        let valid = readObject(body) { parser, key throws(RequestBodyError) in
            if key.equals("requester", in: parser.bytes) {
                requester = try parser.parseName()
            } else if key.equals("account", in: parser.bytes) {
                account = try parser.parseAccountName()
            } else if key.equals("min_validity_ms", in: parser.bytes) {
                minValidity = try parser.parseInteger(upTo: RequestBody.largestMinValidity)
            } else if key.equals("max_wait_ms", in: parser.bytes) {
                maxWait = try parser.parseInteger(upTo: RequestBody.largestMaxWait)
            } else if key.equals("received_ms", in: parser.bytes) {
                received = try parser.parseInteger(upTo: Int(largestTimestampMilliseconds))
            } else {
                try parser.parseValue()
            }
        }
        guard valid, let requester, let account, let minValidity, let maxWait, let received else { return nil }
        return Request(
            requester: requester, account: account, minValidityMilliseconds: Int64(minValidity),
            maxWaitMilliseconds: Int64(maxWait), receivedMilliseconds: Int64(received)
        )
    }

    /// Reads a record's body: a holder id, an account and at most
    /// ``largestWindowCount`` window counters, each below the year 9999 at a
    /// one-second period; nil for anything else.
    public static func decodeRecord(_ body: [UInt8]) -> Record? {
        // Each window takes at most 16 bytes; a little room for the rest.
        guard body.count <= largestWindowCount * 16 + 1024 else { return nil }
        var holder: String?, account: String?, windows: [UInt64]?
        let valid = readObject(body) { parser, key throws(RequestBodyError) in
            if key.equals("holder", in: parser.bytes) {
                holder = try parser.parseName()
            } else if key.equals("account", in: parser.bytes) {
                account = try parser.parseAccountName()
            } else if key.equals("windows", in: parser.bytes) {
                windows = try parser.parseCounters(atMost: largestWindowCount, upTo: Int(largestTimestampMilliseconds / 1000))
            } else {
                try parser.parseValue()
            }
        }
        guard valid, let holder, let account, let windows else { return nil }
        return Record(holder: holder, account: account, windows: windows)
    }

    /// Reads `body` as one JSON object, each member by `member`; false when
    /// it is not one, or a member is not what `member` wants.
    private static func readObject(_ body: [UInt8], _ member: (inout RequestBodyDecoder.Parser, StringToken) throws(RequestBodyError) -> Void) -> Bool {
        body.withUnsafeBytes { bytes in
            var parser = RequestBodyDecoder.Parser(bytes: bytes)
            do {
                try parser.parseTopLevelObject(member: member)
                return true
            } catch {
                return false
            }
        }
    }
}

/// Compact JSON written into byte buffers: the one writer of strings and
/// integers that replies and turn bodies share.
public enum JSONText {
    /// A JSON string: `"` and `\` escaped, control characters (C0, DEL) as
    /// `\u00XX`, everything else as its UTF-8.
    public static func appendString(_ text: String, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        appendEscaped(text, to: &buffer)
        buffer.append(UInt8(ascii: "\""))
    }

    /// The content of a JSON string, without the quotes.
    public static func appendEscaped(_ text: String, to buffer: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): buffer.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): buffer.append(contentsOf: #"\\"#.utf8)
            case 0x00..<0x20, 0x7F:
                buffer.append(contentsOf: #"\u00"#.utf8)
                buffer.append(hexDigits[Int(byte >> 4)])
                buffer.append(hexDigits[Int(byte & 15)])
            default: buffer.append(byte)
            }
        }
    }

    public static func appendInteger(_ value: Int64, to buffer: inout [UInt8]) {
        if value < 0 {
            buffer.append(UInt8(ascii: "-"))
            // The magnitude as unsigned: Int64.min has none as Int64.
            appendUnsigned(value.magnitude, to: &buffer)
        } else {
            appendUnsigned(UInt64(value), to: &buffer)
        }
    }

    private static func appendUnsigned(_ value: UInt64, to buffer: inout [UInt8]) {
        if value >= 10 { appendUnsigned(value / 10, to: &buffer) }
        buffer.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}

extension RequestBodyDecoder.Parser {
    /// One JSON object filling the whole input, each member's value read by
    /// `member`.
    mutating func parseTopLevelObject(member: (inout Self, StringToken) throws(RequestBodyError) -> Void) throws(RequestBodyError) {
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { throw .notAnObject }
        try parseObject(member: member)
        skipWhitespace()
        guard index == bytes.count else { throw .notJSON(offset: index) }
    }

    /// A string of 1 to ``TurnBody/largestNameBytes`` bytes with no control
    /// character (an AMQP user name or a holder id).
    mutating func parseName() throws(RequestBodyError) -> String {
        let token = try parseString()
        let content = token.decoded(in: bytes)
        guard !content.isEmpty, content.count <= TurnBody.largestNameBytes,
              content.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else { throw .notJSON(offset: index) }
        return String(decoding: content, as: UTF8.self)
    }

    /// A string in the protocol's account syntax.
    mutating func parseAccountName() throws(RequestBodyError) -> String {
        guard peek() == UInt8(ascii: "\"") else { throw .accountNotString }
        guard let name = try parseString().asciiAccountName(in: bytes) else { throw .accountSyntax }
        return name
    }

    /// A JSON integer from 0 to `bound`.
    mutating func parseInteger(upTo bound: Int) throws(RequestBodyError) -> Int {
        let start = index
        guard try parseValue() == .integer, let value = Self.integer(bytes, start..<index), value >= 0, value <= bound else {
            throw .notJSON(offset: start)
        }
        return value
    }

    /// An array of at most `count` integers from 0 to `bound`.
    mutating func parseCounters(atMost count: Int, upTo bound: Int) throws(RequestBodyError) -> [UInt64] {
        guard peek() == UInt8(ascii: "[") else { throw .notJSON(offset: index) }
        index += 1
        var values: [UInt64] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return values
        }
        while true {
            skipWhitespace()
            guard values.count < count else { throw .notJSON(offset: index) }
            values.append(UInt64(try parseInteger(upTo: bound)))
            skipWhitespace()
            if peek() == UInt8(ascii: ",") {
                index += 1
                continue
            }
            try expect(UInt8(ascii: "]"))
            return values
        }
    }
}
