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
final class ConsumerLoop: ConnectionSession {
    let index: Int
    let runtime: WorkerRuntime
    let shared: SharedWorkerState
    var logger: Logger

    private var decider: RequestDecider
    private let output: ReplyOutput
    private var schedule = ReplySchedule()
    private var confirms = ConfirmTracker()
    private var consumerTag: String?
    private var isCounted = false
    /// Confirmed requests not yet acknowledged: everything outstanding up to
    /// this tag. Sent as one `multiple` ack once the frames already read are
    /// handled, so that a burst of confirms costs the broker one ack.
    private var ackUpTo: UInt64?
    /// Deliveries not yet settled on this connection, with their
    /// fingerprints (``RedeliveryGuard``): if the connection is lost, each
    /// takes a strike.
    private var inFlight: [UInt64: Int] = [:]
    /// Requests nobody can be answered for, and poison, logged without flooding.
    private var rejections = CountedNotices<String>(burst: 5)
    /// Replies the broker refused (their queue refuses messages).
    private var refusals = CountedNotices<String>()

    init(index: Int, runtime: WorkerRuntime, shared: SharedWorkerState, logger: Logger) {
        self.index = index
        self.runtime = runtime
        self.shared = shared
        self.logger = logger
        self.logger[metadataKey: "worker"] = "\(index + 1)"
        decider = RequestDecider(state: shared.currentState())
        output = ReplyOutput(shared: shared, logger: self.logger, login: runtime.login)
    }

    // MARK: - Connection lifecycle

    func run() {
        Reconnecting(runtime: runtime, shared: shared, logger: logger, firstEndpoint: index).run(self)
    }

    func start(_ connection: AMQPConnection) throws(AMQPError) {
        try startConsuming(connection)
    }

    func connectionLost() {
        stopCounting()
        confirms.reset()
        ackUpTo = nil
        consumerTag = nil
        shared.connectionLost(inFlight: inFlight.values)
        inFlight = [:]
    }

    var unansweredOnStop: String { "\(schedule.count) held requests cannot be answered" }

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

    // MARK: - Serving

    func serve(_ connection: AMQPConnection) throws(AMQPError) {
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
                logDue()
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
            if message.properties.type == TurnMessage.requestType {
                try turnQueueMissing(message, connection)
            } else {
                output.returned(message)
            }
        case .publisherAck(let sequence, let multiple):
            let settled = confirms.confirmed(upTo: sequence, multiple: multiple)
            if settled.areOldest, let last = settled.tags.last {
                // Every outstanding request up to `last` is settled: one
                // multiple ack will do, sent before the loop waits again.
                ackUpTo = max(ackUpTo ?? 0, last)
            } else {
                for tag in settled.tags { try ack(tag, connection) }
            }
        case .publisherNack(let sequence, let multiple):
            // A forwarded turn the broker lost: the request goes back, to be
            // passed on again. A refused reply (its queue takes no more
            // messages): sending it again would be refused again, so the
            // request is settled, as for a reply whose queue is gone.
            let settled = confirms.confirmed(upTo: sequence, multiple: multiple)
            for tag in settled.tags {
                if settled.forwarded.contains(tag) {
                    try connection.nack(deliveryTag: tag, multiple: false, requeue: true)
                    inFlight[tag] = nil
                } else {
                    try ack(tag, connection)
                }
            }
            let replies = settled.tags.count - settled.forwarded.count
            if !settled.forwarded.isEmpty {
                logger.warning("the broker refused turns; their requests go back to the queue", metadata: ["reason": "basic.nack up to \(sequence)"])
            }
            if replies > 0 {
                shared.statistics.unroutableReplies.add(replies, ordering: .relaxed)
                noteRefusal("\(replies) replies")
            }
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
        inFlight = inFlight.filter { $0.key > tag }
    }

    /// Acknowledges one delivery: settled, no longer in flight.
    private func ack(_ tag: UInt64, _ connection: AMQPConnection) throws(AMQPError) {
        try connection.ack(deliveryTag: tag)
        inFlight[tag] = nil
    }

    private func noteRefusal(_ what: String) {
        switch refusals.note("refused", what, now: SystemTime.unixMilliseconds()) {
        case .say: logRefusals([what: 1])
        case .summarize(let counts): logRefusals(counts)
        case .hold: break
        }
    }

