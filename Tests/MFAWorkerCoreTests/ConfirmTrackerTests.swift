import MFABroker
import MFAWorkerCore
import Testing

@Suite("Publisher confirms and backoff")
struct ConfirmTrackerTests {
    @Test("Multiple confirms settle the oldest requests; replies to held requests carry no tag")
    func multiple() {
        var tracker = ConfirmTracker()
        tracker.published(sequence: 1, deliveryTag: 10)
        tracker.published(sequence: 2, deliveryTag: nil)
        tracker.published(sequence: 3, deliveryTag: 12)
        tracker.published(sequence: 4, deliveryTag: 13)
        #expect(tracker.confirmed(upTo: 3, multiple: true) == .init(tags: [10, 12], areOldest: true))
        #expect(tracker.outstanding == 1)
        #expect(tracker.confirmed(upTo: 4, multiple: false) == .init(tags: [13], areOldest: true))
        #expect(tracker.outstanding == 0)
    }

    @Test("A single confirm out of order settles that request alone")
    func outOfOrder() {
        var tracker = ConfirmTracker()
        for sequence in 1...3 { tracker.published(sequence: UInt64(sequence), deliveryTag: UInt64(sequence) + 100) }
        #expect(tracker.confirmed(upTo: 2, multiple: false) == .init(tags: [102], areOldest: false))
        #expect(tracker.confirmed(upTo: 3, multiple: true) == .init(tags: [101, 103], areOldest: true))
        #expect(tracker.confirmed(upTo: 9, multiple: false) == .init(tags: [], areOldest: true))
    }

    @Test("A lost channel forgets everything unconfirmed (the broker redelivers those requests)")
    func reset() {
        var tracker = ConfirmTracker()
        tracker.published(sequence: 1, deliveryTag: 1)
        tracker.reset()
        #expect(tracker.outstanding == 0)
        #expect(tracker.confirmed(upTo: 1, multiple: true).tags.isEmpty)
    }

    @Test("Backoff doubles up to its bound, with jitter in the upper half, and resets")
    func backoff() {
        var backoff = Backoff(initialMilliseconds: 100, maxMilliseconds: 1000)
        #expect(backoff.nextDelay(random: 0) == 50)
        #expect(backoff.nextDelay(random: 0.999) == 199)
        #expect(backoff.nextDelay(random: 1) == 400)
        #expect(backoff.nextDelay(random: 1) == 800)
        #expect(backoff.nextDelay(random: 1) == 1000)
        #expect(backoff.nextDelay(random: 0) == 500)
        for _ in 0..<100 { _ = backoff.nextDelay() }
        #expect(backoff.nextCeiling == 1000)
        backoff.reset()
        #expect(backoff.nextCeiling == 100)
    }
}
