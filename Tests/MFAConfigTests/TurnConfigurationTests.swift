import Foundation
import TOTP
import Testing

@testable import MFAConfig

/// `turns:` and the turn queues' names.
@Suite("Configuration: turns")
struct TurnConfigurationTests {
    static let once = "  sf-eu:\n    secret_file: secrets/sf-eu.key\n    issue: once_per_window"

    func load(_ yaml: String) throws -> LoadedConfiguration {
        let fixture = ConfigFixture()
        fixture.writeSecret("secrets/sf-eu.key")
        fixture.writeConfig(yaml)
        return try LoadedConfiguration.load(path: fixture.configPath, environment: [:])
    }

    func error(_ yaml: String) -> String {
        let fixture = ConfigFixture()
        fixture.writeSecret("secrets/sf-eu.key")
        fixture.writeConfig(yaml)
        return fixture.loadError()?.replacingOccurrences(of: fixture.directory, with: "DIR") ?? "no error"
    }

    @Test("Defaults: 3 windows per requester; the worker's own login is the only one believed")
    func defaults() throws {
        let loaded = try load(ConfigFixture.yaml(accounts: Self.once))
        #expect(loaded.configuration.turns == TurnSettings(maxPerRequester: 3, workerLogins: nil))
        #expect(loaded.configuration.broker.login == "mfa-worker")
        #expect(loaded.workerLogins == ["mfa-worker"])
    }

    @Test("Replicas that log in as other users are named under worker_logins, the worker's own among them")
    func workerLogins() throws {
        let loaded = try load(ConfigFixture.yaml(accounts: Self.once, extra: "turns:\n  max_per_requester: 1\n  worker_logins: [mfa-worker, mfa-worker-dc2]"))
        #expect(loaded.configuration.turns == TurnSettings(maxPerRequester: 1, workerLogins: ["mfa-worker", "mfa-worker-dc2"]))
        #expect(loaded.workerLogins == ["mfa-worker", "mfa-worker-dc2"])
    }

    @Test("A worker login that is a requester, a list without the worker's own, a worker allowed as a requester, URLs with two users: refused")
    func refused() {
        #expect(
            error(ConfigFixture.yaml(accounts: Self.once, extra: "turns:\n  worker_logins: [mfa-worker, rpa-bot-1]"))
                == "DIR/worker.yaml: turns.worker_logins.[1] (line 10): names 'rpa-bot-1', a requester under allow: a worker login must be a user no robot logs in as"
        )
        #expect(
            error(ConfigFixture.yaml(accounts: Self.once, extra: "turns:\n  worker_logins: [other-worker]"))
                == "DIR/worker.yaml: turns.worker_logins (line 10): must include the worker's own login 'mfa-worker' (broker.url): its own records are among the messages it reads"
        )
        #expect(
            error(ConfigFixture.yaml(accounts: Self.once, extra: "turns:\n  max_per_requester: 0"))
                == "DIR/worker.yaml: turns.max_per_requester (line 10): must be 1 to 10000, not 0")
        #expect(
            error(ConfigFixture.yaml(allow: "  mfa-worker: [sf-eu]"))
                == "DIR/worker.yaml: allow: names the worker's own broker user 'mfa-worker' as a requester; a requester must log in as a user of its own")
        #expect(
            error(
                ConfigFixture.yaml().replacingOccurrences(
                    of: "  url: amqp://mfa-worker:pw@127.0.0.1:5672/%2F", with: "  url: [amqp://mfa-worker:pw@n1/, amqp://other:pw@n2/]"))
                == "DIR/worker.yaml: broker.url (line 2): every URL must log in as the same user: the worker publishes with its login as user_id")
    }

    @Test(
        "A turn queue's name is HMAC-SHA256 of the account under its own key: the same for every replica, different per key and per account, and computed as openssl computes it"
    )
    func turnQueueName() throws {
        let key = SecretKey(bytes: Array("12345678901234567890".utf8))
        let queue = RequestQueueSettings(name: "mfa-code-request")
        let name = queue.turnQueueName(account: "sf-eu", key: key)
        #expect(name.hasPrefix("mfa-code-request.turns."))
        #expect(name.utf8.count == "mfa-code-request".utf8.count + RequestQueueSettings.turnQueueSuffixBytes)
        #expect(!name.contains("sf-eu"))
        #expect(name == queue.turnQueueName(account: "sf-eu", key: SecretKey(bytes: Array("12345678901234567890".utf8))))
        #expect(name != queue.turnQueueName(account: "sf-us", key: key))
        #expect(name != queue.turnQueueName(account: "sf-eu", key: SecretKey(bytes: Array("12345678901234567891".utf8))))

        // An implementation that shares nothing with ours: openssl's CLI.
        let message = NSTemporaryDirectory() + "turn-name-\(UUID().uuidString)"
        try Data("mfa-worker turn queue v1\u{0}sf-eu".utf8).write(to: URL(fileURLWithPath: message))
        defer { try? FileManager.default.removeItem(atPath: message) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:" + "12345678901234567890".utf8.map { String(format: "%02x", $0) }.joined(), "-r", message,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let hex = String(output.prefix(32))
        #expect(hex.count == 32)
        #expect(name == "mfa-code-request.turns." + hex)
    }

    @Test("A loaded configuration knows each once_per_window account's turn queue, and no other")
    func loadedQueues() throws {
        let loaded = try load(ConfigFixture.yaml(accounts: Self.once + "\n  other:\n    secret_file: secrets/sf-eu.key", allow: "  rpa-bot-1: [sf-eu, other]"))
        #expect(Array(loaded.turnQueues.keys) == ["sf-eu"])
        #expect(loaded.turnQueues["sf-eu"] == loaded.configuration.requestQueue.turnQueueName(account: "sf-eu", key: loaded.accounts["sf-eu"]!.generator.key))
    }
}

