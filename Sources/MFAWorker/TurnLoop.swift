import AMQP
import Foundation
import Logging
import MFAProtocol
import MFAWorkerCore
import TOTP

/// Gives out the windows of the `once_per_window` accounts: one thread and
/// connection per worker process, consuming every such account's turn
/// queue. The broker makes one consumer per queue the active one, so at
/// most one worker in the cluster gives out an account's windows at a time
/// (docs/design.md, "One code per window").
///
/// For each turn it takes a window in the account's ledger, writes the
/// ledger to the turn queue, and only once the broker confirms that record
/// schedules the reply for the window's start. The turn is acknowledged
/// when the reply is confirmed; a turn not yet answered when the connection
/// goes returns to the queue and is given a window again by whoever holds
/// the queue next.
final class TurnLoop: ConnectionSession {
    /// Unacknowledged turn-queue deliveries per connection: turns wait here
    /// for their window, which can be an hour away.
    static let prefetch = 2000

    let runtime: WorkerRuntime
    let shared: SharedWorkerState
    var logger: Logger

    private var decider: RequestDecider
    private let output: ReplyOutput
    /// Names this process in its records; each connection adds its number.
    private let instance = "\(ProcessInfo.processInfo.processIdentifier)-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
    private var connections = 0
    /// Keepers by consumer tag: one per account and connection.
    private var keepers: [String: TurnKeeper] = [:]
    /// What each turn queue's messages must be to be read, by consumer tag.
    private var guards: [String: TurnQueueGuard] = [:]
    /// Consumer tags by account.
    private var tags: [String: String] = [:]
    /// Dropped messages, logged at most once a minute per account.
    private var drops = CountedNotices<String>()
    /// Turns not yet settled on this connection, with their fingerprints
    /// (``RedeliveryGuard``).
    private var inFlight: [UInt64: Int] = [:]
    /// Replies whose record the broker has confirmed, by the window's start.
    private var schedule = ReplySchedule()
    /// Replies whose window's record is not confirmed yet: no code leaves
    /// before the broker has the record of its window.
    private var unconfirmed: [(sequence: UInt64, due: Int64, pending: PendingRequest)] = []
    private var confirms = ConfirmTracker()
    /// When the held records were last renewed (Unix ms).
    private var lastRenewal: Int64 = 0

    init(runtime: WorkerRuntime, shared: SharedWorkerState, logger: Logger) {
        var runtime = runtime
        // Told apart from the consumer threads' connections in the broker's
        // connection list.
        for index in runtime.endpoints.indices { runtime.endpoints[index].connectionName = "mfa-worker turns" }
        self.runtime = runtime
        self.shared = shared
        var logger = logger
        logger[metadataKey: "worker"] = "turns"
        self.logger = logger
        decider = RequestDecider(state: shared.currentState())
        output = ReplyOutput(shared: shared, logger: logger, login: runtime.login)
    }

    func run() {
        Reconnecting(runtime: runtime, shared: shared, logger: logger, firstEndpoint: 0).run(self)
    }

    // MARK: - Connection lifecycle

    func start(_ connection: AMQPConnection) throws(AMQPError) {
        connections += 1
        lastRenewal = SystemTime.unixMilliseconds()
        try connection.setPrefetch(Self.prefetch)
        try connection.enablePublisherConfirms()
        for account in runtime.turnAccounts {
            guard let queue = runtime.turnQueueName(account) else { continue }
            try runtime.declareTurnQueue(queue, on: connection)
            let tag = try connection.consume(queue: queue)
            keepers[tag] = TurnKeeper(account: account, holder: "\(instance)-\(connections)", maxPerRequester: runtime.maxTurnsPerRequester)
            guards[tag] = TurnQueueGuard(account: account, workerLogins: runtime.workerLogins)
            tags[account] = tag
        }
        shared.statistics.turnsConnected.store(true, ordering: .relaxed)
    }

