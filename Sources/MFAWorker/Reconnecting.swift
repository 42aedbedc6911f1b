import AMQP
import Foundation
import Logging
import MFABroker
import MFAWorkerCore
import TOTP

/// What a thread does with each connection it gets: start consuming, serve
/// until the service stops, shut down gracefully. Whatever throws ends the
/// connection; ``connectionLost()`` then forgets what belonged to it.
protocol ConnectionSession: AnyObject {
    func start(_ connection: AMQPConnection) throws(AMQPError)
    func serve(_ connection: AMQPConnection) throws(AMQPError)
    func shutDown(_ connection: AMQPConnection) throws(AMQPError)
    func connectionLost()
    /// Said when the service stops while disconnected: what is lost.
    var unansweredOnStop: String { get }
}

/// Runs a session over a connection that it opens again, with backoff and
/// jitter through every broker URL, until the service stops. An outage is
/// logged once, and so is the recovery.
struct Reconnecting {
    let runtime: WorkerRuntime
    let shared: SharedWorkerState
    let logger: Logger
    /// Where the first attempt goes (threads start on different nodes).
    let firstEndpoint: Int

    func run(_ session: some ConnectionSession) {
        var backoff = Backoff(initialMilliseconds: runtime.reconnectInitialMilliseconds, maxMilliseconds: runtime.reconnectMaxMilliseconds)
        var endpointIndex = firstEndpoint % runtime.endpoints.count
        var outage: (reason: String, since: Int64, attempts: Int)?

        while true {
            let endpoint = runtime.endpoints[endpointIndex]
            do {
                let connection = try AMQPConnection(endpoint)
                defer { connection.close() }
                try session.start(connection)
                if let outage {
                    shared.statistics.reconnects.add(1, ordering: .relaxed)
                    let seconds = Double(SystemTime.unixMilliseconds() - outage.since) / 1000
                    logger.notice(
                        "consuming again",
                        metadata: ["reason": "reconnected to \(endpoint.endpoint) after \(outage.attempts) attempts, \(String(format: "%.1f", seconds)) s"])
                }
                outage = nil
                backoff.reset()
                try session.serve(connection)
                try session.shutDown(connection)
                return
            } catch {
                session.connectionLost()
                let reason = "\(endpoint.endpoint): \(error)"
                if outage == nil {
                    logger.warning("connection lost; reconnecting", metadata: ["reason": .string(reason)])
                    outage = (reason, SystemTime.unixMilliseconds(), 0)
                }
                outage?.attempts += 1
                if shared.isStopping {
                    logger.warning("stopping while disconnected", metadata: ["reason": .string(session.unansweredOnStop)])
                    return
                }
                endpointIndex = (endpointIndex + 1) % runtime.endpoints.count
                sleep(milliseconds: backoff.nextDelay())
            }
        }
    }

    /// Sleeps in slices, so that a stop request is not kept waiting.
    private func sleep(milliseconds: Int) {
        var left = milliseconds
        while left > 0 && !shared.isStopping {
            let slice = min(left, 100)
            usleep(UInt32(slice) * 1000)
            left -= slice
        }
    }
}
