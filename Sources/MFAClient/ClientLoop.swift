import AMQP
import Foundation
import MFABroker
import MFAProtocol

/// The connection's thread: connects when there is work, publishes
/// requests, reads replies, expires calls, reconnects.
final class ClientLoop {
    let configuration: MFAClientConfiguration
    let shared: ClientShared
    private var connection: AMQPConnection?
    private var replyQueue = ""
    private var urlIndex = 0
    private var reconnectAt: Int64 = 0
    private lazy var backoff = Backoff(
        initialMilliseconds: Int(configuration.reconnectInitial.milliseconds), maxMilliseconds: Int(configuration.reconnectMax.milliseconds))
    private var lastFailure: String?
    /// A worker was seen consuming the request queue, on any connection of
    /// this client. Until then the client checks the queue before it asks
    /// and fails its callers at once when nobody could answer them (no
    /// queue, no consumer, every broker refusing connections). After that,
    /// an empty queue or a refused connection is taken for a restart in
    /// progress (a broker restart, a quorum queue electing its leader, a
    /// worker being replaced): the client asks anyway, reconnects, and
    /// callers wait out their timeouts as before.
    private var workerSeen = false
    /// The endpoints that refused a connection since the last one that did not.
    private var refusedEndpoints: [String] = []

    init(configuration: MFAClientConfiguration, shared: ClientShared) {
        self.configuration = configuration
        self.shared = shared
    }

    func run() {
        while !shared.isClosed {
            let now = ClientClock.now()
            let hasWork = shared.state.withLock { !$0.pending.isEmpty }
            if connection == nil, hasWork, now >= reconnectAt {
                connect()
            }
            if let connection {
                do {
                    try publishUnsent(connection)
                    if connection.waitForInput(orReadable: shared.wakeDescriptor, timeoutMilliseconds: waitTime()) {
                        shared.drainWake()
                    }
                    try readEvents(connection)
                } catch {
                    dropConnection(error.description)
                }
            } else {
                var descriptor = pollfd(fd: shared.wakeDescriptor, events: Int16(POLLIN), revents: 0)
                if poll(&descriptor, 1, Int32(waitTime())) > 0 { shared.drainWake() }
            }
            expireCalls()
        }
        connection?.close()
        connection = nil
    }

    /// Until the nearest deadline or reconnection, at most 100 ms.
    private func waitTime() -> Int {
        let now = ClientClock.now()
        var wait: Int64 = 100
        if connection == nil, reconnectAt > now { wait = min(wait, reconnectAt - now) }
        shared.state.withLock { state in
            for call in state.pending.values { wait = min(wait, max(0, call.deadline - now)) }
        }
        return Int(max(0, wait))
    }

    private func connect() {
        let url = configuration.urls[urlIndex % configuration.urls.count]
        // Connecting blocks this thread: never past the nearest caller's deadline.
        var settings = configuration.settings(for: url)
        let now = ClientClock.now()
        let nearest = shared.state.withLock { $0.pending.values.map(\.deadline).min() } ?? now + Int64(settings.timeoutMilliseconds)
        settings.timeoutMilliseconds = Int(max(100, min(Int64(settings.timeoutMilliseconds), nearest - now)))
        var loggedIn = false
        do {
            let connection = try AMQPConnection(settings)
            loggedIn = true
            refusedEndpoints.removeAll()
            if !workerSeen, let failure = try nobodyToAnswer(connection) {
                // Say so now rather than at each caller's timeout. The next
                // call connects and checks again.
                connection.close()
                lastFailure = nil
                backoff.reset()
                failAll(failure)
                return
            }
            replyQueue = try connection.declareQueue("", exclusive: true, autoDelete: true).queue
            try connection.consume(queue: replyQueue, noAck: true)
            self.connection = connection
            backoff.reset()
            lastFailure = nil
            // Every waiting call is asked again on this connection.
            shared.state.withLock { state in
                for id in state.pending.keys { state.pending[id]?.sent = false }
            }
        } catch {
            let reason = error.description
            // Logged in, but the set-up (its calls bounded by the nearest
            // caller's deadline too) outlasted that deadline: the broker is
            // there and that caller timed out, no connection failed.
            lastFailure = loggedIn && ClientClock.now() >= nearest ? nil : reason
            urlIndex += 1
            if case .loginRefused = error {
                // A refused login does not heal by retrying.
                failAll(.connectionFailed(reason))
            }
            if case .connectFailed(let endpoint, "connection refused") = error {
                refusedEndpoints.append(endpoint)
                // Every broker refused, and this client never reached a
                // worker: nothing is listening, no restart is under way.
                if !workerSeen, refusedEndpoints.count >= configuration.urls.count {
                    var endpoints: [String] = []
                    for endpoint in refusedEndpoints where !endpoints.contains(endpoint) { endpoints.append(endpoint) }
                    refusedEndpoints.removeAll()
                    failAll(.connectionRefused(endpoints.joined(separator: " or ")))
                    // The next call tries again at once.
                    backoff.reset()
                    return
                }
            } else {
                refusedEndpoints.removeAll()
            }
            scheduleReconnect()
        }
    }

