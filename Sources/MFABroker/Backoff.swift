/// Exponential backoff with full jitter, bounded: the delay before attempt
/// n (from 0) is a random point in [d/2, d] where d = min(max, initial * 2^n).
public struct Backoff: Sendable {
    public let initialMilliseconds: Int
    public let maxMilliseconds: Int
    public private(set) var attempt = 0

    public init(initialMilliseconds: Int, maxMilliseconds: Int) {
        self.initialMilliseconds = max(1, initialMilliseconds)
        self.maxMilliseconds = max(self.initialMilliseconds, maxMilliseconds)
    }

    /// The ceiling of the next delay.
    public var nextCeiling: Int {
        let shift = min(attempt, 30)
        let (scaled, overflow) = initialMilliseconds.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? maxMilliseconds : min(maxMilliseconds, scaled)
    }

    /// The next delay, with `random` in [0, 1) choosing the jitter.
    public mutating func nextDelay(random: Double) -> Int {
        let ceiling = nextCeiling
        attempt += 1
        let floor = ceiling / 2
        return floor + Int(Double(ceiling - floor) * min(max(random, 0), 1))
    }

    public mutating func nextDelay() -> Int {
        nextDelay(random: Double.random(in: 0..<1))
    }

    /// A success: the next failure starts from the initial delay again.
    public mutating func reset() { attempt = 0 }
}
