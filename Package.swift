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
        .library(name: "GridHubKafka", targets: ["GridHubKafka"]),
        .library(name: "GridHubCore", targets: ["GridHubCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
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
            dependencies: [],
            swiftSettings: swiftSettings
        ),
        // Services that do I/O: the broker, topic administration, tail, benchmarks (later: adapters, router).
        .target(
            name: "GridHubServices",
            dependencies: [
                "GridHubKafka",
                "GridHubCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The one thin executable.
        .executableTarget(
            name: "gridhub",
            dependencies: [
                "GridHubServices",
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
                .product(name: "Logging", package: "swift-log"),
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
            dependencies: ["GridHubCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GridHubCLITests",
            dependencies: ["gridhub", "GridHubKafka", "GridHubCore", "GridHubTesting"],
            swiftSettings: swiftSettings
        ),
    ]
)
