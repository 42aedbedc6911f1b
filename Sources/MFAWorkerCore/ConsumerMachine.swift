import MFAConfig
import MFAProtocol
import TOTP

/// One consumer thread's requests as a state machine: events in
/// (deliveries, publisher confirms, returns, the clock, a stop), actions
/// out (publish a reply, pass a turn on, acknowledge, log). No I/O and no
/// state shared with other threads: what the threads share (the rate
/// buckets, the ``RedeliveryGuard``) comes in with the events, and the
/// account's rate is asked for with an action (``Action/checkAccountRate(_:)``)
/// that the loop answers at once. `ConsumerLoop` performs the actions in
/// order; tests drive it with a fake clock.
///
/// What it owns: the ``RequestDecider``, the replies held for their window
/// (and how many each requester holds), the publisher-confirm bookkeeping
/// and the batched acknowledgement, what is in flight, and the shutdown
/// split.
public struct ConsumerMachine: Sendable {
    public struct Settings: Sendable {
        /// Acknowledge a request only once its reply is confirmed.
        public var publisherConfirms: Bool
        public var shutdownTimeoutMilliseconds: Int64
        /// Write each requester's first code of an account's window into
        /// the guard log (``GuardRecord/handout(requester:account:windowStart:windowEnd:)``),
        /// before the reply: the worker does; tests of other things need not.
        public var recordsHandouts: Bool

        public init(publisherConfirms: Bool = true, shutdownTimeoutMilliseconds: Int64 = 30_000, recordsHandouts: Bool = false) {
            self.recordsHandouts = recordsHandouts
            self.publisherConfirms = publisherConfirms
            self.shutdownTimeoutMilliseconds = shutdownTimeoutMilliseconds
        }
    }

    /// A request as delivered.
    public struct Delivery: Sendable {
        public var deliveryTag: UInt64
        public var redelivered: Bool
        public var message: RequestMessage

        public init(deliveryTag: UInt64, redelivered: Bool = false, message: RequestMessage) {
            self.deliveryTag = deliveryTag
            self.redelivered = redelivered
            self.message = message
        }

        /// What ``RedeliveryGuard`` knows the message by.
        public var fingerprint: Int {
            RedeliveryGuard.fingerprint(userID: message.userID, replyTo: message.replyTo, correlationID: message.correlationID, body: message.body)
        }
    }

    public enum Event: Sendable {
        /// Consuming, on a new connection or channel.
        case connected
        /// `poison`: redelivered and in flight on too many lost connections
        /// (``RedeliveryGuard``); `requesterWait`: the requester's rate
        /// (every request takes from it).
        case delivery(Delivery, poison: Bool, requesterWait: Int64?, now: Int64, uptime: UInt64)
        /// The answer to ``Action/checkAccountRate(_:)``.
        case accountRate(wait: Int64?)
        case publisherAck(sequence: UInt64, multiple: Bool)
        case publisherNack(sequence: UInt64, multiple: Bool)
        /// A turn the broker could not route: the account's turn queue is gone.
        case turnReturned(type: String?, replyTo: String?, correlationID: [UInt8]?, body: [UInt8], reply: String, now: Int64)
        case consumerCancelled
        case channelClosed(String)
        case tick(now: Int64)
        /// Nothing more is waiting to be read: time for the batched ack.
        case idle
        case beginShutdown(now: Int64)
        case reloaded(ServiceState)
        /// The lockout guard's pauses changed.
        case pausesChanged(PauseTable)
    }

    public enum Action: Sendable {
        /// Publish a reply (mandatory but to direct reply-to; confirmed when
        /// confirms are on); then count, log and audit it.
        case publishReply(Reply, receivedAt: UInt64)
        /// Publish the request to its account's turn queue.
        case forwardTurn(TurnRequest)
        /// Write a record into the guard log (a handout, before the reply
        /// that carries its code; or a login outcome).
        case publishGuardRecord(GuardRecord)
        /// Write a login outcome into the guard log, to be answered by this
        /// worker's guard reader once the log has decided it.
        case claimOutcome(OutcomeClaim)
        /// Take a token from the account's bucket and answer with
        /// ``Event/accountRate(wait:)``.
        case checkAccountRate(String)
        case ack(UInt64, multiple: Bool)
        case nack(UInt64, requeue: Bool)
        /// Reject without requeue (the queue's dead-letter exchange takes it).
        case reject(UInt64, receivedAt: UInt64)
        /// Acknowledge without an answer, counted as rejected: a message
        /// that must not travel on to a dead-letter exchange.
        case drop(UInt64, receivedAt: UInt64)
        /// Declare the request queue and consume it again.
        case consumeAgain
        /// Open the channel again and consume (then ``Event/connected``).
        case reopenChannel
        case cancelConsumer
        /// These were in flight on a channel that is gone (``RedeliveryGuard``).
        case strike([Int])
        /// Replies that did not reach their requester (for the metric).
        case unroutable(Int)
        case log(Notice)
        /// The stop is complete.
        case close
    }

