/// Reading the protocol's JSON objects (requests, replies, turn bodies)
/// with the request reader's strict parser: one object, no duplicate keys,
/// UTF-8 checked, nesting bounded.
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
            content.allSatisfy({ $0 >= 0x20 && $0 != 0x7F })
        else { throw .notJSON(offset: index) }
        return String(decoding: content, as: UTF8.self)
    }

    /// A string in the protocol's account syntax.
    mutating func parseAccountName() throws(RequestBodyError) -> String {
        guard peek() == UInt8(ascii: "\"") else { throw .accountNotString }
        guard let name = try parseString().asciiAccountName(in: bytes) else { throw .accountSyntax }
        return name
    }

    /// Any string, decoded.
    mutating func parseText() throws(RequestBodyError) -> String {
        String(decoding: try parseString().decoded(in: bytes), as: UTF8.self)
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

extension RequestBodyDecoder {
    /// Reads `body` as one JSON object, each member by `member`; false when
    /// it is not one, or a member is not what `member` wants.
    static func readObject(_ body: [UInt8], _ member: (inout Parser, StringToken) throws(RequestBodyError) -> Void) -> Bool {
        body.withUnsafeBytes { bytes in
            var parser = Parser(bytes: bytes)
            do {
                try parser.parseTopLevelObject(member: member)
                return true
            } catch {
                return false
            }
        }
    }
}
