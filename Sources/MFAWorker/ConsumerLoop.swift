import AMQP
import Foundation
import Logging
import MFAConfig
import MFAProtocol
import MFAWorkerCore
import TOTP

/// One consumer thread: its own connection and channel, reconnecting on its
/// own when the connection drops. The decisions are the
/// ``ConsumerMachine``'s; this loop reads the broker's events, feeds them
/// to the machine with what the threads share (the rate buckets, the
/// ``RedeliveryGuard``), and performs the actions it returns, in order.
final class ConsumerLoop: ConnectionSession, MachineLoop {
    let index: Int
    let runtime: WorkerRuntime
    let shared: SharedWorkerState
    var logger: Logger

    private let output: ReplyOutput
    private let directReplies: DirectReplyProbe
    private var machine: ConsumerMachine
    private var consumerTag: String?
    private var isCounted = false
    private var pausesSeen = -1

    init(index: Int, runtime: WorkerRuntime, shared: SharedWorkerState, logger: Logger) {
        self.index = index
        self.runtime = runtime
        self.shared = shared
        self.logger = logger
        self.logger[metadataKey: "worker"] = "\(index + 1)"
        output = ReplyOutput(shared: shared, logger: self.logger, login: runtime.login)
        directReplies = DirectReplyProbe(endpoint: runtime.endpoints[index % runtime.endpoints.count], shared: shared, logger: self.logger)
        machine = ConsumerMachine(
            settings: .init(
                publisherConfirms: runtime.publisherConfirms, shutdownTimeoutMilliseconds: Int64(runtime.shutdownTimeoutMilliseconds), recordsHandouts: true),
            state: shared.currentState()
        )
    }

    // MARK: - Connection lifecycle

    func run() {
        shared.awaitGuard(logger: logger)
        Reconnecting(runtime: runtime, shared: shared, logger: logger, firstEndpoint: index).run(self)
    }

    func start(_ connection: AMQPConnection) throws(AMQPError) {
        try startConsuming(connection)
    }

    func connectionLost() {
        shared.blocks.forget(threadName)
        stopCounting()
        consumerTag = nil
        shared.connectionLost(inFlight: machine.connectionLost())
    }

    var unansweredOnStop: String { "\(machine.heldCount) held requests cannot be answered" }

    private func startConsuming(_ connection: AMQPConnection) throws(AMQPError) {
        // The replies and acks of a batch of deliveries leave in one write,
        // when the next read would wait (the machine's order kept).
        connection.coalescesWrites = true
        try connection.setPrefetch(runtime.prefetch)
        try runtime.declareRequestQueue(on: connection)
        if runtime.publisherConfirms {
            try connection.enablePublisherConfirms()
        }
        consumerTag = try connection.consume(queue: runtime.queue.name)
        _ = try step(.connected, connection)
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
        try serveUntilStopped(connection)
    }

    var machineGeneration: Int { machine.stateGeneration }
    var threadName: String { "consumer-\(index + 1)" }
    func reloaded(_ state: ServiceState) -> ConsumerMachine.Event { .reloaded(state) }
    func beginShutdown(now: Int64) -> ConsumerMachine.Event { .beginShutdown(now: now) }

    /// Cancels the consumer, answers held requests whose window opens
    /// within the shutdown timeout (the rest `unavailable`), waits for the
    /// confirms, and gives back what still arrives.
    func shutDown(_ connection: AMQPConnection) throws(AMQPError) {
        directReplies.close()
        try drain(connection)
        // Deliveries still in flight after the cancel: give them back.
        while case .delivery(let delivery) = try connection.nextEvent(timeoutMilliseconds: 50) {
            try connection.nack(deliveryTag: delivery.deliveryTag, multiple: false, requeue: true)
        }
        LogSink.flush()
        shared.audit.flush()
    }