    func connectionLost() {
        // What this connection held goes back to the turn queues with it:
        // those turns are given a window again by the next holder.
        releaseKeepers()
        shared.connectionLost(inFlight: inFlight.values)
        inFlight = [:]
        confirms.reset()
        shared.statistics.repliesPending.subtract(schedule.count + unconfirmed.count, ordering: .relaxed)
        schedule = ReplySchedule()
        unconfirmed = []
    }

    /// The connection's keepers go with it; health and metrics say so.
    private func releaseKeepers() {
        shared.statistics.turnsConnected.store(false, ordering: .relaxed)
        shared.statistics.turnAccountsHeld.subtract(keepers.values.filter { $0.phase == .serving }.count, ordering: .relaxed)
        keepers = [:]
        guards = [:]
        tags = [:]
    }

    var unansweredOnStop: String { "\(schedule.count + unconfirmed.count) turns go back to their queues" }

    // MARK: - Serving

    func serve(_ connection: AMQPConnection) throws(AMQPError) {
        while !shared.isStopping {
            if shared.stateGeneration != decider.state.generation {
                decider.replaceState(shared.currentState())
            }
            try wait(connection) { event throws(AMQPError) in try handle(event, connection) }
            try renewIfDue(connection)
            logDrops(drops.due(now: SystemTime.unixMilliseconds()))
        }
    }

    /// Every third of the broker's `consumer_timeout`, each keeper renews
    /// the record it holds (``TurnKeeper/renew(now:period:)``).
    private func renewIfDue(_ connection: AMQPConnection) throws(AMQPError) {
        let timeout = Int64(runtime.consumerTimeoutMilliseconds)
        let now = SystemTime.unixMilliseconds()
        guard timeout > 0, now - lastRenewal >= timeout / 3 else { return }
        lastRenewal = now
        for tag in keepers.keys.sorted() {
            guard var keeper = keepers[tag] else { continue }
            let actions = keeper.renew(now: now, period: period(of: keeper.account))
            keepers[tag] = keeper
            try perform(actions, consumerTag: tag, connection)
        }
    }

    /// Publishes the replies that are due, then waits for one event (at most
    /// until the next reply is due) and hands it on.
    private func wait(_ connection: AMQPConnection, _ body: (AMQPEvent) throws(AMQPError) -> Void) throws(AMQPError) {
        let now = SystemTime.unixMilliseconds()
        try publishDueReplies(now: now, connection)
        var timeout: Int64 = 100
        if let due = schedule.nextDue { timeout = max(0, min(timeout, due - now)) }
        try body(try connection.nextEvent(timeoutMilliseconds: Int(timeout)))
    }

