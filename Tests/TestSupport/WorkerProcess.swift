import Foundation
import MFAConfig
import TOTP

/// A key the tests make for an account, with its base32 text for oathtool.
public struct TestKey: Sendable {
    public let base32: String
    public init(bytes: Int = 20) {
        var rng = SystemRandomNumberGenerator()
        base32 = Base32.encode((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }
}

/// `mfa-worker run` as a child process with a configuration of its own (a
/// unique request queue, so that tests do not share one), its log in a file.
public final class WorkerProcess {
    public let directory = TemporaryDirectory()
    public let queue: String
    public let keys: [String: TestKey]
    public let parameters: [String: (period: Int, digits: Int, algorithm: String)]
    public let oncePerWindow: Set<String>
    public var configPath: String { directory.path + "/worker.yaml" }
    public var logPath: String { directory.path + "/worker.log" }
    public var auditPath: String { directory.path + "/audit.jsonl" }
    public var audit: String { (try? String(contentsOfFile: auditPath, encoding: .utf8)) ?? "" }
    private var process: ChildProcess?

    /// - Parameters:
    ///   - accounts: name -> (period, digits, algorithm).
    ///   - allow: requester -> accounts.
    ///   - extra: YAML lines appended at the top level.
    ///   - brokerExtra: YAML lines appended under `broker:` (indented by the caller).
    ///   - turnsPerRequester: `turns.max_per_requester`, for tests in which
    ///     one robot user stands for many robots.
    public init(
        accounts: [String: (period: Int, digits: Int, algorithm: String)] = ["sf-eu": (30, 6, "SHA1")],
        allow: [String: [String]] = ["rpa-bot-eu-1": ["sf-eu"]],
        queue: String = Broker.uniqueQueueName(),
        queueExtra: String = "",
        brokerExtra: String = "",
        extra: String = "",
        workers: Int = 2,
        shutdownTimeout: Int = 5,
        password: String = "demo-worker-password",
        port: Int = Broker.port,
        urls ports: [Int]? = nil,
        keysFrom other: WorkerProcess? = nil,
        metricsPort: Int? = nil,
        audit: Bool = true,
        brokerURL: String? = nil,
        oncePerWindow: Set<String> = [],
        turnsPerRequester: Int? = nil,
        lockoutGuard: String? = nil
    ) {
        self.queue = queue
        self.parameters = accounts
        self.oncePerWindow = oncePerWindow
        var keys: [String: TestKey] = [:]
        var accountLines = ""
        for (name, parameters) in accounts.sorted(by: { $0.key < $1.key }) {
            let key = other?.keys[name] ?? TestKey()
            keys[name] = key
            directory.write("secrets/\(name).key", key.base32 + "\n")
            accountLines += """
                  \(name):
                    secret_file: secrets/\(name).key
                    period: \(parameters.period)
                    digits: \(parameters.digits)
                    algorithm: \(parameters.algorithm)
                    issue: \(oncePerWindow.contains(name) ? "once_per_window" : "shared")
                \(lockoutGuard.map { "    lockout_guard: \($0)" } ?? "")

                """
        }
        self.keys = keys
        directory.write("amqp-password", password + "\n")
        let allowLines = allow.sorted(by: { $0.key < $1.key }).map { "  \($0.key): [\($0.value.joined(separator: ", "))]" }.joined(separator: "\n")
        directory.write(
            "worker.yaml",
            """
            broker:
              url: [\(brokerURL ?? (ports ?? [port]).map { "amqp://mfa-worker@127.0.0.1:\($0)/%2F" }.joined(separator: ", "))]
            \(password.isEmpty ? "" : "  password_file: amqp-password")
              prefetch: 64
              heartbeat_s: 10
              reconnect_initial_ms: 100
              reconnect_max_ms: 1000
            \(brokerExtra)
            request_queue:
              name: \(queue)
            \(queueExtra)
            accounts:
            \(accountLines)
            allow:
            \(allowLines)
            workers: \(workers)
            shutdown_timeout_s: \(shutdownTimeout)
            metrics: {listen: \(metricsPort.map { "127.0.0.1:\($0)" } ?? "off")}
            audit: {path: \(audit ? "audit.jsonl" : "off")}
            \(turnsPerRequester.map { "turns: {max_per_requester: \($0)}" } ?? "")
            \(extra)
            """, mode: 0o644)
    }

    deinit {
        stop()
        keepEvidence()
        deleteQueues()
    }

    /// The queues this worker declared (its request queue, and the turn
    /// queues of its once_per_window accounts) go with the test, so that
    /// test runs leave nothing on the broker. Another WorkerProcess on the
    /// same queue (a restart in a test) finds them gone only after both ended.
    private func deleteQueues() {
        guard let admin = try? Broker.admin() else { return }
        defer { admin.close() }
        for queue in [queue, queue + ".guard"] + oncePerWindow.sorted().map(turnQueue) {
            if (try? admin.deleteQueue(queue)) == nil { try? admin.reopenChannel() }
        }
    }

    /// Copies the log, the audit trail and the keys (with their parameters)
    /// to `$MFA_TEST_EVIDENCE` (default /tmp/mfa-test-evidence), where
    /// scripts/scan-secrets.py looks for any secret or code in them after
    /// the suite.
    private func keepEvidence() {
        let root = ProcessInfo.processInfo.environment["MFA_TEST_EVIDENCE"] ?? "/tmp/mfa-test-evidence"
        let folder = root + "/" + (directory.path as NSString).lastPathComponent
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in ["worker.log", "audit.jsonl"] where FileManager.default.fileExists(atPath: directory.path + "/" + name) {
            try? FileManager.default.copyItem(atPath: directory.path + "/" + name, toPath: folder + "/" + name)
        }
        let keyList = keys.map { name, key in
            [
                "account": name, "base32": key.base32, "period": String(parameters[name]?.period ?? 30),
                "digits": String(parameters[name]?.digits ?? 6), "algorithm": parameters[name]?.algorithm ?? "SHA1",
            ]
        }
        if let data = try? JSONSerialization.data(withJSONObject: keyList) {
            _ = FileManager.default.createFile(atPath: folder + "/keys.json", contents: data)
        }
    }

    /// The turn queue of a `once_per_window` account (what the worker
    /// declares: a keyed hash of the account under its key).
    public func turnQueue(_ account: String) -> String {
        let key = SecretKey(bytes: (try? Base32.decode(keys[account]?.base32 ?? "")) ?? [])
        return RequestQueueSettings(name: queue).turnQueueName(account: account, key: key)
    }

    /// The turn queue of a pool of `once_per_window` accounts (hashed
    /// under its first member's key).
    public func turnQueue(pool: String, firstMember: String) -> String {
        let key = SecretKey(bytes: (try? Base32.decode(keys[firstMember]?.base32 ?? "")) ?? [])
        return RequestQueueSettings(name: queue).turnQueueName(pool: pool, key: key)
    }

    /// Starts the worker and waits until it consumes.
    @discardableResult
    public func start(waitForConsuming: Bool = true) throws -> WorkerProcess {
        process = try ChildProcess(
            productsDirectory.appendingPathComponent("mfa-worker").path, ["run", "--config", configPath],
            outputPath: logPath, errorPath: logPath
        )
        if waitForConsuming {
            // Text or JSON lines.
            let marker = configText.contains("format: json") ? #""level":"notice","msg":"consuming""# : "notice consuming"
            guard waitForLog(marker, timeout: 20) else {
                throw WorkerProcessError.didNotStart(
                    log:
                        "exit status \(process?.exitStatus.map(String.init) ?? "none (running)"); config:\n\((try? String(contentsOfFile: configPath, encoding: .utf8)) ?? "")\nlog:\n"
                        + self.log)
            }
        }
        return self
    }

    /// Sends `signal` (SIGTERM) and waits for the exit; returns the exit
    /// status (128 + signal when killed by one).
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 15) -> Int32? {
        guard let process else { return nil }
        guard process.isRunning else { return process.exitStatus }
        process.signal(signal)
        if let status = process.wait(timeout: timeout) { return status }
        process.signal(SIGKILL)
        return process.wait()
    }

    public var pid: Int32? { process?.pid }
    public var isRunning: Bool { process?.isRunning ?? false }

    /// Waits for the process to end by itself; returns its status.
    public func waitForExit(timeout: TimeInterval = 20) -> Int32? {
        process?.wait(timeout: timeout)
    }

    private var configText: String { (try? String(contentsOfFile: configPath, encoding: .utf8)) ?? "" }

    public var log: String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// Waits until the log contains `text`.
    public func waitForLog(_ text: String, count: Int = 1, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.components(separatedBy: text).count - 1 >= count { return true }
            if let process, !process.isRunning { return log.components(separatedBy: text).count - 1 >= count }
            usleep(20_000)
        }
        return false
    }

