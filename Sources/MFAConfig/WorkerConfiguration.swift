import MFABroker
import MFAProtocol
import TOTP

/// Everything the configuration file says, decoded and checked, before any
/// secret is read. Secrets come in through ``LoadedConfiguration``.
public struct WorkerConfiguration: Sendable {
    /// The file it was read from, as given.
    public var file: String?
    /// The folder that relative paths (secret files) are resolved against.
    public var directory: String

    public var broker: BrokerSettings
    public var requestQueue: RequestQueueSettings
    public var reply: ReplySettings
    /// Accounts by name, in file order.
    public var accounts: [AccountSettings]
    /// Pools of accounts a request may name instead of an account, in file
    /// order.
    public var pools: [PoolSettings] = []
    public var allow: Allowlist
    /// Accept secret files readable by group or others (as ssh would not).
    public var allowLooseSecretFiles: Bool
    /// Let the process dump core (for debugging): a core file holds every
    /// key, so `run` forbids it unless this is set.
    public var allowCoreDumps: Bool = false
    /// Consumer threads, each with its own connection; nil = one per core.
    public var workers: Int?
    public var log: LogSettings
    /// How long a graceful shutdown may wait for replies held for their
    /// window before answering them `unavailable`.
    public var shutdownTimeoutSeconds: Int
    public var rateLimit: RateLimitSettings
    public var turns: TurnSettings
    public var metrics: MetricsSettings
    public var audit: AuditSettings

    public static let defaultShutdownTimeoutSeconds = 30

    public func account(named name: String) -> AccountSettings? {
        accounts.first { $0.name == name }
    }

    /// The pool an account is a member of (an account is in one at most).
    public func pool(of account: String) -> PoolSettings? {
        pools.first { $0.members.contains(account) }
    }
}

/// `pools.NAME`: accounts that stand in for each other (automation users of
/// one site with the same rights). A request that names the pool gets the
/// code of the member that can give the earliest window that suits it.
public struct PoolSettings: Sendable, Equatable {
    public var name: String
    /// Account names, in file order; all of one `issue` mode.
    public var members: [String]
    public var line: Int?

    public init(name: String, members: [String], line: Int? = nil) {
        self.name = name
        self.members = members
        self.line = line
    }
}

public struct BrokerSettings: Sendable, Equatable {
    /// One URL, or several (a cluster's nodes), tried in order.
    public var urls: [BrokerURL]
    public var password: PasswordSource
    /// Unacknowledged deliveries per consumer (`basic.qos`).
    public var prefetch: Int
    /// AMQP heartbeat in seconds; 0 turns heartbeats off.
    public var heartbeatSeconds: Int
    /// Ack a request only once the broker confirmed its reply.
    public var publisherConfirms: Bool
    /// Reconnection backoff: the first delay and the largest, in ms.
    public var reconnectInitialMilliseconds: Int
    public var reconnectMaxMilliseconds: Int
    /// Limit on connecting, the handshake and each synchronous call.
    public var connectTimeoutMilliseconds: Int
    /// TLS settings for `amqps://` URLs.
    public var tls: TLSSettings
    /// The broker's `consumer_timeout` (how long it lets a delivery go
    /// unacknowledged before it closes the channel); 0: none. The turn
    /// thread renews or acknowledges what it holds well within it.
    public var consumerTimeoutMilliseconds: Int = BrokerSettings.defaultConsumerTimeoutMilliseconds

    /// The user the worker logs in as: the URL's (every URL names the
    /// same one). It publishes its turns, records, fences and replies
    /// with this `user_id`, which the broker checks.
    public var login: String {
        urls.first?.user ?? (tls.external ? "mfa-worker" : "guest")
    }

    /// With publisher confirms a request holds its place until the broker
    /// confirms the reply: a round trip more than a consumer that acks as it
    /// publishes. 64 left the throughput load (256 in flight) waiting for
    /// room; docs/performance.md has the measurements.
    public static let defaultPrefetch = 256
    /// RabbitMQ's default `consumer_timeout`: 30 minutes.
    public static let defaultConsumerTimeoutMilliseconds = 1_800_000
    public static let defaultHeartbeatSeconds = 30
}

/// Where the broker password comes from.
public enum PasswordSource: Sendable, Equatable {
    /// In the URL, or no password at all.
    case url
    /// A file holding the password (trailing newline ignored); absolute path.
    case file(String)
    /// An environment variable.
    case environment(String)
}

public struct RequestQueueSettings: Sendable, Equatable {
    public enum QueueType: String, Sendable, CaseIterable {
        case classic, quorum
    }

