import TOTP
import Testing

@Suite("Base32")
struct Base32Tests {
    // RFC 4648 section 10.
    @Test(
        "RFC 4648 test vectors, padded and unpadded",
        arguments: [
            ("", ""), ("f", "MY======"), ("fo", "MZXQ===="), ("foo", "MZXW6==="),
            ("foob", "MZXW6YQ="), ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI======"),
        ])
    func rfcVectors(plain: String, encoded: String) throws {
        if plain.isEmpty {
            #expect(throws: Base32Error.empty) { try Base32.decode(encoded) }
            return
        }
        #expect(try Base32.decode(encoded) == Array(plain.utf8))
        let unpadded = String(encoded.prefix { $0 != "=" })
        #expect(try Base32.decode(unpadded) == Array(plain.utf8))
        #expect(try Base32.decode(unpadded.lowercased()) == Array(plain.utf8))
        #expect(Base32.encode(Array(plain.utf8)) == unpadded)
    }

    @Test("The form Salesforce shows: lower case in groups of four")
    func salesforceForm() throws {
        let key = try Base32.decode("jbsw y3dp ehpk 3pxp")
        #expect(key == Array("Hello!\u{DE}\u{AD}\u{BE}\u{EF}".unicodeScalars.map { UInt8($0.value) }))
        #expect(try Base32.decode("JBSWY3DPEHPK3PXP") == key)
        #expect(try Base32.decode("  JBSW Y3DP\tEHPK 3PXP\n") == key)
        #expect(try Base32.decode("jBsW Y3Dp EhPk 3pXp") == key)
    }

    @Test("Every length class: 8n+0, 2, 4, 5, 7 decode; 8n+1, 3, 6 cannot", arguments: 1...24)
    func lengthClasses(symbols: Int) {
        let text = String(repeating: "A", count: symbols)
        switch symbols % 8 {
        case 1, 3, 6:
            #expect(throws: Base32Error.impossibleLength(symbols: symbols)) { try Base32.decode(text) }
        default:
            let bytes = (try? Base32.decode(text)) ?? [0xFF]
            #expect(bytes.count == symbols * 5 / 8)
            #expect(bytes.allSatisfy { $0 == 0 })
        }
    }

    @Test("Padding: full is fine, partial or misplaced is not")
    func paddingVariants() throws {
        #expect(try Base32.decode("MZXW6===") == Array("foo".utf8))
        #expect(try Base32.decode("MZXW6") == Array("foo".utf8))
        #expect(throws: Base32Error.wrongPadding(symbols: 5, padding: 1, expected: 3)) { try Base32.decode("MZXW6=") }
        #expect(throws: Base32Error.wrongPadding(symbols: 5, padding: 4, expected: 3)) { try Base32.decode("MZXW6====") }
        #expect(throws: Base32Error.wrongPadding(symbols: 8, padding: 8, expected: 0)) { try Base32.decode("MZXW6YTB========") }
        #expect(throws: Base32Error.paddingNotAtEnd(position: 3)) { try Base32.decode("MZ==XW6=") }
        #expect(throws: Base32Error.paddingNotAtEnd(position: 1)) { try Base32.decode("========") }
        #expect(throws: Base32Error.impossibleLength(symbols: 1)) { try Base32.decode("M=======") }
    }

    @Test(
        "Characters outside the alphabet, by position (spaces not counted)",
        arguments: [
            ("JBSWY3DP0HPK3PXP", 9), ("1BSWY3DPEHPK3PXP", 1), ("JBSW Y3D8", 8),
            ("JBSWY3DPEHPK3PX9", 16), ("JBSW-Y3DP", 5), ("JBSWY3DPÉHPK3PXP", 9), ("JBSW\u{0}Y3DP", 5),
        ])
    func foreignCharacters(text: String, position: Int) {
        #expect(throws: Base32Error.invalidCharacter(position: position)) { try Base32.decode(text) }
    }

    @Test func emptyInput() {
        #expect(throws: Base32Error.empty) { try Base32.decode("") }
        #expect(throws: Base32Error.empty) { try Base32.decode("   \n") }
    }

    @Test("Error messages carry no key character")
    func messagesAreClean() {
        let key = "QQQQ ZZZZ 0RRR"
        do {
            _ = try Base32.decode(key)
            Issue.record("decoded a key with a 0 in it")
        } catch {
            #expect(error == .invalidCharacter(position: 9))
            #expect(!error.description.contains("QQQQ"))
            #expect(!error.description.contains("RRR"))
        }
    }

    @Test("Encoding round-trips random bytes")
    func roundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for length in 1...70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(try Base32.decode(Base32.encode(bytes)) == bytes)
        }
    }
}
