import Foundation
import TestSupport
import Testing

/// burst's and burst-merge's command lines, without a broker: each refusal
/// is one line that says what to give instead.
@Suite("mfa-worker burst and burst-merge: the command line")
struct BurstCommandTests {
    static let url = ["--url", "amqp://rpa-bot-eu-1@127.0.0.1:1/%2F", "--account", "sf-eu"]

    @Test("--help names the open loop's options and says each default once")
    func help() throws {
        let help = try mfaWorker("burst", "--help").stdout
        for option in ["--rate <r>", "--duration <time>", "--ramp <time>", "--report <file.html>"] { #expect(help.contains(option), "\(option)") }
        #expect(!help.contains("(default 1). (default: 1)"))
        #expect(help.contains("--connections <k>       Connections. (default: 1)"))
        #expect(try mfaWorker("--help").stdout.contains("burst-merge"))
    }

    @Test(
        "Open-loop options that are missing or do not belong are refused before connecting",
        arguments: [
            (["--rate", "200"], "Error: --rate needs --duration (30s, 2m, ...)"),
            (["--rate", "200", "--duration", "10x"], "Error: --duration must be a time like 30s, 2m or 1m30s, not '10x'"),
            (["--rate", "fast", "--duration", "10s"], "Error: --rate must be R or A:B requests per second, up to 100000 (A may be 0), not 'fast'"),
            (["--rate", "10:100", "--duration", "10s"], "Error: --rate A:B needs --ramp (how long the rate takes from A to B)"),
            (["--rate", "100", "--ramp", "5s", "--duration", "10s"], "Error: --ramp goes with --rate A:B (the rates it rises between)"),
            (["--rate", "10:100", "--ramp", "20s", "--duration", "10s"], "Error: --ramp must be a time within --duration, like 10s, not '20s'"),
            (
                ["--rate", "200", "--duration", "10s", "--inflight", "5"],
                "Error: --inflight has no meaning in open loop: requests go out on the schedule whatever is in flight"
            ),
            (["--rate", "200", "--duration", "10s", "--requests", "5"], "Error: --requests has no meaning in open loop: --rate and --duration make the count"),
            (
                ["--rate", "200", "--duration", "10s", "--at-once"],
                "Error: --at-once has no meaning in open loop: the schedule starts once every connection is ready"
            ),
            (["--duration", "10s"], "Error: --duration and --ramp go with --rate (open loop)"),
        ])
    func refusals(arguments: [String], message: String) throws {
        let result = try run(productsDirectory.appendingPathComponent("mfa-worker").path, ["burst"] + Self.url + arguments)
        #expect(result.status == 64)
        #expect(result.stderr.hasPrefix(message + "\n"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test("burst-merge refuses what it cannot read, and what burst --json did not write, in one line each")
    func mergeRefusals() throws {
        let folder = TemporaryDirectory()
        let missing = try mfaWorker("burst-merge", folder.path + "/none.json")
        #expect(missing.status == 1 && missing.stderr == "Error: cannot read \(folder.path)/none.json\n")
        let other = folder.write("other.json", #"{"status":"ok"}"#)
        let wrong = try mfaWorker("burst-merge", other)
        #expect(wrong.status == 1 && wrong.stderr == "Error: \(other) is not a report of this version of burst --json: it has no 'connections'\n")
        let text = folder.write("text.json", "burst: 3 requests")
        #expect(try mfaWorker("burst-merge", text).stderr == "Error: \(text) is not a report of burst --json\n")
        #expect(try mfaWorker("burst-merge").status == 64)
    }
}
