import Foundation
import Logging
import MFAConfig
import MFAWorkerCore
import Synchronization
import TOTP

/// What the consumer threads share: the current service state (swapped
/// whole on reload), the stop request, and the statistics.
public final class SharedWorkerState: Sendable {
    private let state: Mutex<ServiceState>
    private let generation: Atomic<Int>
    private let stopping = Atomic<Bool>(false)
    /// The rate buckets, shared by every consumer thread.
    private let limiter: Mutex<RateLimiter>
    private let limited: Atomic<Bool>
    /// Refusals of requesters over their rate, summarised per requester.
    private let quietRefusals = Mutex(CountedNotices<String>())
    /// Direct reply-to nodes found running or not.
    private let directReplyNodes = Mutex(DirectReplyNodes())
    private let unroutableNotices = Mutex(CountedNotices<String>(burst: 5))
    /// The state generation each thread runs (by thread name).
    private let generations = Mutex<[String: Int]>([:])

    /// A thread runs the state of `generation` from now on.
    public func report(thread: String, runs generation: Int) {
        generations.withLock { $0[thread] = generation }
    }

    /// Whether every thread of `threads` runs `generation` (or a later one).
    public func everyThread(of threads: [String], runs generation: Int) -> Bool {
        generations.withLock { reported in threads.allSatisfy { (reported[$0] ?? -1) >= generation } }
    }

    // MARK: The lockout guard

    /// The pauses the guard log says are in force, and a generation that
    /// changes with them (cheap for the loops to poll).
    private let pauseTable = Mutex(PauseTable.unknown)
    private let pauseGeneration = Atomic<Int>(0)
    /// Login outcomes written into the guard log and not yet answered, by id.
    private let claims = Mutex<[UInt64: OutcomeClaim]>([:])
    private let nextClaimID = Atomic<Int>(1)
    private let guardCaughtUp = Atomic<Bool>(false)
    /// Names this process in the guard log (its claims and markers).
    public let guardOrigin = "\(ProcessInfo.processInfo.processIdentifier)-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"

    public var pausesGeneration: Int { pauseGeneration.load(ordering: .acquiring) }
    public var pauses: PauseTable { pauseTable.withLock { $0 } }

    /// The guard reader's new pauses; the loops pick them up on their next turn.
    public func setPauses(_ table: PauseTable) {
        pauseTable.withLock { $0 = table }
        pauseGeneration.add(1, ordering: .releasing)
    }

    /// Keeps a claim until the guard reader reads it back; returns its id.
    public func registerClaim(_ claim: OutcomeClaim) -> UInt64 {
        let id = UInt64(nextClaimID.add(1, ordering: .relaxed).oldValue)
        claims.withLock { $0[id] = claim }
        return id
    }

    /// The claim `id` of this process, once (nil: unknown or answered).
    public func takeClaim(_ id: UInt64) -> OutcomeClaim? {
        claims.withLock { $0.removeValue(forKey: id) }
    }

    /// The guard reader has read the log up to its start.
    public func guardHasCaughtUp() { guardCaughtUp.store(true, ordering: .releasing) }

    /// Waits (at most `milliseconds`) until the guard reader has read the
    /// log, so that no paused account is served at start-up; false when it
    /// has not by then.
    public func waitForGuard(milliseconds: Int) -> Bool {
        var left = milliseconds
        while !guardCaughtUp.load(ordering: .acquiring) {
            if left <= 0 || isStopping { return false }
            usleep(20_000)
            left -= 20
        }
        return true
    }

    /// Waits for the guard reader before consuming (at most 15 s), and says
    /// so if it gave up: until the log is read, accounts with a lockout
    /// guard are answered `unavailable` (a paused one must not be served).
    func awaitGuard(logger: Logger) {
        guard !waitForGuard(milliseconds: 15_000), !isStopping else { return }
        logger.warning(
            "consuming before the guard log was read",
            metadata: ["reason": "accounts with a lockout guard are answered unavailable until the guard reader has read the guard log"])
    }

