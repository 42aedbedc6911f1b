/// A one-time code: a number shown zero-padded to a fixed count of digits.
///
/// Like ``SecretKey``, a code never describes itself: `"\(code)"` gives a
/// placeholder, so that a code cannot slip into a log line. Use ``digits``
/// where the code is meant to go out (a reply, the `code` command).
public struct OneTimeCode: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The code as a number, below `10^digitCount`.
    public let value: UInt32
    /// How many digits the code is shown with (6 to 8 here; up to 9 fit).
    public let digitCount: Int

    public init(value: UInt32, digitCount: Int) {
        precondition((1...9).contains(digitCount), "digit count out of range")
        self.value = value
        self.digitCount = digitCount
    }

    /// The code zero-padded to ``digitCount`` digits, as ASCII bytes.
    public var asciiDigits: [UInt8] {
        var bytes = [UInt8](repeating: UInt8(ascii: "0"), count: digitCount)
        var rest = value
        var index = digitCount - 1
        while index >= 0 {
            bytes[index] = UInt8(ascii: "0") &+ UInt8(rest % 10)
            rest /= 10
            index -= 1
        }
        return bytes
    }

    /// The code zero-padded to ``digitCount`` digits.
    public var digits: String { String(decoding: asciiDigits, as: UTF8.self) }

    public var description: String { String(repeating: "*", count: digitCount) }
    public var debugDescription: String { "OneTimeCode(\(digitCount) digits, redacted)" }
    public var customMirror: Mirror { Mirror(self, children: ["digitCount": digitCount]) }
}
