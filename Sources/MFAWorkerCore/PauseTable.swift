/// The accounts the lockout guard has paused, as the guard log says
/// (``GuardBook``): until when (Unix ms). What the deciders read on every
/// request; the guard reader replaces it whole when it changes.
public struct PauseTable: Sendable, Equatable {
    public private(set) var until: [String: Int64]
    /// False until the guard reader has read the log: nobody knows yet
    /// which accounts are paused, so accounts with a guard are not served.
    public private(set) var isKnown: Bool

    public init(until: [String: Int64] = [:], isKnown: Bool = true) {
        self.until = until
        self.isKnown = isKnown
    }

    /// Before the guard log is read.
    public static let unknown = PauseTable(isKnown: false)

    /// Nothing to check: known, and no account paused.
    public var isEmpty: Bool { isKnown && until.isEmpty }

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