    public enum Notice: Sendable, Equatable {
        case rejected(requester: String, correlationID: [UInt8]?, reason: String)
        case rejections(requester: String, counts: [String: Int])
        case repliesRefused(counts: [String: Int])
        case turnsRefused(sequence: UInt64)
        case turnQueueMissing(account: String, reply: String)
        case consumerCancelled
        case channelClosed(String)
        case answeringBeforeStop(held: Int)
        case held(requester: String, account: String, correlationID: [UInt8]?)
        case turnWaits(requester: String, account: String, correlationID: [UInt8]?)
    }

    public let settings: Settings
    private var decider: RequestDecider
    private var schedule = ReplySchedule()
    private var held: [UserName: Int] = [:]
    private var confirms = ConfirmTracker()
    private var nextSequence: UInt64 = 1
    /// Confirmed requests not yet acknowledged: everything outstanding up
    /// to this tag, one `multiple` ack once the frames read are handled.
    private var ackUpTo: UInt64?
    public private(set) var inFlight: [UInt64: Int] = [:]
    private var rejections = CountedNotices<String>(burst: 5)
    private var refusals = CountedNotices<String>()
    /// The latest time an event brought (Unix ms), for events that carry
    /// none (a publisher nack).
    private var clock: Int64 = 0
    /// A request allowed its account, waiting for the account's rate.
    private var awaitingRate: (delivery: Delivery, check: RequestDecider.AccountCheck, now: Int64)?
    private var shutdownDeadline: Int64?
    private var closing = false
    private var handouts = HandoutLedger()

    public init(settings: Settings, state: ServiceState) {
        self.settings = settings
        decider = RequestDecider(state: state)
    }

    /// Requests held for their window.
    public var heldCount: Int { schedule.count }
    public var stateGeneration: Int { decider.state.generation }
    /// How long the loop may wait for the next event (ms).
    public func waitMilliseconds(now: Int64) -> Int64 {
        var timeout: Int64 = 100
        if let due = schedule.nextDue { timeout = max(0, min(timeout, due - now)) }
        return timeout
    }

    public mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .connected:
            confirms.reset()
            nextSequence = 1
            ackUpTo = nil
            return []
        case .delivery(let delivery, let poison, let requesterWait, let now, let uptime):
            clock = max(clock, now)
            return received(delivery, poison: poison, requesterWait: requesterWait, now: now, uptime: uptime)
        case .accountRate(let wait):
            guard let (delivery, check, now) = awaitingRate else { return [] }
            awaitingRate = nil
            return act(on: decider.decide(check, accountWait: wait), delivery, now: now, uptime: check.receivedAt)
        case .publisherAck(let sequence, let multiple):
            let settled = confirms.confirmed(upTo: sequence, multiple: multiple)
            if settled.areOldest, let last = settled.tags.last {
                // Every outstanding request up to `last` is settled: one
                // multiple ack will do, sent before the loop waits again.
                ackUpTo = max(ackUpTo ?? 0, last)
                return []
            }
            return settled.tags.map { ack($0) }
        case .publisherNack(let sequence, let multiple):
            return refused(sequence, multiple: multiple)
        case .turnReturned(let type, let replyTo, let correlationID, let body, let reply, let now):
            guard case .request(let turn)? = TurnMessage.decode(type: type, messageID: nil, replyTo: replyTo, correlationID: correlationID, body: body) else {
                return []
            }
            return [.log(.turnQueueMissing(account: turn.account, reply: reply))]
                + publish(decider.unavailable(turn, now: now), settling: nil, receivedAt: 0, now: now)
        case .consumerCancelled:
            return shutdownDeadline == nil ? [.log(.consumerCancelled), .consumeAgain] : []
        case .channelClosed(let reason):
            // Unsettled deliveries go back to the queue with the channel.
            let lost = Array(inFlight.values)
            inFlight = [:]
            confirms.reset()
            ackUpTo = nil
            return [.log(.channelClosed(reason)), .strike(lost), .reopenChannel]
        case .tick(let now):
            clock = max(clock, now)
            return tick(now: now)
        case .idle:
            return flushAck()
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