    private func handle(_ event: AMQPEvent, _ connection: AMQPConnection) throws(AMQPError) {
        switch event {
        case .delivery(let delivery):
            try handle(delivery, connection)
        case .timeout:
            // Idle: write out what this thread logged and audited.
            LogSink.flush()
            shared.audit.flush()
        case .returned(let message):
            guard TurnMessage.types.contains(message.properties.type ?? "") else {
                output.returned(message)
                return
            }
            // A turn queue is gone: no record can be trusted to be kept, and
            // a turn sent round again would be lost with its confirm. Start
            // again from a new connection (which declares the queue again).
            throw .library(operation: "turn record", reason: "the broker could not route it to \(message.routingKey): \(message.replyCode) \(message.replyText)")
        case .publisherAck(let sequence, let multiple):
            for tag in confirms.confirmed(upTo: sequence, multiple: multiple).tags {
                try ack(tag, connection)
            }
            let now = SystemTime.unixMilliseconds()
            let timeout = Int64(runtime.consumerTimeoutMilliseconds)
            for var entry in takeUnconfirmed(upTo: sequence, multiple: multiple) {
                if timeout > 0, entry.due - now > timeout / 2, let tag = entry.pending.deliveryTag {
                    // Held that long, the turn would outlive the broker's
                    // consumer_timeout: its window is recorded, so the
                    // worker keeps it from here, as it keeps requests
                    // waiting for the next window.
                    try ack(tag, connection)
                    entry.pending.deliveryTag = nil
                }
                schedule.add(entry.pending, dueMilliseconds: entry.due)
            }
        case .publisherNack(let sequence, let multiple):
            // Lost records or turns sent round again: their turns go back to
            // be given a window again (a lost record's window is not used).
            // A refused reply (its queue takes no more messages) is not sent
            // again: its turn is settled, its window spent.
            let settled = confirms.confirmed(upTo: sequence, multiple: multiple)
            var deliveries = settled.forwarded
            for entry in takeUnconfirmed(upTo: sequence, multiple: multiple) {
                shared.statistics.repliesPending.subtract(1, ordering: .relaxed)
                release(entry.pending)
                if let tag = entry.pending.deliveryTag { deliveries.append(tag) }
            }
            for tag in deliveries {
                try connection.nack(deliveryTag: tag, multiple: false, requeue: true)
                inFlight[tag] = nil
            }
            let refused = settled.tags.filter { !settled.forwarded.contains($0) }
            for tag in refused { try ack(tag, connection) }
            if !deliveries.isEmpty {
                logger.warning("the broker refused turn records; their turns go back to the queue", metadata: ["reason": "basic.nack up to \(sequence)"])
            }
            if !refused.isEmpty {
                shared.statistics.unroutableReplies.add(refused.count, ordering: .relaxed)
                logger.warning("the broker refused replies: their queues take no more messages; not sent again", metadata: ["reason": .string("\(refused.count) replies")])
            }
        case .consumerCancelled(let tag):
            // A turn queue was deleted or lost its node: begin again on a
            // new connection, so that every turn it held is returned at once.
            throw .library(operation: "basic.cancel", reason: "the broker cancelled the turn consumer of \(keepers[tag]?.account ?? tag)")
        case .channelClosed(let code, let text):
            throw .channelClosed(code: code, text: text)
        case .blocked(let blocked):
            if blocked {
                logger.warning("the broker blocks publishing (memory or disk alarm); turns wait")
            } else {
                logger.notice("the broker publishes again")
            }
        }
    }

    private func takeUnconfirmed(upTo sequence: UInt64, multiple: Bool) -> [(sequence: UInt64, due: Int64, pending: PendingRequest)] {
        var taken: [(sequence: UInt64, due: Int64, pending: PendingRequest)] = []
        var kept: [(sequence: UInt64, due: Int64, pending: PendingRequest)] = []
        for entry in unconfirmed {
            if multiple ? entry.sequence <= sequence : entry.sequence == sequence {
                taken.append(entry)
            } else {
                kept.append(entry)
            }
        }
        unconfirmed = kept
        return taken
    }

    private func handle(_ delivery: Delivery, _ connection: AMQPConnection) throws(AMQPError) {
        guard var keeper = keepers[delivery.consumerTag], let gate = guards[delivery.consumerTag] else {
            try connection.nack(deliveryTag: delivery.deliveryTag, multiple: false, requeue: true)
            return
        }
        let properties = delivery.properties
        let now = SystemTime.unixMilliseconds()
        // Anyone with write on the default exchange can publish here: only
        // what a worker login wrote about this queue's account is read. The
        // rest is acknowledged and dropped (the keeper sees a delivery it
        // cannot use: still proof that this consumer is the active one).
        var message: TurnMessage?
        switch gate.admit(userID: properties.userID, type: properties.type, messageID: properties.messageID, replyTo: properties.replyTo, correlationID: properties.correlationID, body: delivery.body) {
        case .success(let admitted):
            message = admitted
            if case .request = admitted {
                let fingerprint = RedeliveryGuard.fingerprint(userID: properties.userID, replyTo: properties.replyTo, correlationID: properties.correlationID, body: delivery.body)
                if delivery.redelivered && shared.isPoison(fingerprint) {
                    // In flight on every turns connection lost lately: not
                    // handled again (its requester hears nothing and asks again).
                    message = nil
                    logger.warning("a turn redelivered after lost connections was dropped as poison", metadata: ["account": .string(keeper.account)])
                } else {
                    inFlight[delivery.deliveryTag] = fingerprint
                }
            }
        case .failure(let reason):
            shared.metrics.dropped(reason)
            switch drops.note(keeper.account, reason.rawValue, now: now) {
            case .say: logDrops([(keeper.account, [reason.rawValue: 1])])
            case .summarize(let counts): logDrops([(keeper.account, counts)])
            case .hold: break
            }
        }
        let actions = keeper.received(message, deliveryTag: delivery.deliveryTag, now: now, period: period(of: keeper.account))
        let wasServing = keepers[delivery.consumerTag]?.phase == .serving
        keepers[delivery.consumerTag] = keeper
        if !wasServing && keeper.phase == .serving {
            shared.statistics.turnAccountsHeld.add(1, ordering: .relaxed)
            logger.notice("giving out this account's windows", metadata: [
                "account": .string(keeper.account), "reason": .string("\(keeper.ledger.issued.count) windows handed out before are kept"),
            ])
        }
        try perform(actions, consumerTag: delivery.consumerTag, connection)
    }

