import MFAConfig
import TOTP

/// The turns of one turn queue (one account's, or a pool's members'), as
/// seen by one consumer of the queue: a state machine over the queue's
/// deliveries, with no I/O of its own.
///
/// The turn queue is a quorum queue with a single active consumer, so one
/// consumer at a time receives anything; the first delivery tells this one
/// that it is now that consumer. It does not hand out a window before it
/// knows every record of the windows handed out before it: it sends itself
/// a fence and holds the requests that arrive meanwhile. Everything written
/// before the fence (the old holder's records, returned when its connection
/// went, and any still queued) arrives before it.
///
/// It keeps each account's newest record unacknowledged, so that the record goes back
/// to the queue with the connection, whatever ends it.
public struct TurnKeeper: Sendable {
    public enum Phase: Sendable, Equatable {
        /// Nothing delivered yet: another consumer may hold the turns.
        case idle
        /// Holding the turns; waiting for the fence `id` before deciding.
        case syncing(fence: String)
        /// Deciding, one request at a time, in delivery order.
        case serving
    }

    /// What the loop does with the broker.
    public enum Action: Sendable, Equatable {
        /// Publish a fence with this id to the turn queue.
        case publishFence(String)
        /// Publish this account's record (``record(of:)``) to the turn queue.
        case publishRecord(String)
        /// Acknowledge a delivery: an older record, a foreign fence, a
        /// message nobody can use.
        case ack(UInt64)
        /// Give this request its turn now (``give(_:now:period:)``).
        case decide(deliveryTag: UInt64, TurnRequest)
        /// Publish this request to the turn queue again, behind the fence,
        /// and acknowledge the delivery once the broker confirms the copy.
        /// While syncing, the requests that arrive take room in the prefetch
        /// window (the broker delivers at most 2,000 unacknowledged messages
        /// of a quorum queue); past ``TurnKeeper/syncBacklog`` they go round
        /// again, so that the fence can always arrive.
        case requeue(deliveryTag: UInt64, TurnRequest)
    }

    /// Requests held while syncing before the next go round again.
    public let syncBacklog: Int
    /// Windows one requester may hold at once per name it asks for (an
    /// account, or a pool); past them its turns are `busy` until its first
    /// one is answered.
    public let maxPerRequester: Int

    /// The accounts whose windows this queue hands out: one, or a pool's
    /// members (in the pool's order).
    public let accounts: [String]
    /// The pool whose members these are, when the queue is a pool's.
    public let pool: String?
    /// Tells this keeper's records from others'.
    public let holder: String
    public private(set) var phase: Phase = .idle
    public private(set) var ledgers: [String: TurnLedger]
    /// Record deliveries held unacknowledged, per account (the newest last).
    public private(set) var recordsHeld: [String: [UInt64]] = [:]
    private var waiting: [(deliveryTag: UInt64, request: TurnRequest)] = []
    private var fences = 0
    /// The windows each requester holds, per name it asked for.
    private var holdings: [Holder: [(account: String, counter: UInt64, opens: Int64)]] = [:]
    /// When each member was last given a window (a count), for ties.
    private var lastGiven: [String: Int] = [:]
    private var given = 0

    struct Holder: Hashable, Sendable {
        var requester: UserName
        var asked: String
    }

    public init(account: String, holder: String, syncBacklog: Int = 1000, maxPerRequester: Int = 3) {
        self.init(accounts: [account], pool: nil, holder: holder, syncBacklog: syncBacklog, maxPerRequester: maxPerRequester)
    }

    public init(accounts: [String], pool: String?, holder: String, syncBacklog: Int = 1000, maxPerRequester: Int = 3) {
        precondition(!accounts.isEmpty)
        self.accounts = accounts
        self.pool = pool
        self.holder = holder
        self.syncBacklog = syncBacklog
        self.maxPerRequester = max(1, maxPerRequester)
        ledgers = Dictionary(uniqueKeysWithValues: accounts.map { ($0, TurnLedger()) })
    }

