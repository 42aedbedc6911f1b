/// A strict, allocation-light JSON reader for request bodies.
///
/// It reads RFC 8259 JSON exactly: one object, UTF-8 checked byte by byte,
/// no `NaN`, no comments, no trailing commas, no duplicate keys at any
/// depth, nesting bounded. Unknown fields are read (so that they must be
/// valid JSON) and ignored. It never echoes input in its errors.
public enum RequestBodyDecoder {
    public static let maxDepth = 32

    public static func decode(_ body: [UInt8]) -> Result<RequestBody, RequestBodyError> {
        body.withUnsafeBytes { decode($0) }
    }

    public static func decode(_ body: UnsafeRawBufferPointer) -> Result<RequestBody, RequestBodyError> {
        guard body.count <= RequestBody.maxBytes else { return .failure(.tooLarge(bytes: body.count)) }
        var parser = Parser(bytes: body)
        do {
            return .success(try parser.parseRequest())
        } catch {
            return .failure(error)
        }
    }

    struct Parser {
        let bytes: UnsafeRawBufferPointer
        var index = 0
        var depth = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        // MARK: The request object

        mutating func parseRequest() throws(RequestBodyError) -> RequestBody {
            skipWhitespace()
            guard peek() == UInt8(ascii: "{") else {
                // Valid JSON that is not an object is "not an object";
                // anything else is "not JSON".
                _ = try parseValue()
                skipWhitespace()
                guard index == bytes.count else { throw .notJSON(offset: index) }
                throw .notAnObject
            }
            var account: String?
            var accountError: RequestBodyError?
            var minValidity: Int?
            var minValidityError: RequestBodyError?
            var maxWait: Int?
            var maxWaitError: RequestBodyError?

            try parseObject { parser, key throws(RequestBodyError) in
                if key.equals("account", in: parser.bytes) {
                    guard parser.peek() == UInt8(ascii: "\"") else {
                        try parser.parseValue()
                        accountError = .accountNotString
                        return
                    }
                    let value = try parser.parseString()
                    if let text = value.asciiAccountName(in: parser.bytes) {
                        account = text
                    } else {
                        accountError = .accountSyntax
                    }
                } else if key.equals("min_validity_ms", in: parser.bytes) {
                    (minValidity, minValidityError) = try parser.parseBoundedInteger(
                        upTo: RequestBody.largestMinValidity, notInteger: .minValidityNotInteger, outOfRange: .minValidityOutOfRange
                    )
                } else if key.equals("max_wait_ms", in: parser.bytes) {
                    (maxWait, maxWaitError) = try parser.parseBoundedInteger(
                        upTo: RequestBody.largestMaxWait, notInteger: .maxWaitNotInteger, outOfRange: .maxWaitOutOfRange
                    )
                } else {
                    try parser.parseValue()
                }
            }
            skipWhitespace()
            guard index == bytes.count else { throw .notJSON(offset: index) }

            // The whole body is valid JSON; now the fields, in a fixed order.
            if let accountError { throw accountError }
            guard let account else { throw .accountMissing }
            if let minValidityError { throw minValidityError }
            if let maxWaitError { throw maxWaitError }
            return RequestBody(account: account, minValidityMilliseconds: minValidity, maxWaitMilliseconds: maxWait)
        }

        /// A member that must be a JSON integer from 0 to `bound`, or
        /// `null` (absent). The value is read whole either way, so that
        /// the rest of the body is still checked; the error is reported
        /// after it.
        mutating func parseBoundedInteger(
            upTo bound: Int, notInteger: RequestBodyError, outOfRange: RequestBodyError
        ) throws(RequestBodyError) -> (Int?, RequestBodyError?) {
            let start = index
            switch try parseValue() {
            case .null:
                return (nil, nil)
            case .integer:
                if let value = Self.integer(bytes, start..<index), value >= 0, value <= bound {
                    return (value, nil)
                }
                return (nil, outOfRange)
            default:
                return (nil, notInteger)
            }
        }

        // MARK: Values

        enum Kind { case object, array, string, integer, number, boolean, null }

