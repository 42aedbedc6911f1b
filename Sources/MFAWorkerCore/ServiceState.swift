import MFAConfig
import TOTP

/// What deciding a request needs: accounts, allowlist and reply settings.
/// Immutable; every consumer thread shares one, and a reload swaps in a new
/// one whole.
public struct ServiceState: Sendable {
    public let accounts: [String: Account]
    /// Pools by name: names a request may give instead of an account.
    public let pools: [String: PoolSettings]
    public let allow: Allowlist
    public let reply: ReplySettings
    public let rateLimits: RateLimiter
    /// Counts reloads: 0 for the state loaded at start-up.
    public let generation: Int
    /// The request queue: a reply is never published to it, nor to its
    /// turn queues (`<request queue>.turns.*`).
    public let requestQueue: String
    /// The logins of the worker's replicas: what they publish is never a
    /// request.
    public let workerLogins: Set<UserName>

    public init(
        accounts: [String: Account], allow: Allowlist, reply: ReplySettings, rateLimits: RateLimiter = RateLimiter(), generation: Int = 0,
        requestQueue: String = RequestQueueSettings.defaultName, workerLogins: [String] = [], pools: [String: PoolSettings] = [:]
    ) {
        self.pools = pools
        self.workerLogins = Set(workerLogins.map(UserName.init))
        self.accounts = accounts
        self.allow = allow
        self.reply = reply
        self.rateLimits = rateLimits
        self.generation = generation
        self.requestQueue = requestQueue
    }

    /// Whether `name` is the request queue or one of its turn queues: the
    /// worker's own, which a requester cannot have answers sent to.
    func isOwnQueue(_ name: String) -> Bool {
        name.utf8.elementsEqual(requestQueue.utf8)
            || (name.utf8.count > requestQueue.utf8.count && name.utf8.starts(with: requestQueue.utf8)
                && (name.utf8.dropFirst(requestQueue.utf8.count).starts(with: ".turns.".utf8)
                    || name.utf8.dropFirst(requestQueue.utf8.count).elementsEqual(".guard".utf8)))
    }

    /// Whether `name` looks like any deployment's internal queue (a guard
    /// log, `*.guard`, or a turn queue, `*.turns.*`): replies never go
    /// there, whoever's it is (two deployments may share a worker login).
    static func isInternalQueue(_ name: String) -> Bool {
        // Bytes, not Foundation's `contains` (a locale-aware search per request).
        let bytes = name.utf8
        guard bytes.count > 6 else { return false }
        if bytes.reversed().starts(with: ".guard".utf8.reversed()) { return true }
        let turns = ".turns.".utf8
        var rest = bytes[...]
        while let dot = rest.firstIndex(of: UInt8(ascii: ".")) {
            if rest[dot...].starts(with: turns) { return true }
            rest = rest[bytes.index(after: dot)...]
        }
        return false
    }

    /// Whether `requester` may report outcomes of `account`: it may have
    /// the account by name, or a pool it is a member of.
    func mayReport(on account: String, requester: String) -> Bool {
        if allow.permits(requester: requester, account: account) { return true }
        return pools.contains { name, pool in pool.members.contains(account) && allow.permits(requester: requester, account: name) }
    }

    public init(_ loaded: LoadedConfiguration, generation: Int = 0) {
        let limits = loaded.configuration.rateLimit
        self.init(
            accounts: loaded.accounts, allow: loaded.configuration.allow, reply: loaded.configuration.reply,
            rateLimits: RateLimiter(perRequester: limits.perRequester, perAccount: limits.perAccount, requesterOverrides: limits.requesters),
            generation: generation, requestQueue: loaded.configuration.requestQueue.name, workerLogins: loaded.workerLogins, pools: loaded.pools
        )
    }

    /// What a request names: an account, or a pool with its members.
    public enum Target: Sendable {
        case account(Account)
        case pool(String, members: [Account])

        /// The name asked for (the bucket of `rate_limit.per_account`).
        public var name: String {
            switch self {
            case .account(let account): account.name
            case .pool(let name, _): name
            }
        }
    }

    /// The account or pool `name` when `requester` may have it. Unknown and
    /// not-allowed read the same: nil. Allowing a pool allows none of its
    /// members by name.
    func permittedTarget(_ name: String, for requester: String) -> Target? {
        guard allow.permits(requester: requester, account: name) else { return nil }
        if let account = accounts[name] { return .account(account) }
        guard let pool = pools[name] else { return nil }
        let members = pool.members.compactMap { accounts[$0] }
        return members.isEmpty ? nil : .pool(name, members: members)
    }

    /// The account `name` when `requester` may have it. Unknown and
    /// not-allowed read the same: nil.
    @inline(__always)
    func permittedAccount(_ name: String, for requester: String) -> Account? {
        guard allow.permits(requester: requester, account: name) else { return nil }
        return accounts[name]
    }
}
