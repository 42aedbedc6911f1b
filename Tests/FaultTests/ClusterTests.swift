import AMQP
import Foundation
import MFABroker
import MFAClient
import TestSupport
import Testing

/// A 3-node cluster (scripts/cluster.sh: c1, c2, c3 on 5701-5703), the
/// request queue a quorum queue, two worker replicas. The node one worker is
/// connected to stops in the middle of a load: the service goes on, and no
/// request is lost.
@Suite("A lost cluster node", .enabled(if: FaultEnvironment.enabled), .serialized)
struct ClusterTests {
    @Test("Stopping a worker's node during a load loses nothing")
    func loseANode() async throws {
        let queue = Broker.uniqueQueueName("quorum")
        // Replica 1 prefers c1, replica 2 prefers c2; both know every node.
        let first = WorkerProcess(queue: queue, queueExtra: "  type: quorum", workers: 1, port: 5701, urls: [5701, 5702, 5703])
        let second = WorkerProcess(queue: queue, queueExtra: "  type: quorum", workers: 1, port: 5702, urls: [5702, 5703, 5701], keysFrom: first)
        try first.start()
        try second.start()
        defer {
            first.stop()
            second.stop()
        }
        // Requesters on c3, which stays up.
        let clients = try (0..<2).map { _ in
            MFAClient(
                MFAClientConfiguration(
                    urls: [try BrokerURL(parsing: "amqp://rpa-bot-eu-1@127.0.0.1:5703/%2F")],
                    password: "rpa-bot-eu-1-password", requestQueue: queue, reconnectMax: .seconds(1)
                ))
        }
        defer { clients.forEach { $0.close() } }

        let trigger = RestartRecord()
        let load = Task {
            await ClientLoad.run(clients: clients, account: "sf-eu", total: 3000, concurrency: 50, timeout: .seconds(90)) { finished in
                if finished == 500 { trigger.trigger() }
            }
        }
        while !trigger.isTriggered { try await Task.sleep(for: .milliseconds(20)) }
        let stop = try FaultEnvironment.cluster("stop-node", "1")
        #expect(stop.status == 0, "\(stop.stdout)\(stop.stderr)")
        let outcome = await load.value
        defer { _ = try? FaultEnvironment.cluster("start-node", "1") }

        #expect(outcome.errors.isEmpty, "\(outcome.errors)")
        #expect(outcome.codes.count == 3000)
        #expect(try CodeChecker(base32: first.keys["sf-eu"]!.base32).wrong(outcome.codes) == 0)
        // The worker on c1 moved to another node.
        #expect(first.waitForLog("consuming again", timeout: 15), "\(first.log)")
        print("cluster: c1 stopped during 3,000 calls; 3,000 answered, 0 wrong, 0 lost; replica 1 consuming again on another node")
    }
}
