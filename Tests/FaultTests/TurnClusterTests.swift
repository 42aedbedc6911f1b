import AMQP
import Foundation
import Testing
import TestSupport

/// `once_per_window` with two worker replicas on the 3-node cluster
/// (scripts/cluster.sh): the replica that gives out the account's windows
/// is killed in the middle; the other takes over. No window goes out twice.
@Suite("One code per window on a cluster", .enabled(if: FaultEnvironment.enabled), .serialized)
struct TurnClusterTests {
    @Test("Two replicas, 50 requests for one account, the active replica killed: no window issued twice, every request answered")
    func killTheHolder() throws {
        let queue = Broker.uniqueQueueName("turns")
        let period = 1
        let first = WorkerProcess(accounts: ["sf-eu": (period, 6, "SHA1")], queue: queue, queueExtra: "  type: quorum", workers: 1, port: 5701, urls: [5701, 5702, 5703], oncePerWindow: ["sf-eu"])
        let second = WorkerProcess(accounts: ["sf-eu": (period, 6, "SHA1")], queue: queue, queueExtra: "  type: quorum", workers: 1, port: 5702, urls: [5702, 5703, 5701], keysFrom: first, oncePerWindow: ["sf-eu"])
        try first.start()
        try second.start()
        defer {
            first.stop()
            second.stop()
            if let admin = try? Broker.connect("mfa-test-admin", port: 5703) {
                _ = try? admin.deleteQueue(first.turnQueue("sf-eu"))
                _ = try? admin.deleteQueue(queue)
                admin.close()
            }
        }
        let robot = try Requester(requestQueue: queue, port: 5703)
        var sent = Set<[UInt8]>()
        for _ in 0..<50 {
            sent.insert(try robot.send(account: "sf-eu", maxWait: 600_000)!)
            Thread.sleep(forTimeInterval: 0.005)
        }

        var replies: [Requester.Reply] = []
        var killed: WorkerProcess?
        var answeredBeforeKill = 0
        let deadline = Date().addingTimeInterval(240)
        var answered = Set<[UInt8]>()
        while answered.count < sent.count && Date() < deadline {
            for reply in try robot.replies(count: 1, timeout: 0.5) {
                replies.append(reply)
                if reply.status == "ok", let id = reply.properties.correlationID { answered.insert(id) }
            }
            if killed == nil && answered.count >= 15 {
                // Kill the replica that holds the turns, without a word.
                let holder = first.log.contains("giving out this account's windows") ? first : second
                #expect(holder.stop(signal: SIGKILL) == 137)
                killed = holder
                answeredBeforeKill = answered.count
                print("turns: killed the holding replica after \(answered.count) of 50 answers")
            }
        }
        let survivor = killed === first ? second : first
        #expect(killed != nil)
        #expect(answered.count == 50, "\(50 - answered.count) requests were not answered; survivor log:\n\(survivor.log)")
        let ok = replies.filter { $0.status == "ok" }
        #expect(ok.count == replies.count, "\(replies.filter { $0.status != "ok" }.map(\.text))")
        let windows = ok.compactMap(\.windowStart)
        #expect(Set(windows).count == windows.count, "a window was issued twice: \(windows.sorted())")
        for reply in ok {
            #expect(reply.code == (try first.expectedCode(account: "sf-eu", windowStart: reply.windowStart!)))
            #expect(Int64(reply.arrivedAt.timeIntervalSince1970 * 1000) >= reply.windowStart! * 1000, "a reply arrived before its window")
        }
        #expect(survivor.waitForLog("giving out this account's windows", timeout: 1), "\(survivor.log)")
        let spread = (windows.max() ?? 0) - (windows.min() ?? 0) + 1
        print("turns: 50 requests answered in \(ok.count) replies over \(spread) one-second windows, none twice; \(50 - answeredBeforeKill) answered by the survivor after the kill")
    }

    @Test("The node of the replica holding the turns is lost: the other replica takes over, no window twice, every request answered")
    func loseTheHoldersNode() throws {
        let queue = Broker.uniqueQueueName("turns-node")
        let period = 1
        let first = WorkerProcess(accounts: ["sf-eu": (period, 6, "SHA1")], queue: queue, queueExtra: "  type: quorum", workers: 1, port: 5701, urls: [5701, 5702, 5703], oncePerWindow: ["sf-eu"])
        let second = WorkerProcess(accounts: ["sf-eu": (period, 6, "SHA1")], queue: queue, queueExtra: "  type: quorum", workers: 1, port: 5702, urls: [5702, 5703, 5701], keysFrom: first, oncePerWindow: ["sf-eu"])
        try first.start()
        try second.start()
        var stoppedNode: String?
        defer {
            first.stop()
            second.stop()
            if let stoppedNode { _ = try? FaultEnvironment.cluster("start-node", stoppedNode) }
            if let admin = try? Broker.connect("mfa-test-admin", port: 5703) {
                _ = try? admin.deleteQueue(first.turnQueue("sf-eu"))
                _ = try? admin.deleteQueue(queue)
                admin.close()
            }
        }
        let robot = try Requester(requestQueue: queue, port: 5703)
        var sent = Set<[UInt8]>()
        for _ in 0..<30 {
            sent.insert(try robot.send(account: "sf-eu", maxWait: 600_000)!)
            Thread.sleep(forTimeInterval: 0.005)
        }
        var replies: [Requester.Reply] = []
        var answered = Set<[UInt8]>()
        let deadline = Date().addingTimeInterval(240)
        while answered.count < sent.count && Date() < deadline {
            for reply in try robot.replies(count: 1, timeout: 0.5) {
                replies.append(reply)
                if reply.status == "ok", let id = reply.properties.correlationID { answered.insert(id) }
            }
            if stoppedNode == nil && answered.count >= 10 {
                // The holder's node goes; the holder loses its connection.
                let node = first.log.contains("giving out this account's windows") ? "1" : "2"
                let stop = try FaultEnvironment.cluster("stop-node", node)
                #expect(stop.status == 0, "\(stop.stdout)\(stop.stderr)")
                stoppedNode = node
                print("turns: stopped node c\(node), the holder's, after \(answered.count) of 30 answers")
            }
        }
        #expect(stoppedNode != nil)
        #expect(answered.count == 30, "\(30 - answered.count) requests were not answered")
        let ok = replies.filter { $0.status == "ok" }
        let windows = ok.compactMap(\.windowStart)
        #expect(Set(windows).count == windows.count, "a window was issued twice: \(windows.sorted())")
        for reply in ok {
            #expect(reply.code == (try first.expectedCode(account: "sf-eu", windowStart: reply.windowStart!)))
        }
        let spread = (windows.max() ?? 0) - (windows.min() ?? 0) + 1
        print("turns: 30 requests answered in \(ok.count) replies over \(spread) one-second windows, none twice, after losing the holder's node")
    }
}
