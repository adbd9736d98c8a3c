// swift-tools-version:6.1
import PackageDescription

/// Swift 6 language mode everywhere, plus these upcoming features, stated once.
let swiftSettings: [SwiftSetting] = {
    var settings: [SwiftSetting] = [
        // SE-0335 https://github.com/swiftlang/swift-evolution/blob/main/proposals/0335-existential-any.md
        .enableUpcomingFeature("ExistentialAny"),
    ]
    // CI builds with warnings as errors (only our own targets, never dependencies).
    if Context.environment["CI"] != nil {
        settings.append(.unsafeFlags(["-warnings-as-errors"]))
    }
    return settings
}()

let package = Package(
    name: "GridHub",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gridhub", targets: ["gridhub"]),
        .executable(name: "gridhub-bench", targets: ["gridhub-bench"]),
        .library(name: "GridHubKafka", targets: ["GridHubKafka"]),
        .library(name: "GridHubCore", targets: ["GridHubCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.25.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.3.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.21.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        // Spans exported over OTLP/HTTP when a collector is configured (not gRPC: it would build grpc-swift for nothing).
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.1.0"),
        // Layering of a daemon's settings (command line, environment, file); its default traits only (no YAML).
        .package(url: "https://github.com/apple/swift-configuration", from: "1.0.0"),
    ],
    // Layers, each using only those before it (docs/architecture.md):
    //   1. CRdKafka → GridHubKafka (the only module that touches C)   1. GridHubCore (pure: no I/O)
    //   2. GridHubRuntime (what every process shares)
    //   3. GridHubAdapters, GridHubRouter, GridHubTools, GridHubSimulation (none uses another)
    //   4. GridHubConsole, GridHubGateway (over the router's database), GridHubBenchmarks
    //   5. the executables gridhub and gridhub-bench
    //   GridHubTesting (test support) is not a product: only the test targets use it.
    targets: [
        // The C library. Only GridHubKafka imports it.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // Kafka client: producer, consumer, admin, embedded (mock) cluster. Owns every C handle.
        .target(
            name: "GridHubKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The pure core: canonical model, reference data, places, classification. No I/O but reading files at start.
        .target(
            name: "GridHubCore",
            dependencies: [
                // SHA-256 (deterministic ids) and HMAC-SHA256 (12345 signatures): the well-tested implementation.
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // What every process shares: settings (environment, configuration files), logging, health and
        // readiness, metrics, the HTTP edge's limits, signals and bounded shutdown, child processes, a
        // private PostgreSQL, text encodings (GBK).
        .target(
            name: "GridHubRuntime",
            dependencies: [
                "GridHubKafka",
                "GridHubCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: swiftSettings
        ),
        // The four source adapters: 12345 hotline, 综治e通 (push), City Woodpecker, enforcement files (pull),
        // the ingest pipeline with its delivery ledger, the status paths back to each source, and the one
        // way each adapter daemon is built (AdapterDaemons).
        .target(
            name: "GridHubAdapters",
            dependencies: [
                "GridHubRuntime",
                "GridHubKafka",
                "GridHubCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // What operators and developers run beside the daemons: `gridhub tail`, the embedded broker
        // (`gridhub broker`), the live summary of `gridhub dev`.
        .target(
            name: "GridHubTools",
            dependencies: [
                "GridHubRuntime",
                "GridHubKafka",
                "GridHubCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The router: cases, routing, dispatch, feedback, deadlines; state in PostgreSQL.
        .target(
            name: "GridHubRouter",
            dependencies: [
                "GridHubRuntime",
                "GridHubKafka",
                "GridHubCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // The command centre's console (`gridhub console`): a web page over the router's database and
        // the topics; it writes only commands.
        .target(
            name: "GridHubConsole",
            dependencies: [
                "GridHubRouter",
                "GridHubAdapters",
                "GridHubRuntime",
                "GridHubKafka",
                "GridHubCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The department gateway (`gridhub gateway`): HTTP and Open311 for systems without Kafka.
        .target(
            name: "GridHubGateway",
            dependencies: [
                "GridHubRouter",
                "GridHubRuntime",
                "GridHubKafka",
                "GridHubCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // The simulated city: faithful doubles of the four source systems and of department desks, built
        // from their specifications. Used by the tests and by `gridhub dev`.
        .target(
            name: "GridHubSimulation",
            dependencies: [
                "GridHubRuntime",
                "GridHubKafka",
                "GridHubCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The benchmarks (`gridhub bench …`): each against raw librdkafka on the same broker in the same run.
        .target(
            name: "GridHubBenchmarks",
            dependencies: [
                "GridHubRouter",
                "GridHubSimulation",
                "GridHubAdapters",
                "GridHubRuntime",
                "GridHubKafka",
                "GridHubCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The benchmarks' executable, which `gridhub bench` runs: kept out of the daemons' binary.
        .executableTarget(
            name: "gridhub-bench",
            dependencies: [
                "GridHubBenchmarks",
                "GridHubRouter",
                "GridHubAdapters",
                "GridHubRuntime",
                "GridHubSimulation",
                "GridHubCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The one thin executable of the product: commands that read settings and run services.
        .executableTarget(
            name: "gridhub",
            dependencies: [
                "GridHubRuntime",
                "GridHubTools",
                "GridHubAdapters",
                "GridHubRouter",
                "GridHubConsole",
                "GridHubGateway",
                "GridHubSimulation",
                "GridHubKafka",
                "GridHubCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Test helpers shared by every test target.
        .target(
            name: "GridHubTesting",
            dependencies: [
                "GridHubKafka",
                "GridHubRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GridHubKafkaTests",
            dependencies: ["GridHubKafka", "GridHubTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GridHubCoreTests",
            dependencies: ["GridHubCore", "GridHubRuntime"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GridHubRuntimeTests",
            dependencies: ["GridHubRuntime", "GridHubKafka", "GridHubCore", "GridHubTesting",
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GridHubToolsTests",
            dependencies: ["GridHubTools", "GridHubRuntime", "GridHubKafka", "GridHubCore", "GridHubTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GridHubAdapterTests",
            dependencies: ["gridhub", "GridHubAdapters", "GridHubSimulation", "GridHubRuntime", "GridHubKafka", "GridHubCore", "GridHubTesting",
                           .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GridHubRouterTests",
            dependencies: ["gridhub", "gridhub-bench", "GridHubBenchmarks", "GridHubRouter", "GridHubAdapters", "GridHubSimulation", "GridHubRuntime", "GridHubKafka", "GridHubCore", "GridHubTesting",
                           .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GridHubCLITests",
            dependencies: ["gridhub", "gridhub-bench", "GridHubSimulation", "GridHubRuntime", "GridHubKafka", "GridHubCore", "GridHubTesting",
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            swiftSettings: swiftSettings
        ),
    ]
)

// The libFuzzer targets of the parsers of outside input (Fuzz/, run by scripts/fuzz): only when
// GRIDHUB_FUZZ is set, since the binary has no main of its own (libFuzzer's is linked in).
if Context.environment["GRIDHUB_FUZZ"] != nil {
    package.targets.append(.executableTarget(name: "GridHubFuzz", dependencies: ["GridHubCore"], path: "Fuzz/GridHubFuzz",
                                                swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]))
}
