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
            Closed loop (the default): opens --connections connections (requester \
            logins from --logins, used round-robin, else the one of --url), spreads \
            --requests over them and keeps --inflight requests in flight on each; \
            each connection sends its next request when an answer comes back. \
            --at-once connects them all first and fires at one instant.

            Open loop (--rate R --duration D): requests go out on a schedule, R per \
            second for D (30s, 2m, ...), spread over --connections, whatever the \
            answers do, and each latency runs from the time the schedule gave the \
            request. --rate A:B --ramp T rises from A to B over the first T of D, \
            then holds B. A progress line goes to stderr every second; if the \
            generator cannot keep the schedule, the report says how far behind it \
            fell.

            The report: sent, ok, errors by kind, timeouts, wrong codes (with \
            --verify-secret-file), the rate, latency percentiles from an HDR \
            histogram, in open loop the run second by second, and per account how \
            many codes each window served and how long the requests that got one \
            waited. --account may be given more than once: requests ask for the \
            accounts in turn. --json prints it as JSON, with the latency histogram \
            in HdrHistogram's standard encoded form (see burst-merge); --report \
            FILE.html writes it as a self-contained HTML page with charts. Exit \
            status 1 when a request was not answered ok or a code was wrong.
            """
    )

    @Option(help: ArgumentHelp("An account to ask for; repeat it to ask for several in turn.", valueName: "name"))
    var account: [String]

    @Option(help: ArgumentHelp("Connections.", valueName: "k"))
    var connections = 1

    @Option(help: ArgumentHelp("Closed loop: requests in all, spread over the connections (default 1000).", valueName: "n"))
    var requests: Int?

    @Option(help: ArgumentHelp("Closed loop: requests in flight per connection (default 1).", valueName: "w"))
    var inflight: Int?

    @Flag(help: "Closed loop: connect every connection first, then fire them all at one instant.")
    var atOnce = false

    @Option(help: ArgumentHelp("Open loop: requests per second, R, or A:B with --ramp.", valueName: "r"))
    var rate: String?

    @Option(help: ArgumentHelp("Open loop: how long the schedule sends, as 30s, 2m, 1m30s or seconds.", valueName: "time"))
    var duration: String?

    @Option(help: ArgumentHelp("Open loop: with --rate A:B, the first part of --duration over which the rate rises from A to B.", valueName: "time"))
    var ramp: String?

    @Option(help: ArgumentHelp("A file of requester logins, one user:password per line.", valueName: "path"))
    var logins: String?

    @Option(help: ArgumentHelp("min_validity_ms for every request.", valueName: "ms"))
    var minValidityMs: Int?

    @Option(help: ArgumentHelp("max_wait_ms for every request (else the worker's default).", valueName: "ms"))
    var maxWaitMs: Int?

    @Option(help: ArgumentHelp("Seconds after which an unanswered request counts as a timeout (in open loop, from its scheduled time).", valueName: "seconds"))
    var timeout: Double = 10

    @Option(
        help: ArgumentHelp(
            "The account's key (base32 or otpauth URI), to check every code independently; with several --account, one per account, in their order.",
            valueName: "path"))
    var verifySecretFile: [String] = []

    @OptionGroup var totp: TOTPOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: ArgumentHelp("Also write the report as a self-contained HTML page with charts.", valueName: "file.html"))
    var report: String?

    @OptionGroup var broker: BrokerOptions

    func validate() throws {
        guard connections >= 1 && connections <= Self.maxConnections else {
            throw ValidationError("--connections must be 1 to \(Self.maxConnections)")
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard !account.isEmpty else { throw ValidationError("give at least one --account") }
        guard verifySecretFile.isEmpty || verifySecretFile.count == account.count else {
            throw ValidationError("give one --verify-secret-file per --account (\(account.count)), or none")
        }
        if rate != nil {
            _ = try schedule()
            if inflight != nil { throw ValidationError("--inflight has no meaning in open loop: requests go out on the schedule whatever is in flight") }
            if requests != nil { throw ValidationError("--requests has no meaning in open loop: --rate and --duration make the count") }
            if atOnce { throw ValidationError("--at-once has no meaning in open loop: the schedule starts once every connection is ready") }
        } else {
            if duration != nil || ramp != nil { throw ValidationError("--duration and --ramp go with --rate (open loop)") }
            guard (requests ?? 1) >= 1 else { throw ValidationError("--requests must be at least 1") }
            guard (1...10_000).contains(inflight ?? 1) else { throw ValidationError("--inflight must be 1 to 10000") }
        }
    }

    /// The open loop's schedule (nil: closed loop).
    func schedule() throws -> ArrivalSchedule? {
        guard let rate else { return nil }
        guard let rates = ScheduleText.rates(rate), rates.start >= 0, rates.end > 0, max(rates.start, rates.end) <= 100_000 else {
            throw ValidationError("--rate must be R or A:B requests per second, up to 100000 (A may be 0), not '\(rate)'")
        }
        guard let duration else { throw ValidationError("--rate needs --duration (30s, 2m, ...)") }
        guard let seconds = ScheduleText.seconds(duration), seconds > 0 else {
            throw ValidationError("--duration must be a time like 30s, 2m or 1m30s, not '\(duration)'")
        }
        var rampSeconds = 0.0
        if let ramp {
            guard let value = ScheduleText.seconds(ramp), value > 0, value <= seconds else {
                throw ValidationError("--ramp must be a time within --duration, like 10s, not '\(ramp)'")
            }
            guard rates.start != rates.end else { throw ValidationError("--ramp goes with --rate A:B (the rates it rises between)") }
            rampSeconds = value
        } else if rates.start != rates.end {
            throw ValidationError("--rate A:B needs --ramp (how long the rate takes from A to B)")
        }
        let schedule = ArrivalSchedule(startRate: rates.start, endRate: rates.end, rampSeconds: rampSeconds, durationSeconds: seconds)
        guard schedule.count <= 10_000_000 else { throw ValidationError("the schedule would send \(schedule.count) requests; at most 10000000 in one run") }
        return schedule
    }

    /// One thread and one socket per connection: 20,000 fit in the memory
    /// and the thread limit of a small host.
    static let maxConnections = 20_000
    /// Open files the process needs besides its connections' sockets.
    static let filesBesideConnections = 64

    /// Raises this process's open-files limit to its hard limit, as far as
    /// the connections need; says what to do when the hard limit is lower.
    func raiseFileLimit() throws {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let needed = rlim_t(connections + Self.filesBesideConnections)
        guard limit.rlim_cur < needed else { return }
        guard limit.rlim_max >= needed else {
            throw CommandFailure(
                "--connections \(connections) needs \(needed) open files; this process may have \(limit.rlim_max) (its hard limit): raise it (ulimit -Hn as root, nofile in /etc/security/limits.d/) or use fewer connections"
            )
        }
        limit.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 {
            throw CommandFailure("--connections \(connections) needs \(needed) open files, and raising the limit to \(limit.rlim_max) failed")
        }
    }

    func run() throws {
        try raiseFileLimit()
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

        let schedule = try schedule()
        let settings = BurstSettings(
            url: url, tls: client.tls, logins: loginList, requestQueue: client.requestQueue, accounts: account,
            connections: connections, requests: requests ?? 1000, inflight: inflight ?? 1, atOnce: atOnce,
            minValidityMilliseconds: minValidityMs, maxWaitMilliseconds: maxWaitMs, timeoutMilliseconds: Int(timeout * 1000), verifiers: verifiers,
            schedule: schedule
        )
        let terminal = isatty(STDERR_FILENO) == 1
        let result: BurstReport
        if let schedule {
            // Open loop: a line a second, on a terminal or not (a long run shows it is alive).
            let total = schedule.count
            let duration = schedule.durationText
            result = Burst(settings).run(progressInterval: terminal ? 0.5 : 1) { progress in
                let line =
                    "burst: \(BurstReport.format(progress.elapsed, 1)) s of \(duration) s, sent \(progress.sent) of \(total) (scheduled by now \(progress.scheduled ?? 0)), answered \(progress.answered), behind \(BurstReport.format(progress.behindMilliseconds ?? 0, 1)) ms"
                FileHandle.standardError.write(Data((terminal ? "\r\u{1B}[2K" + line : line + "\n").utf8))
            }
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
            if let openLoop = result.openLoop, openLoop.behind {
                StandardError.print(
                    "burst: the generator fell behind its schedule: sends up to \(BurstReport.format(openLoop.lagMilliseconds.max, 3)) ms late, \(openLoop.lateSends) of \(openLoop.scheduled) over 100 ms late; give it more --connections or CPU (latencies still run from the scheduled times)"
                )
            }
        } else {
            let requests = settings.requests
            result = Burst(settings).run { progress in
                guard terminal else { return }
                let rate = progress.elapsed > 0 ? Int(Double(progress.answered) / progress.elapsed) : 0
                FileHandle.standardError.write(
                    Data("\r\u{1B}[2Kburst: sent \(progress.sent)/\(requests), answered \(progress.answered), \(rate) requests/s".utf8))
            }
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        }
        try BurstOutput.emit(result, json: json, htmlPath: report)
    }
}

/// Prints a burst report (text or JSON) and writes its HTML page: for
/// `burst` and `burst-merge` alike.
enum BurstOutput {
    static func emit(_ report: BurstReport, json: Bool, htmlPath: String?) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
        if let htmlPath {
            do {
                try Data(BurstHTML.render(report).utf8).write(to: URL(fileURLWithPath: htmlPath))
            } catch {
                throw CommandFailure("cannot write the report \(htmlPath): \(error.localizedDescription)")
            }
            StandardError.print("burst: report written to \(htmlPath)")
        }
        if report.failed { throw ExitCode(1) }
    }
}
