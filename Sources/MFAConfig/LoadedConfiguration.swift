import Foundation
import TOTP

/// An account ready to serve: its name and its generator (key and
/// parameters).
public struct Account: Sendable, CustomStringConvertible {
    public let name: String
    public let generator: TOTPGenerator
    public let issue: IssueMode
    /// The login the code is for, sent in replies (none: not sent).
    public let username: String?
    /// When failed logins pause the account (nil: never).
    public let lockoutGuard: LockoutGuard?

    public init(
        name: String, generator: TOTPGenerator, issue: IssueMode = .shared, username: String? = nil, lockoutGuard: LockoutGuard? = LockoutGuard()
    ) {
        self.name = name
        self.lockoutGuard = lockoutGuard
        self.generator = generator
        self.issue = issue
        self.username = username
    }

    public var parameters: TOTPParameters { generator.parameters }
    public var description: String { "\(name) (\(parameters), \(generator.key.bitCount)-bit key)" }
}

/// One turn queue and the `once_per_window` accounts whose windows it
/// hands out: one account, or the members of a pool, whose turns must be
/// decided in one place (a request for the pool takes any member's window).
public struct TurnGroup: Sendable, Equatable {
    public let queue: String
    public let accounts: [String]
    /// The pool, when the group is one.
    public let pool: String?

    public init(queue: String, accounts: [String], pool: String? = nil) {
        self.queue = queue
        self.accounts = accounts
        self.pool = pool
    }

    /// The names whose turns the queue carries: the accounts and the pool.
    public var names: [String] { accounts + (pool.map { [$0] } ?? []) }
}

/// A configuration with every secret loaded and checked: what `run` serves
/// and what `check-config` validates.
public struct LoadedConfiguration: Sendable {
    public let configuration: WorkerConfiguration
    /// Accounts by name.
    public let accounts: [String: Account]
    /// The broker password from `password_file`, `password_env` or the URL.
    public let brokerPassword: Password?
    /// Things worth saying that do not stop the worker (short keys).
    public let warnings: [String]
    /// Pools by name.
    public let pools: [String: PoolSettings]
    /// The turn queues, each with the accounts (and pool) it decides for,
    /// sorted by queue name.
    public let turnGroups: [TurnGroup]
    /// The turn queue of each `once_per_window` account and pool, by name.
    public var turnQueues: [String: String] {
        var names: [String: String] = [:]
        for group in turnGroups {
            for name in group.names { names[name] = group.queue }
        }
        return names
    }
    /// `broker.tls.key_file`, opened and checked as a secret file and kept
    /// open: OpenSSL reads the key through `/proc/self/fd/N`, the very file
    /// that was checked, on every connection.
    public let tlsKeyPath: String?

    /// Loads every account's secret. Errors name the account and the file or
    /// variable, never the secret.
    public init(_ configuration: WorkerConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) {
        var accounts: [String: Account] = [:]
        var warnings: [String] = []
        for settings in configuration.accounts {
            let (account, warning) = try SecretLoader(configuration: configuration, environment: environment).load(settings)
            accounts[settings.name] = account
            if let warning { warnings.append(warning) }
        }
        self.brokerPassword = try Self.password(of: configuration, environment: environment)
        self.configuration = configuration
        self.accounts = accounts
        self.warnings = warnings
        pools = Dictionary(configuration.pools.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        turnGroups = Self.turnGroups(of: accounts, pools: configuration.pools, queue: configuration.requestQueue)
        tlsKeyPath = try configuration.broker.tls.keyFile.map { (path) throws(ConfigurationError) in
            let descriptor = try SecretFile.open(path: path, allowLoose: configuration.allowLooseSecretFiles, forWriting: false) { message in
                ConfigurationError(file: configuration.file, keyPath: "broker.tls.key_file", message: message)
            }
            return "/proc/self/fd/\(descriptor)"
        }
    }

    /// A turn queue per `once_per_window` account outside pools, named by
    /// its key; one per pool of such accounts, named by the pool's name under
    /// its first member's key.
    private static func turnGroups(of accounts: [String: Account], pools: [PoolSettings], queue: RequestQueueSettings) -> [TurnGroup] {
        var groups: [TurnGroup] = []
        var pooled: Set<String> = []
        for pool in pools {
            guard let first = accounts[pool.members[0]], first.issue == .oncePerWindow else { continue }
            pooled.formUnion(pool.members)
            groups.append(TurnGroup(queue: queue.turnQueueName(pool: pool.name, key: first.generator.key), accounts: pool.members, pool: pool.name))
        }
        for account in accounts.values where account.issue == .oncePerWindow && !pooled.contains(account.name) {
            groups.append(TurnGroup(queue: queue.turnQueueName(account: account.name, key: account.generator.key), accounts: [account.name]))
        }
        return groups.sorted { $0.queue < $1.queue }
    }

    private static func password(of configuration: WorkerConfiguration, environment: [String: String]) throws(ConfigurationError) -> Password? {
        switch configuration.broker.password {
        case .url:
            return configuration.broker.urls.first?.password.map(Password.init)
        case .file(let path):
            var bytes = try SecretFile.read(path: path, allowLoose: configuration.allowLooseSecretFiles, maxBytes: 1024) { message in
                ConfigurationError(file: configuration.file, keyPath: "broker.password_file", message: message)
            }
            defer { SecretBytes.wipe(&bytes) }
            // One trailing newline is the file's, not the password's.
            if bytes.last == 0x0A { bytes.removeLast() }
            if bytes.last == 0x0D { bytes.removeLast() }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw ConfigurationError(file: configuration.file, keyPath: "broker.password_file", message: "\(path) is not UTF-8 text")
            }
            return Password(text)
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw ConfigurationError(file: configuration.file, keyPath: "broker.password_env", message: "environment variable \(name) is not set or empty")
            }
            return Password(value)
        }
    }

    /// The running configuration after a reload: `next`'s accounts, `allow`,
    /// `reply` and rate limits, `running`'s everything else.
    public init(merging next: LoadedConfiguration, into running: LoadedConfiguration) {
        var configuration = running.configuration
        configuration.accounts = next.configuration.accounts
        configuration.pools = next.configuration.pools
        configuration.allow = next.configuration.allow
        configuration.reply = next.configuration.reply
        configuration.rateLimit = next.configuration.rateLimit
        self.configuration = configuration
        accounts = next.accounts
        brokerPassword = running.brokerPassword
        warnings = next.warnings
        pools = next.pools
        turnGroups = next.turnGroups
        tlsKeyPath = running.tlsKeyPath
    }

    /// The accounts that hand out each window once, sorted.
    public var oncePerWindowAccounts: [String] {
        turnGroups.flatMap(\.accounts).sorted()
    }

    /// The broker logins whose messages in a turn queue the worker
    /// believes: `turns.worker_logins`, or its own.
    public var workerLogins: [String] {
        configuration.turns.workerLogins ?? [configuration.broker.login]
    }

    /// Reads the file at `path` and loads its secrets.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> LoadedConfiguration
    {
        try LoadedConfiguration(WorkerConfiguration.load(path: path), environment: environment)
    }
}