    /// Why no worker could answer a request on `connection`, or nil when a
    /// worker consumes the request queue. A passive declare needs no
    /// permission on the queue (a robot has none), and answers with the
    /// queue's consumer count, or 404 (closing the channel) when there is no
    /// such queue.
    private func nobodyToAnswer(_ connection: AMQPConnection) throws(AMQPError) -> MFAClientError? {
        let queue = configuration.requestQueue
        let declared: QueueDeclareOK
        do {
            declared = try connection.declareQueue(queue, passive: true)
        } catch {
            if case .channelClosed(404, _) = error { return .noRequestQueue(queue) }
            throw error
        }
        if declared.consumerCount == 0 { return .noWorker(queue) }
        workerSeen = true
        return nil
    }

    private func scheduleReconnect() {
        reconnectAt = ClientClock.now() + Int64(backoff.nextDelay())
    }

    private func dropConnection(_ reason: String) {
        connection = nil
        lastFailure = reason
        urlIndex += 1
        scheduleReconnect()
        // A fresh start right away the first time: a broker restart is
        // usually over in seconds.
        if backoff.attempt == 1 { reconnectAt = ClientClock.now() }
    }

    private func publishUnsent(_ connection: AMQPConnection) throws(AMQPError) {
        let now = ClientClock.now()
        let unsent = shared.state.withLock { state -> [PendingCall] in
            var calls: [PendingCall] = []
            for (id, call) in state.pending where !call.sent {
                calls.append(call)
                state.pending[id]?.sent = true
            }
            return calls
        }
        for call in unsent {
            let properties = MessageProperties(
                contentType: ProtocolConstants.contentType,
                deliveryMode: .persistent,
                correlationID: call.id,
                replyTo: replyQueue,
                expiration: String(max(1, call.deadline - now)),
                type: call.outcome == nil ? ProtocolConstants.requestType : ProtocolConstants.outcomeType,
                userID: configuration.user
            )
            let body =
                call.outcome?.encoded()
                ?? CodeReplyParser.requestBody(
                    account: call.account, minValidityMilliseconds: call.minValidityMilliseconds, maxWaitMilliseconds: call.maxWait(at: now))
            try connection.publish(routingKey: configuration.requestQueue, mandatory: true, properties: properties, body: body)
        }
    }

    private func readEvents(_ connection: AMQPConnection) throws(AMQPError) {
        while true {
            let event = try connection.nextEvent(timeoutMilliseconds: 0)
            switch event {
            case .timeout:
                return
            case .delivery(let delivery):
                // A reply nobody waits for any more (a caller gave up, or a
                // redelivered request answered twice) is dropped here.
                guard let id = delivery.properties.correlationID else { continue }
                shared.finish(id, body: delivery.body)
            case .returned(let message):
                // mandatory: the request queue does not exist.
                if let id = message.properties.correlationID {
                    shared.finish(id, with: .failure(.noRequestQueue(configuration.requestQueue)))
                }
            case .channelClosed(let code, let text):
                throw .channelClosed(code: code, text: text)
            case .consumerCancelled:
                throw .connectionLost(reason: "the reply queue's consumer was cancelled")
            default:
                continue
            }
        }
    }

    private func expireCalls() {
        let now = ClientClock.now()
        let expired = shared.state.withLock { state -> [PendingCall] in
            let calls = state.pending.values.filter { $0.deadline <= now }
            for call in calls { state.pending.removeValue(forKey: call.id) }
            return calls
        }
        for call in expired {
            // Never connected for this call: say why, not just "timeout".
            let error: MFAClientError = connection == nil && lastFailure != nil ? .connectionFailed(lastFailure!) : .timeout
            call.continuation.resume(returning: .failure(error))
        }
    }

    private func failAll(_ error: MFAClientError) {
        let calls = shared.state.withLock { state -> [PendingCall] in
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        for call in calls { call.continuation.resume(returning: .failure(error)) }
    }
}
