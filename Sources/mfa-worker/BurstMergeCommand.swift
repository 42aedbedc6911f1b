import ArgumentParser
import Foundation
import MFABurst

struct BurstMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "burst-merge",
        abstract: "Merge the --json reports of bursts run from several hosts into one report.",
        discussion: """
            Reads reports written by `mfa-worker burst --json` (runs of one mode, \
            usually driven at the same time from several hosts against one worker \
            fleet) and prints one report of them all: counts added up, latency \
            percentiles from the runs' HDR histograms merged bucket by bucket (what \
            one run holding every request would report, to the histograms' \
            precision), and the seconds lined up by each run's wall-clock start. \
            --json prints it as JSON (which burst-merge reads again), --report \
            FILE.html writes the HTML page. One file re-renders a saved report. \
            Exit status 1 when a request was not answered ok or a code was wrong.
            """
    )

    @Argument(help: ArgumentHelp("Reports written by burst --json.", valueName: "report.json"))
    var files: [String]

    @Flag(help: "Print the merged report as JSON.")
    var json = false

    @Option(help: ArgumentHelp("Also write the merged report as a self-contained HTML page with charts.", valueName: "file.html"))
    var report: String?

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one report (burst --json output)") }
    }

    func run() throws {
        var runs: [(name: String, report: BurstReport)] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
            do {
                runs.append((file, try JSONDecoder().decode(BurstReport.self, from: data)))
            } catch DecodingError.keyNotFound(let key, _) {
                throw CommandFailure("\(file) is not a report of this version of burst --json: it has no '\(key.stringValue)'")
            } catch {
                throw CommandFailure("\(file) is not a report of burst --json")
            }
        }
        let merged: BurstReport
        do {
            merged = try BurstReport.merge(runs)
        } catch {
            throw CommandFailure(error.description)
        }
        try BurstOutput.emit(merged, json: json, htmlPath: report)
    }
}
