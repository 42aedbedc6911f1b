/// When an open-loop burst sends each request: at `startRate` per second at
/// first, rising (or falling) linearly to `endRate` over the first
/// `rampSeconds`, then `endRate` until `durationSeconds`. Request n (from 0)
/// is due when the cumulative count of the rate reaches n, so the first one
/// is due at 0 and a constant rate R sends request n at n/R.
///
/// A pure value: the connections share it and each computes its own
/// requests' times from it, whatever the answers do.
public struct ArrivalSchedule: Sendable, Equatable, Codable {
    public var startRate: Double
    public var endRate: Double
    public var rampSeconds: Double
    public var durationSeconds: Double

    /// A constant rate.
    public init(rate: Double, durationSeconds: Double) {
        self.init(startRate: rate, endRate: rate, rampSeconds: 0, durationSeconds: durationSeconds)
    }

    public init(startRate: Double, endRate: Double, rampSeconds: Double, durationSeconds: Double) {
        self.startRate = startRate
        self.endRate = endRate
        self.rampSeconds = min(max(0, rampSeconds), durationSeconds)
        self.durationSeconds = durationSeconds
    }

    public var isRamp: Bool { rampSeconds > 0 && startRate != endRate }

    /// Requests due by `seconds` (the integral of the rate from 0).
    public func cumulative(at seconds: Double) -> Double {
        let t = min(max(0, seconds), durationSeconds)
        guard rampSeconds > 0 else { return endRate * t }
        let slope = (endRate - startRate) / rampSeconds
        if t <= rampSeconds { return startRate * t + slope * t * t / 2 }
        return (startRate + endRate) * rampSeconds / 2 + endRate * (t - rampSeconds)
    }

    /// How many requests the schedule sends in all.
    public var count: Int { due(before: durationSeconds) }

    /// Requests whose time is before `seconds`: n is due before t when
    /// n < cumulative(t).
    public func due(before seconds: Double) -> Int {
        let total = cumulative(at: seconds)
        // A hair under an integer is that integer: 200/s for 10 s is 2,000,
        // not 2,001 because of rounding.
        return max(0, Int((total - 1e-9).rounded(.up)))
    }

    /// The time of request `n` (from 0), in seconds from the start.
    public func seconds(of n: Int) -> Double {
        guard n > 0 else { return 0 }
        let n = Double(n)
        if rampSeconds > 0 {
            let rampTotal = (startRate + endRate) * rampSeconds / 2
            if n <= rampTotal {
                // Solves startRate·t + slope·t²/2 = n in a form that keeps its
                // precision when the slope is small (and works when it is 0).
                let slope = (endRate - startRate) / rampSeconds
                let root = (startRate * startRate + 2 * slope * n).squareRoot()
                return 2 * n / (startRate + root)
            }
            return rampSeconds + (n - rampTotal) / endRate
        }
        return n / endRate
    }

    /// Due requests per whole second of the schedule, from second 0.
    public var perSecond: [Int] {
        let seconds = Int(durationSeconds.rounded(.up))
        return (0..<seconds).map { due(before: Double($0 + 1)) - due(before: Double($0)) }
    }

    /// "30", "2.5": the duration in seconds, as the report says it.
    public var durationText: String { BurstReport.format(durationSeconds, 3).trimmingZeros }

    /// The schedule in words, for the report's first line.
    public var summary: String {
        let duration = durationText
        if isRamp {
            let ramp = BurstReport.format(rampSeconds, 3).trimmingZeros
            let rest = durationSeconds > rampSeconds ? ", then \(Self.rate(endRate)) to \(duration) s" : ""
            return "\(Self.rate(startRate)) rising to \(Self.rate(endRate)) requests/s over \(ramp) s\(rest)"
        }
        return "\(Self.rate(endRate)) requests/s for \(duration) s"
    }

    static func rate(_ value: Double) -> String { BurstReport.format(value, 2).trimmingZeros }
}

extension String {
    /// "10.000" -> "10", "2.500" -> "2.5".
    var trimmingZeros: String {
        guard contains(".") else { return self }
        var text = self
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}

/// Reading `--duration`, `--ramp` and `--rate`.
public enum ScheduleText {
    /// `30s`, `2m`, `1m30s`, `500ms`, `1h`, or a bare number of seconds.
    public static func seconds(_ text: String) -> Double? {
        let text = text.trimmed().lowercased()
        guard !text.isEmpty else { return nil }
        if let plain = Double(text) { return plain >= 0 && plain.isFinite ? plain : nil }
        var total = 0.0
        var rest = Substring(text)
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "ms": total += value / 1000
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3600
            default: return nil
            }
        }
        return total.isFinite ? total : nil
    }

    /// `R` or `A:B` (requests per second).
    public static func rates(_ text: String) -> (start: Double, end: Double)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Double($0.trimmed()) }
        switch parts.count {
        case 1: if let rate = parts[0] { return (rate, rate) }
        case 2: if let start = parts[0], let end = parts[1] { return (start, end) }
        default: break
        }
        return nil
    }
}
