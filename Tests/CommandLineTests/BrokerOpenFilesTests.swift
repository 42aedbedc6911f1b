import Foundation
import TestSupport
import Testing

/// The open-files limit RabbitMQ gets: scripts/broker.sh raises it before
/// it starts a node (scripts/lib/open-files.sh), and docker/compose.yaml
/// asks Docker for it; both say so when they get less.
@Suite("The broker's open-files limit")
struct BrokerOpenFilesTests {
    /// Runs `raise_open_files WANT` in a shell whose limits `setup` sets first;
    /// returns its output and the soft limit it left.
    static func raise(want: Int, setup: String) throws -> (stdout: String, stderr: String, soft: String) {
        let script = "\(setup); . '\(repositoryRoot)/scripts/lib/open-files.sh'; raise_open_files \(want) 'broker: test'; echo \"soft=$(ulimit -Sn)\""
        let result = try run("/bin/bash", ["-c", script])
        #expect(result.status == 0, "\(result.stderr)")
        let soft = result.stdout.split(separator: "\n").last { $0.hasPrefix("soft=") }.map { String($0.dropFirst(5)) } ?? ""
        return (result.stdout, result.stderr, soft)
    }

    @Test("Under the hard limit: the soft limit rises to what is wanted, and start says so in one line")
    func raisesToWanted() throws {
        let result = try Self.raise(want: 900, setup: "ulimit -Sn 256")
        #expect(result.soft == "900")
        #expect(result.stdout.contains("broker: test: open files limit 900\n"))
        #expect(result.stderr.isEmpty)
    }

    @Test("Above a hard limit that cannot be raised: the hard limit, and a warning that says how far it goes")
    func warnsAtTheHardLimit() throws {
        // A hard limit lowered in this shell cannot be raised again without
        // CAP_SYS_RESOURCE; as root with it, the shell raises it and gets 65536.
        let result = try Self.raise(want: 65536, setup: "ulimit -Sn 256; ulimit -Hn 1024")
        if result.soft == "65536" {
            #expect(result.stderr.isEmpty)
        } else {
            #expect(result.soft == "1024")
            #expect(
                result.stderr
                    == "broker: test: WARNING: only 1024 open files (hard limit 1024, wanted 65536): at most about 824 connections; raise the hard limit (ulimit -Hn as root, LimitNOFILE= in a systemd unit, nofile in /etc/security/limits.d/)\n"
            )
        }
    }

    @Test("broker.sh raises the limit before it starts the node")
    func brokerScriptUsesIt() throws {
        let script = try String(contentsOfFile: repositoryRoot + "/scripts/broker.sh", encoding: .utf8)
        let raise = try #require(script.range(of: "raise_open_files \"${MFA_BROKER_OPEN_FILES:-65536}\""))
        let server = try #require(script.range(of: "\"$bin/rabbitmq-server\" -detached"))
        #expect(raise.lowerBound < server.lowerBound)
    }

    @Test("docker/compose.yaml gives RabbitMQ 65536 open files, and its entry point warns when it got fewer")
    func compose() throws {
        let compose = try String(contentsOfFile: repositoryRoot + "/docker/compose.yaml", encoding: .utf8)
        let broker = compose.components(separatedBy: "\n  rabbitmq:\n").dropFirst().first?.components(separatedBy: "\n  mfa-worker:").first ?? ""
        #expect(broker.contains("\n    ulimits:\n      nofile:\n        soft: 65536\n        hard: 65536\n"))
        // The entry point's check, run with a lower limit (compose's $$ is a $).
        let lines = broker.components(separatedBy: "      - >-\n").dropFirst().first?.components(separatedBy: "\n      - docker-entrypoint.sh").first ?? ""
        let snippet = lines.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
            .replacingOccurrences(of: "$$", with: "$").replacingOccurrences(of: "docker-entrypoint.sh", with: "echo started")
        #expect(snippet.contains("exec echo started \"$@\""), "\(snippet)")
        let low = try run("/bin/sh", ["-c", "ulimit -n 4096; /bin/sh -c '\(snippet)' docker-entrypoint.sh rabbitmq-server"])
        #expect(low.stdout == "started rabbitmq-server\n")
        #expect(low.stderr == "rabbitmq: WARNING: only 4096 open files (wanted 65536): at most about 3896 connections\n")
        #expect(broker.contains(#"command: ["rabbitmq-server"]"#))
    }
}
