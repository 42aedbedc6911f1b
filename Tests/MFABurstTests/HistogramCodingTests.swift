import Foundation
import Histogram
import Testing

@testable import MFABurst

@Suite("HdrHistogram's standard encoding")
struct HistogramCodingTests {
    // Written by HdrHistogram's Java implementation (and, identically, its
    // C one): a histogram of (lowest 1, highest 2048, 3 digits) holding one
    // 2048, and one of (1, 300, 3) holding 100, 200 and 250.
    static let java2048 = "HISTFAAAACB4nJNpmSzMwMDAzAABMJoRQnEw2H+AsP7LMwEARZgDpQ=="
    static let java100to250 = "HISTFAAAACV4nJNpmSzMwMDAwQABzFCaEUrp2H+AsI4zMh1lZEpkAgBdIQSk"

    /// Microseconds up to an hour, as burst keeps them.
    static func latencies() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 3_700_000_000, numberOfSignificantValueDigits: .three)
    }

    @Test("Histograms written by HdrHistogram's Java implementation decode to their values")
    func readsJava() throws {
        let one = try HistogramCoding.decode(Self.java2048)
        #expect(one.totalCount == 1)
        #expect(one.valuesAreEquivalent(one.max, 2048))
        #expect(one.highestTrackableValue == 2048)
        let three = try HistogramCoding.decode(Self.java100to250)
        #expect(three.totalCount == 3)
        #expect(three.recordedValues().map(\.value) == [100, 200, 250])
        #expect(three.reportedValue(atPercentile: 50) == 200)
    }

    @Test("The same histograms encode to the very bytes Java writes")
    func writesLikeJava() {
        var one = Histogram<UInt64>(highestTrackableValue: 2048, numberOfSignificantValueDigits: .three)
        one.record(2048)
        #expect(HistogramCoding.encode(one) == Self.java2048)
        var three = Histogram<UInt64>(highestTrackableValue: 300, numberOfSignificantValueDigits: .three)
        for value: UInt64 in [100, 200, 250] { three.record(value) }
        #expect(HistogramCoding.encode(three) == Self.java100to250)
    }

    @Test("Latencies from 1 µs to an hour survive the round trip bucket for bucket")
    func roundTrip() throws {
        var histogram = Self.latencies()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            // Log-uniform over 1 µs ... 1 h.
            let value = UInt64(exp(Double.random(in: 0...log(3_600_000_000.0), using: &generator)))
            histogram.record(max(1, value), count: UInt64.random(in: 1...3, using: &generator))
        }
        histogram.record(1, count: 1 << 56)  // a count that takes all nine bytes
        let decoded = try HistogramCoding.decode(HistogramCoding.encode(histogram))
        #expect(decoded.totalCount == histogram.totalCount)
        #expect(Array(decoded.recordedValues().map { [$0.value, $0.count] }) == Array(histogram.recordedValues().map { [$0.value, $0.count] }))
        for percentile in [1.0, 50, 90, 99, 99.9, 99.99, 100] {
            #expect(decoded.reportedValue(atPercentile: percentile) == histogram.reportedValue(atPercentile: percentile))
        }
        #expect(decoded.max == histogram.max)
        // An empty one too.
        #expect(try HistogramCoding.decode(HistogramCoding.encode(Self.latencies())).totalCount == 0)
    }

    @Test("ZigZag LEB128 as HdrHistogram writes it: 1 to 9 bytes")
    func zigZag() {
        func bytes(_ value: Int64) -> [UInt8] {
            var out: [UInt8] = []
            HistogramCoding.appendZigZag(value, to: &out)
            return out
        }
        #expect(bytes(0) == [0])
        #expect(bytes(1) == [2])
        #expect(bytes(-1) == [1])
        #expect(bytes(-2048) == [0xFF, 0x1F])
        #expect(bytes(63) == [0x7E])
        #expect(bytes(64) == [0x80, 0x01])
        #expect(bytes(Int64.max).count == 9)
        #expect(bytes(Int64.min).count == 9)
    }

    @Test("Anything else is refused with a reason, never a crash")
    func refuses() {
        #expect(throws: HistogramCoding.DecodingError.notBase64) { try HistogramCoding.decode("not base64!") }
        #expect(throws: HistogramCoding.DecodingError.unknownCookie(0x0102_0304)) {
            try HistogramCoding.decode(Data([1, 2, 3, 4, 0, 0]).base64EncodedString())
        }
        #expect(throws: HistogramCoding.DecodingError.truncated) { try HistogramCoding.decode(String(Self.java2048.prefix(12))) }
        var corrupt = Array(Data(base64Encoded: Self.java2048)!)
        corrupt[12] ^= 0xFF
        #expect(throws: (any Error).self) { try HistogramCoding.decode(Data(corrupt).base64EncodedString()) }
    }
}