    /// Messages in flight on connections that were lost (any thread's).
    private let redeliveries = Mutex(RedeliveryGuard())
    public let statistics: WorkerStatistics
    public let metrics: WorkerMetrics
    /// The worker's connections the broker blocks from publishing (alarms).
    public let blocks: PublishingBlocks
    public let audit: AuditTrail

    public init(_ state: ServiceState, audit: AuditTrail) {
        statistics = WorkerStatistics()
        let blocks = PublishingBlocks()
        self.blocks = blocks
        metrics = WorkerMetrics(
            statistics: statistics, blocks: blocks,
            oncePerWindowAccounts: state.accounts.values.filter { $0.issue == .oncePerWindow }.count,
            auditWriteFailures: { audit.failedWrites }
        )
        self.audit = audit
        self.state = Mutex(state)
        generation = Atomic(state.generation)
        limiter = Mutex(state.rateLimits)
        limited = Atomic(!state.rateLimits.isUnlimited)
    }

    /// The requester's rate, for every request it sends: nil to go on,
    /// else the ms to wait.
    public func admit(requester: String, now: Int64) -> Int64? {
        guard limited.load(ordering: .relaxed) else { return nil }
        return limiter.withLock { $0.admit(requester: requester, now: now) }
    }

    /// The account's rate across requesters: nil to go on, else the ms to wait.
    public func admit(account: String, now: Int64) -> Int64? {
        guard limited.load(ordering: .relaxed) else { return nil }
        return limiter.withLock { $0.admit(account: account, now: now) }
    }

    /// Whether a reply may go to a direct reply-to name (``DirectReplyNodes``).
    public func directReplyVerdict(for name: String, requester: String, now: Int64) -> DirectReplyNodes.Verdict {
        directReplyNodes.withLock { $0.verdict(for: name, requester: requester, now: now) }
    }

    public func directReplyProbed(node: String, running: Bool, now: Int64) {
        directReplyNodes.withLock { $0.probed(node: node, running: running, now: now) }
    }

    /// Returned replies, logged a few a minute and then counted.
    public func noteUnroutable(now: Int64) -> CountedNotices<String>.Verdict {
        unroutableNotices.withLock { $0.note("", "unroutable", now: now) }
    }

    /// A quiet refusal (``Reply/quiet``): what to log of it.
    public func noteQuiet(requester: String, outcome: String, now: Int64) -> CountedNotices<String>.Verdict {
        quietRefusals.withLock { $0.note(requester, outcome, now: now) }
    }

    /// A connection was lost with these messages in flight.
    public func connectionLost(inFlight fingerprints: some Sequence<Int>) {
        let now = SystemTime.unixMilliseconds()
        redeliveries.withLock { $0.connectionLost(inFlight: fingerprints, now: now) }
    }

    /// Whether a redelivered message was in flight on too many lost
    /// connections to be handled again.
    public func isPoison(_ fingerprint: Int) -> Bool {
        redeliveries.withLock { $0.isPoison(fingerprint) }
    }

    /// Quiet refusals not yet logged whose minute has passed.
    public func dueUnroutable(now: Int64) -> [(key: String, counts: [String: Int])] {
        unroutableNotices.withLock { $0.due(now: now) }
    }

    public func dueQuietRefusals(now: Int64) -> [(key: String, counts: [String: Int])] {
        quietRefusals.withLock { $0.due(now: now) }
    }

    /// The state's generation, cheap to read on every loop turn.
    public var stateGeneration: Int { generation.load(ordering: .acquiring) }

    public func currentState() -> ServiceState {
        state.withLock { $0 }
    }

    /// Replaces the state whole; consumer threads pick it up on their next
    /// turn.
    public func replaceState(_ newState: ServiceState) {
        state.withLock { $0 = newState }
        // The requesters' buckets go on: a reload is no fresh burst.
        limiter.withLock { $0 = newState.rateLimits.continuing(from: $0) }
        limited.store(!newState.rateLimits.isUnlimited, ordering: .relaxed)
        generation.store(newState.generation, ordering: .releasing)
    }

    public var isStopping: Bool { stopping.load(ordering: .relaxed) }

    public func requestStop() { stopping.store(true, ordering: .relaxed) }
}
