import AMQP
import Foundation
import Logging
import MFAConfig
import MFAWorkerCore
import TOTP

/// A start-up failure: one line, then exit status 1.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The service: checks the broker once, starts the consumer threads, and
/// waits for signals (SIGTERM and SIGINT stop it gracefully; a second one
/// exits at once).
public final class WorkerService {
    public let runtime: WorkerRuntime
    public let shared: SharedWorkerState
    private var loaded: LoadedConfiguration
    private let configPath: String?
    private let logger: Logger
    private let clock: ClockMonitor
    private var health: HealthServer?

    /// - Parameter configPath: the file SIGHUP reads again; nil: no reload.
    public init(_ loaded: LoadedConfiguration, configPath: String? = nil, logger: Logger, workers: Int? = nil) throws(StartupError) {
        self.loaded = loaded
        self.configPath = configPath
        self.logger = logger
        runtime = WorkerRuntime(loaded, workers: workers)
        shared = SharedWorkerState(
            ServiceState(loaded), audit: try AuditTrail(loaded.configuration.audit, allowLoose: loaded.configuration.allowLooseSecretFiles))
        clock = ClockMonitor(metrics: shared.metrics, logger: logger)
        let metrics = loaded.configuration.metrics
        if let host = metrics.host {
            health = try HealthServer(host: host, port: metrics.port, metrics: shared.metrics, shared: shared, clock: clock)
        }
    }

    /// Connects once to the first node that answers and declares the
    /// request queue, so that a wrong password, an unreachable broker or a
    /// queue with other arguments stops start-up with one clear line.
    public func preflight() throws(StartupError) {
        var failures: [String] = []
        for endpoint in runtime.endpoints {
            let connection: AMQPConnection
            do {
                connection = try AMQPConnection(endpoint)
            } catch {
                failures.append(error.description)
                continue
            }
            defer { connection.close() }
            try Self.declare("request queue", runtime.queue.name, otherThan: "the configuration gives") { () throws(AMQPError) in
                try runtime.declareRequestQueue(on: connection)
            }
            for group in runtime.turnGroups {
                let queue = group.queue
                try Self.declare(
                    "turn queue of \(group.pool.map { "pool \($0)" } ?? group.accounts[0])", queue, otherThan: "a quorum queue with a single active consumer",
                    permissionHint: " (give it the request queue's permissions for names starting '\(runtime.queue.name).turns.')"
                ) { () throws(AMQPError) in
                    try runtime.declareTurnQueue(queue, on: connection)
                }
            }
            try checkLogin(connection)
            warnAboutLegacyTurnQueues(connection)
            return
        }
        throw StartupError(failures.count == 1 ? failures[0] : "no broker node answers: " + failures.joined(separator: "; "))
    }

    /// Everything the worker publishes carries its login as `user_id`; the
    /// broker refuses a message whose `user_id` is not the connection's
    /// user (with EXTERNAL, the certificate's). Checked once here, with a
    /// message that routes nowhere, so that a URL naming another user than
    /// the one the broker logs in stops start-up with one clear line.
    private func checkLogin(_ connection: AMQPConnection) throws(StartupError) {
        let refused = StartupError(
            "the broker refuses messages with user_id '\(runtime.login)': the worker logs in as another user; put the user it logs in as in broker.url (amqp://USER@HOST/)"
        )
        do {
            try connection.enablePublisherConfirms()
            let sequence = try connection.publish(
                routingKey: "\(runtime.queue.name).login-check", properties: MessageProperties(userID: runtime.login), body: []
            )
            let deadline = SystemTime.unixMilliseconds() + Int64(runtime.endpoints[0].timeoutMilliseconds)
            while SystemTime.unixMilliseconds() < deadline {
                switch try connection.nextEvent(timeoutMilliseconds: 100) {
                case .publisherAck(let confirmed, let multiple) where confirmed == sequence || (multiple && confirmed >= sequence):
                    return
                case .channelClosed(let code, _) where code == 406:
                    throw refused
                case .channelClosed(let code, let text):
                    throw StartupError("cannot check the worker's login: \(code) \(text)")
                default:
                    continue
                }
            }
            throw StartupError("cannot check the worker's login: no confirm from the broker")
        } catch let error as StartupError {
            throw error
        } catch {
            if case .channelClosed(406, _) = error as? AMQPError { throw refused }
            throw StartupError("cannot check the worker's login: \(error)")
        }
    }

