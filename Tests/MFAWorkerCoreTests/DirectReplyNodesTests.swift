import MFAProtocol
import MFAWorkerCore
import Testing

/// Which direct reply-to nodes are answered, with a fake clock.
@Suite("Direct reply-to nodes")
struct DirectReplyNodesTests {
    static let onNode = DirectReplyTo.probeName(node: "46638468")
    static let onOther = DirectReplyTo.probeName(node: "99")

    @Test("An unknown node is probed once; what the probe found holds for a minute, then the node is probed again")
    func probedThenRemembered() {
        var nodes = DirectReplyNodes()
        #expect(nodes.verdict(for: Self.onNode, requester: "bot-1", now: 0) == .probe)
        nodes.probed(node: "46638468", running: true, now: 10)
        #expect(nodes.verdict(for: Self.onNode, requester: "bot-2", now: 20) == .answer)
        #expect(nodes.verdict(for: Self.onNode, requester: "bot-1", now: 60_009) == .answer)
        #expect(nodes.verdict(for: Self.onNode, requester: "bot-1", now: 60_010) == .probe)

        #expect(nodes.verdict(for: Self.onOther, requester: "bot-1", now: 0) == .probe)
        nodes.probed(node: "99", running: false, now: 0)
        #expect(nodes.verdict(for: Self.onOther, requester: "bot-2", now: 1) == .refuse)
    }

    @Test("All requesters together cause at most 10 probes a minute of nodes not seen running; a node seen running is probed again all the same")
    func unseenBudget() {
        var nodes = DirectReplyNodes()
        #expect(nodes.verdict(for: Self.onNode, requester: "bot-1", now: 0) == .probe)
        nodes.probed(node: "46638468", running: true, now: 0)
        // Four attackers, three made-up nodes each: ten probes, then no more.
        var verdicts: [DirectReplyNodes.Verdict] = []
        for attacker in 1...4 {
            for node in 1...3 {
                let name = DirectReplyTo.probeName(node: "\(attacker * 10 + node)")
                verdicts.append(nodes.verdict(for: name, requester: "attacker-\(attacker)", now: 1000))
            }
        }
        #expect(verdicts.filter { $0 == .probe }.count == 9)
        #expect(verdicts.filter { $0 == .refuse }.count == 3)
        // The real node's first probe was the minute's first of ten: made-up nodes had nine.
        #expect(nodes.verdict(for: DirectReplyTo.probeName(node: "77"), requester: "attacker-5", now: 1000) == .refuse)
        // The real node's minute is up: probed again, budget or not.
        #expect(nodes.verdict(for: Self.onNode, requester: "bot-2", now: 60_001) == .probe)
        // A new minute: made-up nodes may be probed again.
        #expect(nodes.verdict(for: DirectReplyTo.probeName(node: "78"), requester: "attacker-6", now: 60_001) == .probe)
    }

    @Test("Malformed names are refused unprobed; ordinary names are answered")
    func shapes() {
        var nodes = DirectReplyNodes()
        #expect(nodes.verdict(for: "amq.rabbitmq.reply-to.g2dkABNyYWJiaXRAbG9jYWxob3N0AAAD5QAAAAAA.abc", requester: "bot-1", now: 0) == .refuse)
        #expect(nodes.verdict(for: "amq.gen-reply", requester: "bot-1", now: 0) == .answer)
    }

    @Test("A requester causes at most 3 probes a minute; past them its unknown nodes are refused, others' still probed")
    func probeBudget() {
        var nodes = DirectReplyNodes()
        for node in 1...3 {
            #expect(nodes.verdict(for: DirectReplyTo.probeName(node: "\(node)"), requester: "attacker", now: 1000) == .probe)
            nodes.probed(node: "\(node)", running: false, now: 1000)
        }
        #expect(nodes.verdict(for: DirectReplyTo.probeName(node: "4"), requester: "attacker", now: 2000) == .refuse)
        #expect(nodes.verdict(for: Self.onNode, requester: "attacker", now: 2000) == .refuse)
        #expect(nodes.verdict(for: Self.onNode, requester: "bot-1", now: 2000) == .probe)
        nodes.probed(node: "46638468", running: true, now: 2000)
        // A known node costs no probe: the attacker is answered there.
        #expect(nodes.verdict(for: Self.onNode, requester: "attacker", now: 2001) == .answer)
        // A minute on, the budget is back.
        #expect(nodes.verdict(for: DirectReplyTo.probeName(node: "5"), requester: "attacker", now: 61_000) == .probe)
    }

    @Test("Thousands of made-up nodes from many requesters, ten a minute, keep the memory bounded and the running node known")
    func bounded() {
        var nodes = DirectReplyNodes()
        nodes.probed(node: "46638468", running: true, now: 0)
        var now: Int64 = 0
        for index in 0..<5000 {
            now = Int64(index) * 6_001
            // Real traffic on the running node: probed again once its minute is up.
            if nodes.verdict(for: Self.onNode, requester: "bot-real", now: now) == .probe {
                nodes.probed(node: "46638468", running: true, now: now)
            }
            let name = DirectReplyTo.probeName(node: "\(1000 + index)")
            #expect(nodes.verdict(for: name, requester: "bot-\(index)", now: now) == .probe)
            nodes.probed(node: "\(1000 + index)", running: false, now: now)
        }
        #expect(nodes.verdict(for: Self.onNode, requester: "bot-1", now: now + 1) == .answer)
    }
}
