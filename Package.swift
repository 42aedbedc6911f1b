// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "mfa-worker",
    products: [
        .executable(name: "mfa-worker", targets: ["mfa-worker"]),
        .executable(name: "mfa-echo-responder", targets: ["mfa-echo-responder"]),
        .library(name: "TOTP", targets: ["TOTP"]),
        .library(name: "MFAClient", targets: ["MFAClient", "MFABroker"]),
        // For Benchmarks/Micro, a package of its own.
        .library(name: "MFAWorkerCore", targets: ["MFAWorkerCore", "MFAProtocol", "MFAConfig"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        // 2.3.0: metric names with their # HELP text (MetricNameDescriptor).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.3.0"),
    ],
    targets: [
        // C libraries. Only AMQP imports CRabbitMQ; only TOTP imports COpenSSL.
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // The kernel's clock discipline (adjtimex), for the clock check.
        .systemLibrary(name: "CClock"),
        // zlib: HdrHistogram's standard encoding of a histogram is deflated.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Pure layers. MFABroker: a broker's URL and the reconnection
        // backoff, for the worker, the client and the load generator alike.
        .target(name: "MFABroker"),
        .target(name: "TOTP", dependencies: ["COpenSSL"]),
        .target(name: "MFAProtocol", dependencies: ["TOTP"]),
        .target(name: "MFAWorkerCore", dependencies: ["MFAProtocol", "MFAConfig", "MFABroker", "TOTP"]),
        .target(
            name: "MFAConfig",
            dependencies: ["TOTP", "MFAProtocol", "MFABroker", .product(name: "Yams", package: "Yams")]
        ),

        // The Swift face of librabbitmq: the only importer of CRabbitMQ.
        .target(name: "AMQP", dependencies: ["CRabbitMQ", "MFABroker"]),

        // The service: consumer threads, start-up, shutdown. Glue between AMQP
        // and MFAWorkerCore.
        .target(
            name: "MFAWorker",
            dependencies: [
                "AMQP", "MFABroker", "MFAWorkerCore", "MFAConfig", "MFAProtocol", "TOTP", "CClock",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),

        // The requester's library.
        .target(name: "MFAClient", dependencies: ["AMQP", "MFABroker", "MFAProtocol"]),

        // The load generator behind `mfa-worker burst`.
        .target(
            name: "MFABurst",
            dependencies: ["AMQP", "MFABroker", "MFAProtocol", "TOTP", "CZlib", .product(name: "Histogram", package: "hdrhistogram-swift")]
        ),

        // The command line.
        .executableTarget(
            name: "mfa-worker",
            dependencies: [
                "TOTP",
                "MFAConfig",
                "MFAProtocol",
                "MFAWorker",
                "MFAClient",
                "MFABurst",
                "AMQP",
                "MFABroker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The no-work responder that benchmarks measure the worker against.
        .executableTarget(name: "mfa-echo-responder", dependencies: ["AMQP", "MFABroker"], path: "Benchmarks/EchoResponder"),

        .testTarget(name: "TOTPTests", dependencies: ["TOTP"]),
        .testTarget(name: "MFAConfigTests", dependencies: ["MFAConfig", "MFABroker", "TOTP"]),
        .testTarget(name: "MFAProtocolTests", dependencies: ["MFAProtocol", "TOTP"]),
        .testTarget(name: "MFAWorkerCoreTests", dependencies: ["MFAWorkerCore", "MFAConfig", "MFAProtocol", "MFABroker", "TOTP"]),
        // The load generator's reports, schedules and histograms, without a broker.
        .testTarget(name: "MFABurstTests", dependencies: ["MFABurst", "MFABroker", .product(name: "Histogram", package: "hdrhistogram-swift")]),
        // The service's own pure parts (its log lines), without a broker.
        .testTarget(name: "MFAWorkerTests", dependencies: ["MFAWorker", "MFAConfig", .product(name: "Logging", package: "swift-log")]),
        // The frames the wrapper encodes itself, without a broker.
        .testTarget(name: "AMQPTests", dependencies: ["AMQP"]),
        // Against the RabbitMQ node that scripts/broker.sh starts.
        .testTarget(name: "AMQPBrokerTests", dependencies: ["AMQP"]),
        // Runs the built executable as a user would.
        .testTarget(name: "CommandLineTests", dependencies: ["mfa-worker", "TOTP", "TestSupport"]),
        .testTarget(name: "WorkerBrokerTests", dependencies: ["mfa-worker", "AMQP", "MFABroker", "TOTP", "TestSupport"]),
        // Broker restarts and a lost cluster node: run by scripts/test-faults.sh,
        // which starts the nodes they break.
        .testTarget(name: "FaultTests", dependencies: ["mfa-worker", "AMQP", "MFABroker", "MFAClient", "TestSupport"]),
        // Helpers shared by the tests: running programs, a worker process, a requester.
        .target(name: "TestSupport", dependencies: ["AMQP", "TOTP", "MFAClient", "MFAConfig"], path: "Tests/TestSupport"),
    ]
)
