import AMQP
import Foundation
import TestSupport
import Testing

/// Metrics, health, audit, reload and the secret-file rule, against the
/// running worker.
@Suite("Operations against the worker")
struct OperationsTests {
    static func freePort() -> Int { WorkerHTTP.freePort() }

    static func get(_ port: Int, _ path: String) throws -> (status: Int, body: String) { try WorkerHTTP.get(port, path) }

    static func value(_ metrics: String, _ name: String) -> Double? { WorkerHTTP.value(metrics, name) }

    @Test("Metrics after a known number of requests; health and liveness; no code or secret in them")
    func metricsAndHealth() throws {
        let port = Self.freePort()
        let worker = try WorkerProcess(accounts: ["sf-eu": (30, 6, "SHA1"), "other": (30, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["sf-eu"]], metricsPort: port)
            .start()
        defer { worker.stop() }
        let requester = try Requester(requestQueue: worker.queue)
        var codes: [String] = []
        for _ in 0..<5 { codes.append(try #require(try requester.ask(account: "sf-eu")?.code)) }
        for _ in 0..<2 { #expect(try requester.ask(account: "other")?.error == "forbidden") }
        #expect(try requester.reply(to: try requester.send(body: "not json"))?.error == "bad_request")
        try requester.send(body: #"{"account":"sf-eu"}"#, replyTo: .some(nil))
        #expect(worker.waitForLog("request rejected: nobody can be answered"))

        let (status, metrics) = try Self.get(port, "/metrics")
        #expect(status == 200)
        #expect(Self.value(metrics, #"mfa_requests_total{outcome="ok"}"#) == 5)
        #expect(Self.value(metrics, #"mfa_requests_total{outcome="forbidden"}"#) == 2)
        #expect(Self.value(metrics, #"mfa_requests_total{outcome="bad_request"}"#) == 1)
        #expect(Self.value(metrics, #"mfa_requests_total{outcome="rejected"}"#) == 1)
        #expect(Self.value(metrics, #"mfa_requests_total{outcome="rate_limited"}"#) == 0)
        #expect(Self.value(metrics, "mfa_request_duration_seconds_count") == 9)
        #expect(Self.value(metrics, "mfa_requests_in_flight") == 0)
        #expect(Self.value(metrics, "mfa_replies_pending") == 0)
        #expect(Self.value(metrics, "mfa_reconnects_total") == 0)
        #expect(Self.value(metrics, "mfa_replies_unroutable_total") == 0)
        let lastDelivery = try #require(Self.value(metrics, "mfa_last_delivery_timestamp_seconds"))
        #expect(abs(lastDelivery - Date().timeIntervalSince1970) < 600, "a Unix time in seconds, not milliseconds")
        #expect(Self.value(metrics, "mfa_consumers_active") == 2)
        #expect(Self.value(metrics, "mfa_turn_accounts_configured") == 0)
        #expect(Self.value(metrics, #"mfa_write_failures_total{sink="audit"}"#) == 0)
        #expect(metrics.contains("# TYPE mfa_reconnects_total counter"))
        #expect(metrics.contains("# TYPE mfa_replies_unroutable_total counter"))
        #expect(Self.value(metrics, "mfa_clock_synchronized") != nil)
        for code in codes { #expect(!metrics.contains(code)) }
        #expect(!metrics.contains(worker.keys["sf-eu"]!.base32))

        let health = try Self.get(port, "/healthz")
        #expect(health.status == 200)
        #expect(health.body.hasPrefix("ok: consuming") || health.body.hasPrefix("degraded"))
        #expect(try Self.get(port, "/livez") == (200, "alive\n"))
        #expect(try Self.get(port, "/nothing").status == 404)
    }

    @Test("An unsynchronised clock: mfa_clock_synchronized 0, /healthz degraded (still 200), one warning")
    func unsynchronisedClock() throws {
        let port = Self.freePort()
        setenv("MFA_WORKER_ASSUME_CLOCK", "unsynchronized", 1)
        let worker = try WorkerProcess(metricsPort: port).start()
        unsetenv("MFA_WORKER_ASSUME_CLOCK")
        defer { worker.stop() }
        let health = try Self.get(port, "/healthz")
        #expect(health.status == 200)
        #expect(health.body.hasPrefix("degraded: the clock is not synchronised"))
        #expect(Self.value(try Self.get(port, "/metrics").body, "mfa_clock_synchronized") == 0)
        #expect(worker.log.components(separatedBy: "the clock is not synchronised (adjtimex)").count - 1 == 1)
    }

    @Test("Output that cannot be written is counted in mfa_write_failures_total, for the log and for an audit trail on stdout")
    func writeFailuresCounted() throws {
        let port = Self.freePort()
        let worker = WorkerProcess(metricsPort: port)
        let config = try String(contentsOfFile: worker.configPath, encoding: .utf8)
        worker.directory.write("worker.yaml", config.replacingOccurrences(of: "audit: {path: audit.jsonl}", with: "audit: {path: stdout}"), mode: 0o644)
        // stdout on /dev/full: every write() fails (ENOSPC), the log's and
        // the audit trail's, which shares the sink.
        let process = try ChildProcess(
            productsDirectory.appendingPathComponent("mfa-worker").path, ["run", "--config", worker.configPath],
            outputPath: "/dev/full", errorPath: worker.directory.path + "/stderr.log"
        )
        defer {
            process.signal(SIGTERM)
            if process.wait(timeout: 15) == nil {
                process.signal(SIGKILL)
                process.wait()
            }
        }
        func metric(_ name: String) -> Double? {
            (try? Self.get(port, "/metrics")).flatMap { $0.status == 200 ? Self.value($0.body, name) : nil }
        }
        func waitFor(_ name: String, _ condition: (Double) -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if let value = metric(name), condition(value) { return true }
                usleep(50_000)
            }
            return false
        }
        #expect(
            waitFor("mfa_consumers_active") { $0 >= 1 },
            "the worker did not start consuming: \((try? String(contentsOfFile: worker.directory.path + "/stderr.log", encoding: .utf8)) ?? "")")
        let requester = try Requester(requestQueue: worker.queue)
        #expect(try requester.ask(account: "sf-eu")?.status == "ok")
        // The request's log line and audit record are written when the
        // consumer idles after it.
        #expect(waitFor(#"mfa_write_failures_total{sink="log"}"#) { $0 >= 1 })
        #expect(waitFor(#"mfa_write_failures_total{sink="audit"}"#) { $0 >= 1 })
    }

    @Test("mfa-worker health asks /healthz where metrics.listen says: status 0 while consuming, 1 once stopped")
    func healthCommand() throws {
        let port = Self.freePort()
        let worker = try WorkerProcess(metricsPort: port).start()
        let healthy = try mfaWorker("health", "--config", worker.configPath)
        #expect(healthy.status == 0, "\(healthy.stderr)")
        #expect(healthy.stdout.hasPrefix("ok: consuming with 2 consumers") || healthy.stdout.hasPrefix("degraded: "), "\(healthy.stdout)")
        worker.stop()
        let stopped = try mfaWorker("health", "--config", worker.configPath)
        #expect(stopped.status == 1)
        #expect(stopped.stderr.contains("cannot connect to 127.0.0.1:\(port)"), "\(stopped.stderr)")
        // No listener configured: said, not waited for.
        let unlistening = WorkerProcess()
        let off = try mfaWorker("health", "--config", unlistening.configPath)
        #expect(off.status == 1)
        #expect(off.stderr.contains("metrics.listen is off"), "\(off.stderr)")
    }

    @Test("A metrics port that cannot be bound ends start-up with one line")
    func metricsPortInUse() throws {
        let port = Self.freePort()
        let first = try WorkerProcess(metricsPort: port).start()
        defer { first.stop() }
        let second = WorkerProcess(metricsPort: port)
        try second.start(waitForConsuming: false)
        #expect(second.waitForExit() == 1)
        #expect(second.log == "Error: cannot listen for metrics on 127.0.0.1:\(port) (metrics.listen): address already in use\n")
    }

    @Test("The audit trail: one record per issuance and per denial, never the code")
    func audit() throws {
        let worker = try WorkerProcess(accounts: ["sf-eu": (30, 6, "SHA1"), "other": (30, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["sf-eu"]]).start()
        defer { worker.stop() }
        let requester = try Requester(requestQueue: worker.queue)
        let ok = try #require(try requester.ask(account: "sf-eu"))
        #expect(try requester.ask(account: "other")?.error == "forbidden")
        worker.stop()
        let records = worker.audit.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(records.count == 2)
        let issued = records.first { $0["outcome"] as? String == "ok" }
        #expect(issued?["requester"] as? String == "rpa-bot-eu-1")
        #expect(issued?["account"] as? String == "sf-eu")
        #expect((issued?["window_start"] as? NSNumber)?.int64Value == ok.windowStart)
        #expect(issued?["correlation_id"] as? String == String(decoding: ok.properties.correlationID!, as: UTF8.self))
        #expect(issued?["ts"] is String)
        let denied = records.first { $0["outcome"] as? String == "forbidden" }
        #expect(denied?["account"] as? String == "other")
        #expect(!worker.audit.contains(ok.code!))
    }

    @Test("SIGHUP under load: a valid file applies whole, an invalid one is refused whole; no request lost")
    func reloadUnderLoad() throws {
        let worker = try WorkerProcess(accounts: ["sf-eu": (30, 6, "SHA1"), "sf-us": (30, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["sf-eu"]]).start()
        defer { worker.stop() }
        let queue = worker.queue
        // Load: a requester asking for sf-eu all along.
        let stop = StopFlag()
        let answered = Counter()
        let failures = Counter()
        let finished = DispatchSemaphore(value: 0)
        let load = Thread {
            defer { finished.signal() }
            guard let requester = try? Requester(requestQueue: queue) else { return }
            while !stop.isSet {
                if (try? requester.ask(account: "sf-eu"))??.status == "ok" { answered.add() } else { failures.add() }
            }
        }
        load.start()
        let requester = try Requester(requestQueue: worker.queue)
        #expect(try requester.ask(account: "sf-us")?.error == "forbidden")

        // Valid: allow sf-us too.
        let config = try String(contentsOfFile: worker.configPath, encoding: .utf8)
        let widened = config.replacingOccurrences(of: "rpa-bot-eu-1: [sf-eu]", with: "rpa-bot-eu-1: [sf-eu, sf-us]")
        worker.directory.write("worker.yaml", widened, mode: 0o644)
        kill(worker.pid!, SIGHUP)
        // Every consumer thread has taken it up once the worker says so.
        #expect(worker.waitForLog("reload applied by every thread"))
        #expect(try requester.ask(account: "sf-us")?.status == "ok")

        // Invalid: the allowlist names an account that does not exist, and
        // sf-us is taken away in the same file. Nothing of it applies.
        let broken = widened.replacingOccurrences(of: "rpa-bot-eu-1: [sf-eu, sf-us]", with: "rpa-bot-eu-1: [sf-eu, sf-typo]")
        worker.directory.write("worker.yaml", broken, mode: 0o644)
        kill(worker.pid!, SIGHUP)
        #expect(worker.waitForLog("reload refused; the running configuration stays"))
        #expect(worker.log.contains("names account 'sf-typo', which is not configured under accounts"))
        #expect(try requester.ask(account: "sf-us")?.status == "ok")

        // A broker change needs a restart: said, and not applied.
        let moved = widened.replacingOccurrences(of: "prefetch: 64", with: "prefetch: 10")
        worker.directory.write("worker.yaml", moved, mode: 0o644)
        kill(worker.pid!, SIGHUP)
        #expect(worker.waitForLog("changes to broker need a restart and are not applied"))

        stop.set()
        finished.wait()
        #expect(answered.value > 10)
        #expect(failures.value == 0)
    }

    @Test("A new secret takes effect on SIGHUP, and a loose secret file is refused then and at start-up")
    func secretReloadAndLooseFile() throws {
        let worker = try WorkerProcess().start()
        defer { worker.stop() }
        let requester = try Requester(requestQueue: worker.queue)
        let before = try #require(try requester.ask(account: "sf-eu"))
        let newKey = TestKey()
        worker.directory.write("secrets/sf-eu.key", newKey.base32 + "\n")
        kill(worker.pid!, SIGHUP)
        #expect(worker.waitForLog("reload applied by every thread"))
        let after = try #require(try requester.ask(account: "sf-eu"))
        let start = try #require(after.windowStart)
        #expect(after.code == (try Oathtool.code(base32: newKey.base32, time: start, period: 30, digits: 6, algorithm: "SHA1")))
        if before.windowStart == after.windowStart { #expect(before.code != after.code) }

        // Group-readable: the reload is refused, naming the file.
        chmod(worker.directory.path + "/secrets/sf-eu.key", 0o640)
        kill(worker.pid!, SIGHUP)
        #expect(worker.waitForLog("reload refused"))
        #expect(worker.log.contains("secrets/sf-eu.key is accessible by group or others (mode 640)"))
        worker.stop()

        // And at start-up.
        let again = WorkerProcess()
        chmod(again.directory.path + "/secrets/sf-eu.key", 0o644)
        try again.start(waitForConsuming: false)
        #expect(again.waitForExit() == 1)
        #expect(again.log.contains("secrets/sf-eu.key is accessible by group or others (mode 644); run chmod 600 on it, or set allow_loose_secret_files: true"))
    }

    @Test("Least privilege: a requester can neither read the request queue nor declare queues of its own naming")
    func requesterPermissions() throws {
        let worker = try WorkerProcess().start()
        defer { worker.stop() }
        let connection = try Broker.connect("rpa-bot-eu-1")
        defer { connection.close() }
        #expect(throws: AMQPError.self) { try connection.consume(queue: worker.queue) }
        try connection.reopenChannel()
        do {
            try connection.declareQueue("mfa-code-request-stolen", durable: true)
            Issue.record("a requester declared a queue of its own naming")
        } catch {
            #expect(error.replyCode == 403)
        }
    }
}

@Suite("Rate limits against the worker")
struct RateLimitBrokerTests {
    @Test("Over its rate, a requester gets rate_limited with retry_after_ms; others are not held back")
    func rateLimited() throws {
        let worker = try WorkerProcess(
            allow: ["rpa-bot-eu-1": ["sf-eu"], "rpa-bot-eu-2": ["sf-eu"]],
            extra: "rate_limit:\n  per_requester: {rate_per_s: 0.5, burst: 2}"
        ).start()
        defer { worker.stop() }
        let first = try Requester("rpa-bot-eu-1", requestQueue: worker.queue)
        #expect(try first.ask(account: "sf-eu")?.status == "ok")
        #expect(try first.ask(account: "sf-eu")?.status == "ok")
        let limited = try #require(try first.ask(account: "sf-eu"))
        #expect(limited.error == "rate_limited")
        let retryAfter = try #require((limited.json["retry_after_ms"] as? NSNumber)?.int64Value)
        #expect(retryAfter > 0 && retryAfter <= 2000)
        // Another requester has a bucket of its own.
        let second = try Requester("rpa-bot-eu-2", requestQueue: worker.queue)
        #expect(try second.ask(account: "sf-eu")?.status == "ok")
        // Over its rate, whatever it asks is rate_limited: the requester's
        // rate comes before the allowlist, and counts every request.
        #expect(try first.ask(account: "nope")?.error == "rate_limited")
        #expect(try second.ask(account: "nope")?.error == "forbidden")
    }
}

@Suite("JSON logs against the worker")
struct JSONLogTests {
    @Test("log.format json: one JSON object per line, the request line with its fields, no code")
    func jsonLines() throws {
        let worker = try WorkerProcess(extra: "log: {format: json}").start()
        defer { worker.stop() }
        let requester = try Requester(requestQueue: worker.queue)
        let correlation = Array("json-\"line\"\n".utf8)
        let reply = try #require(try requester.reply(to: try requester.send(body: #"{"account":"sf-eu"}"#, correlationID: correlation)))
        #expect(reply.status == "ok")
        worker.stop()
        let lines = worker.log.split(separator: "\n")
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == lines.count, "every line is one JSON object")
        let request = try #require(objects.first { $0["msg"] as? String == "request" })
        #expect(request["level"] as? String == "info")
        #expect(request["requester"] as? String == "rpa-bot-eu-1")
        #expect(request["account"] as? String == "sf-eu")
        #expect(request["correlation_id"] as? String == #"json-"line"\x0a"#)
        #expect(request["outcome"] as? String == "ok")
        #expect(Double(request["latency_ms"] as? String ?? "") != nil)
        #expect(!worker.log.contains(reply.code!))
    }
}
