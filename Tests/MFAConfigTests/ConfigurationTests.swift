import Foundation
import MFABroker
import TOTP
import Testing

@testable import MFAConfig

@Suite("Configuration: the example and a full file")
struct ConfigurationTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test("The example configuration that the repository ships loads")
    func exampleLoads() throws {
        let loaded = try LoadedConfiguration.load(path: Self.repositoryRoot + "/config/worker.example.yaml", environment: [:])
        #expect(loaded.accounts["sf-automation-eu"]?.parameters == .default)
        #expect(loaded.configuration.allow.permits(requester: "rpa-bot-eu-1", account: "sf-automation-eu"))
        #expect(!loaded.configuration.allow.permits(requester: "rpa-bot-eu-1", account: "other"))
        #expect(loaded.configuration.requestQueue.name == "mfa-code-request")
        #expect(loaded.brokerPassword?.text == "demo-worker-password")
        #expect("\(loaded.brokerPassword!)" == "***")
    }

    @Test("The pool example loads: a pool of three once_per_window users with one turn queue, and one user on its own")
    func poolExampleLoads() throws {
        let loaded = try LoadedConfiguration.load(path: Self.repositoryRoot + "/config/pool.example.yaml", environment: [:])
        #expect(loaded.pools["sf-pool-eu"]?.members == ["sf-pool-eu-1", "sf-pool-eu-2", "sf-pool-eu-3"])
        #expect(loaded.turnGroups.map(\.accounts).sorted { $0.count < $1.count } == [["sf-solo-eu"], ["sf-pool-eu-1", "sf-pool-eu-2", "sf-pool-eu-3"]])
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
        #expect(loaded.configuration.requestQueue.name == "mfa-code-request-pools")
    }

    @Test func everyKey() throws {
        let fixture = ConfigFixture()
        fixture.writeSecret("k/a.key")
        fixture.writeSecret("pw", "s3cret\n")
        fixture.writeConfig(
            """
            broker:
              url: [amqp://w@node1:5672/prod, "amqps://w@node2/%2F"]
              password_file: pw
              prefetch: 10
              heartbeat_s: 5
              consumer_timeout_ms: 600000
            request_queue:
              name: codes
              type: quorum
              dead_letter_exchange: codes.dlx
              max_length: 1000
              overflow: reject-publish
            reply:
              max_ttl_ms: 20000
              default_min_validity_ms: 3000
              default_max_wait_ms: 90000
            workers: 4
            log: {format: json, level: debug}
            accounts:
              a.b@c-d_e:
                secret_file: k/a.key
                algorithm: sha256
                digits: 8
                period: 60
                issue: once_per_window
              env-account:
                secret_env: MY_KEY
            allow:
              robot: [a.b@c-d_e, env-account]
              idle: []
            """)
        let loaded = try LoadedConfiguration.load(
            path: fixture.configPath,
            environment: ["MY_KEY": "otpauth://totp/x?secret=\(ConfigFixture.goodKey.replacingOccurrences(of: " ", with: ""))&digits=7"])
        let configuration = loaded.configuration
        #expect(configuration.broker.urls.map(\.host) == ["node1", "node2"])
        #expect(configuration.broker.urls[1].port == 5671)
        #expect(configuration.broker.urls[0].vhost == "prod")
        #expect(configuration.broker.urls[1].vhost == "/")
        #expect(loaded.brokerPassword?.text == "s3cret")
        #expect(configuration.broker.prefetch == 10)
        #expect(configuration.broker.heartbeatSeconds == 5)
        #expect(configuration.broker.consumerTimeoutMilliseconds == 600_000)
        #expect(
            configuration.requestQueue
                == RequestQueueSettings(name: "codes", type: .quorum, deadLetterExchange: "codes.dlx", maxLength: 1000, overflow: .rejectPublish))
        #expect(configuration.reply == ReplySettings(maxTTLMilliseconds: 20000, defaultMinValidityMilliseconds: 3000, defaultMaxWaitMilliseconds: 90000))
        #expect(loaded.accounts["a.b@c-d_e"]?.issue == .oncePerWindow)
        #expect(loaded.accounts["env-account"]?.issue == .shared)
        #expect(loaded.oncePerWindowAccounts == ["a.b@c-d_e"])
        #expect(configuration.workers == 4)
        #expect(configuration.log == LogSettings(format: .json, level: .debug))
        #expect(loaded.accounts["a.b@c-d_e"]?.parameters == (try TOTPParameters(algorithm: .sha256, digits: 8, period: 60)))
        #expect(loaded.accounts["env-account"]?.parameters == (try TOTPParameters(digits: 7)))
        #expect(configuration.allow.accounts(of: "robot") == ["a.b@c-d_e", "env-account"])
        #expect(configuration.allow.accounts(of: "idle") == [])
    }

    @Test("A 80-to-127-bit key loads with a warning")
    func weakKeyWarns() throws {
        let fixture = ConfigFixture()
        fixture.writeSecret("secrets/sf-eu.key", "JBSWY3DPEHPK3PXP")
        fixture.writeConfig(ConfigFixture.yaml())
        let loaded = try LoadedConfiguration.load(path: fixture.configPath, environment: [:])
        #expect(loaded.warnings == ["accounts.sf-eu: the key has 80 bits, under the 128 that RFC 4226 asks for"])
    }

    @Test func brokerURLs() throws {
        let url = try BrokerURL(parsing: "amqp://us%40er:p%3Ass@[::1]:5673/v%2Fh")
        #expect(url.user == "us@er")
        #expect(url.password == "p:ss")
        #expect(url.host == "::1")
        #expect(url.port == 5673)
        #expect(url.vhost == "v/h")
        #expect(url.description == "amqp://us%40er:***@[::1]:5673/v%2Fh")
        #expect(!String(reflecting: url).contains("p:ss"))
        #expect(try BrokerURL(parsing: "amqp://localhost").vhost == "/")
        #expect(throws: BrokerURLError.notAnAMQPURL) { try BrokerURL(parsing: "http://localhost") }
        #expect(throws: BrokerURLError.badPort) { try BrokerURL(parsing: "amqp://localhost:99999") }
        #expect(throws: BrokerURLError.queryNotSupported) { try BrokerURL(parsing: "amqp://localhost/?heartbeat=5") }
    }
}
