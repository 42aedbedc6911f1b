import CZlib
import Foundation
import Histogram

/// HdrHistogram's standard encoded form of a histogram: the V2 encoding,
/// deflated (zlib), in base64 — the `HISTFAAA...` text that HdrHistogram's
/// Java, C, Go, Python and JavaScript implementations write into their
/// histogram logs and read back.
///
/// hdrhistogram-swift 0.2 offers only Swift's `Codable` (its own field
/// layout, which no other implementation reads), so the encoding is done
/// here from the layout's definition:
///
/// - compressed: int32 cookie 0x1c849314, int32 length of the deflated
///   bytes, then the zlib stream of the uncompressed form;
/// - uncompressed: int32 cookie 0x1c849313, int32 payload length, int32
///   normalizing index offset (0), int32 significant digits, int64 lowest
///   discernible value, int64 highest trackable value, float64 integer to
///   double ratio (1.0), then the payload: the counts array up to the
///   highest recorded index, each count a ZigZag LEB128 integer (at most 9
///   bytes), a run of n > 1 zeros written as -n. All big-endian.
public enum HistogramCoding {
    static let compressedCookie: UInt32 = 0x1C84_9314
    static let cookie: UInt32 = 0x1C84_9313

    public enum DecodingError: Error, Equatable, CustomStringConvertible {
        case notBase64
        case truncated
        case unknownCookie(UInt32)
        case inflateFailed(Int32)
        case unsupported(String)

        public var description: String {
            switch self {
            case .notBase64: "is not base64"
            case .truncated: "is cut short"
            case .unknownCookie(let cookie): "starts with 0x\(String(cookie, radix: 16)), not an HdrHistogram V2 encoding"
            case .inflateFailed(let status): "does not inflate (zlib status \(status))"
            case .unsupported(let what): "uses \(what), which this reader does not support"
            }
        }
    }

    /// The standard compressed encoding, in base64.
    public static func encode(_ histogram: Histogram<UInt64>) -> String {
        let layout = Layout(lowest: histogram.lowestDiscernibleValue, digits: Int(histogram.numberOfSignificantValueDigits.rawValue))
        var counts: [(index: Int, count: UInt64)] = []
        for entry in histogram.recordedValues() where entry.count > 0 {
            counts.append((layout.index(of: entry.value), entry.count))
        }
        var payload: [UInt8] = []
        var next = 0
        for (index, count) in counts {
            let zeros = index - next
            if zeros == 1 { appendZigZag(0, to: &payload) }
            if zeros > 1 { appendZigZag(-Int64(zeros), to: &payload) }
            appendZigZag(Int64(clamping: count), to: &payload)
            next = index + 1
        }
        var plain: [UInt8] = []
        appendBigEndian(cookie, to: &plain)
        appendBigEndian(UInt32(payload.count), to: &plain)
        appendBigEndian(UInt32(0), to: &plain)
        appendBigEndian(UInt32(histogram.numberOfSignificantValueDigits.rawValue), to: &plain)
        appendBigEndian(histogram.lowestDiscernibleValue, to: &plain)
        appendBigEndian(histogram.highestTrackableValue, to: &plain)
        appendBigEndian((1.0 as Double).bitPattern, to: &plain)
        plain += payload

        var deflated = [UInt8](repeating: 0, count: Int(compressBound(uLong(plain.count))))
        var deflatedLength = uLongf(deflated.count)
        let status = compress2(&deflated, &deflatedLength, plain, uLong(plain.count), Z_DEFAULT_COMPRESSION)
        precondition(status == Z_OK, "zlib compress2 failed with \(status)")
        var encoded: [UInt8] = []
        appendBigEndian(compressedCookie, to: &encoded)
        appendBigEndian(UInt32(deflatedLength), to: &encoded)
        encoded += deflated.prefix(Int(deflatedLength))
        return Data(encoded).base64EncodedString()
    }

    /// Reads the standard encoding (compressed or not, in base64). Each
    /// count lands on its bucket's highest equivalent value, so percentiles
    /// read as HdrHistogram's other implementations report them.
    public static func decode(_ text: String) throws(DecodingError) -> Histogram<UInt64> {
        guard let data = Data(base64Encoded: text.filter { !$0.isWhitespace }) else { throw .notBase64 }
        var reader = Reader(bytes: Array(data))
        switch try reader.uint32() {
        case compressedCookie:
            let length = Int(try reader.uint32())
            let deflated = try reader.bytes(length)
            var inner = Reader(bytes: try inflate(deflated))
            guard try inner.uint32() == cookie else { throw .unsupported("a compressed form that does not hold a V2 encoding") }
            return try decodeBody(&inner)
        case cookie:
            return try decodeBody(&reader)
        case let other:
            throw .unknownCookie(other)
        }
    }

