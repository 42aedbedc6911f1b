import MFAProtocol

/// Which direct reply-to nodes the worker answers, learnt by probing
/// (``DirectReplyTo/probeName(node:)``) and kept for a minute, so that a
/// node that leaves the cluster stops being answered soon after. Pure: the
/// time comes in as Unix milliseconds; the caller probes.
///
/// Probing a node the broker does not know costs the probing connection
/// (and a crash report in the broker's log), so each requester may cause
/// only a few probes a minute, and all requesters together only a few of
/// nodes not seen running; past them, names on unknown nodes are not
/// answered (those on known nodes are, and a node seen running is always
/// probed again when its minute is up).
public struct DirectReplyNodes: Sendable {
    public static let rememberMilliseconds: Int64 = 60_000
    public static let probesPerRequesterPerMinute = 3
    public static let unseenProbesPerMinute = 10
    /// Bounds on what is remembered: a flood of made-up nodes or requesters
    /// cannot grow it without end.
    static let maxNodes = 1024
    static let maxRequesters = 10_000

    private var nodes: [String: (running: Bool, checkedAt: Int64)] = [:]
    private var probes: [String: (since: Int64, count: Int)] = [:]
    /// Probes of nodes not seen running, by all requesters, this minute.
    private var unseenProbes: (since: Int64, count: Int) = (0, 0)

    public init() {}

    public enum Verdict: Sendable, Equatable {
        case answer
        case refuse
        /// Unknown node, and the requester may cause a probe: probe, then
        /// ``probed(node:running:now:)``.
        case probe
    }

    /// Whether a reply may go to `name`, sent by `requester`.
    public mutating func verdict(for name: String, requester: String, now: Int64) -> Verdict {
        switch DirectReplyTo.classify(name) {
        case .ordinary: return .answer
        case .malformed: return .refuse
        case .node(let node):
            let known = nodes[node]
            if let known, now - known.checkedAt < Self.rememberMilliseconds {
                return known.running ? .answer : .refuse
            }
            var budget = probes[requester] ?? (now, 0)
            if now - budget.since >= 60_000 { budget = (now, 0) }
            guard budget.count < Self.probesPerRequesterPerMinute else { return .refuse }
            if known?.running != true {
                if now - unseenProbes.since >= 60_000 { unseenProbes = (now, 0) }
                guard unseenProbes.count < Self.unseenProbesPerMinute else { return .refuse }
                unseenProbes.count += 1
            }
            budget.count += 1
            if probes.count >= Self.maxRequesters { probes.removeAll(keepingCapacity: true) }
            probes[requester] = budget
            return .probe
        }
    }

    /// What a probe of `node` found.
    public mutating func probed(node: String, running: Bool, now: Int64) {
        if nodes.count >= Self.maxNodes {
            nodes = nodes.filter { $0.value.running && now - $0.value.checkedAt < Self.rememberMilliseconds }
            if nodes.count >= Self.maxNodes { nodes.removeAll(keepingCapacity: true) }
        }
        nodes[node] = (running, now)
    }
}
