import TOTP
import Testing

@Suite("otpauth URIs")
struct OTPAuthURITests {
    @Test func fullURI() throws {
        let uri = try OTPAuthURI(
            "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA256&digits=8&period=60")
        #expect(uri.issuer == "ACME Co")
        #expect(uri.accountName == "john.doe@email.com")
        #expect(uri.parameters == (try TOTPParameters(algorithm: .sha256, digits: 8, period: 60)))
        #expect(uri.key.count == 20)
    }

    @Test func defaults() throws {
        let uri = try OTPAuthURI("otpauth://totp/robot?secret=JBSWY3DPEHPK3PXP")
        #expect(uri.parameters == .default)
        #expect(uri.issuer == nil)
        #expect(uri.accountName == "robot")
    }

    @Test("Secrets in lower case, with padding, and the label's issuer prefix")
    func tolerantForms() throws {
        let uri = try OTPAuthURI("  OTPAUTH://TOTP/Salesforce:%20bot%40example.com?secret=jbswy3dpehpk3pxp&image=https%3A%2F%2Fx\n")
        #expect(uri.issuer == "Salesforce")
        #expect(uri.accountName == "bot@example.com")
        #expect(uri.key.count == 10)
        let padded = try OTPAuthURI("otpauth://totp/x?secret=MZXW6===&algorithm=sha512")
        #expect(padded.parameters.algorithm == .sha512)
    }

    @Test(
        "Bad URIs, each with its own error",
        arguments: [
            ("https://example.com/?secret=JBSWY3DPEHPK3PXP", OTPAuthURIError.notOTPAuth),
            ("otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=1", .unsupportedType("hotp")),
            ("otpauth://totp", .missingLabel),
            ("otpauth://totp/x?issuer=A", .missingSecret),
            ("otpauth://totp/x?secret=", .missingSecret),
            ("otpauth://totp/x?secret=JBSWY3DP0HPK3PXP", .badSecret(.invalidCharacter(position: 9))),
            ("otpauth://totp/x?secret=JBSWY3DPE", .badSecret(.impossibleLength(symbols: 9))),
            ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&algorithm=MD5", .badAlgorithm),
            ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=six", .badNumber("digits")),
            ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=10", .badParameter(.digitsOutOfRange(10))),
            ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=0", .badParameter(.periodOutOfRange(0))),
            ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&period=-30", .badParameter(.periodOutOfRange(-30))),
            ("otpauth://totp/x%zz?secret=JBSWY3DPEHPK3PXP", .badPercentEncoding(part: "label")),
            ("otpauth://totp/x?secret=JBSW%4", .badPercentEncoding(part: "secret")),
            ("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&secret=JBSWY3DPEHPK3PXP", .repeatedParameter("secret")),
            ("otpauth://totp/A:x?secret=JBSWY3DPEHPK3PXP&issuer=B", .issuerMismatch),
        ])
    func badURIs(text: String, expected: OTPAuthURIError) {
        #expect(throws: expected) { try OTPAuthURI(text) }
    }

    @Test("No error or description quotes the secret")
    func redaction() throws {
        let secret = "JBSWY3DPEHPK3PXP"
        let uri = try OTPAuthURI("otpauth://totp/x?secret=\(secret)")
        #expect(!"\(uri)".contains(secret))
        #expect(!String(reflecting: uri).contains(secret))
        for bad in ["otpauth://totp/x?secret=\(secret)&digits=12", "otpauth://totp/x?secret=\(secret)0"] {
            do {
                _ = try OTPAuthURI(bad)
                Issue.record("accepted \(bad.count)-character URI")
            } catch {
                #expect(!error.description.contains(secret))
            }
        }
    }

    @Test("KeyText takes base32 or a URI")
    func keyText() throws {
        let plain = try KeyText("jbsw y3dp ehpk 3pxp\n")
        #expect(plain.uriParameters == nil)
        let uri = try KeyText("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=7")
        #expect(uri.uriParameters?.digits == 7)
        #expect(plain.key.constantTimeEquals(uri.key))
        #expect(throws: KeyTextError.base32(.invalidCharacter(position: 1))) { try KeyText("!!") }
    }
}
