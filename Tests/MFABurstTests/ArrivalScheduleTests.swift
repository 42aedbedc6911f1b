import Foundation
import MFABurst
import Testing

@Suite("The open loop's schedule")
struct ArrivalScheduleTests {
    @Test("A constant rate: request n at n/R, R a second, R x D in all")
    func constant() {
        let schedule = ArrivalSchedule(rate: 200, durationSeconds: 10)
        #expect(schedule.count == 2000)
        #expect(schedule.seconds(of: 0) == 0)
        #expect(abs(schedule.seconds(of: 1) - 0.005) < 1e-12)
        #expect(abs(schedule.seconds(of: 1999) - 9.995) < 1e-9)
        #expect(schedule.perSecond == [Int](repeating: 200, count: 10))
        #expect(ArrivalSchedule(rate: 3, durationSeconds: 1.5).count == 5)  // 0, 1/3, 2/3, 1, 4/3
        #expect(ArrivalSchedule(rate: 2000, durationSeconds: 30).count == 60_000)
    }

    @Test("A ramp from A to B over T: the rate at t is A + (B - A) t / T, then B; the ramp is part of the duration")
    func ramp() {
        // 40 to 200 over 4 s, then 200 to 6 s: N(t) = 40 t + 20 t² to t = 4 (480), then 480 + 200 (t - 4).
        let schedule = ArrivalSchedule(startRate: 40, endRate: 200, rampSeconds: 4, durationSeconds: 6)
        #expect(schedule.perSecond == [60, 100, 140, 180, 200, 200])
        #expect(schedule.count == 880)
        #expect(schedule.summary == "40 rising to 200 requests/s over 4 s, then 200 to 6 s")
        // Every request's time is where the cumulative count reaches it, and times only grow.
        var previous = -1.0
        for n in 0..<schedule.count {
            let time = schedule.seconds(of: n)
            #expect(time > previous && time < 6)
            #expect(abs(schedule.cumulative(at: time) - Double(n)) < 1e-6)
            previous = time
        }
    }

    @Test("Ramps from 0, ramps down, and a ramp over the whole duration")
    func otherRamps() {
        let fromZero = ArrivalSchedule(startRate: 0, endRate: 100, rampSeconds: 10, durationSeconds: 10)
        #expect(fromZero.count == 500)
        #expect(fromZero.seconds(of: 0) == 0)
        #expect(abs(fromZero.seconds(of: 5) - 1) < 1e-9)  // 5 t² = 5
        #expect(fromZero.perSecond.first == 5 && fromZero.perSecond.last == 95)
        let down = ArrivalSchedule(startRate: 100, endRate: 20, rampSeconds: 4, durationSeconds: 5)
        #expect(down.perSecond == [90, 70, 50, 30, 20])
        for n in 0..<down.count { #expect(abs(down.cumulative(at: down.seconds(of: n)) - Double(n)) < 1e-6) }
    }

    @Test("--duration and --ramp read 30s, 2m, 1m30s, 500ms and plain seconds; --rate reads R and A:B")
    func text() {
        #expect(ScheduleText.seconds("30s") == 30)
        #expect(ScheduleText.seconds("2m") == 120)
        #expect(ScheduleText.seconds("1m30s") == 90)
        #expect(ScheduleText.seconds("500ms") == 0.5)
        #expect(ScheduleText.seconds("1h") == 3600)
        #expect(ScheduleText.seconds("12.5") == 12.5)
        #expect(ScheduleText.seconds("30x") == nil)
        #expect(ScheduleText.seconds("s") == nil)
        #expect(ScheduleText.seconds("-3") == nil)
        #expect(ScheduleText.rates("200")! == (200, 200))
        #expect(ScheduleText.rates("50:400")! == (50, 400))
        #expect(ScheduleText.rates("50:") == nil)
        #expect(ScheduleText.rates("a") == nil)
    }
}
