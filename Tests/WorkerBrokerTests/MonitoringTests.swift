import Foundation
import TestSupport
import Testing

/// The worker as Prometheus sees it: promtool's lint of its /metrics, and a
/// real Prometheus (Debian's `prometheus`, installed by
/// scripts/install-deps.sh) scraping it and evaluating
/// deploy/prometheus/mfa-worker-alerts.yml.
@Suite("Monitoring with Prometheus")
struct MonitoringTests {
    static let rules = repositoryRoot + "/deploy/prometheus/mfa-worker-alerts.yml"

    @Test("promtool check metrics finds nothing to say about a live worker's /metrics")
    func metricsFollowTheConventions() throws {
        let port = OperationsTests.freePort()
        let worker = try WorkerProcess(
            accounts: ["sf-eu": (30, 6, "SHA1"), "sf-turns": (30, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["sf-eu"]],
            metricsPort: port, oncePerWindow: ["sf-turns"]
        ).start()
        defer { worker.stop() }
        let requester = try Requester(requestQueue: worker.queue)
        #expect(try requester.ask(account: "sf-eu")?.status == "ok")
        #expect(try requester.ask(account: "sf-turns")?.error == "forbidden")
        let (status, metrics) = try OperationsTests.get(port, "/metrics")
        #expect(status == 200)
        #expect(OperationsTests.value(metrics, "mfa_turn_accounts_configured") == 1)

        let lint = try run("/usr/bin/promtool", ["check", "metrics"], stdin: metrics)
        #expect(lint.status == 0)
        #expect(lint.stdout + lint.stderr == "", "promtool check metrics said:\n\(lint.stdout)\(lint.stderr)")
        // Every family says what it is, and the counters are counters.
        let families = Set(metrics.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
        let helped = Set(metrics.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
        #expect(!families.isEmpty && families == helped)
        for line in metrics.split(separator: "\n") where line.hasPrefix("# TYPE ") && line.split(separator: " ")[2].hasSuffix("_total") {
            #expect(line.hasSuffix(" counter"), "\(line)")
        }
    }

    @Test("A real Prometheus scrapes a worker: the target is up, the rules are evaluated, a forbidden burst fires its alert")
    func prometheusScrapesAndEvaluates() throws {
        let metricsPort = OperationsTests.freePort()
        let worker = try WorkerProcess(
            accounts: ["sf-eu": (30, 6, "SHA1"), "other": (30, 6, "SHA1")], allow: ["rpa-bot-eu-1": ["sf-eu"]], metricsPort: metricsPort
        ).start()
        defer { worker.stop() }

        let folder = TemporaryDirectory()
        folder.write(
            "prometheus.yml",
            """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - \(Self.rules)
            scrape_configs:
              - job_name: mfa-worker
                static_configs:
                  - targets: ["127.0.0.1:\(metricsPort)"]
            """, mode: 0o644)
        let prometheus = try PrometheusProcess(configPath: folder.path + "/prometheus.yml", directory: folder.path)
        defer { prometheus.stop() }

        // The target is up once a scrape succeeded.
        let target = try prometheus.waitFor("the worker's target to be up") {
            let targets = try prometheus.api("/api/v1/targets")["activeTargets"] as? [[String: Any]] ?? []
            return targets.first { ($0["labels"] as? [String: String])?["instance"] == "127.0.0.1:\(metricsPort)" && $0["health"] as? String == "up" }
        }
        #expect((target["labels"] as? [String: String])?["job"] == "mfa-worker")

        // Every rule of the file is loaded and evaluated without error; with
        // the worker up and consuming, no down alert stays active (the
        // evaluations before the first scrape saw no `up` yet).
        let downAlerts = ["MFAWorkerDown", "MFAWorkerAllDown", "MFAWorkerNotConsuming"]
        let rules = try prometheus.waitFor("every rule evaluated, the down alerts inactive") { () -> [[String: Any]]? in
            let groups = try prometheus.api("/api/v1/rules")["groups"] as? [[String: Any]] ?? []
            let rules = groups.filter { $0["name"] as? String == "mfa-worker" }.flatMap { $0["rules"] as? [[String: Any]] ?? [] }
            let evaluated = rules.allSatisfy { ($0["lastEvaluation"] as? String).map { !$0.hasPrefix("0001-") } ?? false }
            let downInactive = rules.filter { downAlerts.contains($0["name"] as? String ?? "") }.allSatisfy { $0["state"] as? String == "inactive" }
            return !rules.isEmpty && evaluated && downInactive ? rules : nil
        }
        let alertNames = try String(contentsOfFile: Self.rules, encoding: .utf8).matches(of: /- alert: (\w+)/).map { String($0.1) }
        #expect(Set(rules.compactMap { $0["name"] as? String }) == Set(alertNames))
        for rule in rules {
            #expect(rule["health"] as? String == "ok", "\(rule["name"] ?? "?"): \(rule["lastError"] ?? "")")
        }

        // More than 20 forbidden requests within 5 minutes: the burst alert
        // fires, from what Prometheus scraped off the worker.
        let requester = try Requester(requestQueue: worker.queue)
        for _ in 0..<25 { #expect(try requester.ask(account: "other")?.error == "forbidden") }
        let alert = try prometheus.waitFor("MFAWorkerForbiddenBurst to fire") {
            let alerts = try prometheus.api("/api/v1/alerts")["alerts"] as? [[String: Any]] ?? []
            return alerts.first { ($0["labels"] as? [String: String])?["alertname"] == "MFAWorkerForbiddenBurst" && $0["state"] as? String == "firing" }
        }
        #expect((alert["labels"] as? [String: String])?["job"] == "mfa-worker")
        #expect((alert["labels"] as? [String: String])?["severity"] == "warning")
    }
}

/// `prometheus` on 127.0.0.1 with a configuration and a data folder of the
/// test's own, on a free port.
final class PrometheusProcess {
    let port = OperationsTests.freePort()
    private let process: ChildProcess
    private let logPath: String

    init(configPath: String, directory: String) throws {
        logPath = directory + "/prometheus.log"
        process = try ChildProcess(
            "/usr/bin/prometheus",
            [
                "--config.file=\(configPath)", "--storage.tsdb.path=\(directory)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
            ], outputPath: logPath, errorPath: logPath)
    }

    func stop() {
        process.signal(SIGTERM)
        if process.wait(timeout: 20) == nil {
            process.signal(SIGKILL)
            process.wait()
        }
    }

    /// The `data` of a GET on Prometheus' HTTP API; empty while it is not
    /// answering yet.
    func api(_ path: String) throws -> [String: Any] {
        let (status, body) = try OperationsTests.get(port, path)
        guard status == 200, let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return [:] }
        return object["data"] as? [String: Any] ?? [:]
    }

    /// Polls `probe` until it gives a value; a minute at most (Prometheus
    /// scrapes and evaluates every second here).
    func waitFor<T>(_ what: String, _ probe: () throws -> T?) throws -> T {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let value = try probe() { return value }
            guard process.isRunning else { break }
            usleep(200_000)
        }
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        throw PrometheusWaitError(description: "waited in vain for \(what); Prometheus' log:\n\(log)")
    }
}

struct PrometheusWaitError: Error, CustomStringConvertible {
    let description: String
}