    /// Turn queues used to be named after their account (`<request
    /// queue>.turns.<account>`). The windows recorded there are not read
    /// any more (docs/design.md, "Upgrading"): say so once, if one is left.
    private func warnAboutLegacyTurnQueues(_ connection: AMQPConnection) {
        for account in runtime.turnAccounts {
            let legacy = runtime.queue.legacyTurnQueueName(account)
            do {
                let found = try connection.declareQueue(legacy, passive: true)
                logger.warning(
                    "a turn queue of an earlier version is left; its records are not read",
                    metadata: [
                        "account": .string(account),
                        "reason": .string(
                            "\(legacy) holds \(found.messageCount) messages; once no worker of the earlier version runs, delete it (docs/design.md, Upgrading)"),
                    ])
            } catch {
                // 404: none (the usual case). The broker closed the channel.
                guard (try? connection.reopenChannel()) != nil else { return }
            }
        }
    }

    /// Runs one declaration of the preflight; the broker's refusals become
    /// one line each, naming the queue.
    private static func declare(
        _ kind: String, _ name: String, otherThan expected: String, permissionHint: String = "",
        _ declaration: () throws(AMQPError) -> Void
    ) throws(StartupError) {
        do {
            try declaration()
        } catch {
            switch error.replyCode {
            case 406: throw StartupError("the \(kind) '\(name)' exists with other arguments than \(expected): \(strip(error))")
            case 403: throw StartupError("the broker does not let this user declare the \(kind) '\(name)'\(permissionHint): \(strip(error))")
            default: throw StartupError("cannot declare the \(kind) '\(name)': \(error)")
            }
        }
    }

    private static func strip(_ error: AMQPError) -> String {
        switch error {
        case .channelClosed(let code, let text), .connectionClosed(let code, let text): "\(code) \(text)"
        default: error.description
        }
    }

    /// Where the service is in its life. Only ``run()`` moves it on.
    public enum State: Sendable, Equatable {
        /// Connecting and starting the threads.
        case starting
        /// Every thread consumes.
        case running
        /// A new configuration is out; not every thread has taken it up yet.
        case reloading(generation: Int)
        /// Stopping: the threads answer what is in hand and give back the rest.
        case draining
        case stopped
    }

    public private(set) var state: State = .starting {
        didSet { logger.debug("service state", metadata: ["reason": .string("\(state)")]) }
    }

    /// Runs until a stop signal; returns the exit status. The only place
    /// that starts and joins the service's threads: the consumers, the
    /// turns thread and the HTTP listener.
    public func run() throws(StartupError) -> Int32 {
        // Signals arrive as bytes on a pipe that this thread reads.
        _ = SignalPipe.install()

        try preflight()
        for warning in loaded.warnings + (runtime.endpoints.contains { $0.tls != nil } ? loaded.configuration.broker.tls.warnings : []) {
            logger.warning("configuration", metadata: ["reason": .string(warning)])
        }
        clock.check()
        let listener = ThreadGroup()
        if let health { listener.start("health") { health.serve() } }
        // Each loop and its connection are made on their own thread and used
        // there only; the closures carry Sendable settings.
        let runtime = runtime, shared = shared, logger = logger
        listener.start(AlarmWatch.name) { AlarmWatch(runtime: runtime, shared: shared, logger: logger).run() }

        let workers = ThreadGroup()
        workers.start(GuardLoop.threadName) {
            GuardLoop(runtime: runtime, shared: shared, logger: logger).run()
        }
        for index in 0..<runtime.workers {
            workers.start("consumer-\(index + 1)") {
                ConsumerLoop(index: index, runtime: runtime, shared: shared, logger: logger).run()
            }
        }
        if !runtime.turnAccounts.isEmpty {
            shared.statistics.turnsExpected.store(true, ordering: .relaxed)
            workers.start("turns") {
                TurnLoop(runtime: runtime, shared: shared, logger: logger).run()
            }
        }

        var stopSignals = 0
        while !workers.isFinished {
            advance(threads: workers.names)
            // Every minute, whether or not the metrics listener runs.
            clock.checkIfDue()
            let now = SystemTime.unixMilliseconds()
            for (requester, counts) in shared.dueQuietRefusals(now: now) {
                ReplyOutput.refusedOverRate(requester, counts, logger: logger, audit: shared.audit)
            }
            for (_, counts) in shared.dueUnroutable(now: now) {
                ReplyOutput.unroutableSummary(counts, logger: logger)
            }
            shared.audit.syncIfDue(now: now)
            let signal = SignalPipe.next(within: state == .running ? 200 : 20)
            switch signal {
            case SIGINT, SIGTERM:
                stopSignals += 1
                if stopSignals == 1 {
                    logger.notice(
                        "stopping: answering what is in hand, giving back the rest", metadata: ["reason": .string(signal == SIGINT ? "SIGINT" : "SIGTERM")])
                    LogSink.flush()
                    state = .draining
                    shared.requestStop()
                } else {
                    logger.warning("second stop signal: exiting at once")
                    LogSink.flush()
                    _exit(1)
                }
            case SIGHUP where state != .draining:
                reload()
            default:
                break
            }
        }
        // The listener answers "stopping" until the workers are done.
        health?.stop()
        listener.join()
        state = .stopped
        logger.notice("stopped")
        LogSink.flush()
        return 0
    }

