/// One RFC 6238 time window: `[start, end)` in Unix seconds, and its counter.
public struct TOTPWindow: Sendable, Hashable {
    /// The time step: `floor(unixTime / period)` (T0 = 0).
    public let counter: UInt64
    /// Seconds per window.
    public let period: Int

    public init(counter: UInt64, period: Int) {
        self.counter = counter
        self.period = period
    }

    /// The window that holds `unixMilliseconds`.
    public init(containing unixMilliseconds: Int64, period: Int) {
        precondition(period > 0)
        precondition(unixMilliseconds >= 0, "TOTP is defined from the Unix epoch on")
        self.init(counter: UInt64(unixMilliseconds / (Int64(period) * 1000)), period: period)
    }

    /// First second of the window (Unix seconds).
    public var start: Int64 { Int64(counter) * Int64(period) }
    /// First second after the window (Unix seconds).
    public var end: Int64 { start + Int64(period) }
    /// The window after this one.
    public var next: TOTPWindow { TOTPWindow(counter: counter + 1, period: period) }

    /// Milliseconds from `unixMilliseconds` to the window's end.
    public func millisecondsLeft(at unixMilliseconds: Int64) -> Int64 {
        end * 1000 - unixMilliseconds
    }
}

/// An RFC 6238 TOTP generator: a key with its parameters.
public struct TOTPGenerator: Sendable, CustomStringConvertible {
    public let key: SecretKey
    public let parameters: TOTPParameters

    public init(key: SecretKey, parameters: TOTPParameters = .default) {
        self.key = key
        self.parameters = parameters
    }

    /// The window that holds `unixMilliseconds`.
    public func window(at unixMilliseconds: Int64) -> TOTPWindow {
        TOTPWindow(containing: unixMilliseconds, period: parameters.period)
    }

    /// The code of `window`.
    public func code(for window: TOTPWindow) -> OneTimeCode {
        HOTP.code(key: key, counter: window.counter, algorithm: parameters.algorithm, digits: parameters.digits)
    }

    /// The code at `unixSeconds` (RFC 6238 with T0 = 0).
    public func code(atUnixSeconds unixSeconds: Int64) -> OneTimeCode {
        code(for: window(at: unixSeconds * 1000))
    }

    public var description: String { "TOTPGenerator(\(parameters), key redacted)" }
}
