/// A record header: a name and raw bytes.
public struct KafkaHeader: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]

    public init(key: String, value: [UInt8]) {
        self.key = key
        self.value = value
    }

    public init(key: String, string: String) {
        self.key = key
        self.value = Array(string.utf8)
    }

    /// The value as UTF-8 text, if it is valid UTF-8.
    public var stringValue: String? { String(validating: value, as: UTF8.self) }
}

extension Array where Element == KafkaHeader {
    /// The value of the first header named `key`, as UTF-8 text.
    public func string(_ key: String) -> String? { first { $0.key == key }?.stringValue }
}

/// A record to produce.
public struct ProducerRecord: Sendable, Hashable {
    public var topic: String
    /// The partition, or nil to let the key's hash (or librdkafka's partitioner) choose.
    public var partition: Int32?
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    public init(topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
    }

    public init(topic: String, partition: Int32? = nil, key: String, value: [UInt8], headers: [KafkaHeader] = []) {
        self.init(topic: topic, partition: partition, key: Array(key.utf8), value: value, headers: headers)
    }
}

/// Where a record landed: the delivery report of a successful send.
public struct DeliveryReport: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}

/// A record read from a topic.
public struct ConsumerRecord: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]
    /// Milliseconds since the epoch (create or log-append time), if the broker gave one.
    public var timestampMilliseconds: Int64?

    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader],
        timestampMilliseconds: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }

    /// The key as UTF-8 text.
    public var keyString: String? { key.flatMap { String(validating: $0, as: UTF8.self) } }
}

/// A topic and partition.
public struct TopicPartition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (a: TopicPartition, b: TopicPartition) -> Bool {
        (a.topic, a.partition) < (b.topic, b.partition)
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// A position in a partition.
public struct TopicPartitionOffset: Sendable, Hashable {
    public var topicPartition: TopicPartition
    /// The offset; for commits, the offset of the next record to read.
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topicPartition = TopicPartition(topic: topic, partition: partition)
        self.offset = offset
    }

    public var topic: String { topicPartition.topic }
    public var partition: Int32 { topicPartition.partition }
}

/// Special offsets understood by ``KafkaConsumer/assign(_:)``.
public enum KafkaOffset {
    public static let beginning: Int64 = -2
    public static let end: Int64 = -1
    public static let stored: Int64 = -1000
    /// No offset: what ``KafkaConsumer/positions(_:)`` and ``KafkaConsumer/committed(_:timeout:)`` return for "none".
    public static let invalid: Int64 = -1001
}

extension Sequence where Element == ConsumerRecord {
    /// The offsets to commit after processing these records: per partition, the highest offset + 1.
    public var commitOffsets: [TopicPartitionOffset] {
        var next: [TopicPartition: Int64] = [:]
        for r in self {
            let tp = TopicPartition(topic: r.topic, partition: r.partition)
            next[tp] = Swift.max(next[tp] ?? 0, r.offset + 1)
        }
        return next.sorted { $0.key < $1.key }.map { TopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
    }
}
