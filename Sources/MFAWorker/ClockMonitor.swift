import Foundation
import Logging
import TOTP

/// Reads the kernel's clock discipline at start-up and every minute; logs
/// one warning per change and sets `mfa_clock_synchronized`.
final class ClockMonitor: @unchecked Sendable {
    private let lock = NSLock()
    private var current: ClockDiscipline.State = .unknown
    private var lastCheck: Int64 = 0
    private let metrics: WorkerMetrics
    private let logger: Logger
    private let read: @Sendable () -> ClockDiscipline.State

    init(metrics: WorkerMetrics, logger: Logger, read: @escaping @Sendable () -> ClockDiscipline.State = ClockDiscipline.current) {
        self.metrics = metrics
        self.logger = logger
        self.read = read
    }

    var state: ClockDiscipline.State { lock.withLock { current } }

    /// Checks now when a minute has passed since the last check (or never).
    func checkIfDue() {
        let now = SystemTime.unixMilliseconds()
        let due = lock.withLock { lastCheck == 0 || now - lastCheck >= 60_000 }
        if due { check() }
    }

    func check() {
        let observed =
            ProcessInfo.processInfo.environment["MFA_WORKER_ASSUME_CLOCK"].flatMap { value -> ClockDiscipline.State? in
                // For tests: pretend a state (synchronized, unsynchronized).
                value == "unsynchronized" ? .unsynchronized : value == "synchronized" ? .synchronized : nil
            } ?? read()
        let (previous, first) = lock.withLock { () -> (ClockDiscipline.State, Bool) in
            defer {
                current = observed
                lastCheck = SystemTime.unixMilliseconds()
            }
            return (current, lastCheck == 0)
        }
        metrics.setClockSynchronized(observed != .unsynchronized)
        // One line per change (and at start-up when not synchronised).
        guard first || observed != previous else { return }
        switch observed {
        case .unsynchronized:
            logger.warning(
                "the clock is not synchronised (adjtimex): codes may be refused; /healthz says degraded", metadata: ["reason": "STA_UNSYNC or TIME_ERROR"])
        case .synchronized:
            if !first { logger.notice("the clock is synchronised again") }
        case .unknown:
            logger.notice("cannot read the clock's synchronisation state (adjtimex)")
        }
    }
}
