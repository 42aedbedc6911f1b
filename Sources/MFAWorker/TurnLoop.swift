import AMQP
import Foundation
import Logging
import MFAProtocol
import MFAWorkerCore
import TOTP

/// Gives out the windows of the `once_per_window` accounts: one thread and
/// connection per worker process, consuming every such account's turn
/// queue (docs/design.md, "One code per window"). The decisions are the
/// ``TurnsMachine``'s; this loop reads the broker's events, feeds them to
/// the machine and performs the actions it returns, in order.
final class TurnLoop: ConnectionSession, MachineLoop {
    /// Unacknowledged turn-queue deliveries per connection: turns wait here
    /// for their window, which can be an hour away.
    static let prefetch = 2000

    let runtime: WorkerRuntime
    let shared: SharedWorkerState
    var logger: Logger

    private let output: ReplyOutput
    /// Names this process in its records; each connection adds its number.
    private let instance = "\(ProcessInfo.processInfo.processIdentifier)-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
    private var connections = 0
    private var pausesSeen = -1
    private var machine: TurnsMachine

    init(runtime: WorkerRuntime, shared: SharedWorkerState, logger: Logger) {
        let runtime = runtime.naming(connections: "mfa-worker turns")
        self.runtime = runtime
        self.shared = shared
        var logger = logger
        logger[metadataKey: "worker"] = "turns"
        self.logger = logger
        output = ReplyOutput(shared: shared, logger: logger, login: runtime.login)
        machine = TurnsMachine(
            settings: TurnsMachine.Settings(
                login: runtime.login, workerLogins: runtime.workerLogins, maxPerRequester: runtime.maxTurnsPerRequester,
                consumerTimeoutMilliseconds: Int64(runtime.consumerTimeoutMilliseconds),
                shutdownTimeoutMilliseconds: Int64(runtime.shutdownTimeoutMilliseconds), recordsHandouts: true
            ), state: shared.currentState())
    }

    func run() {
        shared.awaitGuard(logger: logger)
        Reconnecting(runtime: runtime, shared: shared, logger: logger, firstEndpoint: 0).run(self)
    }

    // MARK: - Connection lifecycle

    func start(_ connection: AMQPConnection) throws(AMQPError) {
        connections += 1
        try connection.setPrefetch(Self.prefetch)
        try connection.enablePublisherConfirms()
        var consumers: [TurnsMachine.Consumer] = []
        for group in runtime.turnGroups {
            try runtime.declareTurnQueue(group.queue, on: connection)
            consumers.append(
                TurnsMachine.Consumer(tag: try connection.consume(queue: group.queue), accounts: group.accounts, pool: group.pool, queue: group.queue))
        }
        _ = try step(.connected(consumers, holder: "\(instance)-\(connections)", now: SystemTime.unixMilliseconds()), connection)
        shared.statistics.turnsConnected.store(true, ordering: .relaxed)
    }

    func connectionLost() {
        shared.blocks.forget(threadName)
        // What this connection held goes back to the turn queues with it:
        // those turns are given a window again by the next holder; the ones
        // in flight take a strike (``RedeliveryGuard``).
        shared.connectionLost(inFlight: forget())
    }

    /// The machine forgets the connection; health and metrics say so.
    private func forget() -> [Int] {
        let (pending, held) = (machine.pendingReplies, machine.accountsHeld)
        let inFlight = machine.connectionLost()
        shared.statistics.repliesPending.subtract(pending, ordering: .relaxed)
        shared.statistics.turnAccountsHeld.subtract(held, ordering: .relaxed)
        shared.statistics.turnsConnected.store(false, ordering: .relaxed)
        return inFlight
    }

    var unansweredOnStop: String { "\(machine.pendingReplies) turns go back to their queues" }

    // MARK: - Serving

    func serve(_ connection: AMQPConnection) throws(AMQPError) {
        try serveUntilStopped(connection)
    }

    var machineGeneration: Int { machine.stateGeneration }
    var threadName: String { "turns" }
    func reloaded(_ state: ServiceState) -> TurnsMachine.Event { .reloaded(state) }
    func beginShutdown(now: Int64) -> TurnsMachine.Event { .beginShutdown(now: now) }

    /// Answers the turns whose window opens within the shutdown timeout and
    /// closes without cancelling the consumers (``TurnsMachine``).
    func shutDown(_ connection: AMQPConnection) throws(AMQPError) {
        try drain(connection)
        _ = forget()
        LogSink.flush()
        shared.audit.flush()
    }

    /// One turn of the loop: the clock, then one event (at most until the
    /// next reply is due). True once the machine asks to close.
    func next(_ connection: AMQPConnection) throws(AMQPError) -> Bool {
        var closed = try step(.tick(now: SystemTime.unixMilliseconds(), uptime: DispatchTime.now().uptimeNanoseconds), connection)
        let event = try connection.nextEvent(timeoutMilliseconds: Int(machine.waitMilliseconds(now: SystemTime.unixMilliseconds())))
        // Pauses that began while this thread waited apply to what it read.
        if shared.pausesGeneration != pausesSeen {
            pausesSeen = shared.pausesGeneration
            _ = try step(.pausesChanged(shared.pauses), connection)
        }
        if case .channelClosed(let code, let text) = event { throw .channelClosed(code: code, text: text) }
        if let input = input(event) {
            closed = try step(input, connection) || closed
        }
        if case .timeout = event {
            // Idle: write out what this thread logged and audited.
            LogSink.flush()
            shared.audit.flush()
        }
        return closed
    }

