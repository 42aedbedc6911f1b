/// Says when to write a line about something that can happen very often
/// (messages dropped from a turn queue, a requester's refusals while it is
/// over its rate, requests nobody can be answered for): the first `burst`
/// of an interval one line each, the rest in one line with their counts at
/// the end of the interval, so that no sender can flood the log. Pure: the
/// time comes in as Unix milliseconds.
public struct CountedNotices<Key: Hashable & Sendable>: Sendable {
    public let intervalMilliseconds: Int64
    public let burst: Int
    private var entries: [Key: Entry] = [:]

    struct Entry: Sendable {
        var since: Int64
        var said: Int
        var counts: [String: Int] = [:]
    }

    /// What to write about one occurrence.
    public enum Verdict: Sendable, Equatable {
        /// A line of its own.
        case say
        /// A line with these counts (this occurrence included), now.
        case summarize([String: Int])
        /// Nothing now: counted for a later summary (``due(now:)``).
        case hold
    }

    public init(intervalMilliseconds: Int64 = 60_000, burst: Int = 1) {
        self.intervalMilliseconds = intervalMilliseconds
        self.burst = max(1, burst)
    }

    /// `count` more `kind` for `key` (one line says them all, or they are
    /// counted for a summary).
    public mutating func note(_ key: Key, _ kind: String, count: Int = 1, now: Int64) -> Verdict {
        guard var entry = entries[key] else {
            entries[key] = Entry(since: now, said: 1)
            return .say
        }
        defer { entries[key] = entry }
        if now - entry.since >= intervalMilliseconds {
            entry.since = now
            guard !entry.counts.isEmpty else {
                entry.said = 1
                return .say
            }
            entry.counts[kind, default: 0] += count
            defer {
                entry.counts = [:]
                entry.said = 0
            }
            return .summarize(entry.counts)
        }
        if entry.said < burst {
            entry.said += 1
            return .say
        }
        entry.counts[kind, default: 0] += count
        return .hold
    }

    /// The counts held back whose interval has passed, to write now; keys
    /// quiet for an interval are forgotten.
    public mutating func due(now: Int64) -> [(key: Key, counts: [String: Int])] {
        var lines: [(key: Key, counts: [String: Int])] = []
        for (key, entry) in entries where now - entry.since >= intervalMilliseconds {
            if entry.counts.isEmpty {
                entries[key] = nil
            } else {
                lines.append((key, entry.counts))
                entries[key] = Entry(since: now, said: 0)
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
