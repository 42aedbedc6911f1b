import AMQP
import Foundation
import Logging
import MFAConfig
import MFAWorkerCore

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
    private let loaded: LoadedConfiguration
    private let logger: Logger

    public init(_ loaded: LoadedConfiguration, logger: Logger, workers: Int? = nil) {
        self.loaded = loaded
        self.logger = logger
        runtime = WorkerRuntime(loaded, workers: workers)
        shared = SharedWorkerState(ServiceState(loaded))
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
            do {
                try runtime.declareRequestQueue(on: connection)
                return
            } catch {
                if error.replyCode == 406 {
                    throw StartupError("the request queue '\(runtime.queue.name)' exists with other arguments than the configuration gives: \(Self.strip(error))")
                }
                if error.replyCode == 403 {
                    throw StartupError("the broker does not let this user declare the request queue '\(runtime.queue.name)': \(Self.strip(error))")
                }
                throw StartupError("cannot declare the request queue '\(runtime.queue.name)': \(error)")
            }
        }
        throw StartupError(failures.count == 1 ? failures[0] : "no broker node answers: " + failures.joined(separator: "; "))
    }

    private static func strip(_ error: AMQPError) -> String {
        switch error {
        case .channelClosed(let code, let text), .connectionClosed(let code, let text): "\(code) \(text)"
        default: error.description
        }
    }

    /// Runs until a stop signal; returns the exit status.
    public func run() throws(StartupError) -> Int32 {
        // Signals arrive as bytes on a pipe that this thread reads.
        _ = SignalPipe.install()

        try preflight()
        for warning in loaded.warnings {
            logger.warning("configuration", metadata: ["reason": .string(warning)])
        }

        let group = DispatchGroup()
        for index in 0..<runtime.workers {
            let loop = ConsumerThread(index: index, runtime: runtime, shared: shared, logger: logger)
            group.enter()
            let thread = Thread {
                loop.run()
                group.leave()
            }
            thread.name = "consumer-\(index + 1)"
            thread.start()
        }
        logger.notice("consuming", metadata: [
            "reason": .string("queue \(runtime.queue.name) on \(runtime.endpoints.map(\.endpoint).joined(separator: ", ")), \(runtime.workers) consumer threads, \(loaded.accounts.count) accounts"),
        ])
        LogSink.flush()

        var stopSignals = 0
        while group.wait(timeout: .now()) == .timedOut {
            let signal = SignalPipe.next(within: 200)
            switch signal {
            case SIGINT, SIGTERM:
                stopSignals += 1
                if stopSignals == 1 {
                    logger.notice("stopping: answering what is in hand, giving back the rest", metadata: ["reason": .string(signal == SIGINT ? "SIGINT" : "SIGTERM")])
                    LogSink.flush()
                    shared.requestStop()
                } else {
                    logger.warning("second stop signal: exiting at once")
                    LogSink.flush()
                    _exit(1)
                }
            case SIGHUP:
                reload()
            default:
                break
            }
        }
        logger.notice("stopped")
        LogSink.flush()
        return 0
    }

    /// SIGHUP: read the configuration again (issue: reload).
    private func reload() {
        logger.warning("SIGHUP: reload is not supported yet; restart to apply changes")
    }
}

/// Carries a consumer loop's construction into its thread: the loop and
/// its connection are made and used on that thread only.
private final class ConsumerThread: @unchecked Sendable {
    let index: Int
    let runtime: WorkerRuntime
    let shared: SharedWorkerState
    let logger: Logger

    init(index: Int, runtime: WorkerRuntime, shared: SharedWorkerState, logger: Logger) {
        self.index = index
        self.runtime = runtime
        self.shared = shared
        self.logger = logger
    }

    func run() {
        ConsumerLoop(index: index, runtime: runtime, shared: shared, logger: logger).run()
    }
}
