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
