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
        let valid = RequestBodyDecoder.readObject(body) { parser, key throws(RequestBodyError) in
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
        let valid = RequestBodyDecoder.readObject(body) { parser, key throws(RequestBodyError) in
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
}