/// Secret files: resolved once, checked on the opened descriptor, read from it.
@Suite("Secret files")
struct SecretFileTests {
    func read(_ path: String, allowLoose: Bool = false) -> String {
        do {
            var bytes = try SecretFile.read(path: path, allowLoose: allowLoose) { ConfigurationError(keyPath: "k", message: $0) }
            defer { SecretBytes.wipe(&bytes) }
            return "read \(bytes.count) bytes"
        } catch {
            return error.message
        }
    }

    @Test("A regular 0600 file is read; group or other bits only with allow_loose; a folder others may write never, unless sticky")
    func rules() throws {
        let fixture = ConfigFixture()
        let key = fixture.writeSecret("secrets/a.key", "JBSWY3DPEHPK3PXP")
        #expect(read(key) == "read 16 bytes")
        chmod(key, 0o640)
        #expect(read(key).hasSuffix("is accessible by group or others (mode 640); run chmod 600 on it, or set allow_loose_secret_files: true"))
        #expect(read(key, allowLoose: true) == "read 16 bytes")
        chmod(key, 0o600)
        chmod(fixture.directory + "/secrets", 0o777)
        #expect(read(key, allowLoose: true).contains("which group or others may write (mode 777)"))
        chmod(fixture.directory + "/secrets", 0o1777)
        #expect(read(key) == "read 16 bytes")
        chmod(fixture.directory + "/secrets", 0o700)
        #expect(read(fixture.directory + "/secrets").hasSuffix("is not a regular file"))
    }

    @Test("A link is followed once, and both folders are checked")
    func links() throws {
        let fixture = ConfigFixture()
        let key = fixture.writeSecret("real/a.key", "JBSWY3DPEHPK3PXP")
        let link = fixture.directory + "/a.key"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: key)
        #expect(read(link) == "read 16 bytes")
        chmod(fixture.directory + "/real", 0o757)
        #expect(read(link).contains("real/a.key is in the folder \(fixture.directory)/real, which group or others may write"))
    }

    @Test("A key read from bytes: base32 and otpauth URIs, as from text")
    func keyFromBytes() throws {
        let base32 = try KeyText(utf8: Array("  jbsw y3dp ehpk 3pxp\n".utf8))
        #expect(base32.key.constantTimeEquals(try KeyText("JBSWY3DPEHPK3PXP").key) && base32.uriParameters == nil)
        let uri = try KeyText(utf8: Array("OTPAUTH://totp/x?secret=JBSWY3DPEHPK3PXP&digits=8".utf8))
        #expect(uri.uriParameters?.digits == 8)
        #expect(throws: KeyTextError.self) { try KeyText(utf8: Array("JBSWY3DPEHPK3PX1".utf8)) }
    }
}

/// Which changes a reload applies, refuses, or leaves for a restart.
@Suite("Reload plans")
struct ReloadPlanTests {
    func load(_ yaml: String, fixture: ConfigFixture) throws -> LoadedConfiguration {
        fixture.writeConfig(yaml)
        return try LoadedConfiguration.load(path: fixture.configPath, environment: [:])
    }

    @Test("Accounts, allow, reply and rates apply; broker, log and the others wait for a restart; once_per_window changes are refused")
    func plans() throws {
        let fixture = ConfigFixture()
        fixture.writeSecret("secrets/sf-eu.key")
        fixture.writeSecret("secrets/other.key", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        let running = try load(ConfigFixture.yaml(), fixture: fixture)
        #expect(ReloadPlan(running: running, next: running) == .apply(needsRestart: []))
        let widened = try load(
            ConfigFixture.yaml(
                accounts: "  sf-eu:\n    secret_file: secrets/sf-eu.key\n  other:\n    secret_file: secrets/other.key", allow: "  rpa-bot-1: [sf-eu, other]",
                extra: "reply: {default_min_validity_ms: 0}"), fixture: fixture)
        #expect(ReloadPlan(running: running, next: widened) == .apply(needsRestart: []))
        let moved = try load(
            ConfigFixture.yaml(extra: "log: {level: debug}\nworkers: 3\nturns: {max_per_requester: 5}").replacingOccurrences(
                of: "127.0.0.1:5672", with: "127.0.0.1:5673"), fixture: fixture)
        #expect(ReloadPlan(running: running, next: moved) == .apply(needsRestart: ["broker", "workers", "log", "turns"]))
        let switched = try load(ConfigFixture.yaml(accounts: "  sf-eu:\n    secret_file: secrets/sf-eu.key\n    issue: once_per_window"), fixture: fixture)
        guard case .refuse = ReloadPlan(running: running, next: switched) else {
            Issue.record("a switch to once_per_window applied")
            return
        }
        // A new key of a once_per_window account: a new turn queue name.
        fixture.writeSecret("secrets/sf-eu.key", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ")
        let rekeyed = try load(ConfigFixture.yaml(accounts: "  sf-eu:\n    secret_file: secrets/sf-eu.key\n    issue: once_per_window"), fixture: fixture)
        guard case .refuse = ReloadPlan(running: switched, next: rekeyed) else {
            Issue.record("a new key of a once_per_window account applied")
            return
        }
    }
}
