import Foundation
import TOTP
import Testing

@testable import MFAConfig

/// `accounts.NAME.username` and `accounts.NAME.site`.
@Suite("Configuration: username and site")
struct AccountLoginTests {
    func outcome(_ account: String, key: String = ConfigFixture.goodKey) -> (LoadedConfiguration?, String) {
        let fixture = ConfigFixture()
        fixture.writeSecret("secrets/sf-eu.key", key)
        fixture.writeConfig(ConfigFixture.yaml(accounts: "  sf-eu:\n    secret_file: secrets/sf-eu.key\n" + account))
        do {
            return (try LoadedConfiguration.load(path: fixture.configPath, environment: [:]), "")
        } catch {
            return (nil, error.description.replacingOccurrences(of: fixture.directory, with: "DIR"))
        }
    }

    @Test("A username is kept as written, e-mail addresses and non-ASCII letters alike; none by default")
    func username() {
        #expect(outcome("    username: robot1@example.com").0?.accounts["sf-eu"]?.username == "robot1@example.com")
        #expect(outcome("    username: \"rébot@example.com\"").0?.accounts["sf-eu"]?.username == "rébot@example.com")
        #expect(outcome("").0?.accounts["sf-eu"]?.username == nil)
    }

    @Test(
        "A username with a control, line-separator or bidirectional character, an empty one or one over 255 bytes is refused",
        arguments: ["\"a\\u2028b\"", "\"a\\u202Eb\"", "\"a\\tb\"", "\"\"", String(repeating: "x", count: 256)])
    func badUsername(_ value: String) {
        let (loaded, error) = outcome("    username: \(value)")
        #expect(loaded == nil)
        #expect(error.contains("accounts.sf-eu.username"), "\(error)")
    }

    @Test("site: salesforce takes SHA1, 6 digits, 30 s, and refuses anything else, set in the file or in the key's URI")
    func salesforceParameters() {
        #expect(outcome("    site: salesforce").0 != nil)
        #expect(outcome("    site: salesforce").0?.warnings == [])
        #expect(
            outcome("    site: salesforce\n    digits: 8").1
                == "DIR/worker.yaml: accounts.sf-eu.site (line 4): salesforce accepts SHA1, 6 digits, 30 s only; this account's parameters are SHA1, 8 digits, 30 s (from algorithm/digits/period or the secret's otpauth URI)"
        )
        #expect(outcome("    site: salesforce\n    algorithm: SHA256").1.contains("this account's parameters are SHA256, 6 digits, 30 s"))
        let uri = "otpauth://totp/x?secret=\(ConfigFixture.goodKey.replacingOccurrences(of: " ", with: "").uppercased())&period=60"
        #expect(outcome("    site: salesforce", key: uri).1.contains("this account's parameters are SHA1, 6 digits, 60 s"))
        #expect(outcome("    site: github").1.contains("accounts.sf-eu.site"))
    }

    @Test("site: salesforce warns about a key shorter than the 160 bits Salesforce issues; without site, 128 bits pass quietly")
    func salesforceKeyLength() {
        let key128 = "AEBAGBAFAYDQQCIKBMGA2DQPCA"  // 16 bytes
        let (loaded, _) = outcome("    site: salesforce", key: key128)
        #expect(loaded?.warnings == ["accounts.sf-eu: the key has 128 bits; salesforce issues 160-bit keys: was it copied whole?"])
        #expect(outcome("", key: key128).0?.warnings == [])
    }

    @Test("lockout_guard: on by default (3 failures within an hour pause for an hour), set key by key, off, and checked")
    func lockoutGuard() {
        #expect(outcome("").0?.accounts["sf-eu"]?.lockoutGuard == LockoutGuard(maxFailures: 3, withinSeconds: 3600, pauseSeconds: 3600))
        #expect(
            outcome("    lockout_guard: {max_failures: 5, pause_s: 600}").0?.accounts["sf-eu"]?.lockoutGuard
                == LockoutGuard(maxFailures: 5, withinSeconds: 3600, pauseSeconds: 600))
        #expect(outcome("    lockout_guard: off").0?.accounts["sf-eu"]?.lockoutGuard == nil)
        #expect(outcome("    lockout_guard: {max_failures: 0}").1.contains("accounts.sf-eu.lockout_guard.max_failures"))
        #expect(outcome("    lockout_guard: {pause_s: 86400}").1.contains("accounts.sf-eu.lockout_guard.pause_s"))
        #expect(outcome("    lockout_guard: {max_failure: 2}").1.contains("unknown key 'max_failure'"))
        #expect(outcome("    lockout_guard: on").1.contains("must be off, or a mapping"))
    }
}
