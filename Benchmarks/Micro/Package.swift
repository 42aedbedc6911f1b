// swift-tools-version:6.1
// Micro-benchmarks of the hot path, with ordo-one/benchmark: a package of its
// own, so that the main build and CI do not build the benchmark framework.
//   swift package --package-path Benchmarks/Micro benchmark
import PackageDescription

let package = Package(
    name: "mfa-worker-micro-benchmarks",
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "MFAMicro",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TOTP", package: "main"),
                .product(name: "MFAWorkerCore", package: "main"),
            ],
            path: "Benchmarks/MFAMicro",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