    /// The connection is gone: confirms and acks with it. Requests held for
    /// their window stay (they were acknowledged; the worker answers them on
    /// the next connection). Returns the fingerprints of what was in flight.
    public mutating func connectionLost() -> [Int] {
        let lost = Array(inFlight.values)
        inFlight = [:]
        confirms.reset()
        nextSequence = 1
        ackUpTo = nil
        awaitingRate = nil
        return lost
    }

    // MARK: - Requests

    private mutating func received(_ delivery: Delivery, poison: Bool, requesterWait: Int64?, now: Int64, uptime: UInt64) -> [Action] {
        let message = delivery.message
        if shutdownDeadline != nil {
            // Delivered before the cancel took effect, not started: back.
            return [.nack(delivery.deliveryTag, requeue: true)]
        }
        if delivery.redelivered && poison {
            // In flight on every connection lost lately: handling it again
            // would lose this one too.
            return [.reject(delivery.deliveryTag, receivedAt: uptime)]
                + rejected(message.userID, message.correlationID, "redelivered after lost connections, dropped as poison", quiet: false, now: now)
        }
        inFlight[delivery.deliveryTag] = delivery.fingerprint
        return act(on: decider.decide(message, now: now, receivedAt: uptime, requesterWait: requesterWait), delivery, now: now, uptime: uptime)
    }

    private mutating func act(on decision: Decision, _ delivery: Delivery, now: Int64, uptime: UInt64) -> [Action] {
        switch decision {
        case .reply(let reply):
            return publish(reply, settling: delivery.deliveryTag, receivedAt: uptime, now: now)
        case .admitAccount(let check):
            awaitingRate = (delivery, check, now)
            return [.checkAccountRate(check.target.name)]
        case .schedule(let pending, let due):
            // A requester holds so many at most; past them, busy.
            let requester = UserName(pending.requester)
            guard held[requester, default: 0] < decider.state.reply.maxHeldPerRequester else {
                return publish(decider.busy(pending, retryAfterMilliseconds: due - now, now: now), settling: delivery.deliveryTag, receivedAt: uptime, now: now)
            }
            held[requester, default: 0] += 1
            schedule.add(pending, dueMilliseconds: due)
            // Acknowledged now, so that waiting requests never fill the
            // prefetch window; the worker keeps it until it answers.
            return [ack(delivery.deliveryTag), .log(.held(requester: pending.requester, account: pending.account, correlationID: pending.correlationID))]
        case .takeTurn(let turn):
            // Acknowledged once the broker confirms it has the turn.
            let forward = Action.forwardTurn(turn)
            if settings.publisherConfirms {
                confirms.published(sequence: nextSequence, deliveryTag: delivery.deliveryTag, kind: .forward)
                nextSequence += 1
                return [forward, .log(.turnWaits(requester: turn.requester, account: turn.account, correlationID: turn.correlationID))]
            }
            return [forward, ack(delivery.deliveryTag)]
        case .reject(let requester, let correlationID, let reason, let quiet):
            inFlight[delivery.deliveryTag] = nil
            let settle: Action =
                reason == .fromWorkerLogin ? .drop(delivery.deliveryTag, receivedAt: uptime) : .reject(delivery.deliveryTag, receivedAt: uptime)
            return [settle] + rejected(requester, correlationID, reason.rawValue, quiet: quiet, now: now)
        case .claimOutcome(let claim):
            // Acknowledged once the broker has it in the guard log.
            if settings.publisherConfirms {
                confirms.published(sequence: nextSequence, deliveryTag: delivery.deliveryTag, kind: .forward)
                nextSequence += 1
                return [.claimOutcome(claim)]
            }
            return [.claimOutcome(claim), ack(delivery.deliveryTag)]
        case .discard(let requester, let reason):
            inFlight[delivery.deliveryTag] = nil
            return [.drop(delivery.deliveryTag, receivedAt: uptime)]
                + rejected(requester, nil, "login outcome without reply_to: " + reason, quiet: false, now: now)
        }
    }

    /// A line each for the first few rejections of a minute per requester
    /// (none for one over its rate), then counts.
    private mutating func rejected(_ requester: String?, _ correlationID: [UInt8]?, _ reason: String, quiet: Bool, now: Int64) -> [Action] {
        let name = requester ?? "-"
        var verdict = rejections.note(name, reason, now: now)
        if quiet && verdict == .say { verdict = .hold }
        switch verdict {
        case .say: return [.log(.rejected(requester: name, correlationID: correlationID, reason: reason))]
        case .summarize(let counts): return [.log(.rejections(requester: name, counts: counts))]
        case .hold: return []
        }
    }

