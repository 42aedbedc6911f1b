/// RFC 4648 base32 (the `A-Z2-7` alphabet), read the way people copy keys.
///
/// Decoding is tolerant of form and strict about content: lower case,
/// spaces (Salesforce shows the key in groups of four) and a missing `=`
/// padding are fine; a character outside the alphabet, padding in the wrong
/// place or of the wrong length, and a length that no byte string encodes to
/// are errors. Errors give positions and counts, never the characters of the
/// key.
public enum Base32 {
    /// Decodes `text` into bytes.
    public static func decode(_ text: String) throws(Base32Error) -> [UInt8] {
        try decode(utf8: Array(text.utf8))
    }

    /// Decodes UTF-8 `bytes` into bytes. The output is reserved at its full
    /// size up front (never copied as it grows), and wiped if decoding fails
    /// half-way: a key's bytes are left nowhere but in the result.
    public static func decode(utf8 bytes: [UInt8]) throws(Base32Error) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 5 / 8 + 1)
        do {
            try decode(bytes, into: &output)
        } catch {
            SecretBytes.wipe(&output)
            throw error
        }
        return output
    }

    private static func decode(_ bytes: [UInt8], into output: inout [UInt8]) throws(Base32Error) {
        var buffer: UInt64 = 0
        var bufferedBits = 0
        var symbols = 0  // alphabet characters seen
        var padding = 0  // '=' seen so far
        var firstPadding = 0  // position of the first '='
        var position = 0  // 1-based position among non-space characters

        for byte in bytes {
            if isSpace(byte) { continue }
            position += 1
            if byte == UInt8(ascii: "=") {
                if padding == 0 { firstPadding = position }
                padding += 1
                continue
            }
            guard let value = alphabetValue(byte) else {
                throw .invalidCharacter(position: position)
            }
            guard padding == 0 else { throw .paddingNotAtEnd(position: firstPadding) }
            symbols += 1
            buffer = (buffer << 5) | UInt64(value)
            bufferedBits += 5
            if bufferedBits >= 8 {
                bufferedBits -= 8
                output.append(UInt8(truncatingIfNeeded: buffer >> UInt64(bufferedBits)))
                buffer &= (1 << UInt64(bufferedBits)) - 1
            }
        }
        buffer = 0

        if symbols == 0 {
            throw padding == 0 ? .empty : .paddingNotAtEnd(position: 1)
        }
        // A final group of 8 symbols holds 5 bytes; a partial group of 2, 4,
        // 5 or 7 symbols holds 1 to 4 bytes. 1, 3 or 6 hold no whole byte.
        let remainder = symbols % 8
        if [1, 3, 6].contains(remainder) {
            throw .impossibleLength(symbols: symbols)
        }
        if padding > 0 {
            let expected = remainder == 0 ? 0 : 8 - remainder
            guard padding == expected else {
                throw .wrongPadding(symbols: symbols, padding: padding, expected: expected)
            }
        }
    }

    /// Encodes `bytes` in upper case, without padding (as authenticator apps
    /// and `otpauth://` URIs write keys).
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int((buffer >> UInt32(bits)) & 31)])
            }
            buffer &= (1 << UInt32(bits)) - 1
        }
        if bits > 0 {
            out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    @inline(__always)
    private static func alphabetValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a")
        case UInt8(ascii: "2")...UInt8(ascii: "7"): byte - UInt8(ascii: "2") + 26
        default: nil
        }
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
    }
}

/// Why a text is not a base32 key. Positions count the characters that are
/// not spaces, from 1; no message repeats a character of the key.
public enum Base32Error: Error, Equatable, CustomStringConvertible {
    /// Nothing but spaces.
    case empty
    /// A character that is neither in `A-Z`, `a-z`, `2-7`, a space nor `=`.
    case invalidCharacter(position: Int)
    /// `=` followed by a key character.
    case paddingNotAtEnd(position: Int)
    /// A count of key characters that no byte string encodes to (8n+1, 8n+3, 8n+6).
    case impossibleLength(symbols: Int)
    /// Padding present but not the amount that completes the last group of 8.
    case wrongPadding(symbols: Int, padding: Int, expected: Int)

    public var description: String {
        switch self {
        case .empty:
            "the key is empty"
        case .invalidCharacter(let position):
            "character \(position) of the key is not base32 (A-Z and 2-7; 0, 1, 8 and 9 are not in the alphabet)"
        case .paddingNotAtEnd(let position):
            "padding '=' at character \(position) is followed by more key characters"
        case .impossibleLength(let symbols):
            "a base32 key cannot have \(symbols) characters (\(symbols) mod 8 = \(symbols % 8); only 0, 2, 4, 5 or 7 are possible): a character is missing or extra"
        case .wrongPadding(let symbols, let padding, let expected):
            "\(symbols) key characters take \(expected) '=' of padding (or none), not \(padding)"
        }
    }
}
