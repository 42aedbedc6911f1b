import Foundation
import MFABroker
import MFAProtocol
import TOTP
import Yams

extension WorkerConfiguration {
    /// The environment variable that names the configuration file when no
    /// `--config` is given.
    public static let environmentVariable = "MFA_WORKER_CONFIG"

    /// Reads and decodes the file at `path`. Relative paths inside it are
    /// resolved against the file's folder.
    public static func load(path: String) throws(ConfigurationError) -> WorkerConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(file: path, keyPath: "", message: FileProblem.describe(path: path, fallback: "cannot be read as UTF-8 text"))
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try WorkerConfiguration(yaml: text, file: path, directory: directory.isEmpty ? "." : directory)
    }

    /// Decodes a configuration from YAML text, strictly: unknown keys, wrong
    /// types and values out of range are errors that name their key path.
    public init(yaml: String, file: String? = nil, directory: String = ".") throws(ConfigurationError) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(file: file, keyPath: "", line: Self.line(of: error), message: Self.describe(yamlError: error))
        }
        guard let root else {
            throw ConfigurationError(file: file, keyPath: "", message: "the file is empty")
        }
        let top = YAMLValue(node: root, path: "", file: file)
        var mapping = try top.mapping()

        self.file = file
        self.directory = directory
        broker = try Self.broker(try mapping.required("broker"), directory: directory)
        requestQueue = try Self.requestQueue(mapping.optional("request_queue"))
        reply = try Self.reply(mapping.optional("reply"))
        accounts = try Self.accounts(try mapping.required("accounts"), directory: directory)
        pools = try Self.pools(mapping.optional("pools"), accounts: accounts)
        allow = try Self.allowlist(try mapping.required("allow"), accounts: accounts, pools: pools)
        allowLooseSecretFiles = try mapping.optional("allow_loose_secret_files")?.bool() ?? false
        allowCoreDumps = try mapping.optional("allow_core_dumps")?.bool() ?? false
        workers = try mapping.optional("workers")?.int(in: 1...256)
        log = try Self.log(mapping.optional("log"))
        shutdownTimeoutSeconds = try mapping.optional("shutdown_timeout_s")?.int(in: 0...3600) ?? WorkerConfiguration.defaultShutdownTimeoutSeconds
        rateLimit = try Self.rateLimit(mapping.optional("rate_limit"), allow: allow)
        turns = try Self.turns(mapping.optional("turns"), allow: allow, login: broker.login)
        metrics = try Self.metrics(mapping.optional("metrics"))
        audit = try Self.audit(mapping.optional("audit"), directory: directory)
        try mapping.finish()
        if !broker.publisherConfirms, let account = accounts.first(where: { $0.issue == .oncePerWindow }) {
            // A window is handed out only once the broker has its record.
            throw ConfigurationError(
                file: file, keyPath: "accounts.\(account.name).issue", line: account.line, message: "once_per_window needs broker.publisher_confirms: true")
        }
        if accounts.contains(where: { $0.issue == .oncePerWindow }),
            requestQueue.name.utf8.count + RequestQueueSettings.turnQueueSuffixBytes > 255
        {
            throw ConfigurationError(
                file: file, keyPath: "request_queue.name",
                message:
                    "must be at most \(255 - RequestQueueSettings.turnQueueSuffixBytes) bytes with once_per_window accounts (their turn queues are named after it)"
            )
        }
        if allow.contains(requester: broker.login) {
            throw ConfigurationError(
                file: file, keyPath: "allow",
                message: "names the worker's own broker user '\(broker.login)' as a requester; a requester must log in as a user of its own")
        }
    }

    // MARK: - Sections

    private static func broker(_ value: YAMLValue, directory: String) throws(ConfigurationError) -> BrokerSettings {
        var mapping = try value.mapping()
        let urlValue = try mapping.required("url")
        var urlValues: [YAMLValue] = []
        if case .sequence = urlValue.node {
            urlValues = try urlValue.sequence()
            guard !urlValues.isEmpty else { throw urlValue.error("must name at least one URL") }
        } else {
            urlValues = [urlValue]
        }
        var urls: [BrokerURL] = []
        for item in urlValues {
            let text = try item.nonEmptyString()
            do {
                urls.append(try BrokerURL(parsing: text))
            } catch {
                throw item.error(error.description)
            }
        }

        let passwordFile = mapping.optional("password_file")
        let passwordEnv = mapping.optional("password_env")
        var password = PasswordSource.url
        switch (passwordFile, passwordEnv) {
        case (.some(let file), .some):
            throw file.error("give password_file or password_env, not both")
        case (.some(let file), nil):
            password = .file(resolve(try file.nonEmptyString(), against: directory))
        case (nil, .some(let env)):
            password = .environment(try environmentName(env))
        case (nil, nil):
            break
        }
        if password != .url, urls.contains(where: { $0.password != nil }) {
            throw urlValue.error("has a password while password_file or password_env is set too; keep one")
        }

        let prefetch = try mapping.optional("prefetch")?.int(in: 1...65535) ?? BrokerSettings.defaultPrefetch
        let heartbeat = try mapping.optional("heartbeat_s")?.int(in: 0...3600) ?? BrokerSettings.defaultHeartbeatSeconds
        let confirms = try mapping.optional("publisher_confirms")?.bool() ?? true
        let initial = try mapping.optional("reconnect_initial_ms")?.int(in: 1...600_000) ?? 100
        let maximumValue = mapping.optional("reconnect_max_ms")
        let maximum = try maximumValue?.int(in: 1...3_600_000) ?? 3_000
        if let maximumValue, maximum < initial {
            throw maximumValue.error("must not be less than reconnect_initial_ms (\(initial))")
        }
        let connectTimeout = try mapping.optional("connect_timeout_ms")?.int(in: 100...600_000) ?? 10_000
        let consumerTimeout = try mapping.optional("consumer_timeout_ms")?.int(in: 0...Int(Int32.max)) ?? BrokerSettings.defaultConsumerTimeoutMilliseconds
        if let first = urls.first, urls.contains(where: { $0.user != first.user }) {
            throw urlValue.error("every URL must log in as the same user: the worker publishes with its login as user_id")
        }
        let tls = try Self.tls(mapping.optional("tls"), directory: directory)
        if tls.external && password != .url {
            throw value.error("tls.external logs in with the client certificate: drop password_file and password_env")
        }
        if tls.external && (tls.certFile == nil || tls.keyFile == nil) {
            throw value.error("tls.external needs tls.cert_file and tls.key_file")
        }
        if (tls.certFile == nil) != (tls.keyFile == nil) {
            throw value.error("tls.cert_file and tls.key_file go together")
        }
        try mapping.finish()
        return BrokerSettings(
            urls: urls, password: password, prefetch: prefetch, heartbeatSeconds: heartbeat,
            publisherConfirms: confirms, reconnectInitialMilliseconds: initial,
            reconnectMaxMilliseconds: max(maximum, initial), connectTimeoutMilliseconds: connectTimeout,
            tls: tls, consumerTimeoutMilliseconds: consumerTimeout
        )
    }

    private static func requestQueue(_ value: YAMLValue?) throws(ConfigurationError) -> RequestQueueSettings {
        var settings = RequestQueueSettings(name: RequestQueueSettings.defaultName, type: .classic)
        guard let value else { return settings }
        var mapping = try value.mapping()
        if let name = mapping.optional("name") {
            settings.name = try name.nonEmptyString()
            guard settings.name.utf8.count <= 255 else { throw name.error("must be at most 255 bytes (an AMQP short string)") }
            guard !settings.name.hasPrefix("amq.") else { throw name.error("must not start with 'amq.' (reserved by the broker)") }
        }
        if let type = mapping.optional("type") {
            settings.type = try oneOf(type, RequestQueueSettings.QueueType.self)
        }
        if let dlx = mapping.optional("dead_letter_exchange") {
            settings.deadLetterExchange = try dlx.nonEmptyString()
        }
        settings.maxLength = try mapping.optional("max_length")?.int(in: 1...Int(Int32.max))
        if let overflow = mapping.optional("overflow") {
            settings.overflow = try oneOf(overflow, RequestQueueSettings.Overflow.self)
        }
        try mapping.finish()
        return settings
    }

    private static func reply(_ value: YAMLValue?) throws(ConfigurationError) -> ReplySettings {
        var settings = ReplySettings.default
        guard let value else { return settings }
        var mapping = try value.mapping()
        if let ttl = mapping.optional("max_ttl_ms") {
            settings.maxTTLMilliseconds = try ttl.int(in: 1...3_600_000)
        }
        if let minValidity = mapping.optional("default_min_validity_ms") {
            settings.defaultMinValidityMilliseconds = try minValidity.int(in: 0...3_599_000)
        }
        if let maxWait = mapping.optional("default_max_wait_ms") {
            settings.defaultMaxWaitMilliseconds = try maxWait.int(in: 0...RequestBody.largestMaxWait)
        }
        if let held = mapping.optional("max_held_per_requester") {
            settings.maxHeldPerRequester = try held.int(in: 1...1_000_000)
        }
        try mapping.finish()
        return settings
    }

    private static func rateLimit(_ value: YAMLValue?, allow: Allowlist) throws(ConfigurationError) -> RateLimitSettings {
        var settings = RateLimitSettings()
        guard let value else { return settings }
        var mapping = try value.mapping()
        settings.perRequester = try mapping.optional("per_requester").map { (item) throws(ConfigurationError) in try limit(item) }
        settings.perAccount = try mapping.optional("per_account").map { (item) throws(ConfigurationError) in try limit(item) }
        if let requesters = mapping.optional("requesters") {
            for (name, item) in try requesters.mapping().entriesByName() {
                guard allow.contains(requester: name) else {
                    throw item.error("names requester '\(name)', which is not under allow")
                }
                settings.requesters[name] = try limit(item)
            }
        }
        try mapping.finish()
        return settings
    }

    private static func turns(_ value: YAMLValue?, allow: Allowlist, login: String) throws(ConfigurationError) -> TurnSettings {
        var settings = TurnSettings()
        guard let value else { return settings }
        var mapping = try value.mapping()
        settings.maxPerRequester = try mapping.optional("max_per_requester")?.int(in: 1...10_000) ?? TurnSettings.defaultMaxPerRequester
        if let logins = mapping.optional("worker_logins") {
            var names: [String] = []
            for item in try logins.sequence() {
                let name = try item.nonEmptyString()
                guard name.utf8.count <= 255 else { throw item.error("a broker user name is at most 255 bytes") }
                guard !names.contains(where: { UserName($0) == UserName(name) }) else { throw item.error("names '\(name)' twice") }
                // A requester among the worker logins could write turns for
                // any account.
                if allow.contains(requester: name) {
                    throw item.error("names '\(name)', a requester under allow: a worker login must be a user no robot logs in as")
                }
                names.append(name)
            }
            guard names.contains(where: { UserName($0) == UserName(login) }) else {
                throw logins.error("must include the worker's own login '\(login)' (broker.url): its own records are among the messages it reads")
            }
            settings.workerLogins = names
        }
        try mapping.finish()
        return settings
    }

    private static func limit(_ value: YAMLValue) throws(ConfigurationError) -> RateLimitSettings.Limit {
        var mapping = try value.mapping()
        let rateValue = try mapping.required("rate_per_s")
        guard case .scalar(let scalar) = rateValue.node, let rate = Double(scalar.string), rate > 0, rate <= 1_000_000 else {
            throw rateValue.error("must be a number of requests per second, more than 0")
        }
        let burst = try mapping.optional("burst")?.int(in: 1...1_000_000) ?? max(1, Int(rate.rounded(.up)))
        try mapping.finish()
        return RateLimitSettings.Limit(ratePerSecond: rate, burst: burst)
    }

    private static func tls(_ value: YAMLValue?, directory: String) throws(ConfigurationError) -> TLSSettings {
        var settings = TLSSettings()
        guard let value else { return settings }
        var mapping = try value.mapping()
        settings.caFile = try mapping.optional("ca_file").map { (item) throws(ConfigurationError) in resolve(try item.nonEmptyString(), against: directory) }
        settings.certFile = try mapping.optional("cert_file").map { (item) throws(ConfigurationError) in resolve(try item.nonEmptyString(), against: directory)
        }
        settings.keyFile = try mapping.optional("key_file").map { (item) throws(ConfigurationError) in resolve(try item.nonEmptyString(), against: directory) }
        settings.external = try mapping.optional("external")?.bool() ?? false
        settings.verifyPeer = try mapping.optional("verify_peer")?.bool() ?? true
        settings.verifyHostname = try mapping.optional("verify_hostname")?.bool() ?? true
        try mapping.finish()
        for (key, path) in [("ca_file", settings.caFile), ("cert_file", settings.certFile), ("key_file", settings.keyFile)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw ConfigurationError(
                    file: value.file, keyPath: "broker.tls.\(key)", line: value.line, message: FileProblem.describe(path: path, fallback: "cannot be read"))
            }
        }
        return settings
    }

    private static func metrics(_ value: YAMLValue?) throws(ConfigurationError) -> MetricsSettings {
        guard let value else { return .default }
        var mapping = try value.mapping()
        var settings = MetricsSettings.default
        if let listen = mapping.optional("listen") {
            let text = try listen.nonEmptyString()
            if text == "off" {
                settings.host = nil
            } else {
                guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
                    throw listen.error("must be HOST:PORT (127.0.0.1:9464) or off")
                }
                var host = String(text[..<colon])
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                guard !host.isEmpty else { throw listen.error("must be HOST:PORT (127.0.0.1:9464) or off") }
                settings.host = host
                settings.port = port
            }
        }
        try mapping.finish()
        return settings
    }

    private static func audit(_ value: YAMLValue?, directory: String) throws(ConfigurationError) -> AuditSettings {
        guard let value else { return AuditSettings() }
        var mapping = try value.mapping()
        var settings = AuditSettings()
        if let path = mapping.optional("path") {
            let text = try path.nonEmptyString()
            switch text {
            case "off": settings.destination = .off
            case "stdout": settings.destination = .standardOutput
            default: settings.destination = .file(resolve(text, against: directory))
            }
        }
        if let fsync = mapping.optional("fsync") {
            settings.fsync = try oneOf(fsync, AuditSettings.Sync.self)
        }
        try mapping.finish()
        return settings
    }

    private static func log(_ value: YAMLValue?) throws(ConfigurationError) -> LogSettings {
        var settings = LogSettings.default
        guard let value else { return settings }
        var mapping = try value.mapping()
        if let format = mapping.optional("format") { settings.format = try oneOf(format, LogSettings.Format.self) }
        if let level = mapping.optional("level") { settings.level = try oneOf(level, LogSettings.Level.self) }
        try mapping.finish()
        return settings
    }

    private static func accounts(_ value: YAMLValue, directory: String) throws(ConfigurationError) -> [AccountSettings] {
        let mapping = try value.mapping()
        var accounts: [AccountSettings] = []
        for (name, accountValue) in mapping.entriesByName() {
            guard AccountName.isValid(name) else {
                throw accountValue.error("account names are 1 to 128 characters of A-Z a-z 0-9 . _ @ - (the protocol's syntax)")
            }
            var account = try accountValue.mapping()
            let file = account.optional("secret_file")
            let env = account.optional("secret_env")
            let secret: AccountSettings.SecretSource
            switch (file, env) {
            case (.some(let file), .some):
                throw file.error("give secret_file or secret_env, not both")
            case (.some(let file), nil):
                secret = .file(resolve(try file.nonEmptyString(), against: directory))
            case (nil, .some(let env)):
                secret = .environment(try environmentName(env))
            case (nil, nil):
                throw accountValue.error("needs secret_file or secret_env")
            }
            var algorithm: HashAlgorithm?
            if let value = account.optional("algorithm") {
                guard let parsed = HashAlgorithm(name: try value.string()) else {
                    throw value.error("must be SHA1, SHA256 or SHA512")
                }
                algorithm = parsed
            }
            let digits = try account.optional("digits")?.int(in: TOTPParameters.allowedDigits)
            let period = try account.optional("period")?.int(in: TOTPParameters.allowedPeriods)
            let issue = try account.optional("issue").map { (value) throws(ConfigurationError) in try oneOf(value, IssueMode.self) } ?? .shared
            let username = try account.optional("username").map { (value) throws(ConfigurationError) in try loginName(value) }
            let site = try account.optional("site").map { (value) throws(ConfigurationError) in try oneOf(value, Site.self) }
            var lockoutGuard: LockoutGuard? = LockoutGuard()
            if let value = account.optional("lockout_guard") { lockoutGuard = try decodeLockoutGuard(value) }
            try account.finish()
            accounts.append(
                AccountSettings(
                    name: name, secret: secret, algorithm: algorithm, digits: digits, period: period, issue: issue, username: username, site: site,
                    lockoutGuard: lockoutGuard, line: accountValue.line))
        }
        return accounts
    }

    /// `lockout_guard`: `off`, or a mapping whose keys default to 3
    /// failures within 3600 s pausing for 3600 s.
    private static func decodeLockoutGuard(_ value: YAMLValue) throws(ConfigurationError) -> LockoutGuard? {
        if case .scalar = value.node {
            // YAML 1.1 reads a plain `off` as false.
            guard let text = try? value.string(), ["off", "false"].contains(text) else {
                throw value.error("must be off, or a mapping of max_failures, within_s and pause_s")
            }
            return nil
        }
        var mapping = try value.mapping()
        var settings = LockoutGuard()
        if let failures = mapping.optional("max_failures") { settings.maxFailures = try failures.int(in: LockoutGuard.allowedFailures) }
        if let within = mapping.optional("within_s") { settings.withinSeconds = try within.int(in: LockoutGuard.allowedSeconds) }
        if let pause = mapping.optional("pause_s") { settings.pauseSeconds = try pause.int(in: LockoutGuard.allowedSeconds) }
        try mapping.finish()
        return settings
    }

    /// A login name as sites spell them (an e-mail address, for
    /// Salesforce): 1 to 255 bytes, none of the controls, separators and
    /// bidirectional marks that no log line may hold raw.
    private static func loginName(_ value: YAMLValue) throws(ConfigurationError) -> String {
        let text = try value.nonEmptyString()
        guard text.utf8.count <= 255, !text.unicodeScalars.contains(where: JSONText.isLineBreaking) else {
            throw value.error("a username is 1 to 255 bytes with no control, line-separator or bidirectional characters")
        }
        return text
    }

    private static func pools(_ value: YAMLValue?, accounts: [AccountSettings]) throws(ConfigurationError) -> [PoolSettings] {
        guard let value else { return [] }
        let byName = Dictionary(accounts.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var pools: [PoolSettings] = []
        var poolOf: [String: String] = [:]
        for (name, poolValue) in try value.mapping().entriesByName() {
            guard AccountName.isValid(name) else {
                throw poolValue.error("pool names are account names: 1 to 128 characters of A-Z a-z 0-9 . _ @ -")
            }
            guard byName[name] == nil else {
                throw poolValue.error("'\(name)' is an account too; an account and a pool share one namespace: a name is one or the other")
            }
            var mapping = try poolValue.mapping()
            let membersValue = try mapping.required("members")
            try mapping.finish()
            var members: [String] = []
            for item in try membersValue.sequence() {
                let member = try item.nonEmptyString()
                guard let account = byName[member] else {
                    var message = "names account '\(member)', which is not configured under accounts"
                    if let suggestion = YAMLMapping.nearest(to: member, among: byName.keys.sorted()) { message += " (did you mean '\(suggestion)'?)" }
                    throw item.error(message)
                }
                guard !members.contains(member) else { throw item.error("names account '\(member)' twice") }
                if let other = poolOf[member] {
                    throw item.error("'\(member)' is a member of pool '\(other)' already; an account is in one pool at most")
                }
                if let first = members.first.flatMap({ byName[$0] }), first.issue != account.issue {
                    throw item.error(
                        "'\(member)' has issue: \(account.issue.rawValue), '\(first.name)' issue: \(first.issue.rawValue); a pool's members hand out codes alike"
                    )
                }
                members.append(member)
                poolOf[member] = name
            }
            guard !members.isEmpty else { throw membersValue.error("a pool needs at least one member") }
            pools.append(PoolSettings(name: name, members: members, line: poolValue.line))
        }
        return pools
    }

    private static func allowlist(_ value: YAMLValue, accounts: [AccountSettings], pools: [PoolSettings]) throws(ConfigurationError) -> Allowlist {
        let known = Set(accounts.map(\.name)).union(pools.map(\.name))
        var result: [(String, Set<String>)] = []
        var seen: Set<UserName> = []
        for (requester, list) in try value.mapping().entriesByName() {
            guard !requester.isEmpty, requester.utf8.count <= 255,
                requester.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
            else {
                throw list.error("a requester is an AMQP user name: 1 to 255 bytes, no control characters")
            }
            var names: Set<String> = []
            for item in try list.sequence() {
                let name = try item.nonEmptyString()
                guard known.contains(name) else {
                    var message = "names account '\(name)', which is not configured under accounts or pools"
                    if let suggestion = YAMLMapping.nearest(to: name, among: Array(known).sorted()) {
                        message += " (did you mean '\(suggestion)'?)"
                    }
                    throw item.error(message)
                }
                guard names.insert(name).inserted else { throw item.error("names account '\(name)' twice") }
            }
            guard seen.insert(UserName(requester)).inserted else { throw list.error("names requester '\(requester)' twice") }
            result.append((requester, names))
        }
        return Allowlist(entries: result)
    }

    // MARK: - Helpers

    private static func oneOf<T: RawRepresentable & CaseIterable>(_ value: YAMLValue, _: T.Type) throws(ConfigurationError) -> T where T.RawValue == String {
        let text = try value.string()
        guard let parsed = T(rawValue: text) else {
            throw value.error("must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text.prefix(40))'")
        }
        return parsed
    }

    private static func environmentName(_ value: YAMLValue) throws(ConfigurationError) -> String {
        let name = try value.nonEmptyString()
        guard name.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
            throw value.error("must be an environment variable name (letters, digits and _)")
        }
        return name
    }

    static func resolve(_ path: String, against directory: String) -> String {
        if path.hasPrefix("/") { return path }
        return (directory as NSString).appendingPathComponent(path)
    }

    private static func line(of error: Error) -> Int? {
        guard let yamlError = error as? YamlError else { return nil }
        switch yamlError {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return mark.line
        case .duplicatedKeysInMapping(_, let context):
            return context.mark.line
        default:
            return nil
        }
    }

    /// YAML errors in our own words: Yams' own descriptions quote the file's
    /// lines, and a URL line may hold a password.
    private static func describe(yamlError error: Error) -> String {
        guard let yamlError = error as? YamlError else { return "not valid YAML" }
        switch yamlError {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _), .composer(let context, let problem, _, _):
            if let context { return "not valid YAML: \(problem) \(context.text)" }
            return "not valid YAML: \(problem)"
        case .duplicatedKeysInMapping(let duplicates, _):
            return "key '\(duplicates.joined(separator: "', '"))' appears twice in the mapping that starts here"
        case .reader(let problem, _, _, _):
            return "not valid YAML text: \(problem)"
        default:
            return "not valid YAML"
        }
    }
}

/// Words for a file that cannot be used, from `stat` and `access`.
enum FileProblem {
    static func describe(path: String, fallback: String) -> String {
        var info = stat()
        if stat(path, &info) != 0 {
            switch errno {
            case ENOENT: return "\(path) does not exist"
            case EACCES: return "\(path) cannot be reached (permission denied on a folder)"
            default: return "\(path) cannot be read: \(String(cString: strerror(errno)))"
            }
        }
        if (info.st_mode & S_IFMT) == S_IFDIR { return "\(path) is a folder, not a file" }
        if access(path, R_OK) != 0 { return "\(path) is not readable by this user (uid \(getuid()))" }
        return "\(path) \(fallback)"
    }
}
