import Foundation
import GridHubKafka
import Logging

/// The embedded cluster shared by one test process, reached over loopback TCP like any cluster.
/// Each test uses its own topics (``withTestTopic(partitions:_:)``), so tests can run in parallel.
public enum TestKafka {
    /// The shared three-broker cluster, started on first use.
    public static let cluster: EmbeddedKafkaCluster = {
        do {
            return try EmbeddedKafkaCluster(brokers: 3, logger: quietLogger)
        } catch {
            fatalError("the embedded Kafka cluster did not start: \(error)")
        }
    }()

    /// Bootstrap servers of the shared cluster.
    public static var bootstrap: String { cluster.bootstrapServers }

    /// A logger that drops everything (tests never bootstrap the logging system).
    public static let quietLogger: Logger = {
        // GRIDHUB_TEST_LOG=warning (or info, debug) shows what the code under test logs, on standard error.
        guard let level = ProcessInfo.processInfo.environment["GRIDHUB_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) else {
            return Logger(label: "gridhub.test", factory: { _ in SwiftLogNoOpLogHandler() })
        }
        var logger = Logger(label: "gridhub.test", factory: { label in StreamLogHandler.standardError(label: label) })
        logger.logLevel = level
        return logger
    }()

    /// A fresh, uniquely named topic with `partitions` partitions on `cluster`.
    public static func makeTopic(partitions: Int = 3, on cluster: EmbeddedKafkaCluster = TestKafka.cluster, prefix: String = "test") async throws -> String {
        let name = "\(prefix).\(UUID().uuidString.lowercased().prefix(12))"
        try await cluster.createTopic(name, partitions: partitions)
        return name
    }

    /// Fresh, uniquely named topics, one per prefix, with `partitions` partitions on `cluster`, created
    /// side by side (see ``EmbeddedKafkaCluster/createTopics(_:)``).
    public static func makeTopics(_ prefixes: [String], partitions: Int = 3, on cluster: EmbeddedKafkaCluster = TestKafka.cluster) async throws -> [String] {
        let names = prefixes.map { "\($0).\(UUID().uuidString.lowercased().prefix(12))" }
        try await cluster.createTopics(names.map { .init($0, partitions: partitions) })
        return names
    }

    /// Client settings for `cluster`.
    public static func client(_ cluster: EmbeddedKafkaCluster = TestKafka.cluster) -> KafkaClientConfiguration {
        var c = KafkaClientConfiguration(bootstrapServers: cluster.bootstrapServers)
        c.clientID = "gridhub-test"
        return c
    }

    /// A producer with GridHub's defaults on `cluster`.
    public static func producer(_ cluster: EmbeddedKafkaCluster = TestKafka.cluster, configure: (inout KafkaProducerConfiguration) -> Void = { _ in }) throws -> KafkaProducer {
        var config = KafkaProducerConfiguration(client: client(cluster))
        config.deliveryTimeoutMilliseconds = 60_000
        configure(&config)
        return try KafkaProducer(configuration: config, logger: quietLogger)
    }

    /// A consumer on `cluster`, in `group` if given.
    public static func consumer(_ cluster: EmbeddedKafkaCluster = TestKafka.cluster, group: String? = nil, configure: (inout KafkaConsumerConfiguration) -> Void = { _ in }) throws -> KafkaConsumer {
        var config = KafkaConsumerConfiguration(client: client(cluster), groupID: group)
        config.sessionTimeoutMilliseconds = 6_000
        configure(&config)
        return try KafkaConsumer(configuration: config, logger: quietLogger)
    }

    /// Reads every partition of `topic` from the beginning until `count` records arrived or
    /// `timeout` passed, and returns what was read.
    /// With `settle`, it keeps reading that long after `count` arrived, so extra records show up.
    public static func readAll(_ topic: String, partitions: Int, count: Int, cluster: EmbeddedKafkaCluster = TestKafka.cluster, timeout: Duration = .seconds(30), settle: Duration = .zero) async throws -> [ConsumerRecord] {
        let consumer = try TestKafka.consumer(cluster)
        try consumer.assign((0..<Int32(partitions)).map { TopicPartitionOffset(topic: topic, partition: $0, offset: KafkaOffset.beginning) })
        var records: [ConsumerRecord] = []
        let deadline = ContinuousClock.now + timeout
        while records.count < count && ContinuousClock.now < deadline {
            records += try await consumer.poll(timeout: .milliseconds(200))
        }
        let settled = ContinuousClock.now + settle
        while ContinuousClock.now < settled {
            records += try await consumer.poll(timeout: .milliseconds(100))
        }
        await consumer.close()
        return records
    }

    /// Reads from `topic` for `quiet` after the last record and returns everything seen: for
    /// asserting that nothing more than expected arrives.
    /// Everything already on the topic when it is called is read first, however slow the machine (the
    /// partitions' end offsets, then up to 60 s); the quiet period only counts after that.
    public static func readUntilQuiet(_ topic: String, partitions: Int, cluster: EmbeddedKafkaCluster = TestKafka.cluster, quiet: Duration = .seconds(2)) async throws -> [ConsumerRecord] {
        try await readUntilQuiet([topic], client: client(cluster), quiet: quiet)
    }

    /// ``readUntilQuiet(_:partitions:cluster:quiet:)`` over every partition of several topics, on any
    /// cluster (a broker in another process included). A partition is read to its end when a record at
    /// its last offset arrived or the consumer's position passed it (the last offsets of a
    /// transactional producer's topic are commit markers, never delivered).
    public static func readUntilQuiet(_ topics: [String], client: KafkaClientConfiguration, quiet: Duration = .seconds(2)) async throws -> [ConsumerRecord] {
        let admin = try KafkaAdmin(configuration: client, logger: quietLogger)
        var all: [TopicPartition] = []
        var ends: [TopicPartition: Int64] = [:]
        for topic in topics {
            for end in try await admin.endOffsets(topic: topic) {
                all.append(end.topicPartition)
                if end.offset > 0 { ends[end.topicPartition] = end.offset }
            }
        }
        var config = KafkaConsumerConfiguration(client: client)
        config.sessionTimeoutMilliseconds = 6_000
        let consumer = try KafkaConsumer(configuration: config, logger: quietLogger)
        try consumer.assign(all.map { TopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: KafkaOffset.beginning) })
        var records: [ConsumerRecord] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while !ends.isEmpty && ContinuousClock.now < deadline {
            for record in try await consumer.poll(timeout: .milliseconds(200)) {
                records.append(record)
                let tp = TopicPartition(topic: record.topic, partition: record.partition)
                if let end = ends[tp], record.offset + 1 >= end { ends[tp] = nil }
            }
            for position in try consumer.positions(Array(ends.keys)) {
                if let end = ends[position.topicPartition], position.offset >= end { ends[position.topicPartition] = nil }
            }
        }
        var lastSeen = ContinuousClock.now
        while ContinuousClock.now - lastSeen < quiet {
            let batch = try await consumer.poll(timeout: .milliseconds(200))
            if !batch.isEmpty { lastSeen = .now }
            records += batch
        }
        await consumer.close()
        return records
    }
}
