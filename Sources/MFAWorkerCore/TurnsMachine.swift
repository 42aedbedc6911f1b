import MFAConfig
import MFAProtocol
import TOTP

/// The turns of every `once_per_window` account on one connection, as a
/// state machine: events in (deliveries, publisher confirms, returns, the
/// clock, a stop), actions out (publish, acknowledge, log). No I/O: the
/// turns thread (`TurnLoop`) performs the actions in order and feeds back
/// what the broker says; tests drive it with a fake clock.
///
/// What it owns: a ``TurnKeeper`` and a ``TurnQueueGuard`` per turn queue,
/// the replies whose window's record the broker has not confirmed yet (no
/// code leaves before its record is confirmed), the schedule of confirmed
/// replies, the publisher-confirm bookkeeping, the renewals within the
/// broker's `consumer_timeout`, and the shutdown split.
///
/// Publisher confirms number a channel's publishes 1, 2, 3...; every
/// publish of the channel is an action of this machine, so it numbers them
/// itself, in the order it asks for them.
public struct TurnsMachine: Sendable {
    public struct Settings: Sendable {
        /// The worker's broker login: the `user_id` of what it publishes.
        public var login: String
        /// Whose turn-queue messages are believed.
        public var workerLogins: [String]
        public var maxPerRequester: Int
        /// The broker's `consumer_timeout` in ms; 0: none.
        public var consumerTimeoutMilliseconds: Int64
        public var shutdownTimeoutMilliseconds: Int64
        /// Names this machine's records (a process and connection id; each
        /// connection gives its own, ``Event/connected(_:holder:now:)``).
        public var holder: String
        public var syncBacklog: Int
        /// Write each requester's first code of an account's window into
        /// the guard log (``GuardRecord/handout(requester:account:windowStart:windowEnd:)``),
        /// before the reply: the worker does; tests of other things need not.
        public var recordsHandouts: Bool

        public init(
            login: String, workerLogins: [String], maxPerRequester: Int = 3, consumerTimeoutMilliseconds: Int64 = 1_800_000,
            shutdownTimeoutMilliseconds: Int64 = 30_000, holder: String = "", syncBacklog: Int = 1000, recordsHandouts: Bool = false
        ) {
            self.recordsHandouts = recordsHandouts
            self.login = login
            self.workerLogins = workerLogins
            self.maxPerRequester = maxPerRequester
            self.consumerTimeoutMilliseconds = consumerTimeoutMilliseconds
            self.shutdownTimeoutMilliseconds = shutdownTimeoutMilliseconds
            self.holder = holder
            self.syncBacklog = syncBacklog
        }
    }

    /// One turn queue this connection consumes: an account's, or a pool's.
    public struct Consumer: Sendable, Equatable {
        public var tag: String
        public var accounts: [String]
        public var pool: String?
        public var queue: String
        public init(tag: String, account: String, queue: String) {
            self.init(tag: tag, accounts: [account], pool: nil, queue: queue)
        }
        public init(tag: String, accounts: [String], pool: String?, queue: String) {
            self.tag = tag
            self.accounts = accounts
            self.pool = pool
            self.queue = queue
        }
        /// What logs call the queue: the pool, or the account.
        public var name: String { pool ?? accounts[0] }
    }

    /// A message from a turn queue, as plain values.
    public struct Delivery: Sendable {
        public var consumerTag: String
        public var deliveryTag: UInt64
        public var redelivered: Bool
        public var userID: String?
        public var type: String?
        public var messageID: String?
        public var replyTo: String?
        public var correlationID: [UInt8]?
        public var body: [UInt8]

        public init(
            consumerTag: String, deliveryTag: UInt64, redelivered: Bool = false, userID: String?, type: String?, messageID: String? = nil,
            replyTo: String? = nil, correlationID: [UInt8]? = nil, body: [UInt8]
        ) {
            self.consumerTag = consumerTag
            self.deliveryTag = deliveryTag
            self.redelivered = redelivered
            self.userID = userID
            self.type = type
            self.messageID = messageID
            self.replyTo = replyTo
            self.correlationID = correlationID
            self.body = body
        }

