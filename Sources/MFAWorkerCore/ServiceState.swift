import MFAConfig
import TOTP

/// What deciding a request needs: accounts, allowlist and reply settings.
/// Immutable; every consumer thread shares one, and a reload swaps in a new
/// one whole.
public struct ServiceState: Sendable {
    public let accounts: [String: Account]
    public let allow: Allowlist
    public let reply: ReplySettings
    public let rateLimits: RateLimiter
    /// Counts reloads: 0 for the state loaded at start-up.
    public let generation: Int

    public init(accounts: [String: Account], allow: Allowlist, reply: ReplySettings, rateLimits: RateLimiter = RateLimiter(), generation: Int = 0) {
        self.accounts = accounts
        self.allow = allow
        self.reply = reply
        self.rateLimits = rateLimits
        self.generation = generation
    }

    public init(_ loaded: LoadedConfiguration, generation: Int = 0) {
        let limits = loaded.configuration.rateLimit
        self.init(
            accounts: loaded.accounts, allow: loaded.configuration.allow, reply: loaded.configuration.reply,
            rateLimits: RateLimiter(perRequester: limits.perRequester, perAccount: limits.perAccount, requesterOverrides: limits.requesters),
            generation: generation
        )
    }

    /// The account `name` when `requester` may have it. Unknown and
    /// not-allowed read the same: nil.
    @inline(__always)
    func permittedAccount(_ name: String, for requester: String) -> Account? {
        guard allow.permits(requester: requester, account: name) else { return nil }
        return accounts[name]
    }
}
