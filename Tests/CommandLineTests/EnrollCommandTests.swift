import Foundation
import TestSupport
import Testing

@Suite("mfa-worker enroll")
struct EnrollCommandTests {
    static let key = "aw7c nnsi wsbv dvpj jkuu q7u6 sht4 cuut"

    @Test("Writes a 0600 secret, prints the YAML and a code, never the key")
    func enrol() throws {
        let folder = TemporaryDirectory()
        let config = folder.path + "/worker.yaml"
        let result = try mfaWorker("enroll", "sf-us", "--config", config, stdin: Self.key + "\n")
        #expect(result.status == 0)
        let secretPath = folder.path + "/secrets/sf-us.key"
        var info = stat()
        #expect(stat(secretPath, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(try String(contentsOfFile: secretPath, encoding: .utf8) == Self.key + "\n")
        #expect(result.stdout.contains("  sf-us:\n    secret_file: secrets/sf-us.key\n"))
        #expect(result.stdout.range(of: #"Code: \d{6}  \(\d+ s left\)"#, options: .regularExpression) != nil)
        for group in Self.key.split(separator: " ") {
            #expect(!result.stdout.lowercased().contains(group))
            #expect(!result.stderr.lowercased().contains(group))
        }

        // The printed code is the key's code.
        let code = try mfaWorker("code", "--secret-file", secretPath)
        let shown = result.stdout.range(of: #"Code: \d{6}"#, options: .regularExpression).map { String(result.stdout[$0].suffix(6)) }
        if let shown, code.stdout.trimmingCharacters(in: .newlines) != shown {
            // A window may have turned between the two runs; compare with the previous one.
            let now = Int(Date().timeIntervalSince1970) - 30
            let previous = try mfaWorker("code", "--secret-file", secretPath, "--time", String(now))
            #expect(previous.stdout.trimmingCharacters(in: .newlines) == shown)
        }

        // Never over an existing file.
        let again = try mfaWorker("enroll", "sf-us", "--config", config, stdin: Self.key + "\n")
        #expect(again.status == 1)
        #expect(again.stderr == "Error: \(secretPath) exists; enroll never overwrites a secret file\n")
    }

    @Test("Refuses a bad or short key and writes nothing")
    func refuses() throws {
        let folder = TemporaryDirectory()
        let config = folder.path + "/worker.yaml"
        let short = try mfaWorker("enroll", "a", "--config", config, stdin: "JBSWY3DPEHPK3PI\n")
        #expect(short.status == 1)
        #expect(short.stderr == "Error: the key has 72 bits; at least 80 are required\n")
        let bad = try mfaWorker("enroll", "a", "--config", config, stdin: "JBSWY3DP1HPK3PXP\n")
        #expect(
            bad.stderr
                == "Error: the key is not a valid base32 key: character 9 of the key is not base32 (A-Z and 2-7; 0, 1, 8 and 9 are not in the alphabet)\n")
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/secrets/a.key"))
    }

    @Test("Refuses an account the configuration already has")
    func existingAccount() throws {
        let config = repositoryRoot + "/config/worker.example.yaml"
        let result = try mfaWorker("enroll", "sf-automation-eu", "--config", config, stdin: Self.key + "\n")
        #expect(result.status == 1)
        #expect(result.stderr == "Error: \(config): account 'sf-automation-eu' is already configured\n")
    }
}
