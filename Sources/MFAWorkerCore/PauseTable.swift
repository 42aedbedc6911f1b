/// The accounts the lockout guard has paused, as the guard log says
/// (``GuardBook``): until when (Unix ms). What the deciders read on every
/// request; the guard reader replaces it whole when it changes.
public struct PauseTable: Sendable, Equatable {
    public private(set) var until: [String: Int64]

    public init(until: [String: Int64] = [:]) {
        self.until = until
    }

    public var isEmpty: Bool { until.isEmpty }

    /// The ms left of `account`'s pause at `now`; nil when it is not paused.
    @inline(__always)
    public func retryAfter(_ account: String, now: Int64) -> Int64? {
        guard !until.isEmpty, let end = until[account], end > now else { return nil }
        return end - now
    }

    /// The accounts paused at `now`.
    public func paused(at now: Int64) -> [String] {
        until.filter { $0.value > now }.map(\.key).sorted()
    }
}
