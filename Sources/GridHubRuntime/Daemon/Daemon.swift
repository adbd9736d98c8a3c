import Dispatch
import Foundation
import GridHubKafka
import Logging
import ServiceLifecycle
import Synchronization

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
        let context = DaemonContext(config: config, kafka: kafka, logger: Logger(label: label))
        context.metrics.bootstrapMetricsSystem()
        return context
    }

    /// How long a graceful shutdown may take before the services are cancelled: within the units'
    /// `TimeoutStopSec=60s`, so the daemon ends on its own before systemd kills it.
    public static let gracefulShutdownLimit: Duration = .seconds(30)

    /// Runs `services` until SIGTERM or SIGINT, then shuts them down gracefully in reverse order
    /// (cancelled after ``gracefulShutdownLimit``). A service that returns early ends the daemon (it is
    /// a failure).
    public func run(_ services: [any Service]) async throws {
        try await Self.runUntilSignalled(Self.serviceGroup(services.map { .init(service: $0) }, logger: logger), logger: logger)
    }

    /// The group every long-running command runs (``run(_:)``, `gridhub dev`, `gridhub broker`,
    /// `gridhub tail`): services shut down in reverse order, cancelled once a graceful shutdown has
    /// taken `limit`. Signals are handled by ``runUntilSignalled(_:logger:)``.
    public static func serviceGroup(_ services: [ServiceGroupConfiguration.ServiceConfiguration], logger: Logger,
                                    gracefulShutdownLimit limit: Duration = gracefulShutdownLimit) -> ServiceGroup {
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.maximumGracefulShutdownDuration = limit
        return ServiceGroup(configuration: configuration)
    }

    /// Runs `group` to its end. The first SIGINT or SIGTERM starts its graceful shutdown (bounded by
    /// the group's limit); a second cancels every service at once; a third ends the process on the
    /// spot (exit 130). ServiceLifecycle ignores a repeated shutdown signal, hence this handler.
    public static func runUntilSignalled(_ group: ServiceGroup, logger: Logger) async throws {
        let signals = ShutdownSignals(logger: logger)
        let task = Task { try await group.run() }
        signals.start(
            graceful: { Task { await group.triggerGracefulShutdown() } },
            cancel: { task.cancel() })
        defer { signals.stop() }
        try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }
}

/// SIGINT and SIGTERM, counted: the first asks for a graceful shutdown, the second cancels, the third exits.
final class ShutdownSignals: Sendable {
    /// Dispatch sources are thread-safe but not marked `Sendable`; they are only started and cancelled.
    private struct Sources: @unchecked Sendable { var list: [any DispatchSourceSignal] = [] }
    private let sources = Mutex(Sources())
    private let count = Mutex(0)
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func start(graceful: @escaping @Sendable () -> Void, cancel: @escaping @Sendable () -> Void) {
        let queue = DispatchQueue(label: "gridhub.signals")
        let made = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [self] in
                let n = count.withLock { c -> Int in c += 1; return c }
                let name = number == SIGINT ? "SIGINT" : "SIGTERM"
                switch n {
                case 1:
                    logger.notice("\(name): shutting down gracefully (send it again to stop at once)")
                    graceful()
                case 2:
                    logger.warning("\(name) again: cancelling every service now")
                    cancel()
                default:
                    logger.critical("\(name) a third time: exiting without cleaning up")
                    _exit(130)
                }
            }
            source.resume()
            return source
        }
        let box = Sources(list: made)
        sources.withLock { $0 = box }
    }

    func stop() {
        let box = sources.withLock { s -> Sources in defer { s = Sources() }; return s }
        for source in box.list { source.cancel() }
        for number in [SIGINT, SIGTERM] { signal(number, SIG_DFL) }
    }
}
