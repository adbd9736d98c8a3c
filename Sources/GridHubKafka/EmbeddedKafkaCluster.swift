import Foundation
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

    /// Destroys a cluster left running on a thread of its own, without waiting (see ``shutdown()``).
    deinit {
        guard claimDestruction() else { return }
        let cluster = UncheckedPointer(self.cluster), handle = self.handle
        let thread = Thread { Self.destroy(cluster, handle) }
        thread.name = "gridhub-mock-cluster-destroy"
        thread.start()
    }

    /// Stops every broker and frees the cluster; returns when they are gone. Later calls do nothing.
    /// (The mock cluster answers the stop request at its next tick, up to a second later: waited for
    /// on a thread of its own.)
    public func shutdown() async {
        guard claimDestruction() else { return }
        let cluster = UncheckedPointer(self.cluster), handle = self.handle
        await runOnOwnThread { Self.destroy(cluster, handle) }
    }

    private func claimDestruction() -> Bool {
        destroyed.withLock { d -> Bool in
            if d { return false }
            d = true
            return true
        }
    }

    private static func destroy(_ cluster: UncheckedPointer, _ handle: RDKafkaHandle) {
        rd_kafka_mock_cluster_destroy(cluster.pointer)
        handle.destroy()
    }

    /// A topic to create on the cluster.
    public struct TopicSpec: Sendable {
        public var name: String
        public var partitions: Int
        /// nil: as many replicas as brokers, at most 3.
        public var replicationFactor: Int?
        public init(_ name: String, partitions: Int, replicationFactor: Int? = nil) {
            self.name = name
            self.partitions = partitions
            self.replicationFactor = replicationFactor
        }
    }

    /// Creates a topic. Creating one that exists is an error of the mock cluster.
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int? = nil) async throws(KafkaError) {
        try await createTopics([TopicSpec(name, partitions: partitions, replicationFactor: replicationFactor)])
    }

    /// Creates topics, all at once; the first error is thrown after every request was answered.
    ///
    /// Each control request of librdkafka 2.0.2's mock cluster waits for the cluster's thread, which
    /// misses every other wake-up and then answers only at its next one-second tick. So the requests
    /// are made side by side (answered in one pass), each on a thread of its own: waiting on the
    /// cooperative pool would stall every task of the process for seconds.
    public func createTopics(_ topics: [TopicSpec]) async throws(KafkaError) {
        let cluster = UncheckedPointer(self.cluster)
        let brokers = brokerCount
        let errors = await withTaskGroup(of: KafkaError?.self) { group in
            for topic in topics {
                group.addTask {
                    await runOnOwnThread { () -> KafkaError? in
                        let rf = topic.replicationFactor ?? min(3, brokers)
                        let err = rd_kafka_mock_topic_create(cluster.pointer, topic.name, Int32(topic.partitions), Int32(rf))
                        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError.rd(err, code: .embeddedCluster, context: "create topic \(topic.name)")
                    }
                }
            }
            var errors: [KafkaError] = []
            for await case let error? in group { errors.append(error) }
            return errors
        }
        if let first = errors.first { throw first }
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
    public func setBrokerDown(_ id: Int32? = nil) async {
        let cluster = UncheckedPointer(self.cluster)
        await runOnOwnThread { _ = rd_kafka_mock_broker_set_down(cluster.pointer, id ?? -1) }
    }

    /// Lets a broker (nil: every broker) accept connections again.
    ///
    /// - Warning: librdkafka 2.0.2 re-listens on the broker's old port and aborts the process if
    ///   another socket took that port while the broker was down. Prefer ``setRoundTripTime(_:broker:)``
    ///   or ``injectErrors(_:on:)`` in tests that run alongside other network activity.
    public func setBrokerUp(_ id: Int32? = nil) async {
        let cluster = UncheckedPointer(self.cluster)
        await runOnOwnThread { _ = rd_kafka_mock_broker_set_up(cluster.pointer, id ?? -1) }
    }

    /// Adds a round-trip delay to a broker's (nil: every broker's) responses. Like every control
    /// request, waits for the cluster's thread (up to a second) on a thread of its own.
    public func setRoundTripTime(_ rtt: Duration, broker id: Int32? = nil) async {
        let cluster = UncheckedPointer(self.cluster)
        let ms = Int32(clamping: rtt.milliseconds)
        await runOnOwnThread { _ = rd_kafka_mock_broker_set_rtt(cluster.pointer, id ?? -1, ms) }
    }
}
