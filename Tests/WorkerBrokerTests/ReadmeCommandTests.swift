import Foundation
import TestSupport
import Testing

/// Every command the README's front page prints, run as printed from the
/// repository's root against a worker on the example configuration (the
/// worker `scripts/run.sh` would start), with `mfa-worker` on PATH.
@Suite("The README's commands, as printed", .serialized)
struct ReadmeCommandTests {
    /// The two set-up commands themselves: they install, build and (run.sh)
    /// serve until stopped, and test.sh is what runs this test.
    static let notRunHere: Set<String> = ["scripts/run.sh", "scripts/test.sh"]

    /// The shell blocks of a Markdown file, as written.
    static func shellBlocks(_ path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var blocks: [String] = [], current: [String]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.hasPrefix("```sh") {
                current = []
            } else if current != nil, line.hasPrefix("```") {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(String(line))
            }
        }
        return blocks
    }

    /// A command's program: its first word, comments dropped.
    static func program(_ line: Substring) -> String {
        String(line.split(separator: "#", maxSplits: 1).first?.split(separator: " ").first ?? "")
    }

    @Test("Each shell block of README.md runs as printed (but the two set-up commands), and says what it should")
    func readme() throws {
        let blocks = try Self.shellBlocks(repositoryRoot + "/README.md")
        #expect(blocks.count >= 2)
        // The worker of scripts/run.sh: the example configuration, its own
        // copy without the metrics listener (a developer's demo may hold
        // the port), on the default request queue.
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path + "/secrets", withIntermediateDirectories: true)
        for name in ["amqp-password", "sf-automation-eu.key"] {
            let text = try String(contentsOfFile: repositoryRoot + "/config/secrets/" + name, encoding: .utf8)
            directory.write("secrets/" + name, text, mode: 0o600)
        }
        let example = try String(contentsOfFile: repositoryRoot + "/config/worker.example.yaml", encoding: .utf8)
        directory.write("worker.yaml", example.replacingOccurrences(of: "listen: 127.0.0.1:9464", with: "listen: off"), mode: 0o600)
        let log = directory.path + "/worker.log"
        let worker = try ChildProcess(
            productsDirectory.appendingPathComponent("mfa-worker").path, ["run", "--config", directory.path + "/worker.yaml"], outputPath: log, errorPath: log)
        defer {
            worker.signal(SIGTERM)
            _ = worker.wait(timeout: 15)
        }
        let deadline = Date().addingTimeInterval(30)
        while !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("notice consuming"), Date() < deadline, worker.isRunning {
            usleep(50_000)
        }
        try #require(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("notice consuming"), "the example worker did not start")

        var ran: [String] = [], skipped: [String] = []
        for block in blocks {
            let commands = block.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("#") }
            if commands.allSatisfy({ Self.notRunHere.contains(Self.program($0)) }) {
                skipped += commands.map(String.init)
                continue
            }
            // One shell per block, as a reader pastes it: an export carries on.
            // The reader's own environment, this build's mfa-worker first.
            var environment = ProcessInfo.processInfo.environment
            environment["PATH"] = productsDirectory.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
            environment["MFA_BROKER_URL"] = nil
            let result = try run("/bin/bash", ["-euo", "pipefail", "-c", block], environment: environment, directory: repositoryRoot)
            #expect(result.status == 0, "README block failed (\(result.status)):\n\(block)\nstdout: \(result.stdout)\nstderr: \(result.stderr)")
            ran += commands.map(String.init)
            // The code block prints three codes: the worker's, the key's and pika's.
            if block.contains("mfa-worker request") {
                let codes = result.stdout.split(separator: "\n").filter { $0.count == 6 && $0.allSatisfy(\.isNumber) }
                #expect(codes.count == 3, "\(result.stdout)")
            }
        }
        print("README commands run: \(ran.count)\n  " + ran.joined(separator: "\n  ") + "\nnot run here: " + skipped.joined(separator: ", "))
        #expect(!ran.isEmpty)
    }
}
