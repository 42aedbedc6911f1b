/// Publisher confirms, as a value: which request to acknowledge when the
/// broker confirms which reply.
///
/// A reply's publish gets a sequence number; the request it answers is
/// acknowledged only when the broker confirms that number (or returns the
/// reply as unroutable, which it confirms too). Replies to requests that
/// were acknowledged when scheduled carry no delivery tag.
public struct ConfirmTracker: Sendable {
    /// What a publish was, which says what its nack means.
    public enum Kind: Sendable, Equatable {
        /// A reply: refused by the broker (its queue refuses messages), it
        /// is not sent again; the request is settled.
        case reply
        /// The request passed on (a turn written to a turn queue): lost by
        /// the broker, the request goes back to be handled again.
        case forward
    }

    private var entries: [(sequence: UInt64, deliveryTag: UInt64?, kind: Kind)] = []
    private var head = 0

    public init() {}

    /// Replies published and not yet confirmed.
    public var outstanding: Int { entries.count - head }

    public mutating func published(sequence: UInt64, deliveryTag: UInt64?, kind: Kind = .reply) {
        entries.append((sequence, deliveryTag, kind))
    }

    /// The requests a confirm settles.
    public struct Settled: Equatable, Sendable {
        /// Their delivery tags, in order.
        public var tags: [UInt64]
        /// True when they are the oldest outstanding ones, so that one
        /// `basic.ack` with `multiple` up to the last tag settles exactly
        /// them (every earlier delivery was settled already).
        public var areOldest: Bool
        /// Of `tags`, those whose publish passed the request on (``Kind/forward``).
        public var forwarded: [UInt64] = []

        public init(tags: [UInt64], areOldest: Bool, forwarded: [UInt64] = []) {
            self.tags = tags
            self.areOldest = areOldest
            self.forwarded = forwarded
        }
    }

    /// The broker confirmed `sequence` (and everything before it when
    /// `multiple`): the requests now safe to acknowledge (or, after a nack,
    /// to give back).
    public mutating func confirmed(upTo sequence: UInt64, multiple: Bool) -> Settled {
        var tags: [UInt64] = []
        var forwarded: [UInt64] = []
        var areOldest = true
        func take(_ entry: (sequence: UInt64, deliveryTag: UInt64?, kind: Kind)) {
            guard let tag = entry.deliveryTag else { return }
            tags.append(tag)
            if entry.kind == .forward { forwarded.append(tag) }
        }
        if multiple {
            while head < entries.count, entries[head].sequence <= sequence {
                take(entries[head])
                head += 1
            }
        } else if let index = entries[head...].firstIndex(where: { $0.sequence == sequence }) {
            take(entries[index])
            if index == head {
                head += 1
            } else {
                entries.remove(at: index)
                areOldest = false
            }
        }
        compact()
        return Settled(tags: tags, areOldest: areOldest, forwarded: forwarded)
    }

    /// The channel or connection is gone: unconfirmed requests will be
    /// redelivered by the broker, so forget them.
    public mutating func reset() {
        entries.removeAll(keepingCapacity: true)
        head = 0
    }

    private mutating func compact() {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}
