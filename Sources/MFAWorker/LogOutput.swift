import Foundation
import Logging
import MFAConfig
import MFAProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where lines go: a file descriptor behind a buffer.
///
/// Lines from every thread are appended under a lock and written with one
/// `write` when 16 KiB gather, when a consumer loop idles, at a warning, and
/// at exit; to a terminal, at once.
public final class LineSink: Sendable {
    private let descriptor: Int32
    private let immediate: Bool
    private let buffer = Mutex<[UInt8]>([])
    private static let threshold = 16 * 1024
    /// `write` calls that failed (their lines are lost): `mfa_write_failures_total`.
    public let failedWrites = Atomic<Int>(0)

    /// - Parameter buffered: false: every line goes to the kernel at once
    ///   (the audit trail).
    public init(descriptor: Int32, buffered: Bool = true) {
        self.descriptor = descriptor
        immediate = !buffered || isatty(descriptor) == 1
    }

    /// Writes out what is buffered and asks the kernel to put the file on
    /// disk (`fdatasync`).
    public func sync() {
        flush()
        _ = fdatasync(descriptor)
    }

    /// Log lines: stdout.
    public static let standardOutput = LineSink(descriptor: STDOUT_FILENO)

    public func write(_ line: [UInt8]) {
        let full: [UInt8]? = buffer.withLock { pending in
            pending.append(contentsOf: line)
            guard immediate || pending.count >= Self.threshold else { return nil }
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        if let full { writeAll(full) }
    }

    public func flush() {
        let pending: [UInt8] = buffer.withLock { pending in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        if !pending.isEmpty { writeAll(pending) }
    }

    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failedWrites.add(1, ordering: .relaxed)
                    return
                }
                offset += written
            }
        }
    }
}

/// The log lines' sink.
public enum LogSink {
    public static func write(_ bytes: [UInt8]) { LineSink.standardOutput.write(bytes) }
    public static func flush() { LineSink.standardOutput.flush() }
}

