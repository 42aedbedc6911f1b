import AMQP
import ArgumentParser
import Foundation
import MFABurst
import MFAConfig
import TOTP

struct BurstCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "burst",
        abstract: "Load-test the worker with concurrent login bursts.",
        discussion: """
            Opens --connections connections (requester logins from --logins, used \
            round-robin, else the one of --url), spreads --requests over them and \
            keeps --inflight requests in flight on each. --at-once connects them all \
            first and fires at one instant. A progress line goes to stderr on a \
            terminal; then a report: sent, ok, errors by kind, timeouts, wrong codes \
            (with --verify-secret-file), requests/s, and latency p50/p90/p99/max \
            from an HDR histogram; and per account, how many codes each window \
            served and how long the requests that got one waited (with issue: \
            once_per_window, one code per window, and a burst of N waits up to N \
            windows). --account may be given more than once: requests ask for the \
            accounts in turn. --json prints the report as JSON.
            """
    )

    @Option(help: ArgumentHelp("An account to ask for; repeat it to ask for several in turn.", valueName: "name"))
    var account: [String]

    @Option(help: ArgumentHelp("Connections (default 1).", valueName: "k"))
    var connections = 1

    @Option(help: ArgumentHelp("Requests in all, spread over the connections (default 1000).", valueName: "n"))
    var requests = 1000

    @Option(help: ArgumentHelp("Requests in flight per connection (default 1).", valueName: "w"))
    var inflight = 1

    @Flag(help: "Connect every connection first, then fire them all at one instant.")
    var atOnce = false

    @Option(help: ArgumentHelp("A file of requester logins, one user:password per line.", valueName: "path"))
    var logins: String?

    @Option(help: ArgumentHelp("min_validity_ms for every request.", valueName: "ms"))
    var minValidityMs: Int?

    @Option(help: ArgumentHelp("max_wait_ms for every request (else the worker's default).", valueName: "ms"))
    var maxWaitMs: Int?

    @Option(help: ArgumentHelp("Seconds after which an unanswered request counts as a timeout (default 10).", valueName: "seconds"))
    var timeout: Double = 10

    @Option(help: ArgumentHelp("The account's key (base32 or otpauth URI), to check every code independently; with several --account, one per account, in their order.", valueName: "path"))
    var verifySecretFile: [String] = []

    @OptionGroup var totp: TOTPOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    @OptionGroup var broker: BrokerOptions

    func validate() throws {
        guard connections >= 1 && connections <= 5000 else { throw ValidationError("--connections must be 1 to 5000") }
        guard requests >= 1 else { throw ValidationError("--requests must be at least 1") }
        guard inflight >= 1 && inflight <= 10_000 else { throw ValidationError("--inflight must be 1 to 10000") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard !account.isEmpty else { throw ValidationError("give at least one --account") }
        guard verifySecretFile.isEmpty || verifySecretFile.count == account.count else {
            throw ValidationError("give one --verify-secret-file per --account (\(account.count)), or none")
        }
    }

    func run() throws {
        let client = try broker.clientConfiguration(connectionName: "mfa-worker burst")
        guard let url = client.urls.first else { throw CommandFailure("no broker URL") }
        var loginList: [BurstSettings.Login]
        if let logins {
            guard let text = try? String(contentsOfFile: logins, encoding: .utf8) else {
                throw CommandFailure("cannot read the logins file \(logins)")
            }
            loginList = try BurstSettings.parseLogins(text)
        } else {
            loginList = [BurstSettings.Login(user: client.user, password: client.password ?? url.password ?? "")]
        }

        var verifiers: [String: TOTPGenerator] = [:]
        for (name, path) in zip(account, verifySecretFile) {
            var text = try SecretFile.read(path: path, allowLoose: true) { ConfigurationError(keyPath: "--verify-secret-file", message: $0) }
            defer { SecretBytes.wipe(&text) }
            let keyText: KeyText
            do { keyText = try KeyText(utf8: text) } catch { throw CommandFailure("the verification key of \(name) is \(error)") }
            verifiers[name] = TOTPGenerator(key: keyText.key, parameters: try totp.parameters(uri: keyText.uriParameters))
        }

        let settings = BurstSettings(
            url: url, tls: client.tls, logins: loginList, requestQueue: client.requestQueue, accounts: account,
            connections: connections, requests: requests, inflight: inflight, atOnce: atOnce,
            minValidityMilliseconds: minValidityMs, maxWaitMilliseconds: maxWaitMs, timeoutMilliseconds: Int(timeout * 1000), verifiers: verifiers
        )
        let showProgress = isatty(STDERR_FILENO) == 1
        let report = Burst(settings).run { sent, answered, elapsed in
            guard showProgress else { return }
            let rate = elapsed > 0 ? Int(Double(answered) / elapsed) : 0
            FileHandle.standardError.write(Data("\r\u{1B}[2Kburst: sent \(sent)/\(requests), answered \(answered), \(rate) requests/s".utf8))
        }
        if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }

        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
        let failed = report.ok < report.requests || (report.wrongCodes ?? 0) > 0
        if failed { throw ExitCode(1) }
    }
}
