import AMQP
import Foundation
import MFABroker
import MFAClient
import TestSupport
import Testing

/// The broker restarts in the middle of a load: every caller still ends
/// with a right code, and the worker consumes again within seconds.
/// Uses its own node (`mfa-fault`, 127.0.0.1:5681), which scripts/test-faults.sh
/// starts and this test restarts.
@Suite("A broker restart under load", .enabled(if: FaultEnvironment.enabled), .serialized)
struct BrokerRestartTests {
    static let port = 5681

    @Test("10,000 requests through MFAClient across a broker restart: all answered, none wrong")
    func restartUnderLoad() async throws {
        let worker = try WorkerProcess(workers: 2, port: Self.port).start()
        defer { worker.stop() }
        let clients = try (0..<4).map { index in
            MFAClient(
                MFAClientConfiguration(
                    urls: [try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:\(Self.port)/%2F")],
                    password: "rpa-bot-eu-1-password", requestQueue: worker.queue,
                    reconnectMax: .seconds(1), connectionName: "fault test \(index)"
                ))
        }
        defer { clients.forEach { $0.close() } }

        let restart = RestartRecord()
        let load = Task {
            await ClientLoad.run(clients: clients, account: "sf-eu", total: 10_000, concurrency: 100, timeout: .seconds(90)) { finished in
                if finished == 2000 { restart.trigger() }
            }
        }
        // Restart the broker once 2,000 calls are done.
        while !restart.isTriggered { try await Task.sleep(for: .milliseconds(20)) }
        let stopped = Date()
        let result = try FaultEnvironment.broker("restart", name: "mfa-fault", port: Self.port)
        let back = Date()
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")

        let outcome = await load.value
        #expect(outcome.errors.isEmpty, "\(outcome.errors)")
        #expect(outcome.codes.count == 10_000)
        #expect(try CodeChecker(base32: worker.keys["sf-eu"]!.base32).wrong(outcome.codes) == 0)

        // The worker said so once, and consumed again soon after the broker came back.
        #expect(worker.waitForLog("consuming again", count: 2, timeout: 10))
        let log = worker.log
        // Two consumer threads and the guard log's reader, each its own connection.
        #expect(log.components(separatedBy: "connection lost; reconnecting").count - 1 == 3, "one line per thread with a connection, not one per retry")
        let again = try #require(LogTime.of(lineContaining: "consuming again", in: log))
        let recovery = again.timeIntervalSince(back)
        print(
            "broker restart: down for \(String(format: "%.1f", back.timeIntervalSince(stopped))) s; worker consuming again \(String(format: "%.1f", recovery)) s after the broker answered; 10,000 of 10,000 calls answered, 0 wrong"
        )
        #expect(recovery < 5)
    }
}

final class RestartRecord: @unchecked Sendable {
    private let lock = NSLock()
    private var triggered = false
    func trigger() { lock.withLock { triggered = true } }
    var isTriggered: Bool { lock.withLock { triggered } }
}

enum FaultEnvironment {
    static let enabled = ProcessInfo.processInfo.environment["MFA_FAULT_TESTS"] == "1"

    /// scripts/broker.sh for another node.
    static func broker(_ command: String, name: String, port: Int) throws -> RunResult {
        var environment = ProcessInfo.processInfo.environment
        environment["MFA_BROKER_NAME"] = name
        environment["MFA_BROKER_PORT"] = String(port)
        return try run("/bin/bash", [repositoryRoot + "/scripts/broker.sh", command], environment: environment)
    }

    /// rabbitmqctl against another node.
    static func ctl(name: String, port: Int, _ arguments: String...) throws -> RunResult {
        var environment = ProcessInfo.processInfo.environment
        environment["MFA_BROKER_NAME"] = name
        environment["MFA_BROKER_PORT"] = String(port)
        return try run("/bin/bash", [repositoryRoot + "/scripts/broker.sh", "ctl"] + arguments, environment: environment)
    }

    static func cluster(_ arguments: String...) throws -> RunResult {
        try run("/bin/bash", [repositoryRoot + "/scripts/cluster.sh"] + arguments)
    }
}
