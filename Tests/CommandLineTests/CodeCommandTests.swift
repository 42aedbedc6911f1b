import Foundation
import TestSupport
import Testing

@Suite("mfa-worker code")
struct CodeCommandTests {
    // The RFC 6238 seeds as base32.
    static let seeds: [(algorithm: String, base32: String, at59: String)] = [
        ("SHA1", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "94287082"),
        ("SHA256", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA", "46119246"),
        ("SHA512", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA=", "90693936"),
    ]

    @Test("RFC seeds from base32 files at t = 59")
    func rfcSeeds() throws {
        let folder = TemporaryDirectory()
        for seed in Self.seeds {
            let file = folder.write("\(seed.algorithm).key", seed.base32 + "\n")
            let result = try mfaWorker("code", "--secret-file", file, "--time", "59", "--digits", "8", "--algorithm", seed.algorithm)
            #expect(result.status == 0)
            #expect(result.stdout == seed.at59 + "\n")
            #expect(result.stderr == "")
        }
    }

    @Test("An otpauth URI carries its own parameters")
    func uriFile() throws {
        let folder = TemporaryDirectory()
        let file = folder.write("uri", "otpauth://totp/RFC:test?secret=\(Self.seeds[1].base32)&algorithm=SHA256&digits=8\n")
        let result = try mfaWorker("code", "--secret-file", file, "--time", "1111111111")
        #expect(result.stdout == "67062674\n")
        let conflict = try mfaWorker("code", "--secret-file", file, "--digits", "6")
        #expect(conflict.status == 1)
        #expect(conflict.stderr == "Error: --digits 6 differs from the otpauth URI's 8\n")
    }

    @Test("--json prints the window")
    func json() throws {
        let folder = TemporaryDirectory()
        let file = folder.write("k", Self.seeds[0].base32)
        let result = try mfaWorker("code", "--secret-file", file, "--time", "1111111111", "--json")
        #expect(result.stdout == #"{"code":"050471","window_start":1111111110,"window_end":1111111140,"expires_in_ms":29000}"# + "\n")
    }

    @Test("Salesforce's form on stdin gives what oathtool gives at that moment")
    func stdinMatchesOathtool() throws {
        // Retry when a window turns between the two programs.
        for _ in 0..<3 {
            let before = try run("/usr/bin/oathtool", ["--totp", "-b", "JBSWY3DPEHPK3PXP"]).stdout
            let ours = try mfaWorker("code", "--secret-file", "-", stdin: "jbsw y3dp ehpk 3pxp\n")
            let after = try run("/usr/bin/oathtool", ["--totp", "-b", "JBSWY3DPEHPK3PXP"]).stdout
            guard before == after else { continue }
            #expect(ours.status == 0)
            #expect(ours.stdout == before)
            return
        }
        Issue.record("windows kept turning")
    }

    @Test("A configured account")
    func account() throws {
        let config = repositoryRoot + "/config/worker.example.yaml"
        let result = try mfaWorker("code", "--account", "sf-automation-eu", "--config", config, "--time", "59")
        #expect(result.status == 0)
        #expect(result.stdout.count == 7)
        let viaEnvironment = try mfaWorker(
            "code", "--account", "sf-automation-eu", "--time", "59",
            environment: ["MFA_WORKER_CONFIG": config])
        #expect(viaEnvironment.stdout == result.stdout)
        let unknown = try mfaWorker("code", "--account", "nope", "--config", config)
        #expect(unknown.status == 1)
        #expect(unknown.stderr == "Error: \(config): no account 'nope' under accounts\n")
    }

    @Test("The key is never an argument")
    func noSecretArgument() throws {
        let result = try mfaWorker("code", "JBSWY3DPEHPK3PXP")
        #expect(result.status != 0)
        #expect(result.stdout == "")
    }

    @Test("Bad keys give one line without the key")
    func badKey() throws {
        let result = try mfaWorker("code", "--secret-file", "-", stdin: "JBSWY3DP0HPK3PXP")
        #expect(result.status == 1)
        #expect(
            result.stderr
                == "Error: the secret is not a valid base32 key: character 9 of the key is not base32 (A-Z and 2-7; 0, 1, 8 and 9 are not in the alphabet)\n")
    }
}