        /// What ``RedeliveryGuard`` knows the message by.
        public var fingerprint: Int {
            RedeliveryGuard.fingerprint(userID: userID, replyTo: replyTo, correlationID: correlationID, body: body)
        }
    }

    public enum Event: Sendable {
        /// A connection consumes these turn queues (confirms selected);
        /// `holder` names its records.
        case connected([Consumer], holder: String, now: Int64)
        /// `poison`: the caller's ``RedeliveryGuard`` says this redelivered
        /// message was in flight on too many lost connections.
        case delivery(Delivery, poison: Bool, now: Int64, uptime: UInt64)
        case publisherAck(sequence: UInt64, multiple: Bool, now: Int64)
        case publisherNack(sequence: UInt64, multiple: Bool, now: Int64)
        /// A message of ours the broker could not route.
        case returned(type: String?, routingKey: String, reply: String)
        case consumerCancelled(tag: String)
        /// Time passes: due replies, renewals, log summaries.
        case tick(now: Int64, uptime: UInt64)
        /// Stop: answer what opens within the shutdown timeout, give the
        /// rest back.
        case beginShutdown(now: Int64)
        /// A new state for building replies (a reload).
        case reloaded(ServiceState)
        /// The lockout guard's pauses changed.
        case pausesChanged(PauseTable)
    }

    public enum Action: Sendable {
        /// Publish to a turn queue (persistent, mandatory, `user_id` =
        /// login); its confirm will carry the next sequence number.
        case publishTurnMessage(TurnMessage, queue: String)
        /// Publish a reply; then count, log and audit it (`receivedAt`:
        /// uptime ns when a worker received the request).
        case publishReply(Reply, receivedAt: UInt64)
        /// Write a handout into the guard log, before the reply that
        /// carries its code (confirmed like a reply).
        case publishGuardRecord(GuardRecord)
        case ack(UInt64)
        case nack(UInt64, requeue: Bool)
        /// The connection cannot be trusted to keep records: end it (the
        /// loop reconnects, which declares the queues again).
        case reconnect(String)
        /// A message dropped unread from a turn queue (for the metric).
        case dropped(TurnDrop)
        case log(Notice)
        /// The shutdown is complete: close the connection (which gives back
        /// what it holds).
        case close
    }

    /// What the machine wants said; the loop writes the lines.
    public enum Notice: Sendable, Equatable {
        /// This connection became the active consumer of the account's turns.
        case holding(account: String, windowsKept: Int)
        case dropped(account: String, counts: [String: Int])
        case poisonDropped(account: String)
        case recordsRefused(sequence: UInt64)
        case repliesRefused(count: Int)
        case shuttingDown(answering: Int, returned: Int)
        /// A turn whose window is far off was acknowledged once its window
        /// was recorded: the worker keeps it from here (a debug line).
        case turnKept(account: String, windowStart: Int64)
        /// A turn was given this window (a debug line).
        case turnGiven(requester: String, account: String, correlationID: [UInt8]?, windowStart: Int64)
    }

    public private(set) var settings: Settings
    private var decider: RequestDecider
    private var queues: [String: (consumer: Consumer, keeper: TurnKeeper, gate: TurnQueueGuard)] = [:]
    private var tags: [String: String] = [:]
    private var nextSequence: UInt64 = 1
    private var confirms = ConfirmTracker()
    private var schedule = ReplySchedule()
    /// Replies whose window's record is not confirmed yet.
    private var unconfirmed: [(sequence: UInt64, due: Int64, pending: PendingRequest)] = []
    private var lastRenewal: Int64 = 0
    private var drops = CountedNotices<String>()
    /// Turns not settled on this connection, with their fingerprints.
    public private(set) var inFlight: [UInt64: Int] = [:]
    private var shutdownDeadline: Int64?
    private var closing = false
    private var handouts = HandoutLedger()

    public init(settings: Settings, state: ServiceState) {
        self.settings = settings
        decider = RequestDecider(state: state)
    }

