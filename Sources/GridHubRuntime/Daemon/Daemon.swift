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
    /// Exports spans when a collector is configured (``SpanExport``); run first, so it stops last.
    public var spanExporter: (any Service)?

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
        var context = DaemonContext(config: config, kafka: kafka, logger: Logger(label: label))
        context.metrics.bootstrapMetricsSystem()
        do {
            context.spanExporter = try SpanExport.bootstrapIfConfigured(serviceName: label.replacingOccurrences(of: ".", with: "-"), environment: environment)
        } catch {
            throw ConfigFileError(message: "cannot export spans to the OpenTelemetry collector the OTEL_* variables name: \(error)")
        }
        return context
    }

    /// How long a graceful shutdown may take before the services are cancelled: within the units'
    /// `TimeoutStopSec=60s`, so the daemon ends on its own before systemd kills it.
    public static let gracefulShutdownLimit: Duration = .seconds(30)

    /// Runs `services` until SIGTERM or SIGINT, then shuts them down gracefully in reverse order
    /// (cancelled after ``gracefulShutdownLimit``). A service that returns early ends the daemon (it is
    /// a failure).
    public func run(_ services: [any Service]) async throws {
        let all = (spanExporter.map { [$0] } ?? []) + services
        try await Self.runUntilSignalled(Self.serviceGroup(all.map { .init(service: $0) }, logger: logger), logger: logger)
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

    /// How long services may take to end once cancelled before the process exits without them
    /// (exit 1): a wait that cannot be cancelled (a librdkafka call against a cluster that is gone)
    /// must not keep a daemon, or `gridhub dev` after one Ctrl-C, running for ever.
    public static let cancelledServicesLimit: Duration = .seconds(20)

    /// Runs `group` to its end. The first SIGINT or SIGTERM starts its graceful shutdown (bounded by
    /// the group's limit; the process exits by itself if the services have not ended
    /// ``cancelledServicesLimit`` after that); a second cancels every service at once; a third ends the
    /// process on the spot (exit 130). ServiceLifecycle ignores a repeated shutdown signal, hence this handler.
    public static func runUntilSignalled(_ group: ServiceGroup, logger: Logger, gracefulShutdownLimit limit: Duration = gracefulShutdownLimit) async throws {
        let signals = ShutdownSignals(logger: logger, exitAfter: limit + cancelledServicesLimit)
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
    private let stopped = Mutex(false)
    private let logger: Logger
    private let exitAfter: Duration

    init(logger: Logger, exitAfter: Duration) {
        self.logger = logger
        self.exitAfter = exitAfter
    }

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
                    let (seconds, attoseconds) = exitAfter.components
                    queue.asyncAfter(deadline: .now() + .milliseconds(Int(seconds * 1_000 + attoseconds / 1_000_000_000_000_000))) { [self] in
                        guard !stopped.withLock({ $0 }) else { return }
                        logger.critical("services did not end within \(exitAfter) of \(name): exiting without them")
                        _exit(1)
                    }
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
        stopped.withLock { $0 = true }
        let box = sources.withLock { s -> Sources in defer { s = Sources() }; return s }
        for source in box.list { source.cancel() }
        for number in [SIGINT, SIGTERM] { signal(number, SIG_DFL) }
    }
}
