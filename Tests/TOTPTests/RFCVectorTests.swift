import TOTP
import Testing

/// The published test vectors: RFC 4226 Appendix D and RFC 6238 Appendix B.
@Suite("RFC test vectors")
struct RFCVectorTests {
    static let sha1Seed = SecretKey(bytes: Array("12345678901234567890".utf8))
    static let sha256Seed = SecretKey(bytes: Array("12345678901234567890123456789012".utf8))
    static let sha512Seed = SecretKey(bytes: Array("1234567890123456789012345678901234567890123456789012345678901234".utf8))

    @Test(
        "RFC 4226 Appendix D: HOTP counts 0 to 9",
        arguments: zip(
            0..<10,
            [
                "755224", "287082", "359152", "969429", "338314",
                "254676", "287922", "162583", "399871", "520489",
            ]))
    func hotp(counter: Int, expected: String) {
        let code = HOTP.code(key: Self.sha1Seed, counter: UInt64(counter))
        #expect(code.digits == expected)
    }

    struct TOTPVector: Sendable, CustomTestStringConvertible {
        let time: Int64
        let algorithm: HashAlgorithm
        let expected: String
        var testDescription: String { "\(algorithm.rawValue) at \(time)" }
    }

    static let totpVectors: [TOTPVector] = [
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ].flatMap { row in
        [
            TOTPVector(time: row.0, algorithm: .sha1, expected: row.1),
            TOTPVector(time: row.0, algorithm: .sha256, expected: row.2),
            TOTPVector(time: row.0, algorithm: .sha512, expected: row.3),
        ]
    }

    @Test("RFC 6238 Appendix B: every time, every algorithm", arguments: totpVectors)
    func totp(vector: TOTPVector) throws {
        let key: SecretKey =
            switch vector.algorithm {
            case .sha1: Self.sha1Seed
            case .sha256: Self.sha256Seed
            case .sha512: Self.sha512Seed
            }
        let generator = TOTPGenerator(key: key, parameters: try TOTPParameters(algorithm: vector.algorithm, digits: 8, period: 30))
        #expect(generator.code(atUnixSeconds: vector.time).digits == vector.expected)
    }

    @Test("t = 20000000000 needs a 64-bit time step")
    func sixtyFourBitStep() {
        let window = TOTPWindow(containing: 20_000_000_000 * 1000, period: 30)
        #expect(window.counter == 0x27BC86AA)
        #expect(window.counter > UInt64(UInt32.max) / 8)
        // A period of 1 s takes the counter past 32 bits.
        let fine = TOTPWindow(containing: 20_000_000_000 * 1000, period: 1)
        #expect(fine.counter == 20_000_000_000)
        #expect(fine.counter > UInt64(UInt32.max))
    }
}

@Suite("Windows and codes")
struct WindowTests {
    @Test func windowBounds() {
        let window = TOTPWindow(containing: 1_764_372_612_345, period: 30)
        #expect(window.start == 1_764_372_600)
        #expect(window.end == 1_764_372_630)
        #expect(window.millisecondsLeft(at: 1_764_372_612_345) == 17_655)
        #expect(window.next.start == window.end)
    }

    @Test func windowEdges() {
        #expect(TOTPWindow(containing: 29_999, period: 30).counter == 0)
        #expect(TOTPWindow(containing: 30_000, period: 30).counter == 1)
        #expect(TOTPWindow(containing: 3_599_999, period: 3600).counter == 0)
        #expect(TOTPWindow(containing: 3_600_000, period: 3600).counter == 1)
    }

    @Test func zeroPadding() {
        #expect(OneTimeCode(value: 42, digitCount: 6).digits == "000042")
        #expect(OneTimeCode(value: 0, digitCount: 8).digits == "00000000")
        #expect(OneTimeCode(value: 1_234_567, digitCount: 7).digits == "1234567")
    }

    @Test("Codes and keys never describe themselves")
    func redaction() {
        let code = OneTimeCode(value: 492_039, digitCount: 6)
        #expect("\(code)" == "******")
        #expect(!String(reflecting: code).contains("492039"))
        #expect(!String(describing: Mirror(reflecting: code).children.map(\.value)).contains("492039"))
        let key = SecretKey(bytes: Array("12345678901234567890".utf8))
        #expect("\(key)" == "SecretKey(160 bits, redacted)")
        #expect(!String(reflecting: key).contains("1234"))
        var dumped = ""
        dump(key, to: &dumped)
        #expect(!dumped.contains("1234"))
    }

    @Test func parameterRanges() {
        #expect(throws: TOTPParameterError.digitsOutOfRange(5)) { try TOTPParameters(digits: 5) }
        #expect(throws: TOTPParameterError.digitsOutOfRange(9)) { try TOTPParameters(digits: 9) }
        #expect(throws: TOTPParameterError.periodOutOfRange(0)) { try TOTPParameters(period: 0) }
        #expect(throws: TOTPParameterError.periodOutOfRange(3601)) { try TOTPParameters(period: 3601) }
        #expect(throws: Never.self) { try TOTPParameters(algorithm: .sha512, digits: 8, period: 3600) }
        #expect(throws: Never.self) { try TOTPParameters(digits: 6, period: 1) }
    }

    @Test func keyStrength() {
        #expect(KeyStrength(SecretKey(bytes: [UInt8](repeating: 1, count: 9))) == .tooShort(bits: 72))
        #expect(KeyStrength(SecretKey(bytes: [UInt8](repeating: 1, count: 10))) == .weak(bits: 80))
        #expect(KeyStrength(SecretKey(bytes: [UInt8](repeating: 1, count: 16))) == .acceptable)
    }

    @Test func constantTimeComparison() {
        let a = SecretKey(bytes: [1, 2, 3])
        #expect(a.constantTimeEquals(SecretKey(bytes: [1, 2, 3])))
        #expect(!a.constantTimeEquals(SecretKey(bytes: [1, 2, 4])))
        #expect(!a.constantTimeEquals(SecretKey(bytes: [1, 2])))
    }
}
