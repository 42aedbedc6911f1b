import MFAProtocol
import TOTP

/// The windows of one `once_per_window` account that are already handed
/// out, and the rule that gives a request its turn.
///
/// Pure: the clock comes in as Unix milliseconds. The worker that holds the
/// account's turns keeps one ledger per account and writes it to the
/// broker (``TurnRecord``) before any code of a window it lists leaves.
public struct TurnLedger: Sendable, Equatable {
    /// Window counters handed out, ascending, without duplicates.
    public private(set) var issued: [UInt64]

    public init(issued: some Sequence<UInt64> = []) {
        self.issued = Array(Set(issued)).sorted()
    }

    public var isEmpty: Bool { issued.isEmpty }

    /// Adds windows another holder handed out (a record read back), up to
    /// `last`.
    public mutating func merge(_ counters: some Sequence<UInt64>, notAfter last: UInt64 = .max) {
        issued = Array(Set(issued).union(counters.lazy.filter { $0 <= last })).sorted()
    }

    /// The last window a request at `now` can be given: none waits longer
    /// than the longest `max_wait_ms`, so no record lists a later one.
    public static func horizon(at now: Int64, period: Int) -> UInt64 {
        let current = TOTPWindow(containing: now, period: period).counter
        return current + UInt64(RequestBody.largestMaxWait / 1000 / max(1, period)) + 1
    }

    /// Forgets windows that have ended at `now`: no choice can fall on
    /// them again, so they need not be kept or written.
    public mutating func forget(endedBy now: Int64, period: Int) {
        let current = TOTPWindow(containing: now, period: period).counter
        if let first = issued.firstIndex(where: { $0 >= current }) {
            issued.removeFirst(first)
        } else {
            issued.removeAll()
        }
    }

    /// What a request arriving at `now` gets: the earliest window that no
    /// earlier request holds and that leaves it `minValidity` ms (the
    /// current window included, when it is free and long enough). A window
    /// too short for this request stays free for later ones. When that
    /// window opens more than `maxWait` ms from now: `busy`, and the
    /// request takes nothing.
    public func choose(now: Int64, period: Int, minValidity: Int64, maxWait: Int64) -> TurnChoice {
        let current = TOTPWindow(containing: now, period: period)
        var counter = current.counter
        if contains(counter) || current.millisecondsLeft(at: now) < minValidity {
            counter += 1
        }
        while contains(counter) { counter += 1 }
        let window = TOTPWindow(counter: counter, period: period)
        let wait = max(0, window.start * 1000 - now)
        guard wait <= maxWait else { return .busy(retryAfterMilliseconds: wait) }
        return .window(window, opensAt: now + wait)
    }

    /// Records `window` as handed out.
    public mutating func take(_ window: TOTPWindow) {
        merge(CollectionOfOne(window.counter))
    }

    public func contains(_ counter: UInt64) -> Bool {
        // Binary search: a ledger can hold an hour of one-second windows.
        var low = 0, high = issued.count
        while low < high {
            let middle = (low + high) / 2
            if issued[middle] < counter { low = middle + 1 } else { high = middle }
        }
        return low < issued.count && issued[low] == counter
    }
}

/// A request's turn.
public enum TurnChoice: Sendable, Equatable {
    /// This window is the request's; its reply goes at `opensAt` (Unix ms):
    /// now for the current window, else the window's start.
    case window(TOTPWindow, opensAt: Int64)
    /// Its window would open too late; it may ask again after this long,
    /// when that window opens.
    case busy(retryAfterMilliseconds: Int64)
    /// Its requester holds as many windows of the account as it may
    /// (`turns.max_per_requester`); one is answered after this long.
    case capped(retryAfterMilliseconds: Int64)
}
