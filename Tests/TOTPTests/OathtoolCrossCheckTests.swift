import Foundation
import TOTP
import Testing

/// 1,000 random keys, times and parameter sets, each checked against
/// oathtool (liboath), an implementation that shares nothing with ours.
@Suite("Cross-check against oathtool")
struct OathtoolCrossCheckTests {
    static let oathtool = ["/usr/bin/oathtool", "/usr/local/bin/oathtool"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    @Test(.enabled(if: oathtool != nil, "oathtool is installed by .ci/run (apt: oathtool)"))
    func thousandRandomCases() throws {
        var rng = SystemRandomNumberGenerator()
        var mismatches = 0
        for index in 0..<1000 {
            let keyLength = Int.random(in: 10...64, using: &rng)
            let keyBytes = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let algorithm = HashAlgorithm.allCases.randomElement(using: &rng)!
            let digits = Int.random(in: 6...8, using: &rng)
            let period = [1, 15, 30, 60, 90, 300, 3600, Int.random(in: 1...3600, using: &rng)].randomElement(using: &rng)!
            let time = Int64.random(in: 0...20_000_000_000, using: &rng)

            let parameters = try TOTPParameters(algorithm: algorithm, digits: digits, period: period)
            let ours = TOTPGenerator(key: SecretKey(bytes: keyBytes), parameters: parameters).code(atUnixSeconds: time).digits

            // The key goes as hex; these keys are random and exist only here.
            let hex = keyBytes.map { String(format: "%02x", $0) }.joined()
            let theirs = try Self.run([
                "--totp=\(algorithm.rawValue)", "--digits=\(digits)", "--time-step-size=\(period)s",
                "--now=@\(time)", hex,
            ])
            if ours != theirs {
                mismatches += 1
                // Random test keys only: naming the case is safe and useful.
                Issue.record("case \(index): \(algorithm.rawValue) \(digits) digits \(period) s at \(time): ours \(ours), oathtool \(theirs)")
            }
        }
        #expect(mismatches == 0)
    }

    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: oathtool!)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