/// Reads one account's secret from its file or variable and checks it.
struct SecretLoader {
    let configuration: WorkerConfiguration
    let environment: [String: String]

    /// Whether `bytes` are UTF-8, checked in place (no `String` of the
    /// secret is made).
    static func isUTF8(_ bytes: [UInt8]) -> Bool {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    func load(_ settings: AccountSettings) throws(ConfigurationError) -> (Account, warning: String?) {
        let keyPath = "accounts.\(settings.name)"
        func fail(_ key: String, _ message: String) -> ConfigurationError {
            ConfigurationError(file: configuration.file, keyPath: "\(keyPath).\(key)", line: settings.line, message: message)
        }

        // The key's text stays in bytes of our own, wiped once decoded.
        var text: [UInt8]
        let sourceKey: String
        switch settings.secret {
        case .file(let path):
            sourceKey = "secret_file"
            text = try SecretFile.read(path: path, allowLoose: configuration.allowLooseSecretFiles) { message in
                fail(sourceKey, message)
            }
        case .environment(let name):
            sourceKey = "secret_env"
            guard let value = environment[name], !value.isEmpty else {
                throw fail(sourceKey, "environment variable \(name) is not set or empty")
            }
            text = Array(value.utf8)
        }
        defer { SecretBytes.wipe(&text) }
        if case .file(let path) = settings.secret, !Self.isUTF8(text) {
            throw fail(sourceKey, "\(path) is not UTF-8 text")
        }

        let keyText: KeyText
        do {
            keyText = try KeyText(utf8: text)
        } catch {
            throw fail(sourceKey, "the secret is \(error)")
        }

        // Explicit keys win over the defaults; they must agree with a URI.
        let uri = keyText.uriParameters
        if let uri {
            if let algorithm = settings.algorithm, algorithm != uri.algorithm {
                throw fail("algorithm", "is \(algorithm.rawValue) but the secret's otpauth URI says \(uri.algorithm.rawValue)")
            }
            if let digits = settings.digits, digits != uri.digits {
                throw fail("digits", "is \(digits) but the secret's otpauth URI says \(uri.digits)")
            }
            if let period = settings.period, period != uri.period {
                throw fail("period", "is \(period) but the secret's otpauth URI says \(uri.period)")
            }
        }
        let base = uri ?? .default
        let parameters: TOTPParameters
        do {
            parameters = try TOTPParameters(
                algorithm: settings.algorithm ?? base.algorithm,
                digits: settings.digits ?? base.digits,
                period: settings.period ?? base.period
            )
        } catch {
            throw fail("", error.description)
        }

        if let site = settings.site, parameters != site.parameters {
            throw fail(
                "site",
                "\(site.rawValue) accepts \(site.parameters) only; this account's parameters are \(parameters) (from algorithm/digits/period or the secret's otpauth URI)"
            )
        }

        var warning: String?
        switch KeyStrength(keyText.key) {
        case .tooShort(let bits):
            throw fail(
                sourceKey, "the key has \(bits) bits; at least \(KeyStrength.minimumBits) are required (RFC 4226 asks for \(KeyStrength.recommendedBits))")
        case .weak(let bits):
            warning = "\(keyPath): the key has \(bits) bits, under the \(KeyStrength.recommendedBits) that RFC 4226 asks for"
        case .acceptable:
            if let site = settings.site, keyText.key.bitCount < site.keyBits {
                warning = "\(keyPath): the key has \(keyText.key.bitCount) bits; \(site.rawValue) issues \(site.keyBits)-bit keys: was it copied whole?"
            }
        }
        let generator = TOTPGenerator(key: keyText.key, parameters: parameters)
        return (
            Account(name: settings.name, generator: generator, issue: settings.issue, username: settings.username, lockoutGuard: settings.lockoutGuard), warning
        )
    }
}

/// A password that never describes itself.
public struct Password: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The password itself, for the login call only.
    public let text: String

    public init(_ text: String) { self.text = text }

    public var description: String { "***" }
    public var debugDescription: String { "Password(redacted)" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}
