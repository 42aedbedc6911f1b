/// Says when to write a line about something that can happen very often
/// (messages dropped from a turn queue, a requester's refusals while it is
/// over its rate): the first time at once, then at most once per interval
/// with the counts since the last line, so that no sender can flood the
/// log. Pure: the time comes in as Unix milliseconds.
public struct CountedNotices<Key: Hashable & Sendable>: Sendable {
    public let intervalMilliseconds: Int64
    private var entries: [Key: Entry] = [:]

    struct Entry: Sendable {
        var lastSaid: Int64
        var counts: [String: Int] = [:]
    }

    public init(intervalMilliseconds: Int64 = 60_000) {
        self.intervalMilliseconds = intervalMilliseconds
    }

    /// One more `kind` for `key`. Returns the counts to write now (this one
    /// included), or nil when a line was written less than an interval ago.
    public mutating func note(_ key: Key, _ kind: String, now: Int64) -> [String: Int]? {
        guard var entry = entries[key] else {
            entries[key] = Entry(lastSaid: now)
            return [kind: 1]
        }
        entry.counts[kind, default: 0] += 1
        if now - entry.lastSaid >= intervalMilliseconds {
            let counts = entry.counts
            entries[key] = Entry(lastSaid: now)
            return counts
        }
        entries[key] = entry
        return nil
    }

    /// The counts not yet written whose interval has passed, to write now;
    /// keys quiet for an interval are forgotten.
    public mutating func due(now: Int64) -> [(key: Key, counts: [String: Int])] {
        var lines: [(key: Key, counts: [String: Int])] = []
        for (key, entry) in entries where now - entry.lastSaid >= intervalMilliseconds {
            if entry.counts.isEmpty {
                entries[key] = nil
            } else {
                lines.append((key, entry.counts))
                entries[key] = Entry(lastSaid: now)
            }
        }
        return lines
    }

    /// `3 untrusted_sender, 1 undecodable`: counts in words, largest first.
    public static func describe(_ counts: [String: Int]) -> String {
        counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    }
}