    /// The code of `account` for the window starting at `windowStart`,
    /// computed by oathtool (not by the worker's own engine).
    public func expectedCode(account: String, windowStart: Int64) throws -> String {
        guard let key = keys[account], let parameters = parameters[account] else { return "" }
        let cacheKey = "\(account)@\(windowStart)"
        if let cached = codeCache.withLock({ $0[cacheKey] }) { return cached }
        let code = try Oathtool.code(
            base32: key.base32, time: windowStart, period: parameters.period, digits: parameters.digits, algorithm: parameters.algorithm)
        codeCache.withLock { $0[cacheKey] = code }
        return code
    }

    /// oathtool runs once per account and window.
    private let codeCache = LockedCache()
}

public enum WorkerProcessError: Error, CustomStringConvertible {
    case didNotStart(log: String)
    public var description: String {
        switch self {
        case .didNotStart(let log): "the worker did not start consuming; its log:\n\(log)"
        }
    }
}

/// oathtool (liboath) as an independent implementation of RFC 6238.
public enum Oathtool {
    public static func code(base32: String, time: Int64, period: Int, digits: Int, algorithm: String) throws -> String {
        let result = try run(
            "/usr/bin/oathtool",
            [
                "--totp=\(algorithm)", "--base32", "--digits=\(digits)", "--time-step-size=\(period)s", "--now=@\(time)", base32,
            ])
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A small locked dictionary (tests call from several threads).
final class LockedCache: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: String] = [:]
    func withLock<T>(_ body: (inout [String: String]) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&values)
    }
}
