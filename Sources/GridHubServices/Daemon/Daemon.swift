import Foundation
import GridHubKafka
import Logging
import ServiceLifecycle

/// What every daemon has: its configuration file, the Kafka settings from the environment, metrics,
/// readiness, and a logger. Built once in `main`, handed to the daemon's services.
public struct DaemonContext: Sendable {
    public var config: ConfigFile
    public var kafka: KafkaClientConfiguration
    public var metrics: DaemonMetrics
    public var readiness: Readiness
    public var logger: Logger

    public init(config: ConfigFile, kafka: KafkaClientConfiguration, metrics: DaemonMetrics = DaemonMetrics(), readiness: Readiness = Readiness(), logger: Logger) {
        self.config = config
        self.kafka = kafka
        self.metrics = metrics
        self.readiness = readiness
        self.logger = logger
    }

    /// The context from `--config`/`GRIDHUB_CONFIG` and `GRIDHUB_BOOTSTRAP`/`GRIDHUB_KAFKA_*`; fails
    /// with a message naming what is missing.
    public static func fromEnvironment(configPath: String?, label: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DaemonContext {
        let config = try ConfigFile.load(path: configPath, environment: environment)
        let kafka: KafkaClientConfiguration
        do { kafka = try KafkaEnvironment.clientConfiguration(from: environment) } catch {
            throw ConfigFileError(message: error.message)
        }
        return DaemonContext(config: config, kafka: kafka, logger: Logger(label: label))
    }

    /// How long a graceful shutdown may take before the services are cancelled: within the units'
    /// `TimeoutStopSec=60s`, so the daemon ends on its own before systemd kills it.
    public static let gracefulShutdownLimit: Duration = .seconds(30)

    /// Runs `services` until SIGTERM or SIGINT, then shuts them down gracefully in reverse order
    /// (cancelled after ``gracefulShutdownLimit``). A service that returns early ends the daemon (it is
    /// a failure).
    public func run(_ services: [any Service]) async throws {
        try await Self.serviceGroup(services.map { .init(service: $0) }, logger: logger).run()
    }

    /// The group every long-running command runs (``run(_:)``, `gridhub broker`, `gridhub tail`):
    /// graceful shutdown on SIGTERM or SIGINT, cancelled after `limit`.
    public static func serviceGroup(_ services: [ServiceGroupConfiguration.ServiceConfiguration], logger: Logger,
                                    gracefulShutdownLimit limit: Duration = gracefulShutdownLimit) -> ServiceGroup {
        var configuration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = limit
        return ServiceGroup(configuration: configuration)
    }
}