        @discardableResult
        mutating func parseValue() throws(RequestBodyError) -> Kind {
            switch peek() ?? 0 {
            case UInt8(ascii: "{"):
                try parseObject()
                return .object
            case UInt8(ascii: "["):
                try parseArray()
                return .array
            case UInt8(ascii: "\""):
                _ = try parseString()
                return .string
            case UInt8(ascii: "t"):
                try literal("true")
                return .boolean
            case UInt8(ascii: "f"):
                try literal("false")
                return .boolean
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return try parseNumber()
            default:
                throw .notJSON(offset: index)
            }
        }

        /// Reads an object at `index`: keys checked for duplicates, each
        /// member's value read by `member` (by default, any valid value).
        mutating func parseObject(
            member: (inout Parser, StringToken) throws(RequestBodyError) -> Void = { parser, _ throws(RequestBodyError) in try parser.parseValue() }
        ) throws(RequestBodyError) {
            index += 1
            depth += 1
            guard depth <= RequestBodyDecoder.maxDepth else { throw .tooDeep }
            defer { depth -= 1 }
            var keys = KeySet()
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                let keyStart = index
                let key = try parseString()
                guard keys.insert(key, in: bytes) else { throw .duplicateKey(offset: keyStart) }
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                try member(&self, key)
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "}"))
                return
            }
        }

        mutating func parseArray() throws(RequestBodyError) {
            index += 1
            depth += 1
            guard depth <= RequestBodyDecoder.maxDepth else { throw .tooDeep }
            defer { depth -= 1 }
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                try parseValue()
                skipWhitespace()
                if peek() == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "]"))
                return
            }
        }

        /// Reads a string and returns where its content stands; escapes are
        /// checked but decoded only when a caller needs the text.
        mutating func parseString() throws(RequestBodyError) -> StringToken {
            guard peek() == UInt8(ascii: "\"") else { throw .notJSON(offset: index) }
            index += 1
            let start = index
            var escaped = false
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    let token = StringToken(range: start..<index, hasEscapes: escaped)
                    index += 1
                    return token
                case UInt8(ascii: "\\"):
                    escaped = true
                    index += 1
                    guard index < bytes.count else { throw .notJSON(offset: index) }
                    switch bytes[index] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                        UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        index += 1
                    case UInt8(ascii: "u"):
                        let unitStart = index - 1
                        index += 1
                        let unit = try hex4()
                        if (0xD800...0xDBFF).contains(unit) {
                            // A high surrogate must be followed by a low one.
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                                throw .notJSON(offset: unitStart)
                            }
                            index += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw .notJSON(offset: unitStart) }
                        } else if (0xDC00...0xDFFF).contains(unit) {
                            throw .notJSON(offset: unitStart)
                        }
                    default:
                        throw .notJSON(offset: index)
                    }
                case 0x00..<0x20:
                    throw .notJSON(offset: index)
                case 0x80...0xFF:
                    try skipUTF8Sequence()
                default:
                    index += 1
                }
            }
            throw .notJSON(offset: index)
        }

        mutating func hex4() throws(RequestBodyError) -> UInt16 {
            guard index + 4 <= bytes.count else { throw .notJSON(offset: index) }
            var value: UInt16 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt16
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt16(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt16(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt16(byte - UInt8(ascii: "A") + 10)
                default: throw .notJSON(offset: index)
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        /// Checks one UTF-8 sequence (RFC 3629: no overlongs, no surrogates,
        /// nothing past U+10FFFF) and steps over it.
        mutating func skipUTF8Sequence() throws(RequestBodyError) {
            let start = index
            let lead = bytes[index]
            let length: Int
            var lower: UInt8 = 0x80
            var upper: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                upper = 0x9F
            case 0xF0:
                length = 4
                lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                upper = 0x8F
            default: throw .invalidUTF8(offset: start)
            }
            guard index + length <= bytes.count else { throw .invalidUTF8(offset: start) }
            let second = bytes[index + 1]
            guard second >= lower && second <= upper else { throw .invalidUTF8(offset: start) }
            for offset in 2..<length where bytes[index + offset] & 0xC0 != 0x80 {
                throw .invalidUTF8(offset: start)
            }
            index += length
        }

        mutating func parseNumber() throws(RequestBodyError) -> Kind {
            var isInteger = true
            if peek() == UInt8(ascii: "-") { index += 1 }
            guard let first = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw .notJSON(offset: index) }
            if first == UInt8(ascii: "0") {
                index += 1
            } else {
                skipDigits()
            }
            if peek() == UInt8(ascii: ".") {
                isInteger = false
                index += 1
                guard skipDigits() > 0 else { throw .notJSON(offset: index) }
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                isInteger = false
                index += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
                guard skipDigits() > 0 else { throw .notJSON(offset: index) }
            }
            return isInteger ? .integer : .number
        }

        @discardableResult
        mutating func skipDigits() -> Int {
            let start = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - start
        }

        /// The value of an integer token, nil when it does not fit in Int.
        static func integer(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
            var index = range.lowerBound
            let negative = bytes[index] == UInt8(ascii: "-")
            if negative { index += 1 }
            var value = 0
            while index < range.upperBound {
                let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(Int(bytes[index] - UInt8(ascii: "0")))
                if overflow1 || overflow2 { return nil }
                value = sum
                index += 1
            }
            return negative ? -value : value
        }

        mutating func literal(_ word: StaticString) throws(RequestBodyError) {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw .notJSON(offset: index) }
            let matches = word.withUTF8Buffer { expected in
                (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
            }
            guard matches else { throw .notJSON(offset: index) }
            index += count
        }

        @inline(__always)
        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        @inline(__always)
        mutating func expect(_ byte: UInt8) throws(RequestBodyError) {
            guard peek() == byte else { throw .notJSON(offset: index) }
            index += 1
        }

        @inline(__always)
        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }
    }
}

