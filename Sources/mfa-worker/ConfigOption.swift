import ArgumentParser
import Foundation
import MFAConfig

/// `--config PATH`, falling back to `MFA_WORKER_CONFIG`.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The configuration file (YAML).", discussion: "Defaults to $MFA_WORKER_CONFIG.", valueName: "path"))
    var config: String?

    /// The path given by `--config` or the environment, or nil.
    var path: String? {
        config ?? ProcessInfo.processInfo.environment[WorkerConfiguration.environmentVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    func requiredPath() throws -> String {
        guard let path else {
            throw CommandFailure("no configuration: give --config PATH or set \(WorkerConfiguration.environmentVariable)")
        }
        return path
    }
}

/// stderr, unbuffered, for warnings and progress.
enum StandardError {
    static func print(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
