import ArgumentParser
import Logging
import MFAConfig
import MFAWorker

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve mfa-code-request over RabbitMQ.",
        discussion: """
            Loads and checks the configuration, connects to the broker, declares the \
            request queue and consumes it with one connection per consumer thread. \
            Logs one line per request to stdout. SIGTERM or SIGINT stops it \
            gracefully (a second one at once). A bad configuration, an unreachable \
            broker, a refused login or a request queue with other arguments end it \
            with one line on stderr and exit status 1.
            """
    )

    @OptionGroup var config: ConfigOption

    @Option(help: ArgumentHelp("Consumer threads (default: the configuration's workers, else one per core).", valueName: "n"))
    var workers: Int?

    func validate() throws {
        if let workers, !(1...256).contains(workers) {
            throw ValidationError("--workers must be 1 to 256")
        }
    }

    func run() throws {
        // Before any key is read: no core dump can hold one.
        ProcessHardening.apply()
        let path = try config.requiredPath()
        let loaded = try LoadedConfiguration.load(path: path)
        if loaded.configuration.allowCoreDumps { ProcessHardening.allowCoreDumps() }
        let log = loaded.configuration.log
        LoggingSystem.bootstrap { label in
            WorkerLogHandler(label: label, format: log.format, level: log.level.loggerLevel)
        }
        let service = try WorkerService(loaded, configPath: path, logger: Logger(label: "mfa-worker"), workers: workers)
        let status = try service.run()
        if status != 0 { throw ExitCode(status) }
    }
}
