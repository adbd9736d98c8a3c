import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging
import PostgresNIO
import ServiceLifecycle

/// The router's services, built from its configuration: the PostgreSQL pool, the consume loop, the
/// outbox publisher and the deadline scheduler. `gridhub router` runs them with the admin server.
public struct RouterDaemon: Sendable {
    /// What the router needs to start.
    public struct Configuration: Sendable {
        /// `postgres://user:pass@host:port/db` (`GRIDHUB_DATABASE_URL`).
        public var databaseURL: String
        /// The Kafka cluster.
        public var kafka: KafkaClientConfiguration
        /// Consume-loop settings (group, batch size, topics).
        public var consumer = RouterConsumer.Configuration()
        /// Connections in the pool.
        public var maximumConnections = 6
        /// Outbox rows read and produced per publish round.
        public var outboxBatch = 5_000
        /// How often overdue cases are looked for.
        public var deadlineInterval: Duration = .seconds(1)
        /// How often the grid workers' report mix is looked at (docs/report-mix.md).
        public var reportMixInterval: Duration = .seconds(3_600)

        public init(databaseURL: String, kafka: KafkaClientConfiguration) {
            self.databaseURL = databaseURL
            self.kafka = kafka
        }
    }

    public let client: PostgresClient
    /// The pool as a service, its stop bounded.
    public let pool: DatabasePool
    public let store: RouterStore
    public let consumer: RouterConsumer
    public let publisher: OutboxPublisher
    public let scheduler: DeadlineScheduler
    public let reportMix: ReportMixWatch
    /// Measures the consumer lag for `/metrics`.
    public let lag: ConsumerLagWatch
    public let metrics: RouterMetrics
    /// Probes the Kafka cluster every second, for `/readyz`.
    public let kafkaReachability: KafkaReachability

    public init(configuration: Configuration, environment: RouterEnvironment, metrics daemonMetrics: DaemonMetrics, logger: Logger) throws {
        client = PostgresClient(configuration: try RouterStore.configuration(url: configuration.databaseURL, maximumConnections: configuration.maximumConnections),
                                backgroundLogger: logger)
        pool = DatabasePool(client, logger: logger)
        store = RouterStore(client: client, logger: logger)
        metrics = RouterMetrics(metrics: daemonMetrics, departments: environment.reference.departments.map(\.code))
        // The consumer hands the bodies it commits to the publisher in memory; the table stays the durable copy.
        let outboxMemory = OutboxMemory()
        consumer = RouterConsumer(configuration: configuration.consumer, kafka: configuration.kafka, store: store, environment: environment,
                                  metrics: metrics, logger: logger, outboxMemory: outboxMemory)
        publisher = try OutboxPublisher(kafka: configuration.kafka, store: store, metrics: metrics, logger: logger, batchSize: configuration.outboxBatch,
                                        memory: outboxMemory, topics: Topics.all(departments: environment.reference.departments))
        scheduler = DeadlineScheduler(store: store, environment: environment, metrics: metrics, logger: logger, interval: configuration.deadlineInterval)
        reportMix = ReportMixWatch(store: store, environment: environment, logger: logger, interval: configuration.reportMixInterval)
        let c = configuration.consumer
        lag = ConsumerLagWatch(store: store, admin: publisher.admin, topics: [c.incidentsTopic, c.feedbackTopic, c.surveysTopic, c.commandsTopic],
                               metrics: daemonMetrics, logger: logger)
        kafkaReachability = KafkaReachability(admin: publisher.admin, interval: .seconds(1), logger: logger)
    }

    /// Every service, the pool first (it must run before the others can use it, and stops last).
    public var services: [any Service] { [pool, kafkaReachability, consumer, publisher, scheduler, reportMix, lag] }

    /// Adds the router's readiness checks: Kafka answers, the database answers (the deadline check
    /// reaches it every interval), and the consume loop runs with working transactions.
    public func register(in readiness: Readiness) {
        let kafka = kafkaReachability, scheduler = scheduler, consumer = consumer
        readiness.add("kafka") { kafka.problem() }
        readiness.add("database") { scheduler.problem() }
        readiness.add("router") { consumer.problem() }
    }

    /// Loads and validates the routing rules file; the error says which line is wrong.
    public static func loadRules(path: String, reference: ReferenceData) throws -> RoutingRules {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw RouterError("cannot read routing rules \(path): \(error.localizedDescription)")
        }
        do { return try RoutingRules(text: text, reference: reference) } catch {
            throw RouterError("\(path): \(error.description)")
        }
    }

    /// `Deploy/routing.json` beside the reference directory (`Deploy/reference`), if it exists.
    public static func defaultRulesPath(referenceDirectory: URL) -> String {
        referenceDirectory.deletingLastPathComponent().appendingPathComponent("routing.json").path
    }
}