    public enum Overflow: String, Sendable, CaseIterable {
        case dropHead = "drop-head"
        case rejectPublish = "reject-publish"
        case rejectPublishDLX = "reject-publish-dlx"
    }

    public var name: String
    public var type: QueueType
    public var deadLetterExchange: String?
    public var maxLength: Int?
    public var overflow: Overflow?

    public init(
        name: String = RequestQueueSettings.defaultName, type: QueueType = .classic, deadLetterExchange: String? = nil, maxLength: Int? = nil,
        overflow: Overflow? = nil
    ) {
        self.name = name
        self.type = type
        self.deadLetterExchange = deadLetterExchange
        self.maxLength = maxLength
        self.overflow = overflow
    }

    public static let defaultName = ProtocolConstants.defaultRequestQueue

    /// The turn queue of a `once_per_window` account: next to the request
    /// queue, so that the same permissions can cover it, and named by a
    /// keyed hash of the account under the account's own key (HMAC-SHA256,
    /// 128 bits in hex), so that the name tells nothing about the account
    /// to anyone without the key, and every replica computes the same one.
    public func turnQueueName(account: String, key: SecretKey) -> String {
        let digest = KeyedDigest.sha256(key: key, message: Array(Self.turnQueueLabel.utf8) + Array(account.utf8))
        let hex = Array("0123456789abcdef".utf8)
        var suffix: [UInt8] = []
        for byte in digest.prefix(16) {
            suffix.append(hex[Int(byte >> 4)])
            suffix.append(hex[Int(byte & 15)])
        }
        return "\(name).turns.\(String(decoding: suffix, as: UTF8.self))"
    }

    /// The turn queue of a pool of `once_per_window` accounts: as an
    /// account's, hashed under its first member's key, with a label of its
    /// own (a pool and an account never share a name).
    public func turnQueueName(pool: String, key: SecretKey) -> String {
        turnQueueName(account: "pool\u{0}" + pool, key: key)
    }

    /// What the turn queue's name hashes before the account (domain
    /// separation from every other use of the key).
    static let turnQueueLabel = "mfa-worker turn queue v1\u{0}"
    /// `.turns.` and 32 hex digits.
    public static let turnQueueSuffixBytes = 39

    /// The name turn queues had before they were hashed (up to 0.9): still
    /// known, to warn about queues left from then.
    public func legacyTurnQueueName(_ account: String) -> String {
        "\(name).turns.\(account)"
    }
}

public struct ReplySettings: Sendable, Equatable {
    /// The longest TTL a reply gets, in ms; error replies get exactly this.
    public var maxTTLMilliseconds: Int
    /// `min_validity_ms` for requests that do not say.
    public var defaultMinValidityMilliseconds: Int
    /// `max_wait_ms` for requests that do not say: the longest a request
    /// waits for its window before it is answered `busy`.
    public var defaultMaxWaitMilliseconds: Int
    /// Requests one requester may have held for their window at once
    /// (`min_validity_ms`) on one consumer thread; past them, `busy`.
    public var maxHeldPerRequester: Int

    public init(
        maxTTLMilliseconds: Int, defaultMinValidityMilliseconds: Int, defaultMaxWaitMilliseconds: Int = ReplySettings.standardMaxWaitMilliseconds,
        maxHeldPerRequester: Int = ReplySettings.standardMaxHeldPerRequester
    ) {
        self.maxTTLMilliseconds = maxTTLMilliseconds
        self.defaultMinValidityMilliseconds = defaultMinValidityMilliseconds
        self.defaultMaxWaitMilliseconds = defaultMaxWaitMilliseconds
        self.maxHeldPerRequester = maxHeldPerRequester
    }

    public static let standardMaxHeldPerRequester = 1000

    public static let standardMaxWaitMilliseconds = 60_000
    /// A code with less than 5 s left is likely to expire before a robot
    /// has typed it, and a wrong code counts towards the site's lockout.
    public static let standardMinValidityMilliseconds = 5_000
    public static let `default` = ReplySettings(maxTTLMilliseconds: 30_000, defaultMinValidityMilliseconds: standardMinValidityMilliseconds)
}

public struct LogSettings: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable { case text, json }
    public enum Level: String, Sendable, CaseIterable { case trace, debug, info, notice, warning, error, critical }

    public var format: Format
    public var level: Level

    public init(format: Format, level: Level) {
        self.format = format
        self.level = level
    }

    public static let `default` = LogSettings(format: .text, level: .info)
}