    /// A turn the broker lost goes back to be passed on again. A refused
    /// reply (its queue takes no more messages) would be refused again: the
    /// request is settled, as for a reply whose queue is gone.
    private mutating func refused(_ sequence: UInt64, multiple: Bool) -> [Action] {
        let settled = confirms.confirmed(upTo: sequence, multiple: multiple)
        var actions: [Action] = []
        for tag in settled.tags {
            if settled.forwarded.contains(tag) {
                inFlight[tag] = nil
                actions.append(.nack(tag, requeue: true))
            } else {
                actions.append(ack(tag))
            }
        }
        if !settled.forwarded.isEmpty { actions.append(.log(.turnsRefused(sequence: sequence))) }
        let replies = settled.tags.count - settled.forwarded.count
        if replies > 0 {
            actions.append(.unroutable(replies))
            // The first a minute said, the rest counted into one line.
            switch refusals.note("refused", "replies", count: replies, now: clock) {
            case .say: actions.append(.log(.repliesRefused(counts: ["replies": replies])))
            case .summarize(let counts): actions.append(.log(.repliesRefused(counts: counts)))
            case .hold: break
            }
        }
        return actions
    }

    private mutating func tick(now: Int64) -> [Action] {
        var actions: [Action] = []
        if let due = schedule.nextDue, due <= now {
            for pending in schedule.popDue(now: now) {
                release(pending)
                actions += publish(decider.complete(pending, now: now), settling: nil, receivedAt: pending.receivedAt, now: now)
            }
        }
        for (requester, counts) in rejections.due(now: now) {
            actions.append(.log(.rejections(requester: requester, counts: counts)))
        }
        for (_, counts) in refusals.due(now: now) {
            actions.append(.log(.repliesRefused(counts: counts)))
        }
        if let deadline = shutdownDeadline, !closing, (schedule.isEmpty && confirms.outstanding == 0) || now > deadline + 2000 {
            closing = true
            actions += flushAck()
            actions.append(.close)
        }
        return actions
    }

    /// Cancels the consumer (deliveries that still arrive go back), answers
    /// held requests whose window opens within the shutdown timeout (the
    /// rest `unavailable` with `retry_after_ms`), and closes once the
    /// confirms are in.
    private mutating func beginShutdown(now: Int64) -> [Action] {
        guard shutdownDeadline == nil else { return [] }
        let deadline = now + settings.shutdownTimeoutMilliseconds
        shutdownDeadline = deadline
        var actions: [Action] = [.cancelConsumer]
        for (due, pending) in schedule.split(dueAfter: deadline) {
            release(pending)
            actions += publish(
                decider.unavailable(pending, now: now, retryAfterMilliseconds: due - now), settling: nil, receivedAt: pending.receivedAt, now: now)
        }
        if !schedule.isEmpty { actions.append(.log(.answeringBeforeStop(held: schedule.count))) }
        return actions + tick(now: now)
    }

    // MARK: - Helpers

    /// A reply; the request it answers is acknowledged now, or (with
    /// publisher confirms) once the broker confirms the reply.
    private mutating func publish(_ reply: Reply, settling deliveryTag: UInt64?, receivedAt: UInt64, now: Int64) -> [Action] {
        let action = Action.publishReply(reply, receivedAt: receivedAt)
        // The handout goes into the guard log before the code leaves, on
        // the same channel: an outcome for it cannot overtake it.
        if settings.recordsHandouts, let record = handouts.record(for: reply, now: now) {
            if settings.publisherConfirms {
                confirms.published(sequence: nextSequence, deliveryTag: nil, kind: .reply)
                nextSequence += 1
            }
            return [.publishGuardRecord(record)] + publish(action, settling: deliveryTag)
        }
        return publish(action, settling: deliveryTag)
    }

    private mutating func publish(_ action: Action, settling deliveryTag: UInt64?) -> [Action] {
        if settings.publisherConfirms {
            confirms.published(sequence: nextSequence, deliveryTag: deliveryTag, kind: .reply)
            nextSequence += 1
        } else if let deliveryTag {
            // Without confirms: acknowledged as published.
            return [action, ack(deliveryTag)]
        }
        return [action]
    }

    private mutating func ack(_ tag: UInt64) -> Action {
        inFlight[tag] = nil
        return .ack(tag, multiple: false)
    }

    private mutating func flushAck() -> [Action] {
        guard let tag = ackUpTo else { return [] }
        ackUpTo = nil
        inFlight = inFlight.filter { $0.key > tag }
        return [.ack(tag, multiple: true)]
    }

    private mutating func release(_ pending: PendingRequest) {
        let requester = UserName(pending.requester)
        guard let count = held[requester] else { return }
        held[requester] = count > 1 ? count - 1 : nil
    }
}
