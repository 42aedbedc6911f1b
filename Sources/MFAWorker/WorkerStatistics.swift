import MFAProtocol
import Synchronization

/// Counters the consumer threads update and metrics and tests read.
/// Lock-free: one atomic per figure.
public final class WorkerStatistics: Sendable {
    private let ok = Atomic<Int>(0)
    private let badRequest = Atomic<Int>(0)
    private let forbidden = Atomic<Int>(0)
    private let rateLimited = Atomic<Int>(0)
    private let unavailable = Atomic<Int>(0)
    private let internalError = Atomic<Int>(0)
    private let rejected = Atomic<Int>(0)
    public let unroutableReplies = Atomic<Int>(0)
    public let repliesPending = Atomic<Int>(0)
    public let requestsInFlight = Atomic<Int>(0)
    public let reconnects = Atomic<Int>(0)
    /// Consumers currently consuming (0 while all are reconnecting).
    public let consumersActive = Atomic<Int>(0)
    /// Unix ms of the last delivery, 0 before the first.
    public let lastDeliveryMilliseconds = Atomic<Int64>(0)

    public init() {}

    public func count(_ outcome: Outcome) {
        switch outcome {
        case .ok: ok.add(1, ordering: .relaxed)
        case .badRequest: badRequest.add(1, ordering: .relaxed)
        case .forbidden: forbidden.add(1, ordering: .relaxed)
        case .rateLimited: rateLimited.add(1, ordering: .relaxed)
        case .unavailable: unavailable.add(1, ordering: .relaxed)
        case .internal: internalError.add(1, ordering: .relaxed)
        case .rejected: rejected.add(1, ordering: .relaxed)
        }
    }

    public func total(_ outcome: Outcome) -> Int {
        switch outcome {
        case .ok: ok.load(ordering: .relaxed)
        case .badRequest: badRequest.load(ordering: .relaxed)
        case .forbidden: forbidden.load(ordering: .relaxed)
        case .rateLimited: rateLimited.load(ordering: .relaxed)
        case .unavailable: unavailable.load(ordering: .relaxed)
        case .internal: internalError.load(ordering: .relaxed)
        case .rejected: rejected.load(ordering: .relaxed)
        }
    }
}
