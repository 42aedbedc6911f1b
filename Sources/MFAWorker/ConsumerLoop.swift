import AMQP
import Foundation
import Logging
import MFAConfig
import MFAProtocol
import MFAWorkerCore
import TOTP

/// One consumer thread: its own connection and channel, its own decider and
/// schedule of waiting replies. Runs until the service asks it to stop,
/// reconnecting on its own when the connection drops.
final class ConsumerLoop {
    let index: Int
    let runtime: WorkerRuntime
    let shared: SharedWorkerState
    var logger: Logger

    private var decider: RequestDecider
    private var schedule = ReplySchedule()
    private var confirms = ConfirmTracker()
    private var consumerTag: String?
    private var isCounted = false
    /// Confirmed requests not yet acknowledged: everything outstanding up to
    /// this tag. Sent as one `multiple` ack once the frames already read are
    /// handled, so that a burst of confirms costs the broker one ack.
    private var ackUpTo: UInt64?

    init(index: Int, runtime: WorkerRuntime, shared: SharedWorkerState, logger: Logger) {
        self.index = index
        self.runtime = runtime
        self.shared = shared
        self.logger = logger
        self.logger[metadataKey: "worker"] = "\(index + 1)"
        decider = RequestDecider(state: shared.currentState())
    }

    // MARK: - Connection lifecycle

    func run() {
        var backoff = Backoff(initialMilliseconds: runtime.reconnectInitialMilliseconds, maxMilliseconds: runtime.reconnectMaxMilliseconds)
        var endpointIndex = index % runtime.endpoints.count
        var outage: (reason: String, since: Int64, attempts: Int)?

        while true {
            let endpoint = runtime.endpoints[endpointIndex]
            do {
                let connection = try AMQPConnection(endpoint)
                defer { connection.close() }
                try startConsuming(connection)
                if let outage {
                    shared.statistics.reconnects.add(1, ordering: .relaxed)
                    let seconds = Double(SystemTime.unixMilliseconds() - outage.since) / 1000
                    logger.notice("consuming again", metadata: ["reason": "reconnected to \(endpoint.endpoint) after \(outage.attempts) attempts, \(String(format: "%.1f", seconds)) s"])
                }
                outage = nil
                backoff.reset()
                try serve(connection)
                try shutDown(connection)
                return
            } catch {
                stopCounting()
                confirms.reset()
                ackUpTo = nil
                consumerTag = nil
                let reason = "\(endpoint.endpoint): \(error)"
                if outage == nil {
                    // Logged once per outage, with its reason; the recovery is
                    // logged too, not each retry.
                    logger.warning("connection lost; reconnecting", metadata: ["reason": .string(reason)])
                    outage = (reason, SystemTime.unixMilliseconds(), 0)
                }
                outage?.attempts += 1
                if shared.isStopping {
                    logger.warning("stopping while disconnected", metadata: ["reason": "\(schedule.count) held requests cannot be answered"])
                    return
                }
                endpointIndex = (endpointIndex + 1) % runtime.endpoints.count
                sleep(milliseconds: backoff.nextDelay())
            }
        }
    }

    private func startConsuming(_ connection: AMQPConnection) throws(AMQPError) {
        try connection.setPrefetch(runtime.prefetch)
        try runtime.declareRequestQueue(on: connection)
        if runtime.publisherConfirms {
            try connection.enablePublisherConfirms()
        }
        consumerTag = try connection.consume(queue: runtime.queue.name)
        if !isCounted {
            isCounted = true
            shared.statistics.consumersActive.add(1, ordering: .relaxed)
        }
    }

