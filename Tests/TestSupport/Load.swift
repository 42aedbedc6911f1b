import AMQP
import Foundation
import MFAClient

/// Many calls through MFAClient at once, for the fault tests.
public enum ClientLoad {
    public struct Outcome: Sendable {
        public var codes: [MFACode] = []
        public var errors: [String: Int] = [:]
    }

    /// Runs `total` calls over `clients`, `concurrency` at a time; calls
    /// `onProgress` with the count finished so far.
    public static func run(
        clients: [MFAClient],
        account: String,
        total: Int,
        concurrency: Int,
        timeout: Duration,
        onProgress: @Sendable @escaping (Int) -> Void = { _ in }
    ) async -> Outcome {
        await withTaskGroup(of: Result<MFACode, MFAClientError>.self) { group in
            var outcome = Outcome()
            var started = 0
            var finished = 0
            func start() {
                let client = clients[started % clients.count]
                started += 1
                group.addTask {
                    do throws(MFAClientError) {
                        return .success(try await client.code(for: account, timeout: timeout))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            while started < min(concurrency, total) { start() }
            for await result in group {
                finished += 1
                switch result {
                case .success(let code): outcome.codes.append(code)
                case .failure(let error): outcome.errors[error.kind, default: 0] += 1
                }
                onProgress(finished)
                if started < total { start() }
            }
            return outcome
        }
    }
}

/// Checks codes against oathtool once per window.
public final class CodeChecker {
    private let base32: String
    private let period: Int
    private var expected: [Int64: String] = [:]

    public init(base32: String, period: Int = 30) {
        self.base32 = base32
        self.period = period
    }

    /// The number of codes that oathtool disagrees with.
    public func wrong(_ codes: [MFACode]) throws -> Int {
        var wrong = 0
        for code in codes {
            if expected[code.windowStart] == nil {
                expected[code.windowStart] = try Oathtool.code(base32: base32, time: code.windowStart, period: period, digits: 6, algorithm: "SHA1")
            }
            if expected[code.windowStart] != code.code { wrong += 1 }
        }
        return wrong
    }
}

/// Parses the worker's log timestamps (`2026-11-29T01:30:47.600Z`).
public enum LogTime {
    public static func of(lineContaining text: String, in log: String) -> Date? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains(text) }) else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: String(line.prefix(24)))
    }
}