    /// One warning per account and minute at most, with the counts.
    private func logDrops(_ lines: [(key: String, counts: [String: Int])]) {
        for (account, counts) in lines {
            logger.warning("messages in a turn queue dropped unread: not a turn, record or fence of this account from a worker login", metadata: [
                "account": .string(account), "reason": .string(CountedNotices<String>.describe(counts)),
            ])
        }
    }

    /// Acknowledges a delivery: settled, no longer in flight.
    private func ack(_ tag: UInt64, _ connection: AMQPConnection) throws(AMQPError) {
        try connection.ack(deliveryTag: tag)
        inFlight[tag] = nil
    }

    /// The requester of `pending` no longer holds its window.
    private func release(_ pending: PendingRequest) {
        guard let window = pending.window, let tag = tags[pending.account] else { return }
        keepers[tag]?.release(requester: pending.requester, window: window.counter)
    }

    private func perform(_ actions: [TurnKeeper.Action], consumerTag: String, _ connection: AMQPConnection) throws(AMQPError) {
        for action in actions {
            // The keeper as it is now: an earlier action may have taken a window.
            guard let keeper = keepers[consumerTag] else { return }
            switch action {
            case .publishFence(let id):
                try write(.fence(id: id), account: keeper.account, connection)
            case .publishRecord:
                try write(keeper.record, account: keeper.account, connection)
            case .ack(let tag):
                try connection.ack(deliveryTag: tag)
            case .decide(let tag, let turn):
                try decide(turn, deliveryTag: tag, consumerTag: consumerTag, connection)
            case .requeue(let tag, let turn):
                try write(.request(turn), account: keeper.account, acknowledging: tag, connection)
            }
        }
    }

    /// Gives a turn its window (or `busy`). A window's reply waits for the
    /// broker's confirm of the record that lists it.
    private func decide(_ turn: TurnRequest, deliveryTag: UInt64, consumerTag: String, _ connection: AMQPConnection) throws(AMQPError) {
        guard var keeper = keepers[consumerTag] else { return }
        let now = SystemTime.unixMilliseconds()
        let choice = keeper.assign(turn, now: now, period: period(of: keeper.account))
        keepers[consumerTag] = keeper
        let receivedAt = DispatchTime.now().uptimeNanoseconds &- UInt64(max(0, now - turn.receivedMilliseconds)) &* 1_000_000
        switch choice {
        case .busy(let retryAfter):
            let reply = decider.busy(turn, retryAfterMilliseconds: retryAfter, now: now)
            confirms.published(sequence: try output.publish(reply, connection), deliveryTag: deliveryTag)
            output.record(reply, receivedAt: receivedAt)
        case .capped(let retryAfter):
            let reply = decider.busy(turn, retryAfterMilliseconds: retryAfter, now: now, reason: Messages.turnsHeld)
            confirms.published(sequence: try output.publish(reply, connection), deliveryTag: deliveryTag)
            output.record(reply, receivedAt: receivedAt)
        case .window(let window, let opensAt):
            let sequence = try write(keeper.record, account: keeper.account, connection)
            let pending = PendingRequest(
                replyTo: turn.replyTo, correlationID: turn.correlationID, requester: turn.requester, account: turn.account,
                minValidityMilliseconds: turn.minValidityMilliseconds, receivedAt: receivedAt, window: window, deliveryTag: deliveryTag
            )
            unconfirmed.append((sequence, opensAt, pending))
            shared.statistics.repliesPending.add(1, ordering: .relaxed)
            logger.debug("turn given", metadata: [
                "requester": .string(turn.requester), "account": .string(turn.account),
                "correlation_id": .string(TextEscaping.correlationID(turn.correlationID)),
                "window_start": .stringConvertible(window.start),
            ])
        }
    }