/// Where a JSON string's content stands in the body.
struct StringToken {
    let range: Range<Int>
    let hasEscapes: Bool

    /// The decoded content as bytes (allocates only when escaped).
    func decoded(in bytes: UnsafeRawBufferPointer) -> [UInt8] {
        guard hasEscapes else { return Array(bytes[range]) }
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var index = range.lowerBound
        while index < range.upperBound {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                index += 1
                continue
            }
            let code = bytes[index + 1]
            index += 2
            switch code {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(hex(bytes, index))
                index += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    let low = UInt32(hex(bytes, index + 2))
                    index += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                out.append(contentsOf: String(Unicode.Scalar(scalar)!).utf8)
            default: out.append(code)  // " \ /
            }
        }
        return out
    }

    func equals(_ text: StaticString, in bytes: UnsafeRawBufferPointer) -> Bool {
        text.withUTF8Buffer { expected in
            if !hasEscapes {
                return range.count == expected.count && zip(bytes[range], expected).allSatisfy { $0 == $1 }
            }
            return decoded(in: bytes).elementsEqual(expected)
        }
    }

    /// The content when it is a valid account name, else nil.
    func asciiAccountName(in bytes: UnsafeRawBufferPointer) -> String? {
        if !hasEscapes {
            let slice = bytes[range]
            guard AccountName.isValid(utf8: slice) else { return nil }
            return String(decoding: slice, as: UTF8.self)
        }
        let content = decoded(in: bytes)
        guard AccountName.isValid(utf8: content) else { return nil }
        return String(decoding: content, as: UTF8.self)
    }

    private func hex(_ bytes: UnsafeRawBufferPointer, _ start: Int) -> UInt16 {
        var value: UInt16 = 0
        for offset in 0..<4 {
            let byte = bytes[start + offset]
            let digit: UInt16 =
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt16(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt16(byte - UInt8(ascii: "a") + 10)
                default: UInt16(byte - UInt8(ascii: "A") + 10)
                }
            value = value << 4 | digit
        }
        return value
    }
}

/// The keys of one object, for finding duplicates.
struct KeySet {
    private var plain: [Range<Int>] = []
    private var decoded: [[UInt8]] = []
    private var hasEscaped = false
    private var tokens: [StringToken] = []

    /// Adds `key`; false when the object already has it.
    mutating func insert(_ key: StringToken, in bytes: UnsafeRawBufferPointer) -> Bool {
        if !key.hasEscapes && !hasEscaped {
            // The common case: compare raw bytes.
            for existing in plain where existing.count == key.range.count && bytes[existing].elementsEqual(bytes[key.range]) {
                return false
            }
            plain.append(key.range)
            tokens.append(key)
            return true
        }
        // Some key has escapes: compare decoded forms.
        if !hasEscaped {
            hasEscaped = true
            decoded = tokens.map { $0.decoded(in: bytes) }
        }
        let content = key.decoded(in: bytes)
        if decoded.contains(content) { return false }
        decoded.append(content)
        tokens.append(key)
        return true
    }
}
