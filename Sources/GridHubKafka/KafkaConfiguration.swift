/// Settings shared by every Kafka client: where the cluster is and how to reach it.
///
/// Every typed field maps to a librdkafka property; ``properties`` passes any other librdkafka
/// property through unchanged (security, SASL, TLS, tuning) and wins over the typed fields.
public struct KafkaClientConfiguration: Sendable {
    /// `bootstrap.servers`: `host:port[,host:port…]`.
    public var bootstrapServers: String
    /// `client.id`, shown in broker logs.
    public var clientID: String = "gridhub"
    /// `socket.timeout.ms` in milliseconds.
    public var socketTimeoutMilliseconds: Int = 10_000
    /// `reconnect.backoff.max.ms`: the longest wait between reconnect attempts.
    public var reconnectBackoffMaxMilliseconds: Int = 2_000
    /// `debug` contexts for librdkafka (e.g. `broker,topic`), empty for none.
    public var debug: String = ""
    /// Any librdkafka property, e.g. `security.protocol` = `SASL_SSL`. Applied last.
    public var properties: [String: String] = [:]

    public init(bootstrapServers: String, properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.properties = properties
    }

    var librdkafkaProperties: [(String, String)] {
        var p: [(String, String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("client.id", clientID),
            ("socket.timeout.ms", String(socketTimeoutMilliseconds)),
            ("reconnect.backoff.max.ms", String(reconnectBackoffMaxMilliseconds)),
        ]
        if !debug.isEmpty { p.append(("debug", debug)) }
        return p
    }
}

/// Producer settings with GridHub's defaults: idempotent, `acks=all`, small linger for batching,
/// and a bounded number of records in flight so a slow cluster makes senders wait.
public struct KafkaProducerConfiguration: Sendable {
    public var client: KafkaClientConfiguration
    /// `enable.idempotence`: no duplicates and no reordering from retries.
    public var idempotence: Bool = true
    /// `acks`: `all` waits for every in-sync replica.
    public var acks: String = "all"
    /// `linger.ms`: how long to wait to fill a batch.
    public var lingerMilliseconds: Double = 5
    /// `batch.num.messages`: the most records in one batch.
    public var batchRecords: Int = 10_000
    /// `compression.codec`: `none`, `gzip`, `snappy`, `lz4`, `zstd`.
    public var compression: String = "none"
    /// `message.timeout.ms`: how long librdkafka retries a record before reporting it failed
    /// (0 = forever). Bounded so that an unreachable cluster is reported, not hidden.
    public var deliveryTimeoutMilliseconds: Int = 30_000
    /// The most records sent but not yet acknowledged by a delivery report. A sender waits for a
    /// slot when all are taken: back-pressure instead of unbounded memory.
    public var maxInFlightRecords: Int = 50_000
    /// `transactional.id`; when set, the producer is transactional (see ``KafkaProducer/beginTransaction()``).
    public var transactionalID: String?

    public init(client: KafkaClientConfiguration) { self.client = client }

    var librdkafkaProperties: [(String, String)] {
        var p = client.librdkafkaProperties
        p += [
            ("enable.idempotence", idempotence ? "true" : "false"),
            ("acks", acks),
            ("linger.ms", String(lingerMilliseconds)),
            ("batch.num.messages", String(batchRecords)),
            ("compression.codec", compression),
            ("message.timeout.ms", String(deliveryTimeoutMilliseconds)),
            // librdkafka's own queue is larger than ours, so our bound is the one that applies.
            ("queue.buffering.max.messages", String(min(maxInFlightRecords + 1_000, 10_000_000))),
            ("queue.buffering.max.kbytes", "1048576"),
        ]
        if let transactionalID { p.append(("transactional.id", transactionalID)) }
        p += client.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return p
    }
}

/// Consumer settings with GridHub's defaults: manual offset commits, `read_committed`.
public struct KafkaConsumerConfiguration: Sendable {
    /// Where a consumer group starts when it has no committed offset.
    public enum OffsetReset: String, Sendable {
        case earliest, latest
    }

    public var client: KafkaClientConfiguration
    /// `group.id`; nil for a consumer that only reads assigned partitions (tools, `tail`).
    public var groupID: String?
    /// `auto.offset.reset`.
    public var offsetReset: OffsetReset = .earliest
    /// `isolation.level`: `read_committed` hides records of aborted transactions.
    public var readCommitted: Bool = true
    /// `session.timeout.ms`.
    public var sessionTimeoutMilliseconds: Int = 10_000
    /// `heartbeat.interval.ms`.
    public var heartbeatIntervalMilliseconds: Int = 1_000
    /// `max.poll.interval.ms`.
    public var maxPollIntervalMilliseconds: Int = 300_000
    /// The most records returned in one batch.
    public var maxBatchRecords: Int = 1_000
    /// How long one poll of librdkafka waits before checking for cancellation, in milliseconds.
    public var pollTimeoutMilliseconds: Int = 100
    /// `partition.assignment.strategy`.
    public var assignmentStrategy: String = "range,roundrobin"
    /// `fetch.wait.max.ms`: how long a fetch waits at the broker when there is nothing new. A broker
    /// that does not answer a waiting fetch as soon as a record arrives (librdkafka's mock cluster, the
    /// embedded broker) adds up to this to every hop, where librdkafka's 500 ms put a quarter of a second
    /// on each; a real broker answers at once, and the only cost is this many empty fetches when idle.
    public var fetchMaxWaitMilliseconds: Int = 20
    /// `queued.min.messages`: how many records librdkafka reads ahead before it stops fetching. The
    /// count is of the whole consumer, not a partition, and librdkafka 2.0 fetches again only when its
    /// broker thread next wakes (up to a second later): a consumer that takes 100 000 records (the
    /// default) in less than a second then waits, and one that could read a backlog faster reads it
    /// at about 100 000 a second. A million leaves the bound to `queued.max.messages.kbytes` (64 MB),
    /// the memory that read-ahead may take either way.
    public var readAheadRecords: Int = 1_000_000

    public init(client: KafkaClientConfiguration, groupID: String? = nil) {
        self.client = client
        self.groupID = groupID
    }

    var librdkafkaProperties: [(String, String)] {
        var p = client.librdkafkaProperties
        p += [
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
            ("auto.offset.reset", offsetReset.rawValue),
            ("isolation.level", readCommitted ? "read_committed" : "read_uncommitted"),
            ("session.timeout.ms", String(sessionTimeoutMilliseconds)),
            ("heartbeat.interval.ms", String(heartbeatIntervalMilliseconds)),
            ("max.poll.interval.ms", String(maxPollIntervalMilliseconds)),
            ("partition.assignment.strategy", assignmentStrategy),
            ("fetch.wait.max.ms", String(fetchMaxWaitMilliseconds)),
            ("queued.min.messages", String(readAheadRecords)),
        ]
        if let groupID { p.append(("group.id", groupID)) }
        p += client.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return p
    }
}
