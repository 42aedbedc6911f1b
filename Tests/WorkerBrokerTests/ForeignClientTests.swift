import Foundation
import TestSupport
import Testing

/// The example programs in examples/: clients written from the protocol
/// alone, in other languages and with AMQP libraries nobody here wrote (pika,
/// RabbitMQ's Java client, amqp091-go, Mono's RabbitMQ.Client): the proof that
/// the contract is the protocol and not our code. Each is built as
/// examples/README.md says and run against a real worker; each must behave
/// the same: the code on stdout, one line on stderr and an exit status per
/// failure, the broker URL from MFA_BROKER_URL.
@Suite("Example clients in other languages against the worker")
struct ForeignClientTests {
    static let robotURL = "amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:\(Broker.port)/%2F"

    @Test("Right code, refusals, busy and the fast failures, each with its line and exit status", arguments: ExampleProgram.all)
    func example(_ program: ExampleProgram) throws {
        let folder = TemporaryDirectory()
        let command = try program.build(folder.path)
        // The user's PATH and HOME: the Python that has pika may be anyone's.
        let environment = ProcessInfo.processInfo.environment
        let base = ["PATH": environment["PATH"] ?? "/usr/bin:/bin", "HOME": environment["HOME"] ?? folder.path]
        func get(_ arguments: [String], url: String = Self.robotURL) throws -> RunResult {
            try run(command[0], Array(command.dropFirst()) + arguments, environment: base.merging(["MFA_BROKER_URL": url]) { $1 })
        }

        let worker = try WorkerProcess(
            accounts: ["sf-eu": (30, 6, "SHA1"), "other": (30, 6, "SHA1"), "once": (3600, 6, "SHA1")],
            allow: ["rpa-bot-eu-1": ["sf-eu", "once"]],
            // A code at once, whatever is left of its window: these runs
            // test the clients, not the wait for a fresh window.
            extra: "reply: {default_min_validity_ms: 0}",
            oncePerWindow: ["once"]
        ).start()
        let idle = try ClientTests.declareIdleQueue()
        defer {
            worker.stop()
            ClientTests.deleteQueues([worker.queue, worker.turnQueue("once"), idle])
        }

        let ok = try get(["--account", "sf-eu", "--queue", worker.queue, "--json"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stderr.isEmpty)
        // Failures say what is wrong without printing a code.
        let reply = try #require(try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any], "--json printed no JSON object")
        let start = try #require((reply["window_start"] as? NSNumber)?.int64Value)
        let right = try reply["code"] as? String == worker.expectedCode(account: "sf-eu", windowStart: start)
        #expect(right, "not the code of the worker's key for its window")
        if let properties = reply["_properties"] as? [String: Any] {
            // pika's --json also shows the reply's AMQP properties.
            #expect(properties["delivery_mode"] as? Int == 1)
            #expect(properties["type"] as? String == "mfa-code-reply")
            #expect(properties["content_type"] as? String == "application/json")
            #expect(properties["user_id"] as? String == "mfa-worker")
        }
        let plain = try get(["--account", "sf-eu", "--queue", worker.queue, "--min-validity-ms", "0"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.range(of: #"^\d{6}\n$"#, options: .regularExpression) != nil)

        let forbidden = try get(["--account", "other", "--queue", worker.queue])
        #expect(forbidden.status == 2)
        #expect(forbidden.stderr == "forbidden: requester is not allowed this account, or there is no such account\n")
        #expect(forbidden.stdout.isEmpty)

        let bad = try get(["--account", "sf-eu", "--min-validity-ms", "40000", "--queue", worker.queue])
        #expect(bad.status == 3)
        #expect(bad.stderr == "bad_request: min_validity_ms must be at most 29000 for this account\n")

        // A once_per_window account with hour-long windows: the hour's code
        // goes to the first request; the next window opens later than the
        // second one waits (its max_wait_ms), so it is busy at once.
        let first = try get(["--account", "once", "--queue", worker.queue, "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let onceReply = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any], "--json printed no JSON object")
        let onceStart = try #require((onceReply["window_start"] as? NSNumber)?.int64Value)
        let onceRight = try onceReply["code"] as? String == worker.expectedCode(account: "once", windowStart: onceStart)
        #expect(onceRight, "not the code of the worker's key for its window")
        let busy = try get(["--account", "once", "--queue", worker.queue])
        #expect(busy.status == 9, "\(busy.stderr)")
        #expect(busy.stderr.range(of: #"^busy: .* \(retry after \d+ ms\)\n$"#, options: .regularExpression) != nil, "\(busy.stderr)")

        // Nobody to answer: said at once. Each run may wait 30 s, three times
        // the 10 s default; these lines and statuses come only from the
        // checks before the request, never from a timeout (that says "timeout").
        let noWorker = try get(["--account", "sf-eu", "--queue", idle, "--timeout", "30"])
        #expect(noWorker.status == 7)
        #expect(noWorker.stderr == "no worker is consuming \(idle)\n")
        // Something consumes but does not answer (a slow worker): the whole
        // timeout, then 7.
        let silent = try ClientTests.declareSilentWorker()
        defer {
            silent.consumer.close()
            ClientTests.deleteQueues([silent.queue])
        }
        let slow = try get(["--account", "sf-eu", "--queue", silent.queue, "--timeout", "1"])
        #expect(slow.status == 7)
        #expect(slow.stderr == "timeout: no reply within 1.0 s\n")
        let missing = Broker.uniqueQueueName("missing")
        let noQueue = try get(["--account", "sf-eu", "--queue", missing, "--timeout", "30"])
        #expect(noQueue.status == 1)
        #expect(noQueue.stderr == "the request queue \(missing) does not exist\n")
        let refused = try get(["--account", "sf-eu", "--timeout", "30"], url: "amqp://rpa-bot-eu-1:rpa-bot-eu-1-password@127.0.0.1:1/%2F")
        #expect(refused.status == 1)
        #expect(refused.stderr == "connection refused: is RabbitMQ running on 127.0.0.1:1?\n")
        let wrong = try get(["--account", "sf-eu", "--queue", worker.queue], url: "amqp://rpa-bot-eu-1:wrong@127.0.0.1:\(Broker.port)/%2F")
        #expect(wrong.status == 1)
        #expect(wrong.stderr == "login refused for user 'rpa-bot-eu-1': check the password in MFA_BROKER_URL\n")
        #expect(!wrong.stderr.contains("wrong"))

        // Usage errors are 1, never 2 (forbidden); the URL is required.
        let usage = try get(["--queue", worker.queue])
        #expect(usage.status == 1)
        #expect(usage.stderr.hasPrefix("usage: ") && usage.stderr.filter { $0 == "\n" }.count == 1, "\(usage.stderr)")
        let noURL = try run(command[0], Array(command.dropFirst()) + ["--account", "sf-eu"], environment: base)
        #expect(noURL.status == 1)
        #expect(noURL.stderr == "MFA_BROKER_URL is not set (amqp://USER:PASSWORD@HOST:5672/%2F)\n")
    }
}

/// An example program and how examples/README.md builds it.
struct ExampleProgram: Sendable, CustomStringConvertible {
    let name: String
    /// Builds the program into `folder`; returns the command that runs it.
    let build: @Sendable (_ folder: String) throws -> [String]

    var description: String { name }

    static let all = [python, java, go, csharp]

    static let python = ExampleProgram(name: "Python (pika)") { _ in
        ["/usr/bin/env", "python3", repositoryRoot + "/examples/python/get_code.py"]
    }

    static let java = ExampleProgram(name: "Java (amqp-client)") { folder in
        try step("javac", ["-d", folder + "/classes", "-cp", "/usr/share/java/amqp-client.jar", repositoryRoot + "/examples/java/GetCode.java"])
        let classPath = [folder + "/classes", "/usr/share/java/amqp-client.jar", "/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-nop.jar"]
        return ["/usr/bin/java", "-cp", classPath.joined(separator: ":"), "GetCode"]
    }

    static let go = ExampleProgram(name: "Go (amqp091-go)") { folder in
        // GOPATH mode, from Debian's source package: no module download.
        var environment = ["GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "PATH": "/usr/bin:/bin"]
        environment["GOCACHE"] =
            ProcessInfo.processInfo.environment["GOCACHE"]
            ?? ProcessInfo.processInfo.environment["HOME"].map { $0 + "/.cache/go-build" } ?? folder + "/go-cache"
        try step("go", ["build", "-o", folder + "/get_code", repositoryRoot + "/examples/go/get_code.go"], environment: environment)
        return [folder + "/get_code"]
    }

    static let csharp = ExampleProgram(name: "C# (Mono, RabbitMQ.Client)") { folder in
        try step(
            "mcs",
            ["-out:" + folder + "/get-code.exe", "-r:/usr/lib/mono/4.5/RabbitMQ.Client.dll", "-r:System.Json", repositoryRoot + "/examples/csharp/GetCode.cs"])
        return ["/usr/bin/mono", folder + "/get-code.exe"]
    }

    /// Runs a build tool from /usr/bin; throws with its output when it fails.
    static func step(_ tool: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        let path = "/usr/bin/" + tool
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ExampleBuildError(text: "\(path) is missing: scripts/install-deps.sh installs it")
        }
        let result = try run(path, arguments, environment: environment ?? ["PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory()])
        guard result.status == 0 else {
            throw ExampleBuildError(text: "\(tool) failed (\(result.status)): \(result.stdout)\(result.stderr)")
        }
    }
}

struct ExampleBuildError: Error, CustomStringConvertible {
    let text: String
    var description: String { text }
}
