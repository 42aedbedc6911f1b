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

    @Test("Thousands of made-up nodes from many requesters keep the memory bounded and the running node known")
    func bounded() {
        var nodes = DirectReplyNodes()
        nodes.probed(node: "46638468", running: true, now: 0)
        for index in 0..<5000 {
            let requester = "bot-\(index)"
            #expect(nodes.verdict(for: DirectReplyTo.probeName(node: "\(1000 + index)"), requester: requester, now: 1) == .probe)
            nodes.probed(node: "\(1000 + index)", running: false, now: 1)
        }
        #expect(nodes.verdict(for: Self.onNode, requester: "bot-1", now: 2) == .answer)
    }
}