    /// Publishes a message to the account's turn queue (persistent,
    /// `mandatory`, confirmed); `acknowledging` is settled on the confirm.
    @discardableResult
    private func write(_ message: TurnMessage, account: String, acknowledging deliveryTag: UInt64? = nil, _ connection: AMQPConnection) throws(AMQPError) -> UInt64 {
        guard let queue = runtime.turnQueueName(account) else {
            throw .library(operation: "turn record", reason: "no turn queue for an account")
        }
        let sequence = try connection.publish(message, to: queue, as: runtime.login)
        confirms.published(sequence: sequence, deliveryTag: deliveryTag, kind: .forward)
        return sequence
    }

    private func publishDueReplies(now: Int64, _ connection: AMQPConnection) throws(AMQPError) {
        guard let due = schedule.nextDue, due <= now else { return }
        for pending in schedule.popDue(now: now) {
            shared.statistics.repliesPending.subtract(1, ordering: .relaxed)
            release(pending)
            let reply = decider.complete(pending, now: SystemTime.unixMilliseconds())
            confirms.published(sequence: try output.publish(reply, connection), deliveryTag: pending.deliveryTag)
            output.record(reply, receivedAt: pending.receivedAt)
        }
    }

    private func period(of account: String) -> Int {
        // Accounts with turn queues cannot be removed by a reload.
        decider.period(of: account) ?? 30
    }

    // MARK: - Graceful shutdown

    /// Answers the turns whose window opens within the shutdown timeout and
    /// waits for the confirms. The consumers are not cancelled: the turns
    /// and records this connection holds go back to their queues when it
    /// closes, in the same step that makes another worker's consumer the
    /// active one, so that worker reads every record before it decides.
    func shutDown(_ connection: AMQPConnection) throws(AMQPError) {
        let start = SystemTime.unixMilliseconds()
        let deadline = start + Int64(runtime.shutdownTimeoutMilliseconds)
        var keep = ReplySchedule()
        var returned = 0
        for (due, pending) in schedule.drain() {
            if due <= deadline {
                keep.add(pending, dueMilliseconds: due)
            } else if pending.deliveryTag == nil {
                // Acknowledged already (its window is far off): it cannot go
                // back to the queue, so it hears when to ask again.
                shared.statistics.repliesPending.subtract(1, ordering: .relaxed)
                let reply = decider.unavailable(pending, now: start, retryAfterMilliseconds: due - start)
                confirms.published(sequence: try output.publish(reply, connection), deliveryTag: nil)
                output.record(reply, receivedAt: pending.receivedAt)
            } else {
                returned += 1
            }
        }
        schedule = keep
        let late = unconfirmed.filter { $0.due > deadline }.count
        unconfirmed.removeAll { $0.due > deadline }
        returned += late
        shared.statistics.repliesPending.subtract(returned, ordering: .relaxed)
        if !schedule.isEmpty || !unconfirmed.isEmpty || returned > 0 {
            logger.notice("answering turns before stopping", metadata: [
                "reason": .string("\(schedule.count + unconfirmed.count) open within the shutdown timeout; \(returned) go back to their queues"),
            ])
            LogSink.flush()
        }
        while !schedule.isEmpty || !unconfirmed.isEmpty || confirms.outstanding > 0 {
            if SystemTime.unixMilliseconds() > deadline + 2000 { break }
            try wait(connection) { event throws(AMQPError) in
                // New deliveries stay unacknowledged: back to the queue at close.
                if case .delivery = event { return }
                try handle(event, connection)
            }
        }
        releaseKeepers()
        LogSink.flush()
        shared.audit.flush()
    }
}
