import ArgumentParser
import MFAConfig
import TOTP

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration as the worker would at start-up, and summarise it.",
        discussion: """
            Reads the file strictly (an unknown key is an error), loads and checks \
            every secret and the broker password, and prints the accounts with their \
            parameters and the requesters with their accounts. No secret is printed. \
            Exit status 0 when the worker would start with it, 1 otherwise.
            """
    )

    @OptionGroup var config: ConfigOption

    func run() throws {
        let path = try config.requiredPath()
        let loaded = try LoadedConfiguration.load(path: path)
        loaded.warnings.forEach { StandardError.print("warning: \($0)") }
        print(ConfigurationSummary(loaded).text)
    }
}

/// A secret-free summary of a loaded configuration.
struct ConfigurationSummary {
    let text: String

    init(_ loaded: LoadedConfiguration) {
        let configuration = loaded.configuration
        var lines: [String] = []
        lines.append("\(configuration.file ?? "configuration"): OK")

        let broker = configuration.broker
        let password =
            switch broker.password {
            case .url: broker.urls.contains { $0.password != nil } ? "password in the URL" : "no password"
            case .file(let path): "password from \(path)"
            case .environment(let name): "password from $\(name)"
            }
        lines.append(
            "broker: \(broker.urls.map(\.description).joined(separator: ", ")) (\(password)), prefetch \(broker.prefetch), heartbeat \(broker.heartbeatSeconds) s"
        )

        let queue = configuration.requestQueue
        var queueLine = "request queue: \(queue.name) (\(queue.type.rawValue)"
        if let dlx = queue.deadLetterExchange { queueLine += ", dead-letter exchange \(dlx)" }
        if let maxLength = queue.maxLength { queueLine += ", max length \(maxLength)" }
        if let overflow = queue.overflow { queueLine += ", overflow \(overflow.rawValue)" }
        lines.append(queueLine + ")")
        lines.append(
            "reply: TTL at most \(configuration.reply.maxTTLMilliseconds) ms, default min validity \(configuration.reply.defaultMinValidityMilliseconds) ms, default max wait \(configuration.reply.defaultMaxWaitMilliseconds) ms"
        )
        lines.append(
            "workers: \(configuration.workers.map(String.init) ?? "one per core"); log: \(configuration.log.format.rawValue), \(configuration.log.level.rawValue)"
        )

        lines.append("accounts (\(configuration.accounts.count)):")
        let nameWidth = configuration.accounts.map(\.name.count).max() ?? 0
        for settings in configuration.accounts {
            guard let account = loaded.accounts[settings.name] else { continue }
            let source =
                switch settings.secret {
                case .file(let path): "from \(path)"
                case .environment(let name): "from $\(name)"
                }
            let padded = settings.name.padding(toLength: nameWidth)
            let issue = account.issue == .oncePerWindow ? ", each window's code once (turn queue \(loaded.turnQueues[account.name] ?? "-"))" : ""
            let login = account.username.map { ", logs in as \($0)" } ?? ""
            let site = settings.site.map { ", checked against \($0.rawValue)'s rules" } ?? ""
            lines.append("  \(padded)  \(account.parameters), \(account.generator.key.bitCount)-bit key \(source)\(issue)\(login)\(site)")
        }

        if !configuration.pools.isEmpty {
            lines.append("pools (\(configuration.pools.count)):")
            let poolWidth = configuration.pools.map(\.name.count).max() ?? 0
            for pool in configuration.pools {
                let turns = loaded.turnQueues[pool.name].map { ", each window's code of each member once (turn queue \($0))" } ?? ""
                lines.append("  \(pool.name.padding(toLength: poolWidth))  \(pool.members.joined(separator: ", "))\(turns)")
            }
        }

        let requesters = configuration.allow.requesters
        lines.append("requesters (\(requesters.count)):")
        let requesterWidth = requesters.map(\.count).max() ?? 0
        for requester in requesters {
            let accounts = configuration.allow.accounts(of: requester)
            lines.append("  \(requester.padding(toLength: requesterWidth))  \(accounts.isEmpty ? "(no accounts)" : accounts.joined(separator: ", "))")
        }
        if !loaded.turnQueues.isEmpty {
            lines.append(
                "turns: at most \(configuration.turns.maxPerRequester) windows per requester and account at once; turn messages believed from \(loaded.workerLogins.joined(separator: ", "))"
            )
        }
        text = lines.joined(separator: "\n")
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
