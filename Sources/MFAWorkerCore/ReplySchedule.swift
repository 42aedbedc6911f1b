/// Replies waiting for their window: a min-heap by due time, served by the
/// consume loop between deliveries (no thread sleeps per request).
public struct ReplySchedule: Sendable {
    private var heap: [(due: Int64, sequence: UInt64, request: PendingRequest)] = []
    private var sequence: UInt64 = 0

    public init() {}

    public var count: Int { heap.count }
    public var isEmpty: Bool { heap.isEmpty }

    /// The earliest due time, if any.
    public var nextDue: Int64? { heap.first?.due }

    public mutating func add(_ request: PendingRequest, dueMilliseconds: Int64) {
        sequence += 1
        heap.append((dueMilliseconds, sequence, request))
        siftUp(heap.count - 1)
    }

    /// Removes and returns the requests due at `now`, earliest first (ties in
    /// arrival order).
    public mutating func popDue(now: Int64) -> [PendingRequest] {
        var due: [PendingRequest] = []
        while let first = heap.first, first.due <= now {
            due.append(first.request)
            removeFirst()
        }
        return due
    }

    /// Removes and returns everything, earliest first (for shutdown).
    public mutating func drain() -> [(due: Int64, request: PendingRequest)] {
        var all: [(due: Int64, request: PendingRequest)] = []
        while let first = heap.first {
            all.append((first.due, first.request))
            removeFirst()
        }
        return all
    }

    /// The shutdown split: removes and returns the requests due after
    /// `deadline` (they cannot be answered in time), earliest first, and
    /// keeps the rest.
    public mutating func split(dueAfter deadline: Int64) -> [(due: Int64, request: PendingRequest)] {
        var late: [(due: Int64, request: PendingRequest)] = []
        var keep = ReplySchedule()
        for (due, request) in drain() {
            if due <= deadline {
                keep.add(request, dueMilliseconds: due)
            } else {
                late.append((due, request))
            }
        }
        self = keep
        return late
    }

    private mutating func removeFirst() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    private func precedes(_ a: Int, _ b: Int) -> Bool {
        heap[a].due != heap[b].due ? heap[a].due < heap[b].due : heap[a].sequence < heap[b].sequence
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard precedes(child, parent) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1, right = left + 1
            var best = parent
            if left < heap.count, precedes(left, best) { best = left }
            if right < heap.count, precedes(right, best) { best = right }
            guard best != parent else { return }
            heap.swapAt(parent, best)
            parent = best
        }
    }
}
