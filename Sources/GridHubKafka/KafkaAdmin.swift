import CRdKafka
import Dispatch
import Logging

/// A topic as the cluster describes it.
public struct TopicDescription: Sendable, Hashable {
    public var name: String
    public var partitionCount: Int
}

/// A topic to create.
public struct NewTopic: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int
    /// Topic configuration, e.g. `cleanup.policy` = `compact`.
    public var config: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int = -1, config: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.config = config
    }
}

/// The lag of a consumer group on one partition.
public struct PartitionLag: Sendable, Hashable {
    public var topicPartition: TopicPartition
    /// The group's committed offset, nil when it has none.
    public var committed: Int64?
    /// The partition's end offset (the offset the next record will get).
    public var end: Int64
    /// Records not yet committed by the group.
    public var lag: Int64 { end - max(committed ?? 0, 0) }
}

/// Cluster administration: topics, partitions, end offsets and consumer-group lag.
/// Every call blocks on librdkafka (seconds when the cluster does not answer), so each runs on a thread of its own.
///
/// An admin has a librdkafka client of its own (its threads and a connection to each broker), or asks
/// over a producer's (``init(sharing:)``): a daemon that already has a producer needs no second client
/// to ask whether the cluster answers.
///
/// `@unchecked Sendable`: the C handle is thread-safe.
public final class KafkaAdmin: @unchecked Sendable {
    private let handle: RDKafkaHandle
    /// The producer whose client this admin asks over, kept alive as long as the admin; nil when the
    /// admin's client is its own (and is destroyed with it).
    private let producer: KafkaProducer?
    private let client: KafkaClientConfiguration
    private let logger: Logger

    public init(configuration: KafkaClientConfiguration, logger: Logger) throws(KafkaError) {
        client = configuration
        self.logger = logger
        var props = configuration.librdkafkaProperties
        props += configuration.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        handle = try RDKafkaHandle(kind: .producer, properties: props, context: RDKafkaContext(logger: logger))
        producer = nil
    }

    /// An admin that asks over `producer`'s client: no threads or connections of its own. The producer
    /// stays alive as long as the admin, and its shutdown does not stop the admin's questions (its
    /// client lives until both are released).
    public init(sharing producer: KafkaProducer) {
        handle = producer.handle
        self.producer = producer
        client = producer.configuration.client
        logger = producer.logger
    }

    deinit { if producer == nil { handle.destroy() } }

    /// Every topic of the cluster (internal ones excluded) with its partition count.
    public func listTopics(timeout: Duration = .seconds(10)) async throws(KafkaError) -> [TopicDescription] {
        let handle = self.handle
        let result: Result<[TopicDescription], KafkaError> = await runOnOwnThread {
            var md: UnsafePointer<rd_kafka_metadata>? = nil
            let err = rd_kafka_metadata(handle.pointer, 1, nil, &md, Int32(clamping: timeout.milliseconds))
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let md else {
                return .failure(KafkaError.rd(err, code: .admin, context: "read cluster metadata"))
            }
            defer { rd_kafka_metadata_destroy(md) }
            var topics: [TopicDescription] = []
            for i in 0..<Int(md.pointee.topic_cnt) {
                let t = md.pointee.topics[i]
                let name = String(cString: t.topic)
                if name.hasPrefix("__") || t.err != RD_KAFKA_RESP_ERR_NO_ERROR { continue }
                topics.append(TopicDescription(name: name, partitionCount: Int(t.partition_cnt)))
            }
            return .success(topics.sorted { $0.name < $1.name })
        }
        return try result.get()
    }

    /// The brokers of the cluster as `host:port`.
    public func listBrokers(timeout: Duration = .seconds(10)) async throws(KafkaError) -> [String] {
        let handle = self.handle
        let result: Result<[String], KafkaError> = await runOnOwnThread {
            var md: UnsafePointer<rd_kafka_metadata>? = nil
            let err = rd_kafka_metadata(handle.pointer, 0, nil, &md, Int32(clamping: timeout.milliseconds))
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let md else {
                return .failure(KafkaError.rd(err, code: .admin, context: "read cluster metadata"))
            }
            defer { rd_kafka_metadata_destroy(md) }
            return .success((0..<Int(md.pointee.broker_cnt)).map { i in
                let b = md.pointee.brokers[i]
                return "\(String(cString: b.host)):\(b.port)"
            })
        }
        return try result.get()
    }

    /// Creates the topics that do not exist yet and returns the names it created. Existing topics are
    /// left as they are, so calling it again is harmless.
    @discardableResult
    public func createTopics(_ topics: [NewTopic], timeout: Duration = .seconds(30)) async throws(KafkaError) -> [String] {
        let existing = Set(try await listTopics(timeout: timeout).map(\.name))
        let missing = topics.filter { !existing.contains($0.name) }
        guard !missing.isEmpty else { return [] }
        let handle = self.handle
        let result: Result<[String], KafkaError> = await runOnOwnThread {
            KafkaAdmin.createTopicsBlocking(handle: handle, topics: missing, timeout: timeout)
        }
        return try result.get()
    }