    /// The first (for a single account's queue, the only) account.
    public var account: String { accounts[0] }
    /// The first account's ledger.
    public var ledger: TurnLedger { ledgers[accounts[0]] ?? TurnLedger() }
    /// The first account's held records.
    public var heldRecords: [UInt64] { recordsHeld[accounts[0]] ?? [] }

    /// A delivery from the turn queue (nil: a message it does not know);
    /// every account with the same period.
    public mutating func received(_ message: TurnMessage?, deliveryTag: UInt64, now: Int64, period: Int) -> [Action] {
        received(message, deliveryTag: deliveryTag, now: now) { _ in period }
    }

    /// A delivery from the turn queue (nil: a message it does not know);
    /// `period` gives each account's.
    public mutating func received(_ message: TurnMessage?, deliveryTag: UInt64, now: Int64, period: (String) -> Int) -> [Action] {
        var actions: [Action] = []
        if phase == .idle {
            // The first delivery: this consumer is the active one now.
            fences += 1
            let id = "\(holder)-fence-\(fences)"
            phase = .syncing(fence: id)
            actions.append(.publishFence(id))
        }
        switch message {
        case nil:
            actions.append(.ack(deliveryTag))
        case .request(let request):
            if phase == .serving {
                actions.append(.decide(deliveryTag: deliveryTag, request))
            } else if waiting.count < syncBacklog {
                waiting.append((deliveryTag, request))
            } else {
                actions.append(.requeue(deliveryTag: deliveryTag, request))
            }
        case .record(let from, let account, let windows):
            guard var ledger = ledgers[account] else {
                actions.append(.ack(deliveryTag))
                break
            }
            // No worker records a window further ahead than the longest
            // wait: anything beyond cannot be a window given to a request.
            ledger.merge(windows, notAfter: TurnLedger.horizon(at: now, period: period(account)))
            ledgers[account] = ledger
            if phase == .serving && from == holder {
                // Our newest record supersedes every record held before it.
                actions += (recordsHeld[account] ?? []).map(Action.ack)
                recordsHeld[account] = [deliveryTag]
            } else {
                recordsHeld[account, default: []].append(deliveryTag)
                if phase == .serving {
                    // Someone else's record, late: write ours, which covers it.
                    actions.append(.publishRecord(account))
                }
            }
        case .fence(let id):
            actions.append(.ack(deliveryTag))
            if case .syncing(let awaited) = phase, awaited == id {
                phase = .serving
                for account in accounts {
                    ledgers[account]?.forget(endedBy: now, period: period(account))
                    guard let held = recordsHeld[account], !held.isEmpty else { continue }
                    if ledgers[account]?.isEmpty ?? true {
                        // Only windows that have ended: nothing to keep.
                        actions += held.map(Action.ack)
                        recordsHeld[account] = nil
                    } else {
                        actions.append(.publishRecord(account))
                    }
                }
                actions += waiting.map { Action.decide(deliveryTag: $0.deliveryTag, $0.request) }
                waiting = []
            }
        }
        return actions
    }

    /// Renews the records this keeper holds, so that no delivery stays
    /// unacknowledged for as long as the broker's `consumer_timeout` (it
    /// would close the channel): writes each ledger again (the copy, once
    /// delivered, supersedes the held one), or, when every window in it has
    /// ended, acknowledges the held records. Serving only.
    public mutating func renew(now: Int64, period: Int) -> [Action] {
        renew(now: now) { _ in period }
    }

    public mutating func renew(now: Int64, period: (String) -> Int) -> [Action] {
        guard phase == .serving else { return [] }
        var actions: [Action] = []
        for account in accounts {
            guard let held = recordsHeld[account], !held.isEmpty else { continue }
            ledgers[account]?.forget(endedBy: now, period: period(account))
            if ledgers[account]?.isEmpty ?? true {
                actions += held.map(Action.ack)
                recordsHeld[account] = nil
            } else {
                actions.append(.publishRecord(account))
            }
        }
        return actions
    }

