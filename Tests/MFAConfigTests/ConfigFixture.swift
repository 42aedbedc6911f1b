import Foundation

@testable import MFAConfig

/// A temporary folder with a configuration file and secret files, removed
/// when the fixture goes away.
final class ConfigFixture {
    let directory: String
    /// Every secret the fixture wrote, to check that no message holds one.
    private(set) var secrets: [String] = []

    init() {
        let template = NSTemporaryDirectory() + "mfa-config-test-XXXXXX"
        var bytes = Array(template.utf8CString)
        directory = String(cString: mkdtemp(&bytes)!)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    var configPath: String { directory + "/worker.yaml" }

    /// A 160-bit key in the form Salesforce shows.
    static let goodKey = "aw7c nnsi wsbv dvpj jkuu q7u6 sht4 cuut"

    @discardableResult
    func writeSecret(_ name: String, _ text: String = ConfigFixture.goodKey, mode: mode_t = 0o600) -> String {
        let path = directory + "/" + name
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        chmod(path, mode)
        secrets.append(text.filter { !$0.isWhitespace })
        secrets.append(text.trimmingCharacters(in: .whitespacesAndNewlines))
        return path
    }

    func writeConfig(_ yaml: String) {
        _ = FileManager.default.createFile(atPath: configPath, contents: Data(yaml.utf8))
    }

    /// A complete, valid configuration; `accounts` and `allow` replaceable.
    static func yaml(
        accounts: String = """
          sf-eu:
            secret_file: secrets/sf-eu.key
        """,
        allow: String = """
          rpa-bot-1: [sf-eu]
        """,
        extra: String = ""
    ) -> String {
        """
        broker:
          url: amqp://mfa-worker:pw@127.0.0.1:5672/%2F
        accounts:
        \(accounts)
        allow:
        \(allow)
        \(extra)
        """
    }

    /// Loads the fixture's configuration, returning the error's text if any.
    func loadError(environment: [String: String] = [:]) -> String? {
        do {
            _ = try LoadedConfiguration.load(path: configPath, environment: environment)
            return nil
        } catch {
            return error.description
        }
    }
}
