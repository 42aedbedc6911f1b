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

    /// A JSON string for a line of a log or an audit trail: also every
    /// character that could break or visually reorder a line
    /// (``isLineBreaking(_:)``) as `\uXXXX`.
    public static func appendLineSafeString(_ text: String, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            appendEscaped(text, to: &buffer)
        } else {
            for scalar in text.unicodeScalars {
                if scalar.value < 0x80 {
                    appendEscaped(String(scalar), to: &buffer)
                } else if isLineBreaking(scalar) {
                    buffer.append(contentsOf: #"\u"#.utf8)
                    for shift in stride(from: 12, through: 0, by: -4) { buffer.append(hexDigits[Int((scalar.value >> UInt32(shift)) & 15)]) }
                } else {
                    buffer.append(contentsOf: String(scalar).utf8)
                }
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }

    /// Never written raw into a log or audit line, whatever the format: C0
    /// and C1 controls and DEL, the line and paragraph separators (U+2028,
    /// U+2029; U+0085 is C1), and the bidirectional and invisible format
    /// controls that make a terminal or viewer show a line reordered
    /// (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069, U+FEFF).
    @inline(__always)
    public static func isLineBreaking(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00..<0x20, 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069, 0xFEFF: true
        default: false
        }
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