    /// Moves the state on from what the threads report: running once every
    /// consumer (and the turns thread) consumes, said in one line that means
    /// what it says; a reload applied once every thread runs its generation.
    private func advance(threads: [String]) {
        switch state {
        case .starting:
            guard shared.statistics.consumersActive.load(ordering: .relaxed) >= runtime.workers,
                runtime.turnAccounts.isEmpty || shared.statistics.turnsConnected.load(ordering: .relaxed)
            else { return }
            state = .running
            logger.notice(
                "consuming",
                metadata: [
                    "reason": .string(
                        "queue \(runtime.queue.name) on \(runtime.endpoints.map(\.endpoint).joined(separator: ", ")), \(runtime.workers) consumer threads, \(loaded.accounts.count) accounts (\(runtime.turnAccounts.count) once_per_window); metrics \(health.map { "on http://\($0.address)/metrics" } ?? "off")"
                    )
                ])
            LogSink.flush()
        case .reloading(let generation):
            guard shared.everyThread(of: threads, runs: generation) else { return }
            state = .running
            logger.notice("reload applied by every thread", metadata: ["reason": .string("reload \(generation), \(threads.count) threads")])
            LogSink.flush()
        case .running, .draining, .stopped:
            break
        }
    }

    /// SIGHUP: reads the configuration again and applies what
    /// ``ReloadPlan`` says, whole or not at all.
    private func reload() {
        guard let configPath else {
            logger.warning("SIGHUP: no configuration file to read again")
            return
        }
        let next: LoadedConfiguration
        do {
            next = try LoadedConfiguration.load(path: configPath)
        } catch {
            logger.error("reload refused; the running configuration stays", metadata: ["reason": .string(error.description)])
            LogSink.flush()
            return
        }
        switch ReloadPlan(running: loaded, next: next) {
        case .refuse(let reason):
            logger.error("reload refused; the running configuration stays", metadata: ["reason": .string(reason)])
            LogSink.flush()
        case .apply(let restart):
            let generation = shared.stateGeneration + 1
            shared.replaceState(ServiceState(next, generation: generation))
            // What applies is kept; what needs a restart stays as it runs.
            loaded = LoadedConfiguration(merging: next, into: loaded)
            for warning in next.warnings {
                logger.warning("configuration", metadata: ["reason": .string(warning)])
            }
            var reason = "reload \(generation): \(next.accounts.count) accounts, \(next.configuration.allow.requesters.count) requesters"
            if !restart.isEmpty { reason += "; changes to \(restart.joined(separator: ", ")) need a restart and are not applied" }
            logger.notice("configuration reloaded", metadata: ["reason": .string(reason)])
            LogSink.flush()
            if state == .running || state == .starting { state = .reloading(generation: generation) }
        }
    }
}

/// Threads started and joined together.
final class ThreadGroup {
    private let group = DispatchGroup()
    private(set) var names: [String] = []

    func start(_ name: String, _ body: @escaping @Sendable () -> Void) {
        names.append(name)
        group.enter()
        let thread = Thread { [group] in
            body()
            group.leave()
        }
        thread.name = name
        thread.start()
    }

    /// Whether every thread has returned.
    var isFinished: Bool { group.wait(timeout: .now()) == .success }

    func join() { group.wait() }
}
