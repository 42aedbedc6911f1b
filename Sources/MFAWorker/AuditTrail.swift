import Foundation
import MFAConfig
import MFAProtocol
import MFAWorkerCore
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

    public init(_ settings: AuditSettings) throws(StartupError) {
        switch settings.destination {
        case .off:
            sink = nil
        case .standardOutput:
            sink = LineSink.standardOutput
        case .file(let path):
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw StartupError("cannot open the audit file \(path) (audit.path): \(String(cString: strerror(errno)).lowercased())")
            }
            sink = LineSink(descriptor: fd)
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
        if let window = reply.window {
            line.append(contentsOf: #","window_start":\#(window.start),"window_end":\#(window.end)"#.utf8)
        }
        line.append(contentsOf: #","correlation_id":"#.utf8)
        TextEscaping.appendJSON(TextEscaping.correlationID(reply.correlationID), to: &line)
        line.append(contentsOf: #","outcome":""#.utf8)
        line.append(contentsOf: reply.outcome.rawValue.utf8)
        line.append(contentsOf: "\"}\n".utf8)
        sink.write(line)
    }

    func flush() { sink?.flush() }
}