/// One account as configured: where its secret is and its parameters.
public struct AccountSettings: Sendable, Equatable {
    public enum SecretSource: Sendable, Equatable {
        /// An absolute path (relative paths are resolved at decoding).
        case file(String)
        case environment(String)
    }

    public var name: String
    public var secret: SecretSource
    /// Parameters the file sets explicitly; the rest come from the secret's
    /// `otpauth://` URI or the defaults.
    public var algorithm: HashAlgorithm?
    public var digits: Int?
    public var period: Int?
    /// Who may have each window's code.
    public var issue: IssueMode = .shared
    /// The login the code is for (`username`), sent in replies so that a
    /// robot handed a pool member knows whom to log in as.
    public var username: String?
    /// The site whose rules the account's parameters must keep (`site`).
    public var site: Site?
    /// When failed logins pause the account (`lockout_guard`; nil: `off`).
    public var lockoutGuard: LockoutGuard? = LockoutGuard()
    /// Line of the account in the file, for messages.
    public var line: Int?

    public init(
        name: String, secret: SecretSource, algorithm: HashAlgorithm? = nil, digits: Int? = nil, period: Int? = nil, issue: IssueMode = .shared,
        username: String? = nil, site: Site? = nil, lockoutGuard: LockoutGuard? = LockoutGuard(), line: Int? = nil
    ) {
        self.lockoutGuard = lockoutGuard
        self.name = name
        self.secret = secret
        self.algorithm = algorithm
        self.digits = digits
        self.period = period
        self.issue = issue
        self.username = username
        self.site = site
        self.line = line
    }
}

/// A site whose TOTP rules an account is checked against (`accounts.NAME.site`).
public enum Site: String, Sendable, CaseIterable {
    /// Salesforce's authenticator-app verification: SHA1, 6 digits, 30 s;
    /// its own keys are 160-bit.
    case salesforce

    /// The only parameters the site accepts.
    public var parameters: TOTPParameters {
        switch self {
        case .salesforce: .default
        }
    }

    /// The key length the site itself issues; shorter keys are warned about.
    public var keyBits: Int {
        switch self {
        case .salesforce: 160
        }
    }
}

/// How an account hands out the code of a window.
public enum IssueMode: String, Sendable, CaseIterable {
    /// Every request in a window gets that window's code (RFC 6238's usual
    /// generator).
    case shared
    /// Each window's code goes to one request only, across every worker on
    /// the broker: a verifier that refuses a code twice never sees one twice.
    case oncePerWindow = "once_per_window"
}

/// A broker user name, compared as bytes. Swift's `String` equality is
/// Unicode canonical equivalence: `rpa-bot-e` + U+0301 would equal
/// `rpa-bot-é` (U+00E9), yet the broker sees two users. Hashing and
/// comparing read the UTF-8 in place, without a copy.
public struct UserName: Hashable, Sendable, CustomStringConvertible {
    public let text: String

    public init(_ text: String) { self.text = text }

