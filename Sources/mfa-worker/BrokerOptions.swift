import AMQP
import ArgumentParser
import Foundation
import MFAClient
import MFAConfig

/// How a requester reaches the broker: `--url`, `MFA_BROKER_URL`, or the
/// configuration's broker with `--user`; the password from a file, a
/// variable or the URL (never an argument of its own, where `ps` shows it).
struct BrokerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The broker: amqp[s]://USER@HOST:PORT/VHOST. Default: $MFA_BROKER_URL, else the configuration's broker.", valueName: "url"))
    var url: String?

    @Option(help: ArgumentHelp("The requester's AMQP user (overrides the URL's).", valueName: "name"))
    var user: String?

    @Option(help: ArgumentHelp("A file holding the requester's password.", valueName: "path"))
    var passwordFile: String?

    @Option(help: ArgumentHelp("An environment variable holding the requester's password.", valueName: "name"))
    var passwordEnv: String?

    @Option(help: ArgumentHelp("The worker's request queue (default: the configuration's, else mfa-code-request).", valueName: "name"))
    var queue: String?

    @OptionGroup var config: ConfigOption

    /// The client configuration these options describe.
    func clientConfiguration(connectionName: String) throws -> MFAClientConfiguration {
        let environment = ProcessInfo.processInfo.environment
        var urls: [BrokerURL]
        var requestQueue = queue ?? RequestQueueSettings.defaultName
        if let text = url ?? environment["MFA_BROKER_URL"].flatMap({ $0.isEmpty ? nil : $0 }) {
            do {
                urls = try text.split(separator: ",").map { try BrokerURL(parsing: String($0).trimmingCharacters(in: .whitespaces)) }
            } catch {
                throw CommandFailure("the broker URL \(error)")
            }
        } else if let path = config.path {
            let configuration = try WorkerConfiguration.load(path: path)
            urls = configuration.broker.urls.map { url in
                var url = url
                url.password = nil // the worker's own, not the requester's
                return url
            }
            if queue == nil { requestQueue = configuration.requestQueue.name }
        } else {
            throw CommandFailure("no broker: give --url, set MFA_BROKER_URL, or give --config")
        }
        if let user {
            urls = urls.map { url in
                var url = url
                url.user = user
                return url
            }
        }
        guard urls.allSatisfy({ $0.user != nil }) else {
            throw CommandFailure("no requester user: put it in the URL (amqp://USER@host/) or give --user")
        }
        var password: String?
        if let passwordFile {
            guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
                throw CommandFailure("cannot read the password file \(passwordFile)")
            }
            password = text.hasSuffix("\n") ? String(text.dropLast()) : text
        } else if let passwordEnv {
            guard let value = environment[passwordEnv], !value.isEmpty else {
                throw CommandFailure("environment variable \(passwordEnv) is not set or empty")
            }
            password = value
        }
        return MFAClientConfiguration(urls: urls, password: password, requestQueue: requestQueue, connectionName: connectionName)
    }
}
