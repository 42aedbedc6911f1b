import Synchronization

/// State the consumer threads keep and metrics and health read.
/// Lock-free: one atomic per figure. Outcomes are counted by WorkerMetrics.
public final class WorkerStatistics: Sendable {
    public let unroutableReplies = Atomic<Int>(0)
    public let repliesPending = Atomic<Int>(0)
    public let reconnects = Atomic<Int>(0)
    /// Consumers currently consuming (0 while all are reconnecting).
    public let consumersActive = Atomic<Int>(0)
    /// Unix ms of the last delivery, 0 before the first.
    public let lastDeliveryMilliseconds = Atomic<Int64>(0)
    /// Whether this worker has `once_per_window` accounts (a turns thread).
    public let turnsExpected = Atomic<Bool>(false)
    /// Whether the turns thread is connected and consuming its turn queues.
    public let turnsConnected = Atomic<Bool>(false)
    /// The accounts whose windows this worker gives out now (the broker
    /// made its consumer of their turn queue the active one).
    public let turnAccountsHeld = Atomic<Int>(0)

    public init() {}
}
