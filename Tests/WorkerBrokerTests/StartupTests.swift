import AMQP
import Foundation
import TestSupport
import Testing

/// Start-up failures end the process with one clear line and exit 1.
@Suite("Worker start-up against the broker")
struct StartupTests {
    func expectFailure(_ worker: WorkerProcess, _ message: String) throws {
        try worker.start(waitForConsuming: false)
        let status = worker.waitForExit()
        #expect(status == 1)
        let lines = worker.log.split(separator: "\n")
        #expect(lines.count == 1, "\(worker.log)")
        #expect(lines.first.map { $0.hasPrefix("Error: ") && $0.contains(message) } == true, "\(worker.log)")
    }

    @Test func unreachableBroker() throws {
        try expectFailure(WorkerProcess(port: 1), "cannot connect to 127.0.0.1:1: connection refused")
    }

    @Test func refusedLogin() throws {
        try expectFailure(WorkerProcess(password: "wrong"), "the broker refused the login of user 'mfa-worker' on vhost '/': 403 ACCESS_REFUSED")
    }

    @Test("A request queue that exists with other arguments: 406 naming the argument")
    func inequivalentQueue() throws {
        let name = Broker.uniqueQueueName("quorum")
        let admin = try Broker.admin()
        defer {
            try? admin.deleteQueue(name)
            admin.close()
        }
        try admin.declareQueue(name, durable: true, arguments: [("x-queue-type", .string("quorum"))])
        try expectFailure(
            WorkerProcess(queue: name),
            "the request queue '\(name)' exists with other arguments than the configuration gives: 406 PRECONDITION_FAILED - inequivalent arg 'x-queue-type'")
    }

    @Test("A bad configuration")
    func badConfiguration() throws {
        let worker = WorkerProcess(extra: "workerz: 3")
        try expectFailure(worker, "unknown key 'workerz' at the top level (did you mean 'workers'?)")
    }

    @Test("SIGTERM stops the worker gracefully with exit status 0")
    func gracefulStop() throws {
        let worker = try WorkerProcess().start()
        #expect(worker.stop() == 0)
        #expect(worker.log.contains("notice stopped"))
    }
}