    private func stopCounting() {
        if isCounted {
            isCounted = false
            shared.statistics.consumersActive.subtract(1, ordering: .relaxed)
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

    // MARK: - Serving

    private func serve(_ connection: AMQPConnection) throws(AMQPError) {
        while !shared.isStopping {
            refreshState()
            let now = SystemTime.unixMilliseconds()
            try publishDueReplies(now: now, connection)

            var timeout = 100
            if let due = schedule.nextDue {
                timeout = Int(max(0, min(Int64(timeout), due - now)))
            }
            if !connection.hasBufferedInput { try flushAcks(connection) }
            let event = try connection.nextEvent(timeoutMilliseconds: timeout)
            try handle(event, connection)
            if case .timeout = event {
                LogSink.flush()
                shared.audit.flush()
            }
        }
    }

    private func handle(_ event: AMQPEvent, _ connection: AMQPConnection) throws(AMQPError) {
        switch event {
        case .delivery(let delivery):
            try handle(delivery, connection)
        case .timeout:
            break
        case .returned(let message):
            shared.statistics.unroutableReplies.add(1, ordering: .relaxed)
            logger.warning("reply unroutable: the requester's queue is gone", metadata: [
                "correlation_id": .string(TextEscaping.correlationID(message.properties.correlationID)),
                "reason": .string("\(message.replyCode) \(message.replyText), routing key \(message.routingKey)"),
            ])
        case .publisherAck(let sequence, let multiple):
            let settled = confirms.confirmed(upTo: sequence, multiple: multiple)
            if settled.areOldest, let last = settled.tags.last {
                // Every outstanding request up to `last` is settled: one
                // multiple ack will do, sent before the loop waits again.
                ackUpTo = max(ackUpTo ?? 0, last)
            } else {
                for tag in settled.tags { try connection.ack(deliveryTag: tag) }
            }
        case .publisherNack(let sequence, let multiple):
            // The broker lost the replies: give the requests back to be answered again.
            for tag in confirms.confirmed(upTo: sequence, multiple: multiple).tags {
                try connection.nack(deliveryTag: tag, multiple: false, requeue: true)
            }
            logger.warning("the broker refused replies; their requests go back to the queue", metadata: ["reason": "basic.nack up to \(sequence)"])
        case .consumerCancelled:
            logger.warning("the broker cancelled the consumer; consuming again", metadata: ["reason": "queue deleted or its node lost"])
            try runtime.declareRequestQueue(on: connection)
            consumerTag = try connection.consume(queue: runtime.queue.name)
        case .channelClosed(let code, let text):
            logger.error("the broker closed the channel; opening it again", metadata: ["reason": "\(code) \(text)"])
            confirms.reset()
            ackUpTo = nil
            try connection.reopenChannel()
            try startConsuming(connection)
        case .blocked(let blocked):
            if blocked {
                logger.warning("the broker blocks publishing (memory or disk alarm); replies wait")
            } else {
                logger.notice("the broker publishes again")
            }
        }
    }

    private func flushAcks(_ connection: AMQPConnection) throws(AMQPError) {
        guard let tag = ackUpTo else { return }
        ackUpTo = nil
        try connection.ack(deliveryTag: tag, multiple: true)
    }

    private func handle(_ delivery: Delivery, _ connection: AMQPConnection) throws(AMQPError) {
        let received = DispatchTime.now().uptimeNanoseconds
        shared.metrics.started()
        defer { shared.metrics.settled() }
        let now = SystemTime.unixMilliseconds()
        shared.statistics.lastDeliveryMilliseconds.store(now, ordering: .relaxed)
        let properties = delivery.properties
        let request = RequestMessage(
            body: delivery.body, replyTo: properties.replyTo, correlationID: properties.correlationID,
            userID: properties.userID, contentType: properties.contentType, type: properties.type
        )
        let shared = self.shared
        switch decider.decide(request, now: now, receivedAt: received, admit: { shared.admit(requester: $0, account: $1, now: $2) }) {
        case .reply(let reply):
            try publish(reply, answering: delivery.deliveryTag, connection)
            log(reply, receivedAt: received)
        case .schedule(let pending, let due):
            schedule.add(pending, dueMilliseconds: due)
            shared.statistics.repliesPending.add(1, ordering: .relaxed)
            // Acknowledged now, so that waiting requests never fill the
            // prefetch window; the worker keeps it until it answers.
            try connection.ack(deliveryTag: delivery.deliveryTag)
            logger.debug("request held for the next window", metadata: [
                "requester": .string(pending.requester), "account": .string(pending.account),
                "correlation_id": .string(TextEscaping.correlationID(pending.correlationID)),
            ])
        case .reject(let requester, let correlationID):
            try connection.reject(deliveryTag: delivery.deliveryTag, requeue: false)
            shared.metrics.counted(.rejected, nanoseconds: DispatchTime.now().uptimeNanoseconds &- received)
            logger.warning("request without reply_to rejected", metadata: [
                "requester": .string(requester ?? "-"),
                "correlation_id": .string(TextEscaping.correlationID(correlationID)),
                "outcome": "rejected",
            ])
        }
    }

    private func publishDueReplies(now: Int64, _ connection: AMQPConnection) throws(AMQPError) {
        guard let due = schedule.nextDue, due <= now else { return }
        for pending in schedule.popDue(now: now) {
            shared.statistics.repliesPending.subtract(1, ordering: .relaxed)
            let reply = decider.complete(pending, now: SystemTime.unixMilliseconds())
            try publish(reply, answering: nil, connection)
            log(reply, receivedAt: pending.receivedAt)
        }
    }

    /// Publishes a reply with every property of the protocol and
    /// `mandatory`; acknowledges the request now, or (with publisher
    /// confirms) once the broker confirms the reply.
    private func publish(_ reply: Reply, answering deliveryTag: UInt64?, _ connection: AMQPConnection) throws(AMQPError) {
        let properties = MessageProperties(
            contentType: ProtocolConstants.contentType,
            deliveryMode: .transient,
            correlationID: reply.correlationID,
            expiration: String(reply.expirationMilliseconds),
            timestamp: UInt64(reply.timestamp),
            type: ProtocolConstants.replyType
        )
        let sequence = try connection.publish(routingKey: reply.routingKey, mandatory: true, properties: properties, body: reply.body)
        if connection.publisherConfirmsEnabled {
            confirms.published(sequence: sequence, deliveryTag: deliveryTag)
        } else if let deliveryTag {
            try connection.ack(deliveryTag: deliveryTag)
        }
    }

    private func log(_ reply: Reply, receivedAt: UInt64) {
        let nanoseconds = DispatchTime.now().uptimeNanoseconds &- receivedAt
        shared.metrics.counted(reply.outcome, nanoseconds: nanoseconds)
        shared.audit.record(reply)
        // Built only when the line is written: this is the hot path.
        guard logger.logLevel <= .info else { return }
        let micros = nanoseconds / 1000
        var metadata: Logger.Metadata = [
            "requester": .string(reply.requester ?? "-"),
            "account": .string(reply.account ?? "-"),
            "correlation_id": .string(TextEscaping.correlationID(reply.correlationID)),
            "outcome": .string(reply.outcome.rawValue),
            "latency_ms": .string(Self.milliseconds(micros)),
        ]
        if let message = reply.message { metadata["reason"] = .string(message) }
        logger.info("request", metadata: metadata)
    }

    /// `micros` as milliseconds with three decimals, without Foundation's formatter.
    static func milliseconds(_ micros: UInt64) -> String {
        let fraction = micros % 1000
        return "\(micros / 1000)." + (fraction < 10 ? "00" : fraction < 100 ? "0" : "") + "\(fraction)"
    }

    private func refreshState() {
        if shared.stateGeneration != decider.state.generation {
            decider.replaceState(shared.currentState())
        }
    }

    // MARK: - Graceful shutdown

    /// Cancels the consumer, gives back deliveries that arrive after it,
    /// answers held requests whose window opens within the shutdown
    /// timeout (the rest `unavailable` with `retry_after_ms`), waits for
    /// outstanding confirms, and closes.
    private func shutDown(_ connection: AMQPConnection) throws(AMQPError) {
        if let consumerTag {
            try connection.cancel(consumerTag: consumerTag)
            self.consumerTag = nil
        }
        stopCounting()
        let start = SystemTime.unixMilliseconds()
        let deadline = start + Int64(runtime.shutdownTimeoutMilliseconds)

        // Held requests that would open after the deadline: answer now.
        var keep = ReplySchedule()
        for (due, pending) in schedule.drain() {
            if due <= deadline {
                keep.add(pending, dueMilliseconds: due)
            } else {
                shared.statistics.repliesPending.subtract(1, ordering: .relaxed)
                let reply = decider.unavailable(pending, now: start, retryAfterMilliseconds: due - start)
                try publish(reply, answering: nil, connection)
                log(reply, receivedAt: pending.receivedAt)
            }
        }
        schedule = keep
        if !schedule.isEmpty {
            logger.notice("answering held requests before stopping", metadata: ["reason": "\(schedule.count) wait for their window"])
        }

        while !schedule.isEmpty || confirms.outstanding > 0 {
            let now = SystemTime.unixMilliseconds()
            if now > deadline + 2000 { break }
            try publishDueReplies(now: now, connection)
            var timeout = 100
            if let due = schedule.nextDue { timeout = Int(max(0, min(100, due - now))) }
            if !connection.hasBufferedInput { try flushAcks(connection) }
            let event = try connection.nextEvent(timeoutMilliseconds: timeout)
            if case .delivery(let delivery) = event {
                // Delivered before the cancel took effect, not started: give it back.
                try connection.nack(deliveryTag: delivery.deliveryTag, multiple: false, requeue: true)
            } else {
                try handle(event, connection)
            }
        }
        try flushAcks(connection)
        // Deliveries still in flight after the cancel: give them back.
        while case .delivery(let delivery) = try connection.nextEvent(timeoutMilliseconds: 50) {
            try connection.nack(deliveryTag: delivery.deliveryTag, multiple: false, requeue: true)
        }
        LogSink.flush()
        shared.audit.flush()
    }
}
