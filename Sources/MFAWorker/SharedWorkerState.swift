import MFAWorkerCore
import Synchronization

/// What the consumer threads share: the current service state (swapped
/// whole on reload), the stop request, and the statistics.
public final class SharedWorkerState: Sendable {
    private let state: Mutex<ServiceState>
    private let generation: Atomic<Int>
    private let stopping = Atomic<Bool>(false)
    public let statistics = WorkerStatistics()

    public init(_ state: ServiceState) {
        self.state = Mutex(state)
        generation = Atomic(state.generation)
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
        generation.store(newState.generation, ordering: .releasing)
    }

    public var isStopping: Bool { stopping.load(ordering: .relaxed) }

    public func requestStop() { stopping.store(true, ordering: .relaxed) }
}
