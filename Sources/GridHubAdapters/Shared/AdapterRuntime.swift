import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging
import ServiceLifecycle

/// What every adapter daemon is built from: one producer, the durable delivery ledger in its state
/// directory, Kafka reachability, and the shared ``IngestPipeline``. One mechanism for all four adapters.
public struct AdapterRuntime: Sendable {
    public let system: SourceSystem
    public let producer: KafkaProducer
    public let ledger: DeliveryLedger
    public let reachability: KafkaReachability
    public let pipeline: IngestPipeline
    public let metrics: DaemonMetrics
    public let readiness: Readiness
    public let logger: Logger
    public let stateDirectory: URL
    public let kafka: KafkaClientConfiguration

    /// Builds the runtime; registers Kafka reachability as a readiness check.
    public init(system: SourceSystem, kafka: KafkaClientConfiguration, stateDirectory: URL, metrics: DaemonMetrics, readiness: Readiness,
                logger: Logger, topics: IngestPipeline.Topics = .contract, deliveryTimeout: Duration = .seconds(30),
                ledgerRetention: TimeInterval = DeliveryLedger.defaultRetention, clock: @escaping @Sendable () -> Date = { Date() }) throws {
        self.system = system
        self.kafka = kafka
        self.stateDirectory = stateDirectory
        self.metrics = metrics
        self.readiness = readiness
        self.logger = logger
        var config = KafkaProducerConfiguration(client: kafka)
        config.deliveryTimeoutMilliseconds = Int(deliveryTimeout.components.seconds * 1000)
        // librdkafka's default 5 ms, not 1: at a thousand orders a second a produce request then carries
        // several orders instead of one. The broker's CPU per order fell by a sixth and the records of the
        // other daemons waited less behind it; the source's answer takes 2–5 ms longer (docs/performance.md,
        // stop 38).
        config.lingerMilliseconds = 5
        // Bounded: a sender beyond this waits for a slot (back-pressure), never an unbounded queue.
        config.maxInFlightRecords = 20_000
        producer = try KafkaProducer(configuration: config, logger: logger)
        // The topics adapters write, looked up now: the first order after a start waited about a second
        // for librdkafka to find its topic (not waited for here; without Kafka it only returns later).
        let producer = self.producer
        Task { await producer.prepare(topics: [Topics.incidents, Topics.surveys, Topics.deadLetter]) }
        ledger = try DeliveryLedger(directory: stateDirectory, retention: ledgerRetention, now: clock)
        reachability = KafkaReachability(admin: KafkaAdmin(sharing: producer), interval: .milliseconds(500), logger: logger)
        pipeline = IngestPipeline(system: system, producer: producer, ledger: ledger, reachability: reachability, metrics: metrics, logger: logger, topics: topics)
        let reach = reachability
        readiness.add("kafka") { reach.problem() }
    }

    /// The services every adapter runs besides its own, in start order: the producer (flushed last on
    /// shutdown) and the reachability probe.
    public var baseServices: [any Service] { [ProducerFlushService(producer: producer, logger: logger), reachability] }

    /// The state directory: `--state-dir`, else `GRIDHUB_STATE_DIR/<adapter>`, else `./var/<adapter>`.
    public static func stateDirectory(flag: String?, adapter: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let flag, !flag.isEmpty { return URL(fileURLWithPath: flag) }
        if let base = environment[EnvironmentSetting.stateDirectory.name], !base.isEmpty { return URL(fileURLWithPath: base).appendingPathComponent(adapter) }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("var").appendingPathComponent(adapter)
    }
}

/// Keeps the producer for the daemon's lifetime and flushes it (bounded) on graceful shutdown, after
/// the services started later (the HTTP server, the pollers) have finished their in-flight work.
public struct ProducerFlushService: Service {
    let producer: KafkaProducer
    let logger: Logger
    let timeout: Duration

    public init(producer: KafkaProducer, logger: Logger, timeout: Duration = .seconds(10)) {
        self.producer = producer
        self.logger = logger
        self.timeout = timeout
    }

    public func run() async throws {
        // Wait until shutdown is requested (cancellation or graceful), then flush.
        try? await gracefulShutdown()
        await producer.shutdown(timeout: timeout)
        logger.info("producer flushed")
    }
}
