import Foundation
import MFAConfig
import MFAProtocol
import MFAWorkerCore
import Synchronization
import TOTP

#if canImport(Glibc)
import Glibc
#endif

/// One JSON line per issuance and per denial, to a sink of its own (a
/// file opened for appending with mode 0600, or stdout):
///
/// ```json
/// {"ts":"2026-11-29T01:30:47.600Z","requester":"rpa-bot-eu-1","account":"sf-automation-eu","window_start":1764372600,"window_end":1764372630,"correlation_id":"c-42","outcome":"ok"}
/// ```
///
/// Never the code: a record carries who asked for what, when, and what
/// they got, by name.
public final class AuditTrail: Sendable {
    private let sink: LineSink?

    /// Outcomes worth a record: issuances and the refusals that concern
    /// authorisation or availability.
    static let recorded: Set<Outcome> = [.ok, .forbidden, .rateLimited, .unavailable]

    private let fsync: AuditSettings.Sync
    /// Unix ms of the last sync, and whether a record came since.
    private let lastSync = Atomic<Int64>(0)
    private let unsynced = Atomic<Bool>(false)

    /// Opens the file as secret files are opened (no link followed at the
    /// end, this user's or root's, mode 0600 unless `allowLoose`, in a folder
    /// others cannot write), creating it with mode 0600.
    public init(_ settings: AuditSettings, allowLoose: Bool = false) throws(StartupError) {
        fsync = settings.fsync
        switch settings.destination {
        case .off:
            sink = nil
        case .standardOutput:
            sink = LineSink.standardOutput
        case .file(let path):
            do {
                let fd = try SecretFile.open(path: path, allowLoose: allowLoose, forWriting: true) { message in
                    ConfigurationError(keyPath: "audit.path", message: message)
                }
                // Each record goes to the kernel as it is made.
                sink = LineSink(descriptor: fd, buffered: false)
            } catch {
                throw StartupError("cannot use the audit file (audit.path): \(error.message)")
            }
        }
    }

    public var isEnabled: Bool { sink != nil }

    /// Writes of the trail's sink that failed: `mfa_write_failures_total{sink="audit"}`.
    public var failedWrites: Int { sink?.failedWrites.load(ordering: .relaxed) ?? 0 }

    func record(_ reply: Reply) {
        guard let sink, Self.recorded.contains(reply.outcome) else { return }
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(contentsOf: #"{"ts":""#.utf8)
        Timestamp.appendISO8601(to: &line)
        line.append(contentsOf: #"","requester":"#.utf8)
        TextEscaping.appendJSON(reply.requester ?? "", to: &line)
        line.append(contentsOf: #","account":"#.utf8)
        TextEscaping.appendJSON(reply.account ?? "", to: &line)
        if let pool = reply.pool {
            line.append(contentsOf: #","pool":"#.utf8)
            TextEscaping.appendJSON(pool, to: &line)
        }
        if let window = reply.window {
            line.append(contentsOf: #","window_start":\#(window.start),"window_end":\#(window.end)"#.utf8)
        }
        line.append(contentsOf: #","correlation_id":"#.utf8)
        TextEscaping.appendJSON(TextEscaping.correlationID(reply.correlationID), to: &line)
        line.append(contentsOf: #","outcome":""#.utf8)
        line.append(contentsOf: reply.outcome.rawValue.utf8)
        line.append(contentsOf: "\"}\n".utf8)
        write(line, to: sink)
    }

    private func write(_ line: [UInt8], to sink: LineSink) {
        sink.write(line)
        switch fsync {
        case .off: break
        case .every: sink.sync()
        case .interval: unsynced.store(true, ordering: .relaxed)
        }
    }

    /// `audit.fsync: interval`: syncs the file when a record came since the
    /// last sync, at most once a second. Called from the service's loop.
    func syncIfDue(now: Int64) {
        guard fsync == .interval, let sink, unsynced.load(ordering: .relaxed),
            now - lastSync.load(ordering: .relaxed) >= 1000
        else { return }
        unsynced.store(false, ordering: .relaxed)
        lastSync.store(now, ordering: .relaxed)
        sink.sync()
    }

    /// A summary of a requester's refusals while over its rate:
    /// `{"ts":...,"requester":...,"outcome":"over_rate","refused":{"rate_limited":9800,"bad_request":12}}`.
    func recordRefusals(requester: String, counts: [String: Int]) {
        guard let sink else { return }
        var line: [UInt8] = []
        line.append(contentsOf: #"{"ts":""#.utf8)
        Timestamp.appendISO8601(to: &line)
        line.append(contentsOf: #"","requester":"#.utf8)
        TextEscaping.appendJSON(requester, to: &line)
        line.append(contentsOf: #","outcome":"over_rate","refused":{"#.utf8)
        for (index, (outcome, count)) in counts.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { line.append(UInt8(ascii: ",")) }
            TextEscaping.appendJSON(outcome, to: &line)
            line.append(contentsOf: ":\(count)".utf8)
        }
        line.append(contentsOf: "}}\n".utf8)
        write(line, to: sink)
    }

    /// A login outcome and what the guard log made of it:
    /// `{"ts":...,"requester":...,"account":...,"window_start":N,"outcome":"login_failure","verdict":"counted","failures":2,"reason":"..."}`.
    func recordOutcome(_ claim: OutcomeClaim, verdict: String, failures: Int?) {
        guard let sink else { return }
        var line: [UInt8] = []
        line.append(contentsOf: #"{"ts":""#.utf8)
        Timestamp.appendISO8601(to: &line)
        line.append(contentsOf: #"","requester":"#.utf8)
        TextEscaping.appendJSON(claim.requester, to: &line)
        line.append(contentsOf: #","account":"#.utf8)
        TextEscaping.appendJSON(claim.outcome.account, to: &line)
        line.append(contentsOf: #","window_start":\#(claim.outcome.windowStart),"correlation_id":"#.utf8)
        TextEscaping.appendJSON(TextEscaping.correlationID(claim.correlationID), to: &line)
        line.append(contentsOf: #","outcome":"login_\#(claim.outcome.outcomeName)","verdict":"\#(verdict)""#.utf8)
        if let failures { line.append(contentsOf: #","failures":\#(failures)"#.utf8) }
        if let reason = claim.outcome.reason {
            line.append(contentsOf: #","reason":"#.utf8)
            TextEscaping.appendJSON(reason, to: &line)
        }
        line.append(contentsOf: "}\n".utf8)
        write(line, to: sink)
    }

    /// A pause begun or ended: `{"ts":...,"account":...,"outcome":"paused","until_ms":N}`,
    /// or `"outcome":"resumed"` / `"pause_ended"`.
    func recordPause(account: String, outcome: String, untilMilliseconds: Int64? = nil, failures: Int? = nil) {
        guard let sink else { return }
        var line: [UInt8] = []
        line.append(contentsOf: #"{"ts":""#.utf8)
        Timestamp.appendISO8601(to: &line)
        line.append(contentsOf: #"","account":"#.utf8)
        TextEscaping.appendJSON(account, to: &line)
        line.append(contentsOf: #","outcome":"\#(outcome)""#.utf8)
        if let untilMilliseconds { line.append(contentsOf: #","until_ms":\#(untilMilliseconds)"#.utf8) }
        if let failures { line.append(contentsOf: #","failures":\#(failures)"#.utf8) }
        line.append(contentsOf: "}\n".utf8)
        write(line, to: sink)
    }

    func flush() { sink?.flush() }
}
