/// Stops a message that takes connections down from doing it forever.
///
/// A request that makes the broker close the worker's connection (a
/// `reply_to` the broker cannot route to without failing, say) goes back to
/// the queue unacknowledged and comes back, redelivered, to the next
/// consumer, which fails the same way. The guard remembers what was in
/// flight on each connection that was lost; a redelivered message that was
/// in flight on ``strikesToDrop`` lost connections is dropped (rejected
/// without requeue) instead of handled again. A request merely unlucky
/// enough to be in flight during that many unrelated outages is dropped
/// too; its requester times out and asks again.
///
/// Pure: messages are known by a fingerprint the caller computes, and the
/// time comes in as Unix milliseconds.
public struct RedeliveryGuard: Sendable {
    public let strikesToDrop: Int
    /// How long a strike is remembered.
    public let memoryMilliseconds: Int64
    private var strikes: [Int: (count: Int, last: Int64)] = [:]

    public init(strikesToDrop: Int = 3, memoryMilliseconds: Int64 = 600_000) {
        self.strikesToDrop = max(1, strikesToDrop)
        self.memoryMilliseconds = memoryMilliseconds
    }

    /// A connection was lost with these messages in flight.
    public mutating func connectionLost(inFlight fingerprints: some Sequence<Int>, now: Int64) {
        strikes = strikes.filter { now - $0.value.last < memoryMilliseconds }
        for fingerprint in fingerprints {
            strikes[fingerprint, default: (0, now)].count += 1
            strikes[fingerprint]?.last = now
        }
    }

    /// Whether a redelivered message is to be dropped rather than handled.
    public func isPoison(_ fingerprint: Int) -> Bool {
        (strikes[fingerprint]?.count ?? 0) >= strikesToDrop
    }

    /// Fingerprints remembered now.
    public var remembered: Int { strikes.count }

    /// A message's fingerprint: who sent it, where the answer goes, its
    /// correlation id and body.
    public static func fingerprint(userID: String?, replyTo: String?, correlationID: [UInt8]?, body: [UInt8]) -> Int {
        var hasher = Hasher()
        hasher.combine(userID)
        hasher.combine(replyTo)
        hasher.combine(correlationID)
        hasher.combine(body)
        return hasher.finalize()
    }
}
