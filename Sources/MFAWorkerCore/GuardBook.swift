import MFAConfig
import MFAProtocol

/// What the guard log says, read in its order: which requester was handed
/// which window, which outcomes counted, which accounts are paused.
///
/// Every replica reads the same log into its own book; the verdicts depend
/// only on the records (their order and the times they carry) and the
/// accounts' `lockout_guard` settings, so every replica reaches the same
/// ones, whether it read a record live or again after a restart. Pure, and
/// with no clock of its own: what it forgets, it forgets by the latest time
/// a record carried.
public struct GuardBook: Sendable {
    public struct Pause: Sendable, Equatable {
        /// Unix ms.
        public var from: Int64
        public var until: Int64

        public init(from: Int64, until: Int64) {
            self.from = from
            self.until = until
        }
    }

    /// What a login outcome came to.
    public enum Verdict: Sendable, Equatable {
        /// Counted. `failures`: the account's failures within its
        /// `within_s` (0 for a success, or with the guard off); `paused`:
        /// the pause this outcome began.
        case counted(failures: Int, paused: Pause?)
        /// This requester's outcome for this window was counted already.
        case repeated
        /// Not from a requester handed this window (since the account's
        /// last resume), or too late: not counted.
        case refused
    }

    public enum Effect: Sendable, Equatable {
        case none
        case outcome(origin: String, id: UInt64, account: String, verdict: Verdict)
        /// `ended`: the pause the resume ended, if there was one.
        case resumed(origin: String, id: UInt64, account: String, ended: Pause?)
        case marker(origin: String, id: UInt64)
    }

    struct Key: Hashable, Sendable {
        var requester: String
        var account: String
        var windowStart: Int64
    }

    /// When outcomes of accounts without a guard are still taken.
    public static let defaultWithinSeconds: Int64 = 3600

    private var guards: [String: LockoutGuard?]
    /// Handouts (their window's end in Unix s, and when, Unix ms), and
    /// counted outcomes (their window's end).
    private var handed: [Key: (end: Int64, at: Int64)] = [:]
    private var counted: [Key: Int64] = [:]
    private var failures: [String: [Int64]] = [:]
    /// Pauses, ended ones too until the log's clock has left them behind.
    public private(set) var pauses: [String: Pause] = [:]
    /// The last resume of each account (Unix ms): handouts before it count no more.
    private var resumed: [String: Int64] = [:]
    /// The latest time a record carried (Unix ms).
    public private(set) var clock: Int64 = 0
    private var lastForget: Int64 = 0

    public init(accounts: [String: Account]) {
        guards = accounts.mapValues(\.lockoutGuard)
    }

    /// A reload: the accounts' guards from now on.
    public mutating func replaceAccounts(_ accounts: [String: Account]) {
        guards = accounts.mapValues(\.lockoutGuard)
    }

    /// The pauses in force at `now`, for the deciders.
    public func pauseTable(now: Int64) -> PauseTable {
        PauseTable(until: pauses.filter { $0.value.until > now }.mapValues(\.until))
    }

    /// Failures of `account` counted within its `within_s` before `now`.
    public func failureCount(of account: String, now: Int64) -> Int {
        guard let settings = guards[account] ?? nil else { return 0 }
        return failures[account, default: []].filter { $0 > now - Int64(settings.withinSeconds) * 1000 }.count
    }

    /// Reads the next record of the log.
    public mutating func apply(_ record: GuardRecord) -> Effect {
        switch record {
        case .handout(let requester, let account, let start, let end, let at):
            advance(to: at)
            handed[Key(requester: requester, account: account, windowStart: start)] = (end, at)
            return .none
        case .outcome(let origin, let id, let requester, let account, let start, let succeeded, let at):
            advance(to: at)
            let verdict = outcome(Key(requester: requester, account: account, windowStart: start), succeeded: succeeded, at: at)
            return .outcome(origin: origin, id: id, account: account, verdict: verdict)
        case .resume(let origin, let id, let account, let at):
            advance(to: at)
            let ended = pauses.removeValue(forKey: account)
            failures[account] = nil
            resumed[account] = max(resumed[account] ?? 0, at)
            return .resumed(origin: origin, id: id, account: account, ended: ended.flatMap { $0.until > at ? $0 : nil })
        case .marker(let origin, let id):
            return .marker(origin: origin, id: id)
        }
    }

