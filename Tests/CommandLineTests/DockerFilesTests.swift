import Foundation
import TestSupport
import Testing

/// No Docker engine runs here, so docker/ is checked by reading it against
/// the code: the compose file validates, the worker's configuration passes
/// check-config, and the Dockerfile names what exists.
@Suite("docker/")
struct DockerFilesTests {
    static let docker = repositoryRoot + "/docker"

    @Test("docker-compose validates the compose file", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/docker-compose")))
    func composeValidates() throws {
        let result = try run("/usr/bin/docker-compose", ["-f", Self.docker + "/compose.yaml", "config", "-q"])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test("The container's worker.yaml passes check-config, its secrets where compose mounts them")
    func workerConfiguration() throws {
        let folder = TemporaryDirectory()
        var yaml = try String(contentsOfFile: Self.docker + "/worker.yaml", encoding: .utf8)
        let compose = try String(contentsOfFile: Self.docker + "/compose.yaml", encoding: .utf8)
        // Every /run/secrets/NAME the configuration reads is a compose secret target.
        for match in yaml.matches(of: /\/run\/secrets\/([A-Za-z0-9._-]+)/) {
            #expect(compose.contains("target: \(match.1)"), "compose mounts no secret at /run/secrets/\(match.1)")
        }
        yaml = yaml.replacingOccurrences(of: "/run/secrets/amqp-password", with: Self.docker + "/secrets/amqp-password")
        yaml = yaml.replacingOccurrences(of: "/run/secrets/sf-automation-eu.key", with: repositoryRoot + "/config/secrets/sf-automation-eu.key")
        folder.write("worker.yaml", yaml, mode: 0o644)
        let result = try mfaWorker("check-config", "--config", folder.path + "/worker.yaml")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("broker: amqp://mfa-worker@rabbitmq:5672/%2F"))
    }

    @Test("The compose file runs the worker read-only, without capabilities or new privileges; the broker's port is there to publish")
    func composeHardening() throws {
        let compose = try String(contentsOfFile: Self.docker + "/compose.yaml", encoding: .utf8)
        let worker = compose.components(separatedBy: "\n  mfa-worker:\n").dropFirst().first?.components(separatedBy: "\n  requester:").first ?? ""
        #expect(worker.contains("\n    read_only: true\n"))
        #expect(worker.contains("\n    cap_drop: [ALL]\n"))
        #expect(worker.contains(#"security_opt: ["no-new-privileges:true"]"#))
        #expect(!worker.contains("healthcheck:"), "the image's health check applies")
        let broker = compose.components(separatedBy: "\n  rabbitmq:\n").dropFirst().first?.components(separatedBy: "\n  mfa-worker:").first ?? ""
        #expect(broker.contains(#"#   - "127.0.0.1:5672:5672""#))
    }

    @Test("The Dockerfile copies what exists, runs the product it builds, and checks the health endpoint the worker serves")
    func dockerfile() throws {
        let dockerfile = try String(contentsOfFile: Self.docker + "/Dockerfile", encoding: .utf8)
        let copies = dockerfile.split(separator: "\n").filter { $0.hasPrefix("COPY ") && !$0.contains("--from") }
        #expect(copies.count == 4)
        for line in copies {
            let source = String(line.split(separator: " ")[1])
            #expect(FileManager.default.fileExists(atPath: repositoryRoot + "/" + source), "COPY \(source): no such path")
        }
        #expect(dockerfile.contains("--product mfa-worker"))
        #expect(dockerfile.contains(#"ENTRYPOINT ["mfa-worker"]"#))
        // The health check takes the port from the configuration.
        let healthcheck = dockerfile.components(separatedBy: "HEALTHCHECK ").dropFirst().first?.components(separatedBy: "\nENTRYPOINT").first ?? ""
        #expect(healthcheck.contains(#"CMD ["mfa-worker", "health""#), "\(healthcheck)")
        #expect(!healthcheck.contains("9464"))
        #expect(dockerfile.contains("EXPOSE 9464"))
        #expect(dockerfile.contains("USER 10001"))
        let yaml = try String(contentsOfFile: Self.docker + "/worker.yaml", encoding: .utf8)
        #expect(yaml.contains("listen: 0.0.0.0:9464"))
        #expect(dockerfile.contains("ENV MFA_WORKER_CONFIG=/etc/mfa-worker/worker.yaml"), "mfa-worker health finds the configuration")
        // The runtime packages provide what the binary links.
        #expect(dockerfile.contains("librabbitmq4") && dockerfile.contains("libssl3"))
    }
}
