import AMQP
import Logging
import MFAProtocol
import MFAWorkerCore
import TOTP

/// Whether a direct reply-to name can be answered without losing the
/// connection (``DirectReplyTo``): the shape is checked in place; a node
/// not seen in the last minute is probed once, on a connection of the
/// thread's own that carries nothing else, so that a node the broker does
/// not run costs that connection only. What probes find is shared by the
/// threads (``SharedWorkerState``).
final class DirectReplyProbe {
    private let endpoint: ConnectionSettings
    private let shared: SharedWorkerState
    private let logger: Logger
    private var connection: AMQPConnection?

    init(endpoint: ConnectionSettings, shared: SharedWorkerState, logger: Logger) {
        var endpoint = endpoint
        endpoint.connectionName = "mfa-worker direct reply-to probe"
        self.endpoint = endpoint
        self.shared = shared
        self.logger = logger
    }

    /// False when no reply may go to `name` (sent by `requester`).
    func reachable(_ name: String, requester: String, now: Int64) -> Bool {
        switch shared.directReplyVerdict(for: name, requester: requester, now: now) {
        case .answer: return true
        case .refuse: return false
        case .probe:
            guard case .node(let node) = DirectReplyTo.classify(name) else { return false }
            guard let running = probe(node) else { return false }
            shared.directReplyProbed(node: node, running: running, now: SystemTime.unixMilliseconds())
            if !running {
                logger.warning(
                    "a direct reply-to name on a node the broker does not run: not answered",
                    metadata: ["requester": .string(requester), "reason": .string("node reply@\(node) is not running")])
            }
            return running
        }
    }

    /// True: the broker took a publish to the node; false: it closed the
    /// probe's connection over it; nil: the probe could not be made.
    private func probe(_ node: String) -> Bool? {
        do throws(AMQPError) {
            let connection: AMQPConnection
            if let open = self.connection {
                connection = open
            } else {
                connection = try AMQPConnection(endpoint)
                self.connection = connection
            }
            try connection.publish(routingKey: DirectReplyTo.probeName(node: node), properties: MessageProperties(), body: [])
            // A round trip: the broker handles the publish before it.
            try connection.setPrefetch(0)
            return true
        } catch {
            connection = nil
            switch error {
            case .connectionClosed, .channelClosed: return false
            default:
                logger.warning("cannot check a direct reply-to node; the request is not answered", metadata: ["reason": .string("\(error)")])
                return nil
            }
        }
    }

    func close() {
        connection?.close()
        connection = nil
    }
}