    // MARK: - What the loop reads

    /// Replies held (awaiting a record's confirm or their window).
    public var pendingReplies: Int { schedule.count + unconfirmed.count }
    /// Accounts whose windows this connection gives out.
    public var accountsHeld: Int { queues.values.filter { $0.keeper.phase == .serving }.count }
    /// The state generation replies are built with.
    public var stateGeneration: Int { decider.state.generation }
    /// How long the loop may wait for the next event (ms).
    public func waitMilliseconds(now: Int64) -> Int64 {
        var timeout: Int64 = 100
        if let due = schedule.nextDue { timeout = max(0, min(timeout, due - now)) }
        return timeout
    }
    /// A keeper, for tests and health.
    public func keeper(of account: String) -> TurnKeeper? {
        tags[account].flatMap { queues[$0]?.keeper }
    }

    // MARK: - Events

    public mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .connected(let consumers, let holder, let now):
            settings.holder = holder
            return connected(consumers, now: now)
        case .delivery(let delivery, let poison, let now, let uptime):
            return received(delivery, poison: poison, now: now, uptime: uptime)
        case .publisherAck(let sequence, let multiple, let now):
            return confirmed(sequence, multiple: multiple, now: now)
        case .publisherNack(let sequence, let multiple, _):
            return refused(sequence, multiple: multiple)
        case .returned(let type, let routingKey, let reply):
            // A turn queue is gone: no record can be trusted to be kept.
            guard TurnMessage.types.contains(type ?? "") else { return [] }
            return [.reconnect("the broker could not route a turn message to \(routingKey): \(reply)")]
        case .consumerCancelled(let tag):
            // A turn queue was deleted or lost its node: begin again on a
            // new connection, so that everything it held is returned at once.
            return [.reconnect("the broker cancelled the turn consumer of \(queues[tag]?.consumer.name ?? tag)")]
        case .tick(let now, let uptime):
            return tick(now: now, uptime: uptime)
        case .beginShutdown(let now):
            return beginShutdown(now: now)
        case .reloaded(let state):
            decider.replaceState(state)
            return []
        case .pausesChanged(let pauses):
            decider.pauses = pauses
            return []
        }
    }

    /// The connection is gone: what it held goes back to the turn queues
    /// with it. Returns the fingerprints of the turns it had in flight (for
    /// the ``RedeliveryGuard``).
    public mutating func connectionLost() -> [Int] {
        let lost = Array(inFlight.values)
        queues = [:]
        tags = [:]
        confirms.reset()
        schedule = ReplySchedule()
        unconfirmed = []
        inFlight = [:]
        nextSequence = 1
        return lost
    }

    private mutating func connected(_ consumers: [Consumer], now: Int64) -> [Action] {
        _ = connectionLost()
        shutdownDeadline = nil
        closing = false
        lastRenewal = now
        for consumer in consumers {
            let keeper = TurnKeeper(
                accounts: consumer.accounts, pool: consumer.pool, holder: settings.holder, syncBacklog: settings.syncBacklog,
                maxPerRequester: settings.maxPerRequester)
            let gate = TurnQueueGuard(accounts: consumer.accounts, pool: consumer.pool, workerLogins: settings.workerLogins)
            queues[consumer.tag] = (consumer, keeper, gate)
            for name in gate.names { tags[name] = consumer.tag }
        }
        return []
    }

    private mutating func received(_ delivery: Delivery, poison: Bool, now: Int64, uptime: UInt64) -> [Action] {
        guard var queue = queues[delivery.consumerTag] else {
            return [.nack(delivery.deliveryTag, requeue: true)]
        }
        // While stopping, deliveries stay unacknowledged: they go back with
        // the connection.
        guard shutdownDeadline == nil else { return [] }
        var actions: [Action] = []
        let account = queue.consumer.name
        // Anyone with write on the default exchange can publish here: only
        // what a worker login wrote about this queue's account is read. The
        // rest is acknowledged and dropped (a delivery the keeper cannot
        // use, still proof that this consumer is the active one).
        var message: TurnMessage?
        switch queue.gate.admit(
            userID: delivery.userID, type: delivery.type, messageID: delivery.messageID, replyTo: delivery.replyTo, correlationID: delivery.correlationID,
            body: delivery.body)
        {
        case .success(let admitted):
            message = admitted
            if case .request = admitted {
                if delivery.redelivered && poison {
                    message = nil
                    actions.append(.log(.poisonDropped(account: account)))
                } else {
                    inFlight[delivery.deliveryTag] = delivery.fingerprint
                }
            }
        case .failure(let reason):
            actions.append(.dropped(reason))
            switch drops.note(account, reason.rawValue, now: now) {
            case .say: actions.append(.log(.dropped(account: account, counts: [reason.rawValue: 1])))
            case .summarize(let counts): actions.append(.log(.dropped(account: account, counts: counts)))
            case .hold: break
            }
        }
        let wasServing = queue.keeper.phase == .serving
        let keeperActions = queue.keeper.received(message, deliveryTag: delivery.deliveryTag, now: now, period: period(of:))
        queues[delivery.consumerTag] = queue
        if !wasServing && queue.keeper.phase == .serving {
            actions.append(.log(.holding(account: account, windowsKept: queue.keeper.ledgers.values.map(\.issued.count).reduce(0, +))))
        }
        return actions + perform(keeperActions, tag: delivery.consumerTag, now: now, uptime: uptime)
    }

    /// Turns the keeper's actions into the connection's.
    private mutating func perform(_ keeperActions: [TurnKeeper.Action], tag: String, now: Int64, uptime: UInt64) -> [Action] {
        var actions: [Action] = []
        for keeperAction in keeperActions {
            // The keeper as it is now: an earlier action may have taken a window.
            guard let queue = queues[tag] else { break }
            switch keeperAction {
            case .publishFence(let id):
                actions.append(publish(.fence(id: id), to: queue.consumer.queue, settling: nil))
            case .publishRecord(let account):
                actions.append(publish(queue.keeper.record(of: account), to: queue.consumer.queue, settling: nil))
            case .ack(let deliveryTag):
                actions.append(ack(deliveryTag))
            case .decide(let deliveryTag, let turn):
                actions += decide(turn, deliveryTag: deliveryTag, tag: tag, now: now, uptime: uptime)
            case .requeue(let deliveryTag, let turn):
                // Sent round again behind the fence; the original is settled
                // once the copy is confirmed.
                actions.append(publish(.request(turn), to: queue.consumer.queue, settling: deliveryTag))
            }
        }
        return actions
    }

    /// Gives a turn its window (or `busy`). A window's reply waits for the
    /// broker's confirm of the record that lists it.
    private mutating func decide(_ turn: TurnRequest, deliveryTag: UInt64, tag: String, now: Int64, uptime: UInt64) -> [Action] {
        guard var queue = queues[tag] else { return [] }
        let receivedAt = uptime &- UInt64(max(0, now - turn.receivedMilliseconds)) &* 1_000_000
        // Paused accounts get no turn: `paused` at once when the account,
        // or every member of the pool, is; else the pool skips them.
        var paused: Set<String> = []
        if !decider.pauses.isEmpty {
            let candidates = turn.account == queue.consumer.pool ? queue.consumer.accounts : [turn.account]
            let waits = candidates.compactMap { account in decider.pauses.retryAfter(account, now: now).map { (account, $0) } }
            if waits.count == candidates.count, let wait = waits.map(\.1).min() {
                return [reply(decider.paused(turn, retryAfterMilliseconds: wait, now: now), settling: deliveryTag, receivedAt: receivedAt)]
            }
            paused = Set(waits.map(\.0))
        }
        let (account, choice) = queue.keeper.give(turn, now: now, skipping: paused, period: period(of:))
        queues[tag] = queue
        switch choice {
        case .busy(let retryAfter):
            return [reply(decider.busy(turn, retryAfterMilliseconds: retryAfter, now: now), settling: deliveryTag, receivedAt: receivedAt)]
        case .capped(let retryAfter):
            return [
                reply(
                    decider.busy(turn, retryAfterMilliseconds: retryAfter, now: now, reason: Messages.turnsHeld), settling: deliveryTag, receivedAt: receivedAt)
            ]
        case .window(let window, let opensAt):
            let record = publish(queue.keeper.record(of: account), to: queue.consumer.queue, settling: nil)
            var pending = PendingRequest(
                replyTo: turn.replyTo, correlationID: turn.correlationID, requester: turn.requester, account: account,
                minValidityMilliseconds: turn.minValidityMilliseconds, receivedAt: receivedAt, window: window, deliveryTag: deliveryTag
            )
            if account != turn.account { pending.pool = turn.account }
            unconfirmed.append((nextSequence - 1, opensAt, pending))
            return [record, .log(.turnGiven(requester: turn.requester, account: account, correlationID: turn.correlationID, windowStart: window.start))]
        }
    }

    private mutating func confirmed(_ sequence: UInt64, multiple: Bool, now: Int64) -> [Action] {
        var actions = confirms.confirmed(upTo: sequence, multiple: multiple).tags.map { ack($0) }
        let timeout = settings.consumerTimeoutMilliseconds
        for var entry in takeUnconfirmed(upTo: sequence, multiple: multiple) {
            if timeout > 0, entry.due - now > timeout / 2, let deliveryTag = entry.pending.deliveryTag {
                // Held that long, the turn would outlive the broker's
                // consumer_timeout: its window is recorded, so the worker
                // keeps it from here, as it keeps requests waiting for the
                // next window.
                actions.append(ack(deliveryTag))
                actions.append(.log(.turnKept(account: entry.pending.account, windowStart: entry.pending.window?.start ?? 0)))
                entry.pending.deliveryTag = nil
            }
            schedule.add(entry.pending, dueMilliseconds: entry.due)
        }
        return actions
    }

    /// Lost records or turns sent round again: their turns go back to be
    /// given a window again (a lost record's window is not used). A refused
    /// reply (its queue takes no more messages) is not sent again: its turn
    /// is settled, its window spent.
    private mutating func refused(_ sequence: UInt64, multiple: Bool) -> [Action] {
        let settled = confirms.confirmed(upTo: sequence, multiple: multiple)
        var giveBack = settled.forwarded
        for entry in takeUnconfirmed(upTo: sequence, multiple: multiple) {
            release(entry.pending)
            if let deliveryTag = entry.pending.deliveryTag { giveBack.append(deliveryTag) }
        }
        var actions: [Action] = []
        for deliveryTag in giveBack {
            inFlight[deliveryTag] = nil
            actions.append(.nack(deliveryTag, requeue: true))
        }
        let refusedReplies = settled.tags.filter { !settled.forwarded.contains($0) }
        actions += refusedReplies.map { ack($0) }
        if !giveBack.isEmpty { actions.append(.log(.recordsRefused(sequence: sequence))) }
        if !refusedReplies.isEmpty { actions.append(.log(.repliesRefused(count: refusedReplies.count))) }
        return actions
    }

    private mutating func tick(now: Int64, uptime: UInt64) -> [Action] {
        var actions: [Action] = []
        // Replies whose window opened.
        if let due = schedule.nextDue, due <= now {
            for pending in schedule.popDue(now: now) {
                release(pending)
                let answer = decider.complete(pending, now: now)
                if settings.recordsHandouts, let record = handouts.record(for: answer, now: now) {
                    // Before the code leaves, on the same channel.
                    confirms.published(sequence: nextSequence, deliveryTag: nil, kind: .reply)
                    nextSequence += 1
                    actions.append(.publishGuardRecord(record))
                }
                actions.append(reply(answer, settling: pending.deliveryTag, receivedAt: pending.receivedAt))
            }
        }
        // Every third of the broker's consumer_timeout, each keeper renews
        // the record it holds.
        let timeout = settings.consumerTimeoutMilliseconds
        if shutdownDeadline == nil, timeout > 0, now - lastRenewal >= timeout / 3 {
            lastRenewal = now
            for tag in queues.keys.sorted() {
                guard var queue = queues[tag] else { continue }
                let renewal = queue.keeper.renew(now: now, period: period(of:))
                queues[tag] = queue
                actions += perform(renewal, tag: tag, now: now, uptime: uptime)
            }
        }
        for (account, counts) in drops.due(now: now) {
            actions.append(.log(.dropped(account: account, counts: counts)))
        }
        return actions + closeIfDrained(now: now)
    }

    /// Stopping: close once everything in hand is answered and confirmed,
    /// or two seconds past the deadline.
    private mutating func closeIfDrained(now: Int64) -> [Action] {
        guard let deadline = shutdownDeadline, !closing, isDrained || now > deadline + 2000 else { return [] }
        closing = true
        return [.close]
    }

    /// Answers the turns whose window opens within the shutdown timeout;
    /// an acknowledged turn further off hears `unavailable` with
    /// `retry_after_ms`; the rest go back to the queue with the connection.
    /// The consumers are not cancelled: closing hands the newest record and
    /// the unanswered turns back in the same step that activates another
    /// worker's consumer, so that one reads every record before it decides.
    private mutating func beginShutdown(now: Int64) -> [Action] {
        guard shutdownDeadline == nil else { return [] }
        let deadline = now + settings.shutdownTimeoutMilliseconds
        shutdownDeadline = deadline
        var actions: [Action] = []
        var returned = 0
        for (due, pending) in schedule.split(dueAfter: deadline) {
            release(pending)
            if pending.deliveryTag == nil {
                actions.append(reply(decider.unavailable(pending, now: now, retryAfterMilliseconds: due - now), settling: nil, receivedAt: pending.receivedAt))
            } else {
                returned += 1
            }
        }
        let late = unconfirmed.filter { $0.due > deadline }
        late.forEach { release($0.pending) }
        unconfirmed.removeAll { $0.due > deadline }
        returned += late.count
        if pendingReplies > 0 || returned > 0 {
            actions.append(.log(.shuttingDown(answering: pendingReplies, returned: returned)))
        }
        return actions + closeIfDrained(now: now)
    }

    private var isDrained: Bool { schedule.isEmpty && unconfirmed.isEmpty && confirms.outstanding == 0 }

    // MARK: - Helpers

    private mutating func publish(_ message: TurnMessage, to queue: String, settling deliveryTag: UInt64?) -> Action {
        confirms.published(sequence: nextSequence, deliveryTag: deliveryTag, kind: .forward)
        nextSequence += 1
        return .publishTurnMessage(message, queue: queue)
    }

    private mutating func reply(_ reply: Reply, settling deliveryTag: UInt64?, receivedAt: UInt64) -> Action {
        confirms.published(sequence: nextSequence, deliveryTag: deliveryTag, kind: .reply)
        nextSequence += 1
        return .publishReply(reply, receivedAt: receivedAt)
    }

    private mutating func ack(_ deliveryTag: UInt64) -> Action {
        inFlight[deliveryTag] = nil
        return .ack(deliveryTag)
    }

    /// The requester of `pending` no longer holds its window.
    private mutating func release(_ pending: PendingRequest) {
        guard let window = pending.window, let tag = tags[pending.account] else { return }
        queues[tag]?.keeper.release(requester: pending.requester, asked: pending.pool ?? pending.account, account: pending.account, window: window.counter)
    }

    private mutating func takeUnconfirmed(upTo sequence: UInt64, multiple: Bool) -> [(sequence: UInt64, due: Int64, pending: PendingRequest)] {
        let taken = unconfirmed.filter { multiple ? $0.sequence <= sequence : $0.sequence == sequence }
        unconfirmed.removeAll { multiple ? $0.sequence <= sequence : $0.sequence == sequence }
        return taken
    }

    private func period(of account: String) -> Int {
        // Accounts with turn queues cannot be removed by a reload.
        decider.period(of: account) ?? 30
    }
}