    private func logRefusals(_ counts: [String: Int]) {
        logger.warning("the broker refused replies: their queues take no more messages; not sent again", metadata: [
            "reason": .string(counts.keys.count == 1 && counts.values.first == 1 ? counts.keys.first! : CountedNotices<String>.describe(counts)),
        ])
    }

    /// Summaries whose minute has passed.
    private func logDue() {
        let now = SystemTime.unixMilliseconds()
        for (requester, counts) in rejections.due(now: now) { logRejections(requester, counts) }
        for (_, counts) in refusals.due(now: now) { logRefusals(counts) }
    }

    private func logRejections(_ requester: String, _ counts: [String: Int]) {
        logger.warning("requests rejected", metadata: [
            "requester": .string(requester), "outcome": "rejected",
            "reason": .string(CountedNotices<String>.describe(counts) + " since the last such line"),
        ])
    }

    private func handle(_ delivery: Delivery, _ connection: AMQPConnection) throws(AMQPError) {
        let received = DispatchTime.now().uptimeNanoseconds
        shared.metrics.started()
        defer { shared.metrics.settled() }
        let now = SystemTime.unixMilliseconds()
        shared.statistics.lastDeliveryMilliseconds.store(now, ordering: .relaxed)
        let properties = delivery.properties
        let fingerprint = RedeliveryGuard.fingerprint(userID: properties.userID, replyTo: properties.replyTo, correlationID: properties.correlationID, body: delivery.body)
        if delivery.redelivered && shared.isPoison(fingerprint) {
            // It was in flight on every connection lost lately: handling it
            // again would lose this one too.
            try connection.reject(deliveryTag: delivery.deliveryTag, requeue: false)
            shared.metrics.counted(.rejected, nanoseconds: DispatchTime.now().uptimeNanoseconds &- received)
            reject(properties.userID, properties.correlationID, "redelivered after lost connections, dropped as poison", quiet: false)
            return
        }
        inFlight[delivery.deliveryTag] = fingerprint
        let request = RequestMessage(
            body: delivery.body, replyTo: properties.replyTo, correlationID: properties.correlationID,
            userID: properties.userID, contentType: properties.contentType, type: properties.type
        )
        let shared = self.shared
        // Every request takes from its requester's rate, whatever it asks
        // (without user_id: one bucket for all such requests).
        let requesterWait = shared.admit(requester: properties.userID ?? "", now: now)
        switch decider.decide(request, now: now, receivedAt: received, requesterWait: requesterWait, admitAccount: { shared.admit(account: $0, now: $1) }) {
        case .reply(let reply):
            try publish(reply, answering: delivery.deliveryTag, connection)
            output.record(reply, receivedAt: received)
        case .schedule(let pending, let due):
            // A requester holds so many at most; past them, busy.
            guard shared.hold(requester: pending.requester, limit: decider.state.reply.maxHeldPerRequester) else {
                let reply = decider.busy(pending, retryAfterMilliseconds: due - now, now: now)
                try publish(reply, answering: delivery.deliveryTag, connection)
                output.record(reply, receivedAt: received)
                return
            }
            schedule.add(pending, dueMilliseconds: due)
            shared.statistics.repliesPending.add(1, ordering: .relaxed)
            // Acknowledged now, so that waiting requests never fill the
            // prefetch window; the worker keeps it until it answers.
            try ack(delivery.deliveryTag, connection)
            logger.debug("request held for the next window", metadata: [
                "requester": .string(pending.requester), "account": .string(pending.account),
                "correlation_id": .string(TextEscaping.correlationID(pending.correlationID)),
            ])
        case .takeTurn(let turn):
            try takeTurn(turn, answering: delivery.deliveryTag, connection)
        case .reject(let requester, let correlationID, let reason, let quiet):
            try connection.reject(deliveryTag: delivery.deliveryTag, requeue: false)
            inFlight[delivery.deliveryTag] = nil
            shared.metrics.counted(.rejected, nanoseconds: DispatchTime.now().uptimeNanoseconds &- received)
            reject(requester, correlationID, reason.rawValue, quiet: quiet)
        }
    }