    /// Gives `request` its turn (serving only), every account with the
    /// same period; see ``give(_:now:period:)``.
    public mutating func assign(_ request: TurnRequest, now: Int64, period: Int) -> TurnChoice {
        give(request, now: now) { _ in period }.choice
    }

    /// Gives `request` its turn (serving only): for an account, that
    /// account's earliest window that suits it; for the pool, the member
    /// whose window opens first, ties going to the member given a window
    /// least recently. A window given is in its account's ledger at once;
    /// the caller publishes that account's record (``Action/publishRecord(_:)``)
    /// and sends no code of it before the broker confirms that record.
    public mutating func give(
        _ request: TurnRequest, now: Int64, skipping paused: Set<String> = [], period: (String) -> Int
    ) -> (account: String, choice: TurnChoice) {
        let candidates = (request.account == pool ? accounts : accounts.filter { $0 == request.account }).filter { !paused.contains($0) }
        guard let first = candidates.first else {
            return (request.account, .busy(retryAfterMilliseconds: 0))
        }
        for account in candidates { ledgers[account]?.forget(endedBy: now, period: period(account)) }
        let key = Holder(requester: UserName(request.requester), asked: request.account)
        if let held = holdings[key], held.count >= maxPerRequester, let opens = held.map(\.opens).min() {
            // Its first window's reply frees a place.
            return (first, .capped(retryAfterMilliseconds: max(0, opens - now)))
        }
        var best: (account: String, window: TOTPWindow, opensAt: Int64)?
        var soonestBusy: Int64?
        for account in candidates {
            let ledger = ledgers[account] ?? TurnLedger()
            switch ledger.choose(now: now, period: period(account), minValidity: request.minValidityMilliseconds, maxWait: request.waitLeft(at: now)) {
            case .window(let window, let opensAt):
                if let current = best {
                    let earlier = opensAt < current.opensAt
                    let tie = opensAt == current.opensAt && lastGiven[account, default: -1] < lastGiven[current.account, default: -1]
                    if earlier || tie { best = (account, window, opensAt) }
                } else {
                    best = (account, window, opensAt)
                }
            case .busy(let retryAfter), .capped(let retryAfter):
                soonestBusy = min(soonestBusy ?? retryAfter, retryAfter)
            }
        }
        guard let best else { return (first, .busy(retryAfterMilliseconds: soonestBusy ?? 0)) }
        ledgers[best.account]?.take(best.window)
        given += 1
        lastGiven[best.account] = given
        holdings[key, default: []].append((best.account, best.window.counter, best.window.start * 1000))
        return (best.account, .window(best.window, opensAt: best.opensAt))
    }

    /// `requester` no longer holds `window` of `account`, asked for as
    /// `asked` (the account, or its pool): its reply was sent, or will never
    /// be by this keeper.
    public mutating func release(requester: String, asked: String? = nil, account: String? = nil, window: UInt64) {
        let account = account ?? accounts[0]
        let key = Holder(requester: UserName(requester), asked: asked ?? account)
        guard var held = holdings[key], let index = held.firstIndex(where: { $0.account == account && $0.counter == window }) else { return }
        held.remove(at: index)
        holdings[key] = held.isEmpty ? nil : held
    }

    /// The windows `requester` holds now, asked for as `asked` (by default
    /// the first account).
    public func held(by requester: String, asked: String? = nil) -> Int {
        holdings[Holder(requester: UserName(requester), asked: asked ?? accounts[0])]?.count ?? 0
    }

    /// The record to write for `account`: its ledger.
    public func record(of account: String) -> TurnMessage {
        .record(holder: holder, account: account, windows: ledgers[account]?.issued ?? [])
    }

    /// The first account's record.
    public var record: TurnMessage { record(of: accounts[0]) }
}
