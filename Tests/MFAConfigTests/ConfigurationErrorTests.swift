import Foundation
import Testing

@testable import MFAConfig

/// Each broken variant gives one exact line naming the key path or the
/// account, and no message carries a secret.
@Suite("Configuration errors")
struct ConfigurationErrorTests {
    /// Writes `yaml` (and the default secret) and returns the load error.
    private func error(
        _ yaml: String,
        secret: (name: String, text: String, mode: mode_t)? = ("secrets/sf-eu.key", ConfigFixture.goodKey, 0o600),
        environment: [String: String] = [:],
        file: ConfigFixture = ConfigFixture()
    ) -> (message: String?, fixture: ConfigFixture) {
        if let secret { file.writeSecret(secret.name, secret.text, mode: secret.mode) }
        file.writeConfig(yaml)
        let message = file.loadError(environment: environment)
        if let message {
            for secret in file.secrets where !secret.isEmpty {
                #expect(!message.contains(secret), "an error message holds a secret")
            }
            #expect(!message.contains("\n"), "an error message is one line")
        }
        return (message, file)
    }

    private func expectError(
        _ yaml: String, _ expected: String, secret: (name: String, text: String, mode: mode_t)? = ("secrets/sf-eu.key", ConfigFixture.goodKey, 0o600),
        environment: [String: String] = [:]
    ) {
        let (message, fixture) = error(yaml, secret: secret, environment: environment)
        #expect(message == expected.replacingOccurrences(of: "DIR", with: fixture.directory))
    }

    @Test("An unknown key names itself, its place and the key it resembles")
    func unknownKey() {
        expectError(
            ConfigFixture.yaml(extra: "request_queue:\n  name: q\n  dead_leter_exchange: x\n"),
            "DIR/worker.yaml: request_queue.dead_leter_exchange (line 10): unknown key 'dead_leter_exchange' in request_queue (did you mean 'dead_letter_exchange'?); known keys: name, type, dead_letter_exchange, max_length, overflow"
        )
        expectError(
            ConfigFixture.yaml(extra: "alow_loose_secret_files: true"),
            "DIR/worker.yaml: alow_loose_secret_files (line 8): unknown key 'alow_loose_secret_files' at the top level (did you mean 'allow_loose_secret_files'?); known keys: broker, request_queue, reply, accounts, pools, allow, allow_loose_secret_files, allow_core_dumps, workers, log, shutdown_timeout_s, rate_limit, turns, metrics, audit"
        )
        expectError(
            ConfigFixture.yaml(accounts: "  sf-eu:\n    secret_file: secrets/sf-eu.key\n    digit: 8"),
            "DIR/worker.yaml: accounts.sf-eu.digit (line 6): unknown key 'digit' in accounts.sf-eu (did you mean 'digits'?); known keys: secret_file, secret_env, algorithm, digits, period, issue, username, site, lockout_guard"
        )
    }

    @Test("issue: a known mode, and once_per_window only with publisher confirms")
    func issueMode() {
        expectError(
            ConfigFixture.yaml(accounts: "  sf-eu:\n    secret_file: secrets/sf-eu.key\n    issue: once"),
            "DIR/worker.yaml: accounts.sf-eu.issue (line 6): must be one of shared, once_per_window, not 'once'")
        let noConfirms = ConfigFixture.yaml(accounts: "  sf-eu:\n    secret_file: secrets/sf-eu.key\n    issue: once_per_window")
            .replacingOccurrences(
                of: "  url: amqp://mfa-worker:pw@127.0.0.1:5672/%2F", with: "  url: amqp://mfa-worker:pw@127.0.0.1:5672/%2F\n  publisher_confirms: false")
        expectError(noConfirms, "DIR/worker.yaml: accounts.sf-eu.issue (line 5): once_per_window needs broker.publisher_confirms: true")
        expectError(
            ConfigFixture.yaml(extra: "reply:\n  default_max_wait_ms: 3600001"),
            "DIR/worker.yaml: reply.default_max_wait_ms (line 9): must be 0 to 3600000, not 3600001")
    }