    /// Logs a rejected request: a line each for the first few of a minute
    /// per requester (none over its rate), then counts.
    private func reject(_ requester: String?, _ correlationID: [UInt8]?, _ reason: String, quiet: Bool) {
        let name = requester ?? "-"
        let verdict = rejections.note(name, reason, now: SystemTime.unixMilliseconds())
        switch quiet ? (verdict == .say ? .hold : verdict) : verdict {
        case .say:
            logger.warning("request rejected: nobody can be answered", metadata: [
                "requester": .string(name), "correlation_id": .string(TextEscaping.correlationID(correlationID)),
                "outcome": "rejected", "reason": .string(reason),
            ])
        case .summarize(let counts): logRejections(name, counts)
        case .hold: break
        }
    }

    private func publishDueReplies(now: Int64, _ connection: AMQPConnection) throws(AMQPError) {
        guard let due = schedule.nextDue, due <= now else { return }
        for pending in schedule.popDue(now: now) {
            shared.statistics.repliesPending.subtract(1, ordering: .relaxed)
            shared.release(requester: pending.requester)
            let reply = decider.complete(pending, now: SystemTime.unixMilliseconds())
            try publish(reply, answering: nil, connection)
            output.record(reply, receivedAt: pending.receivedAt)
        }
    }

    /// Publishes a reply (``ReplyOutput/publish(_:_:)``); acknowledges the
    /// request now, or (with publisher confirms) once the broker confirms
    /// the reply.
    private func publish(_ reply: Reply, answering deliveryTag: UInt64?, _ connection: AMQPConnection) throws(AMQPError) {
        let sequence = try output.publish(reply, connection)
        try settle(deliveryTag, afterPublish: sequence, connection)
    }

    private func settle(_ deliveryTag: UInt64?, afterPublish sequence: UInt64, kind: ConfirmTracker.Kind = .reply, _ connection: AMQPConnection) throws(AMQPError) {
        if connection.publisherConfirmsEnabled {
            confirms.published(sequence: sequence, deliveryTag: deliveryTag, kind: kind)
        } else if let deliveryTag {
            try ack(deliveryTag, connection)
        }
    }

    // MARK: - Turns

    /// Sends a checked request of a `once_per_window` account to the
    /// account's turn queue (persistent, `mandatory`); the request is
    /// acknowledged once the broker confirms it has the turn.
    private func takeTurn(_ turn: TurnRequest, answering deliveryTag: UInt64, _ connection: AMQPConnection) throws(AMQPError) {
        guard let queue = runtime.turnQueueName(turn.account) else {
            // Not an account with turns at start-up (a reload cannot add one).
            try publish(decider.unavailable(turn, now: SystemTime.unixMilliseconds()), answering: deliveryTag, connection)
            return
        }
        let sequence = try connection.publish(.request(turn), to: queue, as: runtime.login)
        try settle(deliveryTag, afterPublish: sequence, kind: .forward, connection)
        logger.debug("request waits for its turn", metadata: [
            "requester": .string(turn.requester), "account": .string(turn.account),
            "correlation_id": .string(TextEscaping.correlationID(turn.correlationID)),
        ])
    }

    /// A turn the broker could not route: the account's turn queue is gone
    /// (deleted by hand). The requester hears so; the request is acked
    /// when the confirm comes, as for any returned message.
    private func turnQueueMissing(_ message: ReturnedMessage, _ connection: AMQPConnection) throws(AMQPError) {
        let properties = message.properties
        guard case .request(let turn)? = TurnMessage.decode(type: properties.type, messageID: properties.messageID, replyTo: properties.replyTo, correlationID: properties.correlationID, body: message.body) else { return }
        logger.error("a turn queue is missing; restart the worker to declare it", metadata: ["account": .string(turn.account), "reason": .string("\(message.replyCode) \(message.replyText)")])
        let reply = decider.unavailable(turn, now: SystemTime.unixMilliseconds())
        try publish(reply, answering: nil, connection)
        output.record(reply, receivedAt: DispatchTime.now().uptimeNanoseconds)
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
    func shutDown(_ connection: AMQPConnection) throws(AMQPError) {
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
                shared.release(requester: pending.requester)
                let reply = decider.unavailable(pending, now: start, retryAfterMilliseconds: due - start)
                try publish(reply, answering: nil, connection)
                output.record(reply, receivedAt: pending.receivedAt)
            }
        }
        schedule = keep
        if !schedule.isEmpty {
            logger.notice("answering held requests before stopping", metadata: ["reason": "\(schedule.count) wait for their window"])
            // Said now: the stop can take up to the shutdown timeout.
            LogSink.flush()
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
