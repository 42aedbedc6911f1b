import MFAConfig

/// A token bucket: `burst` tokens at most, refilled at `ratePerSecond`.
/// Pure: the time comes in as Unix milliseconds.
public struct TokenBucket: Sendable, Equatable {
    public let ratePerSecond: Double
    public let burst: Double
    private var tokens: Double
    private var updatedAt: Int64

    public init(ratePerSecond: Double, burst: Int, now: Int64) {
        self.ratePerSecond = ratePerSecond
        self.burst = Double(max(1, burst))
        tokens = self.burst
        updatedAt = now
    }

    /// Takes a token: nil when one was there, else the milliseconds until
    /// one will be.
    public mutating func take(now: Int64) -> Int64? {
        refill(now: now)
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        guard ratePerSecond > 0 else { return Int64.max }
        let missing = 1 - tokens
        return max(1, Int64((missing / ratePerSecond * 1000).rounded(.up)))
    }

    /// The same bucket under another limit (a reload): the tokens it has
    /// now, at most the new burst.
    public func limited(to limit: RateLimit) -> TokenBucket {
        var bucket = TokenBucket(ratePerSecond: limit.ratePerSecond, burst: limit.burst, now: updatedAt)
        bucket.tokens = min(bucket.burst, tokens)
        return bucket
    }

    private mutating func refill(now: Int64) {
        guard now > updatedAt else { return }
        tokens = min(burst, tokens + Double(now - updatedAt) / 1000 * ratePerSecond)
        updatedAt = now
    }
}

/// A rate: so many requests per second, with a burst allowance (the
/// configuration's `rate_limit` entries).
public typealias RateLimit = RateLimitSettings.Limit

/// Buckets per requester (and, optionally, per account across requesters),
/// created as requesters appear. A request takes a token from each bucket
/// that applies; when one is empty, no token is taken from the other.
public struct RateLimiter: Sendable {
    public let perRequester: RateLimit?
    public let perAccount: RateLimit?
    /// Per-requester limits that differ from `perRequester`.
    public let requesterOverrides: [String: RateLimit]
    private let overrides: [UserName: RateLimit]
    /// By the requester's bytes, as the allowlist tells requesters apart.
    private var requesterBuckets: [UserName: TokenBucket] = [:]
    private var accountBuckets: [String: TokenBucket] = [:]

    public init(perRequester: RateLimit? = nil, perAccount: RateLimit? = nil, requesterOverrides: [String: RateLimit] = [:]) {
        self.perRequester = perRequester
        self.perAccount = perAccount
        self.requesterOverrides = requesterOverrides
        overrides = Dictionary(requesterOverrides.map { (UserName($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    public var isUnlimited: Bool { perRequester == nil && perAccount == nil && requesterOverrides.isEmpty }

    /// These limits, with the buckets of `running` carried over (a reload):
    /// a requester that used up its burst does not get a fresh one with
    /// every SIGHUP. Buckets whose limit is gone are dropped.
    public func continuing(from running: RateLimiter) -> RateLimiter {
        var next = self
        for (name, bucket) in running.requesterBuckets {
            if let limit = overrides[name] ?? perRequester { next.requesterBuckets[name] = bucket.limited(to: limit) }
        }
        if let perAccount {
            for (account, bucket) in running.accountBuckets { next.accountBuckets[account] = bucket.limited(to: perAccount) }
        }
        return next
    }

    /// A request of `requester`, whatever its fate (a malformed or
    /// forbidden request takes a token too: nobody floods the worker, its
    /// log or its audit trail for free). nil when it may go on; else the
    /// ms until it may ask again (`retry_after_ms`).
    public mutating func admit(requester: String, now: Int64) -> Int64? {
        let name = UserName(requester)
        guard let limit = overrides[name] ?? perRequester else { return nil }
        var bucket = requesterBuckets[name] ?? TokenBucket(ratePerSecond: limit.ratePerSecond, burst: limit.burst, now: now)
        let wait = bucket.take(now: now)
        requesterBuckets[name] = bucket
        return wait
    }

    /// A request allowed `account`, across requesters.
    public mutating func admit(account: String, now: Int64) -> Int64? {
        guard let perAccount else { return nil }
        var bucket = accountBuckets[account] ?? TokenBucket(ratePerSecond: perAccount.ratePerSecond, burst: perAccount.burst, now: now)
        let wait = bucket.take(now: now)
        accountBuckets[account] = bucket
        return wait
    }
}
