import AMQP
import Foundation
import MFAConfig
import MFAProtocol
import MFAWorkerCore
import TOTP

/// `mfa-worker resume ACCOUNT`: ends an account's pause early. Writes a
/// `resume` record into the guard log as the worker's own broker login (the
/// only login whose records the workers believe), waits for the broker's
/// confirm, then reads the log up to that record to say what it ended.
public enum GuardResume {
    /// What the resume ended.
    public struct Result: Sendable {
        /// The pause it ended; nil when the account was not paused.
        public var ended: GuardBook.Pause?
        /// Failures within `within_s` that it cleared.
        public var failuresCleared: Int
    }

    public static func run(_ loaded: LoadedConfiguration, account: String, timeoutMilliseconds: Int = 30_000) throws(StartupError) -> Result {
        guard let settings = loaded.accounts[account] else {
            throw StartupError("no account '\(account)' in \(loaded.configuration.file ?? "the configuration")")
        }
        let runtime = WorkerRuntime(loaded, workers: 1).naming(connections: "mfa-worker resume")
        var failures: [String] = []
        for endpoint in runtime.endpoints {
            do {
                return try resume(settings, runtime: runtime, endpoint: endpoint, timeoutMilliseconds: timeoutMilliseconds)
            } catch {
                failures.append("\(endpoint.endpoint): \(error)")
            }
        }
        throw StartupError("cannot resume \(account): " + failures.joined(separator: "; "))
    }

    private static func resume(
        _ account: Account, runtime: WorkerRuntime, endpoint: ConnectionSettings, timeoutMilliseconds: Int
    ) throws(AMQPError) -> Result {
        let connection = try AMQPConnection(endpoint)
        defer { connection.close() }
        try runtime.declareGuardQueue(on: connection)
        try connection.enablePublisherConfirms()
        let origin = "resume-\(ProcessInfo.processInfo.processIdentifier)"
        let id = UInt64.random(in: 1...UInt64(Int64.max))
        let sequence = try connection.publish(
            GuardRecord.resume(origin: origin, id: id, account: account.name, atMilliseconds: SystemTime.unixMilliseconds()), to: runtime.guardQueue,
            as: runtime.login)
        var deadline = SystemTime.unixMilliseconds() + Int64(timeoutMilliseconds)
        var confirmed = false
        while !confirmed {
            guard SystemTime.unixMilliseconds() < deadline else { throw .library(operation: "resume", reason: "the broker did not confirm the record") }
            switch try connection.nextEvent(timeoutMilliseconds: 200) {
            case .publisherAck(let tag, let multiple) where tag == sequence || (multiple && tag >= sequence): confirmed = true
            case .publisherNack: throw .library(operation: "resume", reason: "the broker refused the record")
            default: break
            }
        }
        // The record is in the log: the pause is over there. Read up to it
        // to say what it ended.
        let accounts = [account.name: account]
        let workerLogins = Set(runtime.workerLogins.map(UserName.init))
        var book = GuardBook(accounts: accounts)
        try connection.setPrefetch(GuardLoop.prefetch)
        let back = GuardBook.replaySeconds(for: accounts)
        try connection.consume(queue: runtime.guardQueue, arguments: [("x-stream-offset", .string("\(back)s"))])
        var failuresBefore = 0
        // Reading back takes as long as the log is long: the deadline moves
        // on while records keep coming, and runs out only when none does.
        while SystemTime.unixMilliseconds() < deadline {
            guard case .delivery(let delivery) = try connection.nextEvent(timeoutMilliseconds: 200) else { continue }
            deadline = max(deadline, SystemTime.unixMilliseconds() + 5000)
            try connection.ack(deliveryTag: delivery.deliveryTag)
            guard let user = delivery.properties.userID, workerLogins.contains(UserName(user)),
                let record = GuardRecord.decode(type: delivery.properties.type, body: delivery.body)
            else { continue }
            if case .resume(origin, id, _, let at) = record {
                failuresBefore = book.failureCount(of: account.name, now: at)
            }
            if case .resumed(origin, id, _, let ended) = book.apply(record) {
                return Result(ended: ended, failuresCleared: failuresBefore)
            }
        }
        throw .library(operation: "resume", reason: "the record was confirmed but not read back from \(runtime.guardQueue) in time")
    }
}
