import Foundation
import TestSupport
import Testing

/// amqps:// against the TLS node of scripts/tls-node.sh (TLS on
/// localhost:5771, certificates it made with openssl): success, a wrong CA
/// refused, a wrong host name refused, EXTERNAL login, each refusal a clear
/// one-line error.
@Suite("TLS against a TLS node", .enabled(if: FaultEnvironment.enabled))
struct TLSTests {
    static let certs = ProcessInfo.processInfo.environment["MFA_TLS_DIR"] ?? "/tmp/mfa-worker-broker/tls-certs"
    static let port = 5771

    static func tlsWorker(url: String = "amqps://mfa-worker@localhost:5771/%2F", tls: String, password: String = "demo-worker-password") -> WorkerProcess {
        WorkerProcess(brokerExtra: "  tls: {\(tls)}", password: password, brokerURL: url)
    }

    func request(_ worker: WorkerProcess, _ arguments: [String]) throws -> RunResult {
        try run(
            productsDirectory.appendingPathComponent("mfa-worker").path,
            ["request", "--account", "sf-eu", "--queue", worker.queue, "--timeout", "10"] + arguments,
            environment: ["PATH": "/usr/bin:/bin"])
    }

    @Test("Worker and requester over TLS with a password; the requester's code is right")
    func passwordOverTLS() throws {
        let worker = try Self.tlsWorker(tls: "ca_file: \(Self.certs)/ca.pem").start()
        defer { worker.stop() }
        let result = try request(
            worker, ["--url", "amqps://rpa-bot-eu-1:rpa-bot-eu-1-password@localhost:\(Self.port)/%2F", "--tls-ca-file", "\(Self.certs)/ca.pem", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let reply = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let start = try #require((reply["window_start"] as? NSNumber)?.int64Value)
        #expect(reply["code"] as? String == (try worker.expectedCode(account: "sf-eu", windowStart: start)))
    }

    @Test("EXTERNAL login from client certificates, for the worker and the requester")
    func external() throws {
        let worker = try Self.tlsWorker(
            tls: "ca_file: \(Self.certs)/ca.pem, cert_file: \(Self.certs)/mfa-worker.pem, key_file: \(Self.certs)/mfa-worker.key, external: true",
            password: ""
        ).start()
        defer { worker.stop() }
        let result = try request(
            worker,
            [
                "--url", "amqps://rpa-bot-eu-1@localhost:\(Self.port)/%2F", "--tls-ca-file", "\(Self.certs)/ca.pem",
                "--tls-cert-file", "\(Self.certs)/rpa-bot-eu-1.pem", "--tls-key-file", "\(Self.certs)/rpa-bot-eu-1.key", "--tls-external",
            ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.range(of: #"^\d{6}\n$"#, options: .regularExpression) != nil)
    }

    @Test("A broker certificate from another CA is refused with one line")
    func wrongCA() throws {
        let worker = Self.tlsWorker(tls: "ca_file: \(Self.certs)/other-ca.pem")
        try worker.start(waitForConsuming: false)
        #expect(worker.waitForExit() == 1)
        #expect(worker.log == "Error: cannot connect to localhost:\(Self.port): the broker's certificate is not signed by a trusted CA\n")
    }

    @Test("A certificate that does not name the host is refused with one line")
    func wrongHostName() throws {
        let worker = Self.tlsWorker(url: "amqps://mfa-worker@127.0.0.1:5771/%2F", tls: "ca_file: \(Self.certs)/ca.pem")
        try worker.start(waitForConsuming: false)
        #expect(worker.waitForExit() == 1)
        #expect(worker.log == "Error: cannot connect to 127.0.0.1:\(Self.port): the broker's certificate does not name this host\n")
        let requester = try run(
            productsDirectory.appendingPathComponent("mfa-worker").path,
            [
                "request", "--account", "sf-eu", "--timeout", "3",
                "--url", "amqps://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:\(Self.port)/%2F", "--tls-ca-file", "\(Self.certs)/ca.pem",
            ])
        #expect(requester.status == 8)
        #expect(requester.stderr == "connection failed: cannot connect to 127.0.0.1:\(Self.port): the broker's certificate does not name this host\n")
    }

    @Test("Turning verification off works, with a warning at every start")
    func verificationOff() throws {
        let worker = try Self.tlsWorker(url: "amqps://mfa-worker@127.0.0.1:5771/%2F", tls: "verify_peer: false, verify_hostname: false").start()
        defer { worker.stop() }
        #expect(worker.log.contains("broker.tls.verify_peer is false"))
        #expect(worker.log.contains("broker.tls.verify_hostname is false"))
    }
}