    /// The low and high watermark (first offset, next offset) of a partition.
    public func watermarks(_ tp: TopicPartition, timeout: Duration = .seconds(10)) async throws(KafkaError) -> (low: Int64, high: Int64) {
        let handle = self.handle
        let result: Result<Watermarks, KafkaError> = await runOnOwnThread {
            var low: Int64 = 0
            var high: Int64 = 0
            let err = rd_kafka_query_watermark_offsets(handle.pointer, tp.topic, tp.partition, &low, &high, Int32(clamping: timeout.milliseconds))
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { return .failure(KafkaError.rd(err, code: .admin, context: "watermarks of \(tp)")) }
            return .success(Watermarks(low: low, high: high))
        }
        let w = try result.get()
        return (w.low, w.high)
    }

    /// The end offset of every partition of `topic`.
    public func endOffsets(topic: String, timeout: Duration = .seconds(10)) async throws(KafkaError) -> [TopicPartitionOffset] {
        guard let description = try await listTopics(timeout: timeout).first(where: { $0.name == topic }) else {
            throw KafkaError(code: .admin, message: "topic \(topic) does not exist")
        }
        var result: [TopicPartitionOffset] = []
        for p in 0..<Int32(description.partitionCount) {
            let w = try await watermarks(TopicPartition(topic: topic, partition: p), timeout: timeout)
            result.append(TopicPartitionOffset(topic: topic, partition: p, offset: w.high))
        }
        return result
    }

    /// The lag of consumer group `groupID` on every partition of `topic`.
    public func consumerGroupLag(groupID: String, topic: String, timeout: Duration = .seconds(10)) async throws(KafkaError) -> [PartitionLag] {
        let ends = try await endOffsets(topic: topic, timeout: timeout)
        var config = KafkaConsumerConfiguration(client: client, groupID: groupID)
        config.readCommitted = true
        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        defer { Task { await consumer.close() } }
        let committed = try await consumer.committed(ends.map(\.topicPartition), timeout: timeout)
        let byPartition = Dictionary(uniqueKeysWithValues: committed.map { ($0.topicPartition, $0.offset) })
        return ends.map { end in
            let c = byPartition[end.topicPartition].flatMap { $0 >= 0 ? $0 : nil }
            return PartitionLag(topicPartition: end.topicPartition, committed: c, end: end.offset)
        }
    }

    private struct Watermarks: Sendable { var low: Int64; var high: Int64 }


    private static func createTopicsBlocking(handle: RDKafkaHandle, topics: [NewTopic], timeout: Duration) -> Result<[String], KafkaError> {
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for t in newTopics { rd_kafka_NewTopic_destroy(t) } }
        for topic in topics {
            guard let nt = rd_kafka_NewTopic_new(topic.name, Int32(topic.partitions), Int32(topic.replicationFactor), &errstr, errstr.count) else {
                return .failure(KafkaError(code: .admin, message: "topic \(topic.name): \(cString(errstr))"))
            }
            for (k, v) in topic.config.sorted(by: { $0.key < $1.key }) { _ = rd_kafka_NewTopic_set_config(nt, k, v) }
            newTopics.append(nt)
        }
        guard let resultQueue = rd_kafka_queue_new(handle.pointer) else {
            return .failure(KafkaError(code: .admin, message: "could not create a result queue"))
        }
        defer { rd_kafka_queue_destroy(resultQueue) }
        let options = rd_kafka_AdminOptions_new(handle.pointer, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, Int32(clamping: timeout.milliseconds), &errstr, errstr.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, Int32(clamping: timeout.milliseconds), &errstr, errstr.count)
        newTopics.withUnsafeMutableBufferPointer { buf in
            rd_kafka_CreateTopics(handle.pointer, buf.baseAddress, buf.count, options, resultQueue)
        }
        guard let event = rd_kafka_queue_poll(resultQueue, Int32(clamping: timeout.milliseconds + 1_000)) else {
            return .failure(KafkaError(code: .timedOut, message: "creating topics timed out", isRetriable: true))
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            return .failure(KafkaError.rd(err, code: .admin, context: "create topics"))
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            return .failure(KafkaError(code: .admin, message: "create topics: unexpected result event"))
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return .success([]) }
        var created: [String] = []
        for i in 0..<count {
            let r = results[i]
            let name = String(cString: rd_kafka_topic_result_name(r))
            let e = rd_kafka_topic_result_error(r)
            switch e {
            case RD_KAFKA_RESP_ERR_NO_ERROR: created.append(name)
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: continue
            default:
                let text = rd_kafka_topic_result_error_string(r).map { String(cString: $0) } ?? ""
                return .failure(KafkaError.rd(e, code: .admin, context: "create topic \(name) \(text)"))
            }
        }
        return .success(created)
    }
}
