import MFAConfig
import TOTP

/// One account's turns, as seen by one consumer of its turn queue: a state
/// machine over the queue's deliveries, with no I/O of its own.
///
/// The turn queue is a quorum queue with a single active consumer, so one
/// consumer at a time receives anything; the first delivery tells this one
/// that it is now that consumer. It does not hand out a window before it
/// knows every record of the windows handed out before it: it sends itself
/// a fence and holds the requests that arrive meanwhile. Everything written
/// before the fence (the old holder's records, returned when its connection
/// went, and any still queued) arrives before it.
///
/// It keeps its newest record unacknowledged, so that the record goes back
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
        /// Publish a fence with this id to the account's turn queue.
        case publishFence(String)
        /// Publish the ledger's record (``ledger``) to the turn queue.
        case publishRecord
        /// Acknowledge a delivery: an older record, a foreign fence, a
        /// message nobody can use.
        case ack(UInt64)
        /// Give this request its turn now (``assign(_:now:period:)``).
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
    /// Windows one requester may hold at once (given, not yet answered);
    /// past them its turns are `busy` until its first one is answered.
    public let maxPerRequester: Int

    public let account: String
    /// Tells this keeper's records from others'.
    public let holder: String
    public private(set) var phase: Phase = .idle
    public private(set) var ledger = TurnLedger()
    /// Record deliveries held unacknowledged (the newest last).
    public private(set) var heldRecords: [UInt64] = []
    private var waiting: [(deliveryTag: UInt64, request: TurnRequest)] = []
    private var fences = 0
    /// The windows each requester holds, by the requester's bytes.
    private var holdings: [UserName: [UInt64]] = [:]

    public init(account: String, holder: String, syncBacklog: Int = 1000, maxPerRequester: Int = 3) {
        self.account = account
        self.holder = holder
        self.syncBacklog = syncBacklog
        self.maxPerRequester = max(1, maxPerRequester)
    }

    /// A delivery from the turn queue (nil: a message it does not know).
    public mutating func received(_ message: TurnMessage?, deliveryTag: UInt64, now: Int64, period: Int) -> [Action] {
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
        case .record(let from, _, let windows):
            // No worker records a window further ahead than the longest
            // wait: anything beyond cannot be a window given to a request.
            ledger.merge(windows, notAfter: TurnLedger.horizon(at: now, period: period))
            if phase == .serving && from == holder {
                // Our newest record supersedes every record held before it.
                actions += heldRecords.map(Action.ack)
                heldRecords = [deliveryTag]
            } else {
                heldRecords.append(deliveryTag)
                if phase == .serving {
                    // Someone else's record, late: write ours, which covers it.
                    actions.append(.publishRecord)
                }
            }
        case .fence(let id):
            actions.append(.ack(deliveryTag))
            if case .syncing(let awaited) = phase, awaited == id {
                phase = .serving
                ledger.forget(endedBy: now, period: period)
                if !heldRecords.isEmpty {
                    if ledger.isEmpty {
                        // Only windows that have ended: nothing to keep.
                        actions += heldRecords.map(Action.ack)
                        heldRecords = []
                    } else {
                        actions.append(.publishRecord)
                    }
                }
                actions += waiting.map { Action.decide(deliveryTag: $0.deliveryTag, $0.request) }
                waiting = []
            }
        }
        return actions
    }

    /// Renews the record this keeper holds, so that no delivery stays
    /// unacknowledged for as long as the broker's `consumer_timeout` (it
    /// would close the channel): writes the ledger again (the copy, once
    /// delivered, supersedes the held one), or, when every window in it has
    /// ended, acknowledges the held records. Serving only.
    public mutating func renew(now: Int64, period: Int) -> [Action] {
        guard phase == .serving, !heldRecords.isEmpty else { return [] }
        ledger.forget(endedBy: now, period: period)
        guard ledger.isEmpty else { return [.publishRecord] }
        defer { heldRecords = [] }
        return heldRecords.map(Action.ack)
    }

    /// Gives `request` its turn (serving only). A window it gets is in the
    /// ledger at once; the caller publishes the record (``Action/publishRecord``)
    /// and sends no code of it before the broker confirms that record.
    public mutating func assign(_ request: TurnRequest, now: Int64, period: Int) -> TurnChoice {
        ledger.forget(endedBy: now, period: period)
        let requester = UserName(request.requester)
        if let held = holdings[requester], held.count >= maxPerRequester, let first = held.min() {
            // Its first window's reply frees a place.
            let opens = TOTPWindow(counter: first, period: period).start * 1000
            return .capped(retryAfterMilliseconds: max(0, opens - now))
        }
        let choice = ledger.choose(now: now, period: period, minValidity: request.minValidityMilliseconds, maxWait: request.waitLeft(at: now))
        if case .window(let window, _) = choice {
            ledger.take(window)
            holdings[requester, default: []].append(window.counter)
        }
        return choice
    }

    /// `requester` no longer holds `window`: its reply was sent, or will
    /// never be by this keeper.
    public mutating func release(requester: String, window: UInt64) {
        let key = UserName(requester)
        guard var held = holdings[key], let index = held.firstIndex(of: window) else { return }
        held.remove(at: index)
        holdings[key] = held.isEmpty ? nil : held
    }

    /// The windows `requester` holds now.
    public func held(by requester: String) -> Int {
        holdings[UserName(requester)]?.count ?? 0
    }

    /// The record to write: this keeper's ledger.
    public var record: TurnMessage {
        .record(holder: holder, account: account, windows: ledger.issued)
    }
}
