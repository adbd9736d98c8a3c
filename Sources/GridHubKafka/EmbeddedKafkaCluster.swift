import CRdKafka
import Logging
import Synchronization

/// An in-process Kafka-protocol cluster: librdkafka's mock cluster, listening on loopback TCP.
///
/// Clients reach it over real TCP like any cluster. Its limits (librdkafka 2.0.2): no CreateTopics
/// handler (topics are made with ``createTopic(_:partitions:replicationFactor:)`` or auto-created
/// on metadata requests), transactions accepted but not enforced, and each partition keeps only a
/// few MiB of recent records: nothing may rely on old records staying.
///
/// `@unchecked Sendable`: the mock cluster API is thread-safe; destruction is guarded by a `Mutex`.
public final class EmbeddedKafkaCluster: @unchecked Sendable {
    private let handle: RDKafkaHandle
    private let cluster: OpaquePointer
    private let destroyed = Mutex(false)
    /// `host:port,…` of the brokers.
    public let bootstrapServers: String
    public let brokerCount: Int

    /// Starts a cluster of `brokers` brokers on 127.0.0.1, each on a free port.
    public init(brokers: Int = 3, logger: Logger) throws(KafkaError) {
        guard (1...32).contains(brokers) else {
            throw KafkaError(code: .embeddedCluster, message: "broker count must be 1…32, not \(brokers)")
        }
        handle = try RDKafkaHandle(kind: .producer, properties: [("client.id", "gridhub-embedded-cluster"), ("log_level", "4")], context: RDKafkaContext(logger: logger))
        guard let mc = rd_kafka_mock_cluster_new(handle.pointer, Int32(brokers)) else {
            handle.destroy()
            throw KafkaError(code: .embeddedCluster, message: "librdkafka could not start the mock cluster")
        }
        cluster = mc
        brokerCount = brokers
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mc))
    }

    deinit { shutdown() }

    /// Stops every broker and frees the cluster. Later calls do nothing.
    public func shutdown() {
        let first = destroyed.withLock { d -> Bool in
            if d { return false }
            d = true
            return true
        }
        guard first else { return }
        rd_kafka_mock_cluster_destroy(cluster)
        handle.destroy()
    }

    /// Creates a topic. Creating one that exists is an error of the mock cluster.
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int? = nil) throws(KafkaError) {
        let rf = replicationFactor ?? min(3, brokerCount)
        let err = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(rf))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError.rd(err, code: .embeddedCluster, context: "create topic \(name)")
        }
    }

    /// A Kafka protocol request type whose responses can be made to fail.
    package enum RequestKind: Int16, Sendable {
        case produce = 0
        case fetch = 1
        case listOffsets = 2
        case metadata = 3
        case offsetCommit = 8
        case offsetFetch = 9
        case findCoordinator = 10
        case joinGroup = 11
        case heartbeat = 12
        case syncGroup = 14
        case initProducerID = 22
    }

    /// A protocol error the cluster can answer with.
    package enum InjectedError: Int32, Sendable {
        case leaderNotAvailable = 5
        case notLeaderForPartition = 6
        case requestTimedOut = 7
        case networkException = 13
        case notEnoughReplicas = 19
        case notEnoughReplicasAfterAppend = 20
        case notCoordinator = 16
        case rebalanceInProgress = 27
        /// Drops the client's connection instead of answering.
        case disconnect = -195
    }

    /// Makes the next `errors.count` requests of `kind` fail with these errors, in order.
    package func injectErrors(_ errors: [InjectedError], on kind: RequestKind) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0.rawValue) }
        codes.withUnsafeBufferPointer { buf in
            rd_kafka_mock_push_request_errors_array(cluster, kind.rawValue, buf.count, buf.baseAddress)
        }
    }

    /// Clears errors not yet served for `kind`.
    package func clearInjectedErrors(on kind: RequestKind) {
        rd_kafka_mock_clear_request_errors(cluster, kind.rawValue)
    }

    /// Disconnects a broker (nil: every broker) and refuses new connections until ``setBrokerUp(_:)``.
    ///
    /// - Warning: librdkafka 2.0.2 closes the broker's listener and re-creates it on the same port at
    ///   once, aborting the process if that fails (seen when many clusters run in one process). To make
    ///   a broker go away for good, ``shutdown()`` the cluster; for a slow one, ``setRoundTripTime(_:broker:)``.
    public func setBrokerDown(_ id: Int32? = nil) {
        _ = rd_kafka_mock_broker_set_down(cluster, id ?? -1)
    }

    /// Lets a broker (nil: every broker) accept connections again.
    ///
    /// - Warning: librdkafka 2.0.2 re-listens on the broker's old port and aborts the process if
    ///   another socket took that port while the broker was down. Prefer ``setRoundTripTime(_:broker:)``
    ///   or ``injectErrors(_:on:)`` in tests that run alongside other network activity.
    public func setBrokerUp(_ id: Int32? = nil) {
        _ = rd_kafka_mock_broker_set_up(cluster, id ?? -1)
    }

    /// Adds a round-trip delay to a broker's (nil: every broker's) responses.
    public func setRoundTripTime(_ rtt: Duration, broker id: Int32? = nil) {
        _ = rd_kafka_mock_broker_set_rtt(cluster, id ?? -1, Int32(clamping: rtt.milliseconds))
    }
}