    public static func == (left: UserName, right: UserName) -> Bool {
        left.text.utf8.elementsEqual(right.text.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        var text = self.text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    public var description: String { text }
}

/// Which requester (the broker-checked AMQP user) may have which accounts'
/// codes. Requesters are told apart by their bytes (``UserName``).
public struct Allowlist: Sendable, Equatable {
    private var accountsByRequester: [UserName: Set<String>]

    public init(_ accountsByRequester: [String: Set<String>] = [:]) {
        self.init(entries: accountsByRequester.map { ($0.key, $0.value) })
    }

    /// From (requester, accounts) pairs; a requester named twice (as bytes)
    /// keeps its last list.
    public init(entries: [(String, Set<String>)]) {
        var byRequester: [UserName: Set<String>] = [:]
        for (requester, accounts) in entries { byRequester[UserName(requester)] = accounts }
        accountsByRequester = byRequester
    }

    @inline(__always)
    public func permits(requester: String, account: String) -> Bool {
        accountsByRequester[UserName(requester)]?.contains(account) ?? false
    }

    public var requesters: [String] { accountsByRequester.keys.map(\.text).sorted() }

    /// Whether `name` is a requester, as bytes.
    public func contains(requester name: String) -> Bool {
        accountsByRequester[UserName(name)] != nil
    }

    public func accounts(of requester: String) -> [String] {
        (accountsByRequester[UserName(requester)] ?? []).sorted()
    }
}

/// `rate_limit`: token buckets per requester, and per account across
/// requesters. Absent: no limit.
public struct RateLimitSettings: Sendable, Equatable {
    public struct Limit: Sendable, Equatable {
        public var ratePerSecond: Double
        public var burst: Int
        public init(ratePerSecond: Double, burst: Int) {
            self.ratePerSecond = ratePerSecond
            self.burst = burst
        }
    }

    public var perRequester: Limit?
    public var perAccount: Limit?
    /// Per-requester limits that replace `perRequester` for them.
    public var requesters: [String: Limit]

    public init(perRequester: Limit? = nil, perAccount: Limit? = nil, requesters: [String: Limit] = [:]) {
        self.perRequester = perRequester
        self.perAccount = perAccount
        self.requesters = requesters
    }
}

/// `turns`: how `once_per_window` accounts' turn queues are guarded.
public struct TurnSettings: Sendable, Equatable {
    /// Windows of one account a requester may hold at once (given, not yet
    /// answered); past them, `busy` at once.
    public var maxPerRequester: Int
    /// The broker logins whose messages in a turn queue are believed
    /// (replicas that log in as other users); nil: the worker's own login.
    public var workerLogins: [String]?

    public init(maxPerRequester: Int = TurnSettings.defaultMaxPerRequester, workerLogins: [String]? = nil) {
        self.maxPerRequester = maxPerRequester
        self.workerLogins = workerLogins
    }

    public static let defaultMaxPerRequester = 3
}

/// `broker.tls`: how `amqps://` connections check the broker and present
/// themselves.
public struct TLSSettings: Sendable, Equatable {
    /// CA certificates (PEM) the broker's certificate must chain to; absent:
    /// the system's.
    public var caFile: String?
    /// A client certificate and its key (PEM).
    public var certFile: String?
    public var keyFile: String?
    /// Log in with the client certificate (EXTERNAL, through RabbitMQ's
    /// rabbitmq_auth_mechanism_ssl plugin) instead of a password.
    public var external: Bool
    public var verifyPeer: Bool
    public var verifyHostname: Bool

    public init(
        caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, external: Bool = false, verifyPeer: Bool = true, verifyHostname: Bool = true
    ) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.external = external
        self.verifyPeer = verifyPeer
        self.verifyHostname = verifyHostname
    }

    /// Warnings to log at every start: checks turned off.
    public var warnings: [String] {
        var warnings: [String] = []
        if !verifyPeer {
            warnings.append("broker.tls.verify_peer is false: the broker's certificate is not checked, so anyone on the path can pose as the broker")
        }
        if !verifyHostname { warnings.append("broker.tls.verify_hostname is false: any certificate of the CA is accepted for any broker name") }
        return warnings
    }
}

/// `metrics`: Prometheus text and health on an HTTP listener.
public struct MetricsSettings: Sendable, Equatable {
    /// `host:port`, or nil when `listen: off`.
    public var host: String?
    public var port: Int

    public init(host: String? = "127.0.0.1", port: Int = 9464) {
        self.host = host
        self.port = port
    }

    public static let `default` = MetricsSettings()
    public var isEnabled: Bool { host != nil }
}

/// `audit`: one JSON line per issuance and per denial, never the code.
public struct AuditSettings: Sendable, Equatable {
    public enum Destination: Sendable, Equatable {
        case off
        case standardOutput
        /// An absolute path; lines are appended.
        case file(String)
    }

    /// How often the file is put on disk (`fdatasync`): each record reaches
    /// the kernel before its reply is published whatever this says, so a
    /// crash of the worker loses none; this is about a crash of the machine.
    public enum Sync: String, Sendable, CaseIterable {
        /// When the kernel does.
        case off
        /// At most once a second, when records came.
        case interval
        /// After every record (each audited reply waits for the disk).
        case every
    }

    public var destination: Destination
    public var fsync: Sync

    public init(destination: Destination = .off, fsync: Sync = .off) {
        self.destination = destination
        self.fsync = fsync
    }
}

/// When failed logins pause an account (`accounts.NAME.lockout_guard`):
/// `maxFailures` failure outcomes within `within` seconds pause it for
/// `pause` seconds, before the site locks the user out (Salesforce locks
/// a user for about an hour after a few wrong codes).
public struct LockoutGuard: Sendable, Equatable {
    public var maxFailures: Int
    public var withinSeconds: Int
    public var pauseSeconds: Int

    public init(maxFailures: Int = 3, withinSeconds: Int = 3600, pauseSeconds: Int = 3600) {
        self.maxFailures = maxFailures
        self.withinSeconds = withinSeconds
        self.pauseSeconds = pauseSeconds
    }

    public static let allowedFailures = 1...100
    /// Up to 12 hours each: the guard log keeps two days, which covers a
    /// pause and the failures and handouts that led to it.
    public static let allowedSeconds = 1...43_200
}
