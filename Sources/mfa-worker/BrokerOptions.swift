import AMQP
import ArgumentParser
import Foundation
import MFABroker
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

    @Option(help: ArgumentHelp("amqps: CA certificates (PEM) the broker's certificate must chain to.", valueName: "path"))
    var tlsCaFile: String?

    @Option(help: ArgumentHelp("amqps: a client certificate (PEM).", valueName: "path"))
    var tlsCertFile: String?

    @Option(help: ArgumentHelp("amqps: the client certificate's key (PEM).", valueName: "path"))
    var tlsKeyFile: String?

    @Flag(help: "amqps: log in with the client certificate (EXTERNAL) instead of a password.")
    var tlsExternal = false

    @Flag(help: "amqps: do not check the broker's certificate (insecure).")
    var tlsNoVerifyPeer = false

    @Flag(help: "amqps: do not check that the certificate names the broker's host (insecure).")
    var tlsNoVerifyHostname = false

    @OptionGroup var config: ConfigOption

    /// The client configuration these options describe.
    func clientConfiguration(connectionName: String) throws -> MFAClientConfiguration {
        let environment = ProcessInfo.processInfo.environment
        var urls: [BrokerURL]
        var requestQueue = queue ?? RequestQueueSettings.defaultName
        var tls = ConnectionSettings.TLS(
            caFile: tlsCaFile, certFile: tlsCertFile, keyFile: tlsKeyFile,
            verifyPeer: !tlsNoVerifyPeer, verifyHostname: !tlsNoVerifyHostname
        )
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
                url.password = nil  // the worker's own, not the requester's
                return url
            }
            if queue == nil { requestQueue = configuration.requestQueue.name }
            // The broker's CA and checks, not the worker's own certificate.
            if tlsCaFile == nil { tls.caFile = configuration.broker.tls.caFile }
            tls.verifyPeer = tls.verifyPeer && configuration.broker.tls.verifyPeer
            tls.verifyHostname = tls.verifyHostname && configuration.broker.tls.verifyHostname
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
        if (tlsCertFile == nil) != (tlsKeyFile == nil) {
            throw CommandFailure("--tls-cert-file and --tls-key-file go together")
        }
        if tlsExternal && tlsCertFile == nil {
            throw CommandFailure("--tls-external needs --tls-cert-file and --tls-key-file")
        }
        if tlsNoVerifyPeer || tlsNoVerifyHostname {
            StandardError.print("warning: TLS \(tlsNoVerifyPeer ? "peer" : "host name") verification is off: anyone on the path can pose as the broker")
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
        return MFAClientConfiguration(
            urls: urls, password: password, tls: tls, externalLogin: tlsExternal,
            requestQueue: requestQueue, connectionName: connectionName
        )
    }
}
