import Foundation
import TestSupport
import Testing

/// A memory alarm on the broker blocks publishers (`connection.blocked`):
/// the worker says so once, `/healthz` says degraded while it lasts, and
/// every request sent meanwhile is answered once it clears. Uses a node of
/// its own (`mfa-alarm`, 127.0.0.1:5684), which scripts/test-faults.sh starts.
@Suite("A broker memory alarm", .enabled(if: FaultEnvironment.enabled), .serialized)
struct BrokerAlarmTests {
    static let port = 5684
    static let node = "mfa-alarm"
    static let blockedLine = "the broker blocks publishing"
    static let clearedLine = "the broker takes publishes again"

    static func watermark(_ fraction: String) throws {
        let result = try FaultEnvironment.ctl(name: node, port: port, "set_vm_memory_high_watermark", fraction)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }

    @Test(
        "A memory alarm: one line each way, /healthz degraded and mfa_broker_blocked 1 while it lasts; 100 requests sent meanwhile all answered once it clears"
    )
    func memoryAlarm() throws {
        let metricsPort = WorkerHTTP.freePort()
        let worker = try WorkerProcess(extra: "reply: {default_min_validity_ms: 0}", workers: 2, port: Self.port, metricsPort: metricsPort).start()
        defer { worker.stop() }
        // Four robots, connected before the alarm.
        let requesters = try (1...4).map { _ in try Requester("rpa-bot-eu-1", requestQueue: worker.queue, port: Self.port) }
        #expect(try requesters[0].ask(account: "sf-eu")?.status == "ok")
        let before = try WorkerHTTP.get(metricsPort, "/healthz").body
        #expect(!before.contains("blocks publishing"))

        try Self.watermark("0.0001")
        // Cleared whatever the test's outcome: the node's next user needs it.
        defer { try? Self.watermark("0.4") }
        // The worker finds out with nothing to answer (its own probe), and says so.
        #expect(worker.waitForLog(Self.blockedLine, timeout: 30), "\(worker.log)")
        let degraded = try WorkerHTTP.waitForHealth(metricsPort) { _, body in body.contains("blocks publishing") }
        #expect(degraded.status == 200 && degraded.body.hasPrefix("degraded: ") && degraded.body.contains("memory or disk alarm"), "\(degraded)")
        #expect(WorkerHTTP.value(try WorkerHTTP.get(metricsPort, "/metrics").body, "mfa_broker_blocked") == 1)

        // Requests sent during the alarm wait (in the robots' blocked
        // connections, or as the worker's blocked replies).
        var sent: [(requester: Requester, correlation: [UInt8])] = []
        for requester in requesters {
            for _ in 0..<25 { sent.append((requester, try #require(try requester.send(account: "sf-eu")))) }
        }
        let during = try WorkerHTTP.get(metricsPort, "/healthz").body
        #expect(during.contains("blocks publishing"), "still blocked")

        try Self.watermark("0.4")
        #expect(worker.waitForLog(Self.clearedLine, timeout: 30), "\(worker.log)")
        var answered = 0, wrong = 0
        for (requester, correlation) in sent {
            guard let reply = try requester.reply(to: correlation, timeout: 30), reply.status == "ok", let code = reply.code,
                let start = reply.windowStart
            else { continue }
            answered += 1
            if try worker.expectedCode(account: "sf-eu", windowStart: start) != code { wrong += 1 }
        }
        #expect(answered == 100, "every request sent during the alarm is answered once it clears")
        #expect(wrong == 0)
        let cleared = try WorkerHTTP.waitForHealth(metricsPort) { _, body in !body.contains("blocks publishing") }
        #expect(cleared.status == 200 && !cleared.body.contains("blocks publishing"), "\(cleared)")
        #expect(WorkerHTTP.value(try WorkerHTTP.get(metricsPort, "/metrics").body, "mfa_broker_blocked") == 0)

        // Once each way, however many of the worker's connections were blocked.
        let log = worker.log
        #expect(log.components(separatedBy: Self.blockedLine).count - 1 == 1, "\(log)")
        #expect(log.components(separatedBy: Self.clearedLine).count - 1 == 1, "\(log)")
        print(
            "memory alarm: the worker said so once, /healthz degraded while it lasted; \(answered) of 100 requests sent during it answered after, \(wrong) wrong"
        )
    }
}
