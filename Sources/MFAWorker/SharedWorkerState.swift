import MFAConfig
import MFAWorkerCore
import Synchronization

/// What the consumer threads share: the current service state (swapped
/// whole on reload), the stop request, and the statistics.
public final class SharedWorkerState: Sendable {
    private let state: Mutex<ServiceState>
    private let generation: Atomic<Int>
    private let stopping = Atomic<Bool>(false)
    /// The rate buckets, shared by every consumer thread.
    private let limiter: Mutex<RateLimiter>
    private let limited: Atomic<Bool>
    public let statistics: WorkerStatistics
    public let metrics: WorkerMetrics
    public let audit: AuditTrail

    public init(_ state: ServiceState, audit: AuditTrail) {
        statistics = WorkerStatistics()
        metrics = WorkerMetrics(
            statistics: statistics,
            oncePerWindowAccounts: state.accounts.values.filter { $0.issue == .oncePerWindow }.count,
            auditWriteFailures: { audit.failedWrites }
        )
        self.audit = audit
        self.state = Mutex(state)
        generation = Atomic(state.generation)
        limiter = Mutex(state.rateLimits)
        limited = Atomic(!state.rateLimits.isUnlimited)
    }

    /// The rate check: nil to go on, else the ms to wait.
    public func admit(requester: String, account: String, now: Int64) -> Int64? {
        guard limited.load(ordering: .relaxed) else { return nil }
        return limiter.withLock { $0.admit(requester: requester, account: account, now: now) }
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
        limiter.withLock { $0 = newState.rateLimits }
        limited.store(!newState.rateLimits.isUnlimited, ordering: .relaxed)
        generation.store(newState.generation, ordering: .releasing)
    }

    public var isStopping: Bool { stopping.load(ordering: .relaxed) }

    public func requestStop() { stopping.store(true, ordering: .relaxed) }
}
