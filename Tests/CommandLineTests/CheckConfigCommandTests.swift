import Foundation
import TestSupport
import Testing

@Suite("mfa-worker check-config")
struct CheckConfigCommandTests {
    static let key = "aw7c nnsi wsbv dvpj jkuu q7u6 sht4 cuut"

    @Test("The example passes and its summary holds no secret")
    func example() throws {
        let result = try mfaWorker("check-config", "--config", repositoryRoot + "/config/worker.example.yaml")
        #expect(result.status == 0)
        #expect(result.stdout.contains("sf-automation-eu  SHA1, 6 digits, 30 s, 160-bit key"))
        #expect(result.stdout.contains("rpa-bot-eu-1  sf-automation-eu"))
        let shipped = try String(contentsOfFile: repositoryRoot + "/config/secrets/sf-automation-eu.key", encoding: .utf8)
        for group in shipped.split(whereSeparator: \.isWhitespace) {
            #expect(!result.stdout.lowercased().contains(group.lowercased()))
        }
        #expect(!result.stdout.contains("demo-worker-password"))
    }

    /// A folder with a valid configuration, then one change to break it.
    private func broken(_ change: (TemporaryDirectory) throws -> Void) throws -> (RunResult, String) {
        let folder = TemporaryDirectory()
        folder.write("secrets/sf-eu.key", Self.key)
        folder.write(
            "worker.yaml",
            """
            broker:
              url: amqp://w@127.0.0.1/%2F
            accounts:
              sf-eu:
                secret_file: secrets/sf-eu.key
            allow:
              bot: [sf-eu]
            """)
        let valid = try mfaWorker("check-config", "--config", folder.path + "/worker.yaml")
        #expect(valid.status == 0)
        try change(folder)
        return (try mfaWorker("check-config", "--config", folder.path + "/worker.yaml"), folder.path)
    }

    private func expectOneLine(_ result: RunResult, _ message: String) {
        #expect(result.status == 1)
        #expect(result.stdout == "")
        #expect(result.stderr == "Error: \(message)\n")
        #expect(!result.stderr.lowercased().contains("aw7c"))
    }

    @Test func unknownKey() throws {
        let (result, dir) = try broken { $0.write("worker.yaml", "broker:\n  url: amqp://h\n  prefech: 5\naccounts: {}\nallow: {}\n") }
        expectOneLine(
            result,
            "\(dir)/worker.yaml: broker.prefech (line 3): unknown key 'prefech' in broker (did you mean 'prefetch'?); known keys: url, password_file, password_env, prefetch, heartbeat_s, publisher_confirms, reconnect_initial_ms, reconnect_max_ms, connect_timeout_ms, consumer_timeout_ms, tls"
        )
    }

    @Test func missingSecret() throws {
        let (result, dir) = try broken { unlink($0.path + "/secrets/sf-eu.key") }
        expectOneLine(result, "\(dir)/worker.yaml: accounts.sf-eu.secret_file (line 4): \(dir)/secrets/sf-eu.key does not exist")
    }

    @Test func looseSecret() throws {
        let (result, dir) = try broken { chmod($0.path + "/secrets/sf-eu.key", 0o640) }
        expectOneLine(
            result,
            "\(dir)/worker.yaml: accounts.sf-eu.secret_file (line 4): \(dir)/secrets/sf-eu.key is accessible by group or others (mode 640); run chmod 600 on it, or set allow_loose_secret_files: true"
        )
    }

    @Test func shortKey() throws {
        let (result, dir) = try broken { $0.write("secrets/sf-eu.key", "JBSWY3DPEHPK3PI") }
        expectOneLine(result, "\(dir)/worker.yaml: accounts.sf-eu.secret_file (line 4): the key has 72 bits; at least 80 are required (RFC 4226 asks for 128)")
    }

    @Test func allowlistNamesUnknownAccount() throws {
        let (result, dir) = try broken {
            $0.write("worker.yaml", "broker:\n  url: amqp://h\naccounts:\n  sf-eu:\n    secret_file: secrets/sf-eu.key\nallow:\n  bot: [sf-eu, sf-us]\n")
        }
        expectOneLine(
            result,
            "\(dir)/worker.yaml: allow.bot.[1] (line 7): names account 'sf-us', which is not configured under accounts or pools (did you mean 'sf-eu'?)"
        )
    }

    /// Root reads any file, so the unreadable case runs the check as nobody.
    @Test("A secret the worker's user cannot read", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func unreadableSecret() throws {
        let folder = TemporaryDirectory()
        folder.write("secrets/sf-eu.key", Self.key, mode: 0o600)
        folder.write("worker.yaml", "broker:\n  url: amqp://h\naccounts:\n  sf-eu:\n    secret_file: secrets/sf-eu.key\nallow: {}\n", mode: 0o644)
        chmod(folder.path + "/secrets", 0o755)
        let binary = productsDirectory.appendingPathComponent("mfa-worker").path
        var arguments = ["check-config", "--config", folder.path + "/worker.yaml"]
        var executable = binary
        if getuid() == 0 {
            executable = "/usr/bin/setpriv"
            arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", binary] + arguments
        }
        let result = try run(executable, arguments)
        if result.stderr.contains("Permission denied") && result.stderr.contains("setpriv") {
            // The build folder is not reachable for nobody on this machine.
            return
        }
        #expect(result.status == 1)
        #expect(
            result.stderr
                == "Error: \(folder.path)/worker.yaml: accounts.sf-eu.secret_file (line 4): \(folder.path)/secrets/sf-eu.key is not readable by this user (uid 65534)\n"
                || getuid() != 0)
    }
}