/// One line per event, as `text` (`2026-11-29T01:23:45.123Z info request
/// requester=... outcome=ok`) or `json` (one object per line).
///
/// Metadata keys come out in a fixed order (the request fields first), and
/// every value is escaped, so that a hostile correlation id cannot forge a
/// line or a field.
public struct WorkerLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    public let format: LogSettings.Format
    private let label: String

    public init(label: String, format: LogSettings.Format, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Request fields first, in this order; the rest sorted.
    static let keyOrder = ["worker", "requester", "account", "correlation_id", "outcome", "latency_ms", "window_start", "reason"]

    public func log(event: LogEvent) {
        LogSink.write(line(for: event))
        if event.level >= .warning { LogSink.flush() }
    }

    /// The line `log(event:)` writes. The handler's metadata (the
    /// consumer's number) and the event's are read side by side, not
    /// merged: merging copied a dictionary per line.
    func line(for event: LogEvent) -> [UInt8] {
        let extra = event.metadata ?? [:]
        return Self.line(format: format, level: event.level, message: event.message.description) { field in forEachField(extra, field) }
    }

    /// One line: the time, the level, the message, then the fields that
    /// `fields` hands over, in its order.
    static func line(
        format: LogSettings.Format, level: Logger.Level, message: String, fields: ((_ key: String, _ value: String) -> Void) -> Void
    ) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(256)
        switch format {
        case .text:
            Timestamp.appendISO8601(to: &line)
            line.append(0x20)
            line.append(contentsOf: level.rawValue.utf8)
            line.append(0x20)
            TextEscaping.appendText(message, to: &line)
            fields { key, value in
                line.append(0x20)
                line.append(contentsOf: key.utf8)
                line.append(UInt8(ascii: "="))
                TextEscaping.appendText(value, to: &line)
            }
        case .json:
            line.append(contentsOf: #"{"ts":""#.utf8)
            Timestamp.appendISO8601(to: &line)
            line.append(contentsOf: #"","level":""#.utf8)
            line.append(contentsOf: level.rawValue.utf8)
            line.append(contentsOf: #"","msg":"#.utf8)
            TextEscaping.appendJSON(message, to: &line)
            fields { key, value in
                line.append(UInt8(ascii: ","))
                TextEscaping.appendJSON(key, to: &line)
                line.append(UInt8(ascii: ":"))
                TextEscaping.appendJSON(value, to: &line)
            }
            line.append(UInt8(ascii: "}"))
        }
        line.append(0x0A)
        return line
    }

    /// The fields in ``keyOrder``, then any others sorted by name; the
    /// event's value wins over the handler's.
    private func forEachField(_ extra: Logger.Metadata, _ body: (String, String) -> Void) {
        var seen = 0
        for key in Self.keyOrder {
            if let value = extra[key] ?? metadata[key] {
                body(key, value.description)
                seen += 1
            }
        }
        // Fields beyond the known ones are rare: count them without allocating.
        var total = extra.count
        for key in metadata.keys where extra[key] == nil { total += 1 }
        guard seen < total else { return }
        let others = Set(extra.keys).union(metadata.keys).subtracting(Self.keyOrder).sorted()
        for key in others {
            body(key, (extra[key] ?? metadata[key])!.description)
        }
    }
}

/// The line per request (`info request requester=... outcome=ok`), written
/// without swift-log's metadata dictionary, the hot path's largest cost after
/// the socket: byte for byte what `logger.info("request", metadata:)` writes
/// through a ``WorkerLogHandler`` whose own metadata is at most `worker`.
struct RequestLogLine {
    let format: LogSettings.Format
    let worker: String?

    /// Nil when `logger` logs through another handler, or one with other
    /// metadata: then the line goes through swift-log.
    init?(_ logger: Logger) {
        guard let handler = logger.handler as? WorkerLogHandler, handler.metadata.keys.allSatisfy({ $0 == "worker" }) else { return nil }
        format = handler.format
        worker = handler.metadata["worker"]?.description
    }

    /// The fields in the handler's order (``WorkerLogHandler/keyOrder``,
    /// then the rest sorted: `pool`).
    func line(requester: String, account: String, correlationID: String, outcome: String, latency: String, reason: String?, pool: String?) -> [UInt8] {
        WorkerLogHandler.line(format: format, level: .info, message: "request") { field in
            if let worker { field("worker", worker) }
            field("requester", requester)
            field("account", account)
            field("correlation_id", correlationID)
            field("outcome", outcome)
            field("latency_ms", latency)
            if let reason { field("reason", reason) }
            if let pool { field("pool", pool) }
        }
    }
}

/// Escaping for log values.
public enum TextEscaping {
    /// Appends ``text(_:)`` of `value`, without a copy when it is plain.
    public static func appendText(_ value: String, to line: inout [UInt8]) {
        let utf8 = value.utf8
        if !utf8.isEmpty && utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "\\") }) {
            line.append(contentsOf: utf8)
        } else {
            line.append(contentsOf: text(value).utf8)
        }
    }

    /// A value for a `key=value` text line: bare when it is plain, else
    /// quoted with `"` and `\` escaped, ASCII controls as `\xNN` and the
    /// other characters that could break or reorder a line (``isUnsafe(_:)``)
    /// as `\u{XXXX}`.
    public static func text(_ value: String) -> String {
        let plain =
            !value.isEmpty
            && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "\\") }
        if plain { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\x" + String(scalar.value, radix: 16).leftPadded(2)
            case _ where isUnsafe(scalar):
                out += "\\u{" + String(scalar.value, radix: 16).leftPadded(4) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Never written raw into a log or audit line (``JSONText/isLineBreaking(_:)``).
    @inline(__always)
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        JSONText.isLineBreaking(scalar)
    }

    /// A JSON string for a log or audit line (``JSONText/appendLineSafeString(_:to:)``).
    public static func appendJSON(_ value: String, to line: inout [UInt8]) {
        JSONText.appendLineSafeString(value, to: &line)
    }

    /// A correlation id for a log line: printable ASCII kept, other bytes as
    /// `\xNN`, cut at 128 bytes.
    public static func correlationID(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "-" }
        // The common case, printable ASCII: one copy.
        if bytes.count <= 128, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        var out = ""
        for byte in bytes.prefix(128) {
            if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "\\x" + String(byte, radix: 16).leftPadded(2)
            }
        }
        if bytes.count > 128 { out += "..." }
        return out
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// UTC timestamps with milliseconds, without Foundation's formatter.
enum Timestamp {
    /// Appends `2026-11-29T01:23:45.123Z`.
    static func appendISO8601(to line: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                line.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        line.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        line.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        line.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        line.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        line.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        line.append(UInt8(ascii: "."))
        digits(Int(now.tv_nsec / 1_000_000), 3)
        line.append(UInt8(ascii: "Z"))
    }

}

extension LogSettings.Level {
    public var loggerLevel: Logger.Level {
        switch self {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}