    /// One turn of the loop: the clock, the batched ack when nothing is
    /// waiting, then one event (at most until the next held reply is due).
    /// True once the machine asks to close.
    func next(_ connection: AMQPConnection) throws(AMQPError) -> Bool {
        let now = SystemTime.unixMilliseconds()
        var closed = try step(.tick(now: now), connection)
        if !connection.hasBufferedInput { closed = try step(.idle, connection) || closed }
        let event = try connection.nextEvent(timeoutMilliseconds: Int(machine.waitMilliseconds(now: now)))
        // Pauses that began while this thread waited apply to what it read.
        if shared.pausesGeneration != pausesSeen {
            pausesSeen = shared.pausesGeneration
            _ = try step(.pausesChanged(shared.pauses), connection)
        }
        if let input = input(event) {
            if case .delivery = event { shared.metrics.started() }
            defer { if case .delivery = event { shared.metrics.settled() } }
            closed = try step(input, connection) || closed
        }
        if case .timeout = event {
            LogSink.flush()
            shared.audit.flush()
        }
        return closed
    }

    /// The machine's view of a broker event; nil for what it does not need.
    private func input(_ event: AMQPEvent) -> ConsumerMachine.Event? {
        switch event {
        case .delivery(let delivery):
            let properties = delivery.properties
            let now = SystemTime.unixMilliseconds()
            shared.statistics.lastDeliveryMilliseconds.store(now, ordering: .relaxed)
            var message = RequestMessage(
                body: delivery.body, replyTo: properties.replyTo, correlationID: properties.correlationID,
                userID: properties.userID, contentType: properties.contentType, type: properties.type
            )
            // A direct reply-to name is answered only on a node the broker
            // runs: a made-up one would cost this connection.
            if let replyTo = properties.replyTo, replyTo.utf8.starts(with: DirectReplyTo.pseudoQueue.utf8) {
                message.replyToReachable = directReplies.reachable(replyTo, requester: properties.userID ?? "", now: now)
            }
            let request = ConsumerMachine.Delivery(deliveryTag: delivery.deliveryTag, redelivered: delivery.redelivered, message: message)
            let poison = delivery.redelivered && shared.isPoison(request.fingerprint)
            // Every request takes from its requester's rate, whatever it
            // asks (without user_id: one bucket for all such requests).
            let requesterWait = shared.admit(requester: properties.userID ?? "", now: now)
            return .delivery(request, poison: poison, requesterWait: requesterWait, now: now, uptime: DispatchTime.now().uptimeNanoseconds)
        case .publisherAck(let sequence, let multiple):
            return .publisherAck(sequence: sequence, multiple: multiple)
        case .publisherNack(let sequence, let multiple):
            return .publisherNack(sequence: sequence, multiple: multiple)
        case .returned(let message):
            guard message.properties.type == TurnMessage.requestType else {
                output.returned(message)
                return nil
            }
            let properties = message.properties
            return .turnReturned(
                type: properties.type, replyTo: properties.replyTo, correlationID: properties.correlationID, body: message.body,
                reply: "\(message.replyCode) \(message.replyText)", now: SystemTime.unixMilliseconds())
        case .consumerCancelled:
            return .consumerCancelled
        case .channelClosed(let code, let text):
            return .channelClosed("\(code) \(text)")
        case .blocked(let blocked, let reason):
            shared.blocks.note(threadName, blocked: blocked, reason: reason, logger: logger)
            return nil
        case .timeout:
            return nil
        }
    }

