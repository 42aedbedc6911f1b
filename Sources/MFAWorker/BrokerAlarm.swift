import AMQP
import Foundation
import Logging
import MFABroker
import Synchronization
import TOTP

/// Which of the worker's connections the broker blocks from publishing.
/// While a memory or disk alarm lasts, RabbitMQ stops reading from every
/// connection that publishes (`connection.blocked`, later
/// `connection.unblocked`): replies, turns and acknowledgements wait in the
/// socket, nothing is lost. The worker says so once when the first of its
/// connections is blocked and once when the last is free again, whatever
/// the number of threads, and `/healthz` says `degraded` in between.
public final class PublishingBlocks: Sendable {
    private let blocked = Mutex<Set<String>>([])
    private let any = Atomic<Bool>(false)

    public init() {}

    /// Whether the broker blocks any of the worker's connections now.
    public var isBlocked: Bool { any.load(ordering: .relaxed) }

    /// The broker blocked or unblocked `connection` (a thread's name);
    /// logs when the worker as a whole becomes blocked or free.
    func note(_ connection: String, blocked isBlocked: Bool, reason: String, logger: Logger) {
        blocked.withLock { set in
            let before = !set.isEmpty
            if isBlocked { set.insert(connection) } else { set.remove(connection) }
            let after = !set.isEmpty
            any.store(after, ordering: .relaxed)
            // Said under the lock, so that the lines come in the order of the changes.
            if after && !before {
                logger.warning(
                    "the broker blocks publishing (a memory or disk alarm); replies wait until it clears",
                    metadata: ["reason": .string(reason.isEmpty ? "connection.blocked" : "connection.blocked: \(reason)")])
                LogSink.flush()
            } else if before && !after {
                logger.notice("the broker takes publishes again; the waiting replies go out")
                LogSink.flush()
            }
        }
    }

    /// The connection is gone, and its block with it; its next connection
    /// finds out anew.
    func forget(_ connection: String) {
        blocked.withLock { set in
            set.remove(connection)
            any.store(!set.isEmpty, ordering: .relaxed)
        }
    }
}

/// Finds out whether the broker blocks publishers even when the worker has
/// nothing to publish. RabbitMQ sends `connection.blocked` to a connection
/// only when it publishes during an alarm, so an idle worker would not
/// know, and robots' requests would be waiting in their own blocked
/// connections all the while. This thread keeps one connection of its own
/// and, while it is not blocked, publishes an empty message every
/// ``probeInterval`` to a routing key that no queue can have (`amq.` names
/// are reserved), which the broker drops.
///
/// It reconnects on its own, quietly: a lost broker is the consumer
/// threads' to report and count.
final class AlarmWatch {
    static let name = "alarm-watch"
    static let routingKey = "amq.mfa-worker.alarm-probe"
    static let probeIntervalMilliseconds: Int64 = 1000

    let runtime: WorkerRuntime
    let shared: SharedWorkerState
    let logger: Logger

    init(runtime: WorkerRuntime, shared: SharedWorkerState, logger: Logger) {
        self.runtime = runtime.naming(connections: "mfa-worker alarm watch")
        self.shared = shared
        var logger = logger
        logger[metadataKey: "worker"] = .string(Self.name)
        self.logger = logger
    }

    /// Until the service stops.
    func run() {
        var backoff = Backoff(initialMilliseconds: runtime.reconnectInitialMilliseconds, maxMilliseconds: runtime.reconnectMaxMilliseconds)
        var endpoint = 0
        while !shared.isStopping {
            do {
                let connection = try AMQPConnection(runtime.endpoints[endpoint])
                defer { connection.close() }
                backoff.reset()
                try watch(connection)
            } catch {
                shared.blocks.forget(Self.name)
                endpoint = (endpoint + 1) % runtime.endpoints.count
                var left = backoff.nextDelay()
                while left > 0 && !shared.isStopping {
                    usleep(UInt32(min(left, 100)) * 1000)
                    left -= 100
                }
            }
        }
        shared.blocks.forget(Self.name)
    }

    private func watch(_ connection: AMQPConnection) throws(AMQPError) {
        var blocked = false
        var nextProbe: Int64 = 0
        while !shared.isStopping {
            let now = SystemTime.unixMilliseconds()
            if !blocked && now >= nextProbe {
                try connection.publish(routingKey: Self.routingKey, properties: MessageProperties(), body: [])
                nextProbe = now + Self.probeIntervalMilliseconds
            }
            let wait = blocked ? 100 : Int(max(1, min(100, nextProbe - now)))
            if case .blocked(let isBlocked, let reason) = try connection.nextEvent(timeoutMilliseconds: wait) {
                blocked = isBlocked
                shared.blocks.note(Self.name, blocked: isBlocked, reason: reason, logger: logger)
            }
        }
    }
}
