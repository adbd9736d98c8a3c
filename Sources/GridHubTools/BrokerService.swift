import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging
import ServiceLifecycle
import UnixSignals

/// The embedded Kafka-protocol broker (`gridhub broker`): librdkafka's mock cluster with every topic
/// of the contract, until graceful shutdown. For testing clients against an outage, `SIGUSR1` takes
/// every broker down (connections dropped, new ones refused, records kept) and `SIGUSR2` brings them
/// back (with ``Configuration/outageSignals``).
public struct BrokerService: Service {
    /// Settings of the embedded broker.
    public struct Configuration: Sendable {
        /// How many brokers the cluster has.
        public var brokers: Int = 3
        /// Partitions of each contract topic.
        public var partitions: Int = TopicPlan.defaultPartitions
        /// Departments whose dispatch topics to create.
        public var departments: [Department]
        /// Whether `SIGUSR1` and `SIGUSR2` take the brokers down and bring them back.
        public var outageSignals = true

        public init(departments: [Department]) { self.departments = departments }
    }

    let configuration: Configuration
    let logger: Logger
    /// Called once the cluster listens and its topics exist, with the bootstrap servers.
    let onReady: @Sendable (String) -> Void

    public init(configuration: Configuration, logger: Logger, onReady: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.logger = logger
        self.onReady = onReady
    }

    public func run() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: configuration.brokers, logger: logger)
        do {
            try await cluster.createTopics(TopicPlan.topics(departments: configuration.departments, partitions: configuration.partitions)
                .map { .init($0.name, partitions: $0.partitions) })
            logger.info("embedded broker listening", metadata: [
                "kafka.bootstrap": .string(cluster.bootstrapServers),
                "kafka.brokers": .stringConvertible(configuration.brokers),
                "kafka.partitions": .stringConvertible(configuration.partitions),
            ])
            onReady(cluster.bootstrapServers)
            if configuration.outageSignals {
                await cancelWhenGracefulShutdown { await self.serveOutageSignals(cluster) }
            } else {
                try await gracefulShutdown()
            }
        } catch {
            await cluster.shutdown()
            throw error
        }
        logger.info("embedded broker stopping")
        await cluster.shutdown()
    }

    /// Takes the brokers down on `SIGUSR1` and brings them back on `SIGUSR2`, until cancelled.
    private func serveOutageSignals(_ cluster: EmbeddedKafkaCluster) async {
        for await signal in await UnixSignalsSequence(trapping: .sigusr1, .sigusr2) {
            if signal == .sigusr1 {
                await cluster.setBrokerDown()
                logger.warning("embedded broker down (SIGUSR1): connections dropped and refused until SIGUSR2")
            } else {
                await cluster.setBrokerUp()
                logger.warning("embedded broker up again (SIGUSR2)")
            }
        }
    }
}