    private mutating func outcome(_ key: Key, succeeded: Bool, at: Int64) -> Verdict {
        guard let handout = handed[key], let settings = guards[key.account] else { return .refused }
        // A window handed before the account's last resume counts no more:
        // resume starts the account afresh.
        if let resumedAt = resumed[key.account], handout.at <= resumedAt { return .refused }
        let within = Int64(settings?.withinSeconds ?? Int(Self.defaultWithinSeconds)) * 1000
        guard at <= handout.end * 1000 + within else { return .refused }
        guard counted[key] == nil else { return .repeated }
        counted[key] = handout.end
        guard !succeeded, let settings else { return .counted(failures: 0, paused: nil) }
        var recent = failures[key.account, default: []].filter { $0 > at - within }
        recent.append(at)
        failures[key.account] = recent
        if let pause = pauses[key.account], pause.until > at {
            return .counted(failures: recent.count, paused: nil)
        }
        guard recent.count >= settings.maxFailures else { return .counted(failures: recent.count, paused: nil) }
        let pause = Pause(from: at, until: at + Int64(settings.pauseSeconds) * 1000)
        pauses[key.account] = pause
        return .counted(failures: recent.count, paused: pause)
    }

    /// Moves the log's clock on, and every so often forgets what no later
    /// record can touch: by the log's time, so that every reader forgets
    /// the same things at the same place in the log.
    private mutating func advance(to at: Int64) {
        guard at > clock else { return }
        clock = at
        guard clock - lastForget >= 10_000 else { return }
        lastForget = clock
        let longest = max(guards.values.compactMap { $0?.withinSeconds }.map(Int64.init).max() ?? 0, Self.defaultWithinSeconds)
        let horizon = clock / 1000 - longest - 60
        handed = handed.filter { $0.value.end >= horizon }
        counted = counted.filter { $0.value >= horizon }
        pauses = pauses.filter { $0.value.until >= clock - 60_000 }
    }

    /// How far back a reader starts: far enough for every pause still in
    /// force, the failures that began it, and the handouts they name.
    public static func replaySeconds(for accounts: [String: Account]) -> Int {
        let settings = accounts.values.compactMap(\.lockoutGuard)
        let within = max(settings.map(\.withinSeconds).max() ?? 0, Int(defaultWithinSeconds))
        let pause = settings.map(\.pauseSeconds).max() ?? 0
        let period = accounts.values.map(\.parameters.period).max() ?? 30
        return pause + 2 * within + period + 60
    }
}

/// The windows a thread has written handouts for, so that a requester's
/// handout of an account's window is written once, not per request.
public struct HandoutLedger: Sendable {
    private var written: [GuardBook.Key: Int64] = [:]
    private var nextForget: Int64 = 0

    public init() {}

    /// The handout record for this reply, made at `now` (Unix ms), if this
    /// thread has not written it yet (success replies only).
    public mutating func record(for reply: Reply, now: Int64) -> GuardRecord? {
        guard reply.outcome == .ok, let window = reply.window, let requester = reply.requester, let account = reply.account else { return nil }
        if now >= nextForget {
            nextForget = now + 10_000
            written = written.filter { $0.value * 1000 > now }
        }
        let key = GuardBook.Key(requester: requester, account: account, windowStart: window.start)
        guard written.updateValue(window.end, forKey: key) == nil else { return nil }
        return .handout(requester: requester, account: account, windowStart: window.start, windowEnd: window.end, atMilliseconds: now)
    }
}
