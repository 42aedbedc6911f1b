import ArgumentParser
import TOTP

/// `--algorithm`, `--digits`, `--period`: parameters that override the
/// defaults (and must agree with an otpauth URI that sets them).
struct TOTPOptions: ParsableArguments {
    @Option(help: ArgumentHelp("HMAC algorithm: SHA1, SHA256 or SHA512 (default SHA1).", valueName: "name"))
    var algorithm: String?

    @Option(help: ArgumentHelp("Digits per code: 6, 7 or 8 (default 6).", valueName: "n"))
    var digits: Int?

    @Option(help: ArgumentHelp("Seconds per window: 1 to 3600 (default 30).", valueName: "seconds"))
    var period: Int?

    var isEmpty: Bool { algorithm == nil && digits == nil && period == nil }

    /// The parameters: these options over `base` (a URI's, or the defaults).
    /// A URI that says otherwise than an option is an error.
    func parameters(uri: TOTPParameters?) throws -> TOTPParameters {
        var parsedAlgorithm: HashAlgorithm?
        if let algorithm {
            guard let parsed = HashAlgorithm(name: algorithm) else {
                throw CommandFailure("--algorithm must be SHA1, SHA256 or SHA512")
            }
            parsedAlgorithm = parsed
        }
        if let uri {
            if let parsedAlgorithm, parsedAlgorithm != uri.algorithm {
                throw CommandFailure("--algorithm \(parsedAlgorithm.rawValue) differs from the otpauth URI's \(uri.algorithm.rawValue)")
            }
            if let digits, digits != uri.digits {
                throw CommandFailure("--digits \(digits) differs from the otpauth URI's \(uri.digits)")
            }
            if let period, period != uri.period {
                throw CommandFailure("--period \(period) differs from the otpauth URI's \(uri.period)")
            }
        }
        let base = uri ?? .default
        do {
            return try TOTPParameters(
                algorithm: parsedAlgorithm ?? base.algorithm,
                digits: digits ?? base.digits,
                period: period ?? base.period
            )
        } catch {
            throw CommandFailure(error.description)
        }
    }
}