    @Test("A missing secret file")
    func missingSecret() {
        expectError(ConfigFixture.yaml(), "DIR/worker.yaml: accounts.sf-eu.secret_file (line 4): DIR/secrets/sf-eu.key does not exist", secret: nil)
    }

    @Test("A secret variable that is not set")
    func missingSecretVariable() {
        expectError(
            ConfigFixture.yaml(accounts: "  sf-eu:\n    secret_env: SF_EU_KEY"),
            "DIR/worker.yaml: accounts.sf-eu.secret_env (line 4): environment variable SF_EU_KEY is not set or empty", secret: nil)
    }

    @Test("An unreadable secret: a folder, and bytes that are not text")
    func unreadableSecret() throws {
        let fixture = ConfigFixture()
        try FileManager.default.createDirectory(atPath: fixture.directory + "/secrets/sf-eu.key", withIntermediateDirectories: true)
        let folder = error(ConfigFixture.yaml(), secret: nil, file: fixture)
        #expect(
            folder.message
                == "\(fixture.directory)/worker.yaml: accounts.sf-eu.secret_file (line 4): \(fixture.directory)/secrets/sf-eu.key is not a regular file")

        let binary = ConfigFixture()
        _ = FileManager.default.createFile(atPath: binary.directory + "/secrets/sf-eu.key", contents: nil)
        try? FileManager.default.createDirectory(atPath: binary.directory + "/secrets", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(
            atPath: binary.directory + "/secrets/sf-eu.key", contents: Data([0xFF, 0xFE, 0x41]), attributes: [.posixPermissions: 0o600])
        let notText = error(ConfigFixture.yaml(), secret: nil, file: binary)
        #expect(
            notText.message == "\(binary.directory)/worker.yaml: accounts.sf-eu.secret_file (line 4): \(binary.directory)/secrets/sf-eu.key is not UTF-8 text")
    }

    @Test(
        "A secret file that group or others may read is refused, unless allowed",
        arguments: [0o640, 0o604, 0o644, 0o660, 0o601] as [mode_t])
    func looseSecret(mode: mode_t) {
        expectError(
            ConfigFixture.yaml(),
            "DIR/worker.yaml: accounts.sf-eu.secret_file (line 4): DIR/secrets/sf-eu.key is accessible by group or others (mode \(String(mode, radix: 8))); run chmod 600 on it, or set allow_loose_secret_files: true",
            secret: ("secrets/sf-eu.key", ConfigFixture.goodKey, mode))
        let allowed = error(ConfigFixture.yaml(extra: "allow_loose_secret_files: true"), secret: ("secrets/sf-eu.key", ConfigFixture.goodKey, mode))
        #expect(allowed.message == nil)
    }

    @Test("A key under 80 bits is refused")
    func shortKey() {
        // 15 characters: 72 bits.
        expectError(
            ConfigFixture.yaml(), "DIR/worker.yaml: accounts.sf-eu.secret_file (line 4): the key has 72 bits; at least 80 are required (RFC 4226 asks for 128)",
            secret: ("secrets/sf-eu.key", "JBSWY3DPEHPK3PI", 0o600))
    }

    @Test("A key that is not base32 names the position, not the character")
    func badKey() {
        expectError(
            ConfigFixture.yaml(),
            "DIR/worker.yaml: accounts.sf-eu.secret_file (line 4): the secret is not a valid base32 key: character 5 of the key is not base32 (A-Z and 2-7; 0, 1, 8 and 9 are not in the alphabet)",
            secret: ("secrets/sf-eu.key", "JBSW0Y3DPEHPK3PXPJBSWY3DPEHPK3PXP", 0o600))
    }

    @Test("The allowlist may name configured accounts only")
    func allowlistUnknownAccount() {
        expectError(
            ConfigFixture.yaml(allow: "  rpa-bot-1: [sf-eu, sf-us]"),
            "DIR/worker.yaml: allow.rpa-bot-1.[1] (line 7): names account 'sf-us', which is not configured under accounts or pools (did you mean 'sf-eu'?)")
    }

    @Test(
        "Values of the wrong type or out of range",
        arguments: [
            (
                "broker:\n  url: amqp://h\n  prefetch: many\naccounts: {}\nallow: {}",
                "DIR/worker.yaml: broker.prefetch (line 3): must be a whole number, not a string"
            ),
            ("broker:\n  url: amqp://h\n  prefetch: 0\naccounts: {}\nallow: {}", "DIR/worker.yaml: broker.prefetch (line 3): must be 1 to 65535, not 0"),
            ("broker:\n  url: http://h\naccounts: {}\nallow: {}", "DIR/worker.yaml: broker.url (line 2): must be an amqp:// or amqps:// URL"),
            (
                "broker:\n  url: amqp://h\naccounts: {}\nallow: {}\nrequest_queue: {type: stream}",
                "DIR/worker.yaml: request_queue.type (line 5): must be one of classic, quorum, not 'stream'"
            ),
            ("broker:\n  url: amqp://h\naccounts: {}\n", "DIR/worker.yaml: allow (line 1): is required"),
            (
                "broker:\n  url: amqp://h\naccounts:\n  bad name:\n    secret_env: X\nallow: {}",
                "DIR/worker.yaml: accounts.bad name (line 4): account names are 1 to 128 characters of A-Z a-z 0-9 . _ @ - (the protocol's syntax)"
            ),
            (
                "broker:\n  url: amqp://h\naccounts:\n  a:\n    secret_env: X\n    secret_file: y\nallow: {}",
                "DIR/worker.yaml: accounts.a.secret_file (line 6): give secret_file or secret_env, not both"
            ),
            (
                "broker:\n  url: amqp://h\naccounts:\n  a:\n    secret_env: X\n    digits: 9\nallow: {}",
                "DIR/worker.yaml: accounts.a.digits (line 6): must be 6 to 8, not 9"
            ),
            (
                "broker:\n  url: amqp://h\naccounts: {}\nallow: {}\nbroker: {}",
                "DIR/worker.yaml: line 1: key 'broker' appears twice in the mapping that starts here"
            ),
            ("broker:\n  url: amqp://h\n  - x\n", "DIR/worker.yaml: line 3: not valid YAML: did not find expected key while parsing a block mapping"),
            ("", "DIR/worker.yaml: the file is empty"),
            (
                "broker:\n  url: amqp://u:pw@h\n  password_env: PW\naccounts: {}\nallow: {}",
                "DIR/worker.yaml: broker.url (line 2): has a password while password_file or password_env is set too; keep one"
            ),
            (
                "broker:\n  url: amqp://u@h\n  password_env: PW\naccounts: {}\nallow: {}",
                "DIR/worker.yaml: broker.password_env: environment variable PW is not set or empty"
            ),
        ])
    func wrongValues(yaml: String, expected: String) {
        expectError(yaml, expected, secret: nil)
    }

    @Test("An account's parameters must agree with its otpauth URI")
    func uriConflict() {
        expectError(
            ConfigFixture.yaml(accounts: "  sf-eu:\n    secret_file: secrets/sf-eu.key\n    digits: 6"),
            "DIR/worker.yaml: accounts.sf-eu.digits (line 4): is 6 but the secret's otpauth URI says 8",
            secret: ("secrets/sf-eu.key", "otpauth://totp/x?secret=AW7CNNSIWSBVDVPJJKUUQ7U6SHT4CUUT&digits=8", 0o600))
    }

    @Test("A missing configuration file")
    func missingFile() {
        #expect(throws: ConfigurationError(file: "/nonexistent/worker.yaml", keyPath: "", message: "/nonexistent/worker.yaml does not exist")) {
            try WorkerConfiguration.load(path: "/nonexistent/worker.yaml")
        }
    }
}