    /// The machine's view of a broker event; nil for what it does not need.
    private func input(_ event: AMQPEvent) -> TurnsMachine.Event? {
        let now = SystemTime.unixMilliseconds()
        switch event {
        case .delivery(let delivery):
            let properties = delivery.properties
            let message = TurnsMachine.Delivery(
                consumerTag: delivery.consumerTag, deliveryTag: delivery.deliveryTag, redelivered: delivery.redelivered,
                userID: properties.userID, type: properties.type, messageID: properties.messageID,
                replyTo: properties.replyTo, correlationID: properties.correlationID, body: delivery.body
            )
            let poison = delivery.redelivered && shared.isPoison(message.fingerprint)
            return .delivery(message, poison: poison, now: now, uptime: DispatchTime.now().uptimeNanoseconds)
        case .publisherAck(let sequence, let multiple):
            return .publisherAck(sequence: sequence, multiple: multiple, now: now)
        case .publisherNack(let sequence, let multiple):
            return .publisherNack(sequence: sequence, multiple: multiple, now: now)
        case .returned(let message):
            guard TurnMessage.types.contains(message.properties.type ?? "") else {
                output.returned(message)
                return nil
            }
            return .returned(type: message.properties.type, routingKey: message.routingKey, reply: "\(message.replyCode) \(message.replyText)")
        case .consumerCancelled(let tag):
            return .consumerCancelled(tag: tag)
        case .blocked(let blocked, let reason):
            shared.blocks.note(threadName, blocked: blocked, reason: reason, logger: logger)
            return nil
        case .timeout, .channelClosed:
            return nil
        }
    }

    /// Feeds one event to the machine and performs its actions in order.
    /// True when one of them is to close.
    func step(_ event: TurnsMachine.Event, _ connection: AMQPConnection) throws(AMQPError) -> Bool {
        let (pending, held) = (machine.pendingReplies, machine.accountsHeld)
        let actions = machine.handle(event)
        shared.statistics.repliesPending.add(machine.pendingReplies - pending, ordering: .relaxed)
        shared.statistics.turnAccountsHeld.add(machine.accountsHeld - held, ordering: .relaxed)
        var closed = false
        for action in actions {
            switch action {
            case .publishTurnMessage(let message, let queue):
                _ = try connection.publish(message, to: queue, as: runtime.login)
            case .publishReply(let reply, let receivedAt):
                _ = try output.publish(reply, connection)
                output.record(reply, receivedAt: receivedAt)
            case .publishGuardRecord(let record):
                _ = try connection.publish(record, to: runtime.guardQueue, as: runtime.login)
            case .ack(let tag):
                try connection.ack(deliveryTag: tag)
            case .nack(let tag, let requeue):
                try connection.nack(deliveryTag: tag, multiple: false, requeue: requeue)
            case .reconnect(let reason):
                throw .library(operation: "turns", reason: reason)
            case .dropped(let reason):
                shared.metrics.dropped(reason)
            case .log(let notice):
                log(notice)
            case .close:
                closed = true
            }
        }
        return closed
    }

    private func log(_ notice: TurnsMachine.Notice) {
        switch notice {
        case .holding(let account, let kept):
            logger.notice(
                "giving out this account's windows", metadata: ["account": .string(account), "reason": .string("\(kept) windows handed out before are kept")])
        case .dropped(let account, let counts):
            logger.warning(
                "messages in a turn queue dropped unread: not a turn, record or fence of this account from a worker login",
                metadata: [
                    "account": .string(account), "reason": .string(CountedNotices<String>.describe(counts)),
                ])
        case .poisonDropped(let account):
            logger.warning("a turn redelivered after lost connections was dropped as poison", metadata: ["account": .string(account)])
        case .recordsRefused(let sequence):
            logger.warning("the broker refused turn records; their turns go back to the queue", metadata: ["reason": "basic.nack up to \(sequence)"])
        case .repliesRefused(let count):
            shared.statistics.unroutableReplies.add(count, ordering: .relaxed)
            logger.warning("the broker refused replies: their queues take no more messages; not sent again", metadata: ["reason": .string("\(count) replies")])
        case .shuttingDown(let answering, let returned):
            logger.notice(
                "answering turns before stopping",
                metadata: [
                    "reason": .string("\(answering) open within the shutdown timeout; \(returned) go back to their queues")
                ])
            LogSink.flush()
        case .turnKept(let account, let windowStart):
            logger.debug(
                "turn kept by the worker: its window is recorded and further off than half the consumer_timeout",
                metadata: [
                    "account": .string(account), "window_start": .stringConvertible(windowStart),
                ])
        case .turnGiven(let requester, let account, let correlationID, let windowStart):
            logger.debug(
                "turn given",
                metadata: [
                    "requester": .string(requester), "account": .string(account),
                    "correlation_id": .string(TextEscaping.correlationID(correlationID)), "window_start": .stringConvertible(windowStart),
                ])
        }
    }
}