    private static func decodeBody(_ reader: inout Reader) throws(DecodingError) -> Histogram<UInt64> {
        let payloadLength = Int(try reader.uint32())
        guard try reader.uint32() == 0 else { throw .unsupported("a normalizing index offset") }
        let digits = Int(try reader.uint32())
        let lowest = try reader.uint64()
        let highest = try reader.uint64()
        _ = try reader.uint64()  // the integer to double ratio: values stay integers here
        guard let significant = SignificantDigits(rawValue: Int8(clamping: digits)), digits <= 5 else {
            throw .unsupported("\(digits) significant digits")
        }
        let layout = Layout(lowest: max(lowest, 1), digits: digits)
        guard lowest >= 1, layout.unitMagnitude + layout.subBucketHalfCountMagnitude <= 50 else {
            throw .unsupported("a lowest discernible value of \(lowest)")
        }
        var histogram = Histogram<UInt64>(
            lowestDiscernibleValue: lowest, highestTrackableValue: max(min(highest, 1 << 48), 2 * lowest), numberOfSignificantValueDigits: significant)
        histogram.autoResize = true
        var payload = Reader(bytes: try reader.bytes(payloadLength))
        var index = 0
        while !payload.isAtEnd {
            let value = try payload.zigZag()
            if value < 0 {
                index += Int(clamping: -value)
            } else {
                if value > 0 {
                    guard index < layout.indexLimit else { throw .unsupported("values of 2^62 or more") }
                    let bucketValue = layout.value(at: index)
                    histogram.record(histogram.highestEquivalentForValue(bucketValue), count: UInt64(value))
                }
                index += 1
            }
        }
        return histogram
    }

    private static func inflate(_ bytes: [UInt8]) throws(DecodingError) -> [UInt8] {
        var capacity = max(1024, bytes.count * 8)
        while capacity <= 256 << 20 {
            var output = [UInt8](repeating: 0, count: capacity)
            var length = uLongf(capacity)
            let status = uncompress(&output, &length, bytes, uLong(bytes.count))
            if status == Z_OK { return Array(output.prefix(Int(length))) }
            guard status == Z_BUF_ERROR else { throw .inflateFailed(status) }
            capacity *= 4
        }
        throw .unsupported("more than 256 MiB of counts")
    }

    // MARK: Bytes

    private static func appendBigEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// ZigZag, then LEB128 with at most 9 bytes (the ninth holds 8 bits).
    static func appendZigZag(_ value: Int64, to bytes: inout [UInt8]) {
        var rest = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        for _ in 0..<8 {
            if rest < 0x80 {
                bytes.append(UInt8(rest))
                return
            }
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var isAtEnd: Bool { offset >= bytes.count }

        mutating func bytes(_ count: Int) throws(DecodingError) -> [UInt8] {
            guard count >= 0, offset + count <= bytes.count else { throw .truncated }
            defer { offset += count }
            return Array(bytes[offset..<(offset + count)])
        }

        mutating func uint32() throws(DecodingError) -> UInt32 {
            UInt32(truncatingIfNeeded: try bigEndian(4))
        }

        mutating func uint64() throws(DecodingError) -> UInt64 {
            try bigEndian(8)
        }

        private mutating func bigEndian(_ width: Int) throws(DecodingError) -> UInt64 {
            guard offset + width <= bytes.count else { throw .truncated }
            var value: UInt64 = 0
            for byte in bytes[offset..<(offset + width)] { value = value << 8 | UInt64(byte) }
            offset += width
            return value
        }

        mutating func zigZag() throws(DecodingError) -> Int64 {
            var raw: UInt64 = 0
            for position in 0..<9 {
                guard offset < bytes.count else { throw .truncated }
                let byte = bytes[offset]
                offset += 1
                if position == 8 {
                    raw |= UInt64(byte) << 56
                    break
                }
                raw |= UInt64(byte & 0x7F) << (7 * UInt64(position))
                if byte & 0x80 == 0 { break }
            }
            return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
        }
    }

    /// Where a value sits in the counts array, as HdrHistogram lays it out:
    /// bucket 0 holds 0 ..< subBucketCount at unit resolution, and every
    /// further bucket the upper half of twice the range at half the
    /// resolution.
    struct Layout {
        let unitMagnitude: Int
        let subBucketHalfCountMagnitude: Int
        var subBucketHalfCount: Int { 1 << subBucketHalfCountMagnitude }

        init(lowest: UInt64, digits: Int) {
            unitMagnitude = 63 - lowest.leadingZeroBitCount
            var largestSingleUnit = 2
            for _ in 0..<digits { largestSingleUnit *= 10 }
            var magnitude = 0
            while (1 << magnitude) < largestSingleUnit { magnitude += 1 }
            subBucketHalfCountMagnitude = max(magnitude, 1) - 1
        }

        func index(of value: UInt64) -> Int {
            let subBucketMask = UInt64((1 << (subBucketHalfCountMagnitude + 1)) - 1) << unitMagnitude
            let leadingZeroCountBase = 64 - unitMagnitude - (subBucketHalfCountMagnitude + 1)
            let bucket = leadingZeroCountBase - (value | subBucketMask).leadingZeroBitCount
            let subBucket = Int(value >> UInt64(bucket + unitMagnitude))
            return ((bucket + 1) << subBucketHalfCountMagnitude) + subBucket - subBucketHalfCount
        }

        func value(at index: Int) -> UInt64 {
            var bucket = (index >> subBucketHalfCountMagnitude) - 1
            var subBucket = (index & (subBucketHalfCount - 1)) + subBucketHalfCount
            if bucket < 0 {
                subBucket -= subBucketHalfCount
                bucket = 0
            }
            return UInt64(subBucket) << UInt64(bucket + unitMagnitude)
        }

        /// The first index whose values need 62 bits or more.
        var indexLimit: Int { (63 - unitMagnitude - subBucketHalfCountMagnitude) << subBucketHalfCountMagnitude }
    }
}

extension Histogram where Count == UInt64 {
    /// The value at a percentile as HdrHistogram reports it: the highest
    /// value equivalent to the bucket the percentile falls in (the same
    /// whether the histogram was recorded here or decoded from a file).
    func reportedValue(atPercentile percentile: Double) -> UInt64 {
        totalCount == 0 ? 0 : highestEquivalentForValue(valueAtPercentile(percentile))
    }
}