    /// Feeds one event to the machine and performs its actions in order.
    /// True when one of them is to close.
    func step(_ event: ConsumerMachine.Event, _ connection: AMQPConnection) throws(AMQPError) -> Bool {
        let held = machine.heldCount
        var actions = machine.handle(event)
        var closed = false
        var index = 0
        while index < actions.count {
            switch actions[index] {
            case .publishReply(let reply, let receivedAt):
                _ = try output.publish(reply, connection)
                output.record(reply, receivedAt: receivedAt)
            case .publishGuardRecord(let record):
                _ = try connection.publish(record, to: runtime.guardQueue, as: runtime.login)
            case .claimOutcome(let claim):
                let id = shared.registerClaim(claim)
                _ = try connection.publish(claim.record(origin: shared.guardOrigin, id: id), to: runtime.guardQueue, as: runtime.login)
            case .forwardTurn(let turn):
                guard let queue = runtime.turnQueueName(turn.account) else { break }
                _ = try connection.publish(.request(turn), to: queue, as: runtime.login)
            case .checkAccountRate(let account):
                // Answered at once: the account's bucket is shared by the threads.
                actions += machine.handle(.accountRate(wait: shared.admit(account: account, now: SystemTime.unixMilliseconds())))
            case .ack(let tag, let multiple):
                try connection.ack(deliveryTag: tag, multiple: multiple)
            case .nack(let tag, let requeue):
                try connection.nack(deliveryTag: tag, multiple: false, requeue: requeue)
            case .reject(let tag, let receivedAt):
                try connection.reject(deliveryTag: tag, requeue: false)
                shared.metrics.counted(.rejected, nanoseconds: DispatchTime.now().uptimeNanoseconds &- receivedAt)
            case .drop(let tag, let receivedAt):
                try connection.ack(deliveryTag: tag)
                shared.metrics.counted(.rejected, nanoseconds: DispatchTime.now().uptimeNanoseconds &- receivedAt)
            case .consumeAgain:
                try runtime.declareRequestQueue(on: connection)
                consumerTag = try connection.consume(queue: runtime.queue.name)
            case .reopenChannel:
                try connection.reopenChannel()
                try startConsuming(connection)
            case .cancelConsumer:
                if let consumerTag {
                    try connection.cancel(consumerTag: consumerTag)
                    self.consumerTag = nil
                }
                stopCounting()
            case .strike(let fingerprints):
                shared.connectionLost(inFlight: fingerprints)
            case .unroutable(let count):
                shared.statistics.unroutableReplies.add(count, ordering: .relaxed)
            case .log(let notice):
                log(notice)
            case .close:
                closed = true
            }
            index += 1
        }
        shared.statistics.repliesPending.add(machine.heldCount - held, ordering: .relaxed)
        return closed
    }

    private func log(_ notice: ConsumerMachine.Notice) {
        switch notice {
        case .rejected(let requester, let correlationID, let reason):
            logger.warning(
                "request rejected: nobody can be answered",
                metadata: [
                    "requester": .string(requester), "correlation_id": .string(TextEscaping.correlationID(correlationID)),
                    "outcome": "rejected", "reason": .string(reason),
                ])
        case .rejections(let requester, let counts):
            logger.warning(
                "requests rejected",
                metadata: [
                    "requester": .string(requester), "outcome": "rejected",
                    "reason": .string(CountedNotices<String>.describe(counts) + " since the last such line"),
                ])
        case .repliesRefused(let counts):
            logger.warning(
                "the broker refused replies: their queues take no more messages; not sent again",
                metadata: [
                    "reason": .string(CountedNotices<String>.describe(counts))
                ])
        case .turnsRefused(let sequence):
            logger.warning("the broker refused turns; their requests go back to the queue", metadata: ["reason": "basic.nack up to \(sequence)"])
        case .turnQueueMissing(let account, let reply):
            logger.error("a turn queue is missing; restart the worker to declare it", metadata: ["account": .string(account), "reason": .string(reply)])
        case .consumerCancelled:
            logger.warning("the broker cancelled the consumer; consuming again", metadata: ["reason": "queue deleted or its node lost"])
        case .channelClosed(let reason):
            logger.error("the broker closed the channel; opening it again", metadata: ["reason": .string(reason)])
        case .answeringBeforeStop(let held):
            logger.notice("answering held requests before stopping", metadata: ["reason": "\(held) wait for their window"])
            // Said now: the stop can take up to the shutdown timeout.
            LogSink.flush()
        case .held(let requester, let account, let correlationID):
            logger.debug(
                "request held for the next window",
                metadata: [
                    "requester": .string(requester), "account": .string(account), "correlation_id": .string(TextEscaping.correlationID(correlationID)),
                ])
        case .turnWaits(let requester, let account, let correlationID):
            logger.debug(
                "request waits for its turn",
                metadata: [
                    "requester": .string(requester), "account": .string(account), "correlation_id": .string(TextEscaping.correlationID(correlationID)),
                ])
        }
    }
}
