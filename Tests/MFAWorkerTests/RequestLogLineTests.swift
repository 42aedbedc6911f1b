import Logging
import MFAConfig
import Testing

@testable import MFAWorker

/// The per-request line the worker writes without swift-log's metadata
/// dictionary is the line the handler writes through swift-log.
@Suite("The request log line")
struct RequestLogLineTests {
    /// The line without its time, which differs by when it was made.
    static func untimed(_ line: [UInt8], _ format: LogSettings.Format) -> String {
        let text = String(decoding: line, as: UTF8.self)
        switch format {
        case .text: return String(text.drop { $0 != " " })
        case .json: return String(text.drop { $0 != "Z" })
        }
    }

    @Test("Byte for byte the handler's line, in text and JSON, with and without reason and pool", arguments: [LogSettings.Format.text, .json])
    func sameAsTheHandler(format: LogSettings.Format) throws {
        var handler = WorkerLogHandler(label: "test", format: format, level: .info)
        handler[metadataKey: "worker"] = "2"
        let logger = Logger(label: "test") { _ in handler }
        let fast = try #require(RequestLogLine(logger))
        let cases: [(reason: String?, pool: String?)] = [(nil, nil), ("no such \"account\"\n", nil), (nil, "eu-pool"), ("busy", "eu-pool")]
        for (reason, pool) in cases {
            var metadata: Logger.Metadata = [
                "requester": "rpa-bot eu=1", "account": "sf-automation-eu", "correlation_id": "c-1", "outcome": "ok", "latency_ms": "0.042",
            ]
            if let pool { metadata["pool"] = .string(pool) }
            if let reason { metadata["reason"] = .string(reason) }
            let event = LogEvent(level: .info, message: "request", metadata: metadata, source: nil, file: #fileID, function: #function, line: #line)
            let expected = Self.untimed(handler.line(for: event), format)
            let line = fast.line(
                requester: "rpa-bot eu=1", account: "sf-automation-eu", correlationID: "c-1", outcome: "ok", latency: "0.042", reason: reason, pool: pool)
            #expect(Self.untimed(line, format) == expected)
            #expect(expected.contains("worker"))
        }
    }

    @Test("Another handler, or other metadata, takes swift-log's way")
    func fallsBack() {
        var handler = WorkerLogHandler(label: "test", format: .text, level: .info)
        handler[metadataKey: "thread"] = "x"
        #expect(RequestLogLine(Logger(label: "test") { _ in handler }) == nil)
        #expect(RequestLogLine(Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }) == nil)
    }
}
