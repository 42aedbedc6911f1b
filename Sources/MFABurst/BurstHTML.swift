import Foundation
import Histogram

/// The report as one self-contained HTML file: the totals as a table, and
/// the run as charts (inline SVG drawn by a script in the file from the
/// run's data, which the file carries as JSON). Nothing is fetched from
/// the network.
public enum BurstHTML {
    /// What the charts are drawn from: the run second by second, the
    /// latency distribution, and each account's codes per window.
    struct ChartData: Encodable {
        var seconds: [Int]
        var scheduled: [Int]?
        var sent: [Int]
        var answered: [Int]
        var p50: [Double?]
        var p99: [Double?]
        var errors: [String: [Int]]
        /// [percentile, ms], from 0 to the maximum.
        var percentiles: [[Double]]
        var accounts: [Account]

        struct Account: Encodable {
            var account: String
            /// [window_start (Unix s), codes]
            var windows: [[Int64]]
        }
    }

    public static func render(_ report: BurstReport) -> String {
        let data = chartData(report)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // JSON inside a script element: no "<" may close it.
        let json = String(decoding: (try? encoder.encode(data)) ?? Data("{}".utf8), as: UTF8.self)
            .replacingOccurrences(of: "<", with: "\\u003c")
        let title = "mfa-worker burst: " + headline(report)
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title>
            <style>
            \(style)
            </style>
            </head>
            <body>
            <h1>mfa-worker burst</h1>
            <p class="headline">\(escape(headline(report)))</p>
            <p class="started">started \(escape(startTime(report))) UTC\(report.runs == 1 ? "" : " (the first of \(report.runs) runs merged)")</p>
            \(summaryTable(report))
            <section>
            <h2>Requests per second</h2>
            <p class="note">\(report.openLoop == nil ? "Requests sent and answers received in each second." : "What the schedule asked for, what was sent and what was answered, in each second. Sent below scheduled means the generator fell behind; answered below sent means the worker did.")</p>
            <div class="chart" id="chart-rate"></div>
            </section>
            <section>
            <h2>Latency per second</h2>
            <p class="note">p50 and p99 of the requests \(report.openLoop == nil ? "sent" : "scheduled") in each second, \(report.openLoop == nil ? "from their send" : "from their scheduled send time") to their answer (log scale).</p>
            <div class="chart" id="chart-latency"></div>
            </section>
            <section>
            <h2>Errors per second</h2>
            <p class="note">Requests \(report.openLoop == nil ? "sent" : "scheduled") in each second that were not answered ok, by kind.</p>
            <div class="chart" id="chart-errors"></div>
            </section>
            <section>
            <h2>Latency by percentile</h2>
            <p class="note">The whole run's latency distribution: how long the slowest 10%, 1%, 0.1%, ... of requests took (both axes log).</p>
            <div class="chart" id="chart-percentiles"></div>
            </section>
            <section id="accounts">
            <h2>Codes per window</h2>
            <p class="note">For each account, how many codes each TOTP window served (with issue: once_per_window, one each).</p>
            </section>
            <noscript><p class="warn">The charts are drawn by the script in this file; with JavaScript off only the table shows.</p></noscript>
            <script type="application/json" id="burst-data">\(json)</script>
            <script>
            \(script)
            </script>
            </body>
            </html>

            """
    }

    static func headline(_ report: BurstReport) -> String {
        report.mode == .open ? report.headline : "closed loop, " + report.headline
    }

    private static func startTime(_ report: BurstReport) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: Double(report.startedAtUnixMilliseconds) / 1000))
    }

    private static func summaryTable(_ report: BurstReport) -> String {
        var rows: [(String, String, Bool)] = []
        func row(_ name: String, _ value: String, warn: Bool = false) { rows.append((name, value, warn)) }
        if let openLoop = report.openLoop { row("scheduled", String(openLoop.scheduled)) }
        row("sent", String(report.sent))
        row("ok", String(report.ok), warn: report.ok < report.requests)
        row("errors", "\(report.errors.values.reduce(0, +))\(BurstReport.kinds(report.errors, open: " (", close: ")"))", warn: !report.errors.isEmpty)
        row("wrong codes", report.wrongCodes.map(String.init) ?? "not verified", warn: (report.wrongCodes ?? 0) > 0)
        row("duration", "\(BurstReport.format(report.seconds, 3)) s")
        if let openLoop = report.openLoop {
            row(
                "rate",
                "target \(BurstReport.format(openLoop.targetRate, 1))/s, sent \(BurstReport.format(openLoop.achievedRate, 1))/s on schedule, answered \(BurstReport.format(openLoop.answeredRate, 1))/s"
            )
            let lag = openLoop.lagMilliseconds
            row(
                "schedule",
                openLoop.behind
                    ? "behind: sends up to \(BurstReport.format(lag.max, 3)) ms late, \(openLoop.lateSends) over 100 ms late"
                    : "kept: sends at most \(BurstReport.format(lag.max, 3)) ms late", warn: openLoop.behind)
        } else {
            row("throughput", "\(BurstReport.format(report.requestsPerSecond, 0)) requests/s")
        }
        row("latency ms", BurstReport.formatWithTail(report.latencyMilliseconds) + (report.openLoop == nil ? "" : " (from the scheduled send times)"))
        for account in report.accounts {
            let windows = account.codesPerWindow.count
            row(
                "account \(account.account)",
                "ok \(account.ok)\(BurstReport.kinds(account.errors, open: "; ", close: "")); \(windows) window\(windows == 1 ? "" : "s"), at most \(account.mostCodesInAWindow) code\(account.mostCodesInAWindow == 1 ? "" : "s") each; wait ms \(BurstReport.formatWithTail(account.waitMilliseconds))",
                warn: !account.errors.isEmpty)
        }
        let body = rows.map { name, value, warn in
            "<tr><th>\(escape(name))</th><td\(warn ? " class=\"warn\"" : "")>\(escape(value))</td></tr>"
        }.joined(separator: "\n")
        return "<table class=\"summary\">\n\(body)\n</table>"
    }

    static func chartData(_ report: BurstReport) -> ChartData {
        let seconds = report.perSecond
        var kinds = Set<String>()
        for second in seconds { kinds.formUnion(second.errors.filter { $0.value > 0 }.keys) }
        var errors: [String: [Int]] = [:]
        for kind in kinds { errors[kind] = seconds.map { $0.errors[kind] ?? 0 } }
        return ChartData(
            seconds: seconds.map(\.second),
            scheduled: report.openLoop == nil ? nil : seconds.map { $0.scheduled ?? 0 },
            sent: seconds.map(\.sent), answered: seconds.map(\.answered),
            p50: seconds.map(\.p50), p99: seconds.map(\.p99),
            errors: errors,
            percentiles: percentileCurve(report.latencyHistogram),
            accounts: report.accounts.map { account in
                ChartData.Account(
                    account: account.account,
                    windows: account.codesPerWindow.compactMap { key, count in Int64(key).map { [$0, Int64(count)] } }.sorted { $0[0] < $1[0] }
                )
            }
        )
    }

    /// [percentile, ms] pairs for the distribution chart, as far into the
    /// tail as the number of requests gives meaning to, then the maximum.
    static func percentileCurve(_ encoded: String) -> [[Double]] {
        guard let histogram = try? HistogramCoding.decode(encoded), histogram.totalCount > 0 else { return [] }
        let total = Double(histogram.totalCount)
        var points: [[Double]] = []
        for percentile in [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999] where 100 / (100 - percentile) <= total {
            points.append([percentile, BurstReport.milliseconds(histogram.reportedValue(atPercentile: max(percentile, 0.0001)))])
        }
        points.append([100, BurstReport.milliseconds(histogram.max)])
        return points
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    private static let style = """
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; margin: 24px auto; max-width: 960px; padding: 0 16px; }
        h1 { font-size: 22px; margin: 0 0 4px; }
        h2 { font-size: 16px; margin: 28px 0 2px; }
        .headline { font-size: 15px; margin: 0; }
        .started, .note { color: #5b6475; margin: 2px 0 6px; }
        table.summary { border-collapse: collapse; margin-top: 12px; }
        table.summary th { text-align: left; font-weight: 600; padding: 2px 16px 2px 0; vertical-align: top; }
        table.summary td { padding: 2px 0; font-variant-numeric: tabular-nums; }
        .warn { color: #b3261e; font-weight: 600; }
        .chart svg { width: 100%; height: auto; display: block; }
        .chart text { font: 11px system-ui, sans-serif; fill: #4a5262; }
        .chart .axis-label { font-size: 12px; fill: #1d2330; }
        .chart .grid { stroke: #e3e6ec; stroke-width: 1; }
        .chart .axis { stroke: #8a93a3; stroke-width: 1; }
        .chart .empty { font-size: 14px; fill: #5b6475; }
        """

    /// Draws the charts from #burst-data into the chart elements.
    private static let script = #"""
        (function () {
          "use strict";
          var data = JSON.parse(document.getElementById("burst-data").textContent);
          var NS = "http://www.w3.org/2000/svg";
          var W = 900, H = 280, L = 64, R = 16, T = 34, B = 44;
          var palette = { scheduled: "#8a93a3", sent: "#2f6fdf", answered: "#1a9b5b", p50: "#2f6fdf", p99: "#d9480f", latency: "#6741d9", codes: "#2f6fdf" };
          var extra = ["#d9480f", "#c2255c", "#7048e8", "#1098ad", "#e67700", "#5c940d", "#862e9c"];

          function el(name, attrs, parent, text) {
            var node = document.createElementNS(NS, name);
            for (var key in attrs) node.setAttribute(key, attrs[key]);
            if (text !== undefined) node.textContent = text;
            if (parent) parent.appendChild(node);
            return node;
          }
          function round(v) { return Math.round(v * 100) / 100; }
          function fmt(v) {
            if (v === 0) return "0";
            var a = Math.abs(v);
            if (a >= 1000) return String(Math.round(v));
            if (a >= 100) return String(Math.round(v * 10) / 10);
            if (a >= 1) return String(Math.round(v * 100) / 100);
            return String(Math.round(v * 1000) / 1000);
          }
          function niceMax(v) {
            if (!(v > 0)) return 1;
            var step = Math.pow(10, Math.floor(Math.log10(v)));
            var steps = [1, 2, 2.5, 5, 10];
            for (var i = 0; i < steps.length; i++) if (steps[i] * step >= v) return steps[i] * step;
            return 10 * step;
          }

          // A chart: x values (numbers), series of y values (null: no value),
          // linear or log y, optional log x with tick labels given.
          function chart(id, cfg) {
            var host = document.getElementById(id);
            if (!host) return;
            var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "data-chart": cfg.name }, host);
            el("title", {}, svg, cfg.title);
            var xs = cfg.xs;
            var values = [];
            cfg.series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null && v !== undefined && (!cfg.yLog || v > 0)) values.push(v); }); });
            var xmin = xs.length ? Math.min.apply(null, xs) : 0, xmax = xs.length ? Math.max.apply(null, xs) : 1;
            if (xmax === xmin) xmax = xmin + 1;
            var ymin, ymax;
            if (cfg.yLog) {
              var lo = values.length ? Math.min.apply(null, values) : 0.1, hi = values.length ? Math.max.apply(null, values) : 1;
              ymin = Math.pow(10, Math.floor(Math.log10(lo)));
              ymax = Math.pow(10, Math.ceil(Math.log10(hi)));
              if (ymax <= ymin) ymax = ymin * 10;
            } else {
              ymin = 0;
              ymax = niceMax(values.length ? Math.max.apply(null, values) : 0);
            }
            svg.setAttribute("data-plot", [L, T, W - R, H - B].join(","));
            svg.setAttribute("data-x-domain", xmin + "," + xmax);
            svg.setAttribute("data-y-domain", ymin + "," + ymax);
            svg.setAttribute("data-y-scale", cfg.yLog ? "log" : "linear");
            function px(x) { return L + (x - xmin) / (xmax - xmin) * (W - L - R); }
            function py(y) {
              var f = cfg.yLog ? (Math.log10(y) - Math.log10(ymin)) / (Math.log10(ymax) - Math.log10(ymin)) : (y - ymin) / (ymax - ymin);
              return H - B - f * (H - T - B);
            }
            // Grid and y ticks.
            var yticks = [];
            if (cfg.yLog) {
              // Decades; with two or fewer, 2 and 5 between them too.
              var few = Math.log10(ymax / ymin) <= 2.01;
              for (var d = ymin; d <= ymax * 1.0001; d *= 10) {
                yticks.push(d);
                if (few && d * 10 <= ymax * 1.0001) { yticks.push(d * 2); yticks.push(d * 5); }
              }
            }
            else { for (var i = 0; i <= 5; i++) yticks.push(ymin + (ymax - ymin) * i / 5); }
            yticks.forEach(function (t) {
              el("line", { class: "grid", x1: L, x2: W - R, y1: round(py(t)), y2: round(py(t)) }, svg);
              el("text", { x: L - 6, y: round(py(t)) + 4, "text-anchor": "end" }, svg, fmt(t));
            });
            // X ticks.
            var xticks = cfg.xTicks;
            if (!xticks) {
              xticks = [];
              var span = xmax - xmin, step = Math.max(1, niceMax(span / 10));
              for (var x = Math.ceil(xmin / step) * step; x <= xmax; x += step) xticks.push([x, fmt(x)]);
            }
            xticks.forEach(function (t) {
              el("line", { class: "axis", x1: round(px(t[0])), x2: round(px(t[0])), y1: H - B, y2: H - B + 4 }, svg);
              el("text", { x: round(px(t[0])), y: H - B + 16, "text-anchor": "middle" }, svg, t[1]);
            });
            el("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }, svg);
            el("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }, svg);
            el("text", { class: "axis-label", x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" }, svg, cfg.xLabel);
            el("text", { class: "axis-label", x: 14, y: (T + H - B) / 2, "text-anchor": "middle", transform: "rotate(-90 14 " + (T + H - B) / 2 + ")" }, svg, cfg.yLabel);
            if (!values.length) {
              el("text", { class: "empty", x: (L + W - R) / 2, y: (T + H - B) / 2, "text-anchor": "middle" }, svg, cfg.empty || "no data");
            }
            // Series: a polyline per unbroken run of values, a dot per value with its figure.
            var legendX = L;
            cfg.series.forEach(function (s) {
              var group = el("g", { "data-series": s.name }, svg);
              var run = [];
              function flush() {
                if (run.length > 1) {
                  var attrs = { "data-series": s.name, fill: "none", stroke: s.color, "stroke-width": 2, points: run.join(" ") };
                  if (s.dash) attrs["stroke-dasharray"] = "6 4";
                  el("polyline", attrs, group);
                }
                run = [];
              }
              s.values.forEach(function (v, i) {
                if (v === null || v === undefined || (cfg.yLog && !(v > 0))) { flush(); return; }
                var x = round(px(xs[i])), y = round(py(v));
                run.push(x + "," + y);
                var dot = el("circle", { cx: x, cy: y, r: s.values.length > 120 ? 1.5 : 2.5, fill: s.color, "data-x": xs[i], "data-y": v }, group);
                el("title", {}, dot, (cfg.pointLabel ? cfg.pointLabel(xs[i]) : cfg.xLabel + " " + fmt(xs[i])) + ": " + s.name + " " + fmt(v) + (cfg.unit || ""));
              });
              flush();
              el("rect", { x: legendX, y: 10, width: 14, height: 4, fill: s.color }, svg);
              el("text", { x: legendX + 18, y: 16 }, svg, s.name);
              legendX += 28 + 7 * s.name.length;
            });
            return svg;
          }

          function bars(host, cfg) {
            var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "data-chart": cfg.name }, host);
            el("title", {}, svg, cfg.title);
            var n = cfg.labels.length;
            var ymax = niceMax(Math.max.apply(null, cfg.values.concat([0])));
            svg.setAttribute("data-plot", [L, T, W - R, H - B].join(","));
            svg.setAttribute("data-y-domain", "0," + ymax);
            svg.setAttribute("data-y-scale", "linear");
            for (var i = 0; i <= 5; i++) {
              var t = ymax * i / 5, y = round(H - B - t / ymax * (H - T - B));
              el("line", { class: "grid", x1: L, x2: W - R, y1: y, y2: y }, svg);
              el("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, svg, fmt(t));
            }
            var slot = (W - L - R) / Math.max(1, n), every = Math.ceil(n / 12), width = Math.min(slot * 0.7, 48);
            cfg.values.forEach(function (v, i) {
              var h = v / ymax * (H - T - B);
              var bar = el("rect", { "data-series": "codes", "data-value": v, x: round(L + (i + 0.5) * slot - width / 2), y: round(H - B - h), width: round(width), height: round(h), fill: palette.codes }, svg);
              el("title", {}, bar, cfg.labels[i] + ": " + v + " code" + (v === 1 ? "" : "s"));
              if (i % every === 0) el("text", { x: round(L + (i + 0.5) * slot), y: H - B + 16, "text-anchor": "middle" }, svg, cfg.labels[i]);
            });
            el("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }, svg);
            el("text", { class: "axis-label", x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" }, svg, cfg.xLabel);
            el("text", { class: "axis-label", x: 14, y: (T + H - B) / 2, "text-anchor": "middle", transform: "rotate(-90 14 " + (T + H - B) / 2 + ")" }, svg, cfg.yLabel);
            if (!n) el("text", { class: "empty", x: (L + W - R) / 2, y: (T + H - B) / 2, "text-anchor": "middle" }, svg, "no code was served");
          }

          var secondLabel = function (x) { return "second " + x; };
          // The schedule last, dashed: on top where the others follow it.
          var rateSeries = [{ name: "sent", color: palette.sent, values: data.sent }, { name: "answered", color: palette.answered, values: data.answered }];
          if (data.scheduled) rateSeries.push({ name: "scheduled", color: palette.scheduled, values: data.scheduled, dash: true });
          chart("chart-rate", { name: "rate", title: "Requests per second", xs: data.seconds, series: rateSeries, xLabel: "seconds from the start", yLabel: "requests/s", pointLabel: secondLabel, unit: "/s" });

          chart("chart-latency", { name: "latency", title: "Latency per second", xs: data.seconds, yLog: true,
            series: [{ name: "p50", color: palette.p50, values: data.p50 }, { name: "p99", color: palette.p99, values: data.p99 }],
            xLabel: "seconds from the start", yLabel: "latency ms", pointLabel: secondLabel, unit: " ms", empty: "no answers" });

          var kinds = Object.keys(data.errors).sort();
          chart("chart-errors", { name: "errors", title: "Errors per second", xs: data.seconds,
            series: kinds.map(function (k, i) { return { name: k, color: extra[i % extra.length], values: data.errors[k] }; }),
            xLabel: "seconds from the start", yLabel: "requests", pointLabel: secondLabel, empty: "no errors" });

          // Percentiles on a "nines" axis: 0%, 90%, 99%, 99.9%, ... equally spaced.
          var nines = data.percentiles.map(function (p) { return Math.log10(100 / Math.max(100 - p[0], 1e-4)); });
          if (data.percentiles.length && data.percentiles[data.percentiles.length - 1][0] === 100 && nines.length > 1) {
            nines[nines.length - 1] = Math.max(nines[nines.length - 2] + 0.5, Math.ceil(nines[nines.length - 2]));
          }
          var ticks = [[0, "0%"]];
          var top = nines.length ? nines[nines.length - 1] : 1;
          ["90%", "99%", "99.9%", "99.99%", "99.999%"].forEach(function (label, i) { if (i + 1 <= top - 0.4) ticks.push([i + 1, label]); });
          if (nines.length) ticks.push([top, "max"]);
          chart("chart-percentiles", { name: "percentiles", title: "Latency by percentile", xs: nines, yLog: true,
            series: [{ name: "latency", color: palette.latency, values: data.percentiles.map(function (p) { return p[1]; }) }],
            xTicks: ticks, xLabel: "percentile", yLabel: "latency ms", unit: " ms", empty: "no answers",
            pointLabel: function (x) { var i = nines.indexOf(x); return i >= 0 ? "p" + data.percentiles[i][0] : ""; } });

          var section = document.getElementById("accounts");
          data.accounts.forEach(function (account) {
            var title = document.createElement("h3");
            title.textContent = account.account;
            section.appendChild(title);
            var host = document.createElement("div");
            host.className = "chart";
            host.setAttribute("data-account", account.account);
            section.appendChild(host);
            var labels = account.windows.map(function (w) { return new Date(w[0] * 1000).toISOString().substring(11, 19); });
            bars(host, { name: "codes", title: "Codes per window of " + account.account, labels: labels,
              values: account.windows.map(function (w) { return w[1]; }), xLabel: "window start (UTC)", yLabel: "codes" });
          });
        })();
        """#
}
