import AMQP
import Foundation
import TestSupport
import Testing

/// Secrets on disk and in memory, the HTTP listener, identities and logs,
/// the audit trail and the output, against the running worker.
@Suite("Hardening against the worker")
struct HardeningTests {
    func expectRefused(_ worker: WorkerProcess, _ message: String) throws {
        try worker.start(waitForConsuming: false)
        #expect(worker.waitForExit() == 1)
        #expect(worker.log.hasPrefix("Error: ") && worker.log.contains(message), "\(worker.log)")
    }

    @Test("A key reached through a symbolic link in a folder others may write is refused; through a link in safe folders it is read")
    func symlinkedKey() throws {
        let worker = WorkerProcess()
        let open = worker.directory.path + "/open"
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: true)
        chmod(open, 0o777)
        let key = worker.directory.path + "/secrets/sf-eu.key"
        try FileManager.default.moveItem(atPath: key, toPath: open + "/real.key")
        try FileManager.default.createSymbolicLink(atPath: key, withDestinationPath: open + "/real.key")
        try expectRefused(worker, "is in the folder \(open), which group or others may write (mode 777)")

        // The same link, the file in a folder only its owner may write: read.
        chmod(open, 0o700)
        let safe = try worker.start()
        defer { safe.stop() }
        #expect(try Requester(requestQueue: safe.queue).ask(account: "sf-eu")?.status == "ok")
    }

    @Test("A key file owned by another user is refused")
    func foreignOwner() throws {
        let worker = WorkerProcess()
        chown(worker.directory.path + "/secrets/sf-eu.key", 65534, 65534)
        try expectRefused(worker, "secrets/sf-eu.key belongs to another user (uid 65534)")
    }

    @Test(
        "Root reads a key whose owner also owns its folder (the packaged layout: check-config by an operator); not one in root's folder",
        .enabled(if: geteuid() == 0, "only root may chown"))
    func rootReadsServiceUsersFolder() throws {
        let worker = WorkerProcess()
        let secrets = worker.directory.path + "/secrets"
        chown(secrets + "/sf-eu.key", 65534, 65534)
        chown(secrets, 65534, 65534)
        let served = try worker.start()
        defer { served.stop() }
        #expect(try Requester(requestQueue: served.queue).ask(account: "sf-eu")?.status == "ok")
    }

    @Test("A password file that group or others may read is refused, like a key")
    func loosePasswordFile() throws {
        let worker = WorkerProcess()
        chmod(worker.directory.path + "/amqp-password", 0o644)
        try expectRefused(
            worker, "broker.password_file: \(worker.directory.path)/amqp-password is accessible by group or others (mode 644); run chmod 600 on it")
    }

    @Test("An audit file that group or others may read, or a symbolic link to one, is refused; a new one is made with mode 0600")
    func auditFile() throws {
        let loose = WorkerProcess()
        loose.directory.write("audit.jsonl", "", mode: 0o644)
        try expectRefused(loose, "cannot use the audit file (audit.path): \(loose.directory.path)/audit.jsonl is accessible by group or others (mode 644)")

        let linked = WorkerProcess()
        let open = linked.directory.path + "/open"
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: true)
        chmod(open, 0o777)
        _ = linked.directory.write("open/audit.jsonl", "", mode: 0o600)
        try FileManager.default.createSymbolicLink(atPath: linked.auditPath, withDestinationPath: open + "/audit.jsonl")
        try expectRefused(linked, "audit.jsonl is in the folder \(open), which group or others may write")

        let fresh = try WorkerProcess().start()
        defer { fresh.stop() }
        var info = stat()
        #expect(stat(fresh.auditPath, &info) == 0 && info.st_mode & 0o777 == 0o600)
    }

    @Test("The worker cannot dump core: its core-file limit is 0")
    func noCoreDumps() throws {
        let worker = try WorkerProcess().start()
        defer { worker.stop() }
        let limits = try String(contentsOfFile: "/proc/\(worker.pid!)/limits", encoding: .utf8)
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }.map(String.init) ?? ""
        #expect(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).first == "0", "\(line)")
    }

    @Test("A client that sends a byte every 1.5 s delays nobody's /healthz, and is cut off at its deadline")
    func slowHTTPClient() throws {
        let port = OperationsTests.freePort()
        let worker = try WorkerProcess(metricsPort: port).start()
        defer { worker.stop() }
        // The slow client: connected, dripping a request that never ends.
        let slow = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(slow) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(slow, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        let stop = StopFlag()
        let closedByWorker = StopFlag()
        let drip = Thread {
            for byte in Array("GET /healthz HTTP/1.1\r\nHost: x\r\n".utf8) where !stop.isSet {
                var one = byte
                if send(slow, &one, 1, Int32(MSG_NOSIGNAL)) < 0 {
                    closedByWorker.set()
                    return
                }
                Thread.sleep(forTimeInterval: 1.5)
            }
        }
        drip.start()
        defer { stop.set() }
        // Probes meanwhile, each with a timeout far longer than an answer takes.
        for _ in 0..<4 {
            let probe = try run("/usr/bin/curl", ["-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/healthz"])
            #expect(probe.stdout == "200", "a probe got \(probe.stdout) while a slow client was connected")
        }
        // The slow client's connection ends at its deadline: a read sees the close.
        var buffer = [UInt8](repeating: 0, count: 16)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(slow, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        #expect(recv(slow, &buffer, buffer.count, 0) == 0, "the worker did not close the slow client's connection")
    }

    @Test("Requesters are told apart by their bytes: rpa-bot-e + U+0301 does not get the codes of rpa-bot-é (U+00E9)")
    func decomposedUser() throws {
        let composed = "rpa-bot-\u{E9}", decomposed = "rpa-bot-e\u{301}"
        try Broker.addRobot(decomposed)
        defer { try? Broker.deleteUser(decomposed) }
        let worker = try WorkerProcess(allow: [composed: ["sf-eu"]]).start()
        defer { worker.stop() }
        let impostor = try Requester(decomposed, requestQueue: worker.queue)
        let reply = try #require(try impostor.ask(account: "sf-eu"))
        #expect(reply.error == "forbidden", "\(reply.text)")
        #expect(reply.code == nil)
    }

    @Test("A U+2028, a bidi override and C1 controls in a reply_to reach no log line raw, in text or JSON")
    func unsafeCharactersEscaped() throws {
        for format in ["text", "json"] {
            let worker = try WorkerProcess(extra: "log: {format: \(format)}").start()
            defer { worker.stop() }
            let requester = try Requester(requestQueue: worker.queue)
            let hostile = "amq.gen-x\u{2028}forged line\u{202E}desrever\u{85}\u{9B}"
            try requester.send(body: #"{"account":"sf-eu"}"#, correlationID: Array("unsafe-\(format)".utf8), replyTo: .some(hostile))
            #expect(worker.waitForLog("reply unroutable"), "\(worker.log)")
            #expect(try requester.ask(account: "sf-eu")?.status == "ok")
            let log = worker.log
            for scalar in ["\u{2028}", "\u{202E}", "\u{85}", "\u{9B}"] {
                #expect(!log.contains(scalar), "\(format): U+\(String(scalar.unicodeScalars.first!.value, radix: 16)) written raw")
            }
            let escaped = format == "text" ? #"\u{2028}forged line\u{202e}desrever\u{0085}\u{009b}"# : #"\u2028forged line\u202edesrever\u0085\u009b"#
            #expect(log.contains(escaped), "\(format): \(log.split(separator: "\n").filter { $0.contains("unroutable") })")
        }
    }

    @Test("kill -9 under load with the audit trail on: every code a requester received has its audit record")
    func auditSurvivesKill() throws {
        // Answered at once whatever the window's phase: with the default
        // min_validity_ms (5 s), requests of a window's last seconds are
        // held (or busy), and the kill could come before any code.
        let worker = try WorkerProcess(extra: "reply: {default_min_validity_ms: 0}", workers: 2).start()
        let requester = try Requester(requestQueue: worker.queue)
        var sent: [[UInt8]] = []
        for index in 0..<2000 { sent.append(try requester.send(account: "sf-eu", correlationID: Array("k-\(index)".utf8))!) }
        // Kill it once some replies are in, mid-stream.
        var received = try requester.replies(count: 200, timeout: 30)
        #expect(received.count >= 200)
        worker.stop(signal: SIGKILL)
        received += try requester.replies(count: 2000, timeout: 1)
        let codes = received.filter { $0.status == "ok" }
        #expect(codes.count >= 200)
        let audit = worker.audit
        let audited = Set(
            audit.split(separator: "\n").compactMap { line -> String? in
                guard line.contains(#""outcome":"ok""#), let range = line.range(of: #""correlation_id":""#) else { return nil }
                return String(line[range.upperBound...].prefix { $0 != "\"" })
            })
        let missing = codes.map { String(decoding: $0.properties.correlationID ?? [], as: UTF8.self) }.filter { !audited.contains($0) }
        #expect(missing.isEmpty, "\(missing.count) of \(codes.count) codes received have no audit record: \(missing.prefix(5))")
        print("audit after kill -9: \(codes.count) codes received, \(audited.count) audited, none missing")
    }

    @Test("With its stdout a pipe whose reader is gone, the worker keeps serving and stops gracefully on SIGTERM")
    func stdoutClosed() throws {
        let worker = WorkerProcess()
        let fifo = worker.directory.path + "/stdout.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        try #require(reader >= 0)
        let process = try ChildProcess(
            productsDirectory.appendingPathComponent("mfa-worker").path, ["run", "--config", worker.configPath], outputPath: fifo, errorPath: fifo)
        defer {
            process.signal(SIGKILL)
            _ = process.wait(timeout: 5)
        }
        // Read until it consumes, then the reader goes away.
        var output = ""
        let deadline = Date().addingTimeInterval(20)
        while !output.contains("notice consuming") && Date() < deadline && process.isRunning {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = read(reader, &chunk, chunk.count)
            if count > 0 { output += String(decoding: chunk[0..<count], as: UTF8.self) } else { usleep(20_000) }
        }
        try #require(output.contains("notice consuming"), "\(output)")
        close(reader)
        // Load: every request writes a log line into the broken pipe.
        let requester = try Requester(requestQueue: worker.queue)
        for _ in 0..<300 { try requester.send(account: "sf-eu") }
        let replies = try requester.replies(count: 300, timeout: 30)
        #expect(replies.count == 300 && replies.allSatisfy { $0.status == "ok" })
        #expect(process.isRunning)
        process.signal(SIGTERM)
        #expect(process.wait(timeout: 15) == 0)
    }

    @Test("A reload gives nobody a fresh burst: a requester over its rate stays over it")
    func reloadKeepsRates() throws {
        let worker = try WorkerProcess(extra: "rate_limit: {per_requester: {rate_per_s: 0.01, burst: 2}}").start()
        defer { worker.stop() }
        let requester = try Requester(requestQueue: worker.queue)
        #expect(try requester.ask(account: "sf-eu")?.status == "ok")
        #expect(try requester.ask(account: "sf-eu")?.status == "ok")
        #expect(try requester.ask(account: "sf-eu")?.error == "rate_limited")
        kill(worker.pid!, SIGHUP)
        #expect(worker.waitForLog("reload applied by every thread"))
        // Ask a few times: still over the rate.
        for _ in 0..<5 { #expect(try requester.ask(account: "sf-eu")?.error == "rate_limited") }
    }
}
