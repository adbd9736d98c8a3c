import CRdKafka

/// An error of the Kafka client: what kind it is, whether retrying can help, librdkafka's own reason,
/// and where it was raised.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// The kind of error. Extensible: new codes may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Configuration was refused by librdkafka or by GridHub.
        public static let configuration = Code("configuration")
        /// The client could not be created.
        public static let clientCreation = Code("clientCreation")
        /// A record could not be enqueued or was not delivered.
        public static let produce = Code("produce")
        /// The producer's queue is full (only seen when back-pressure is bypassed).
        public static let queueFull = Code("queueFull")
        /// Consuming failed.
        public static let consume = Code("consume")
        /// Committing offsets failed.
        public static let commit = Code("commit")
        /// An admin request (metadata, topics, offsets) failed.
        public static let admin = Code("admin")
        /// A transactional call failed.
        public static let transaction = Code("transaction")
        /// An operation did not finish within its timeout.
        public static let timedOut = Code("timedOut")
        /// The client was shut down already.
        public static let shutDown = Code("shutDown")
        /// The embedded (mock) cluster failed.
        public static let embeddedCluster = Code("embeddedCluster")
    }

    public var code: Code
    /// A readable sentence.
    public var message: String
    /// librdkafka's error code (`rd_kafka_resp_err_t`), when the error came from it.
    public var rdKafkaCode: Int32?
    /// librdkafka's name for the code, e.g. `_MSG_TIMED_OUT`.
    public var rdKafkaName: String?
    /// Retrying the same operation may succeed.
    public var isRetriable: Bool
    /// The client cannot be used any more (e.g. a fatal idempotent-producer error).
    public var isFatal: Bool
    /// The consumer group moved on while this member worked (a member joined or left): a commit it made
    /// was refused, and whoever holds the partitions now reads the uncommitted records again. Not a
    /// failure of the consumer, which goes on in the new generation.
    public var isRebalance: Bool { rdKafkaCode.map(Self.rebalanceCodes.contains) ?? false }
    public var file: String
    public var line: UInt

    public init(
        code: Code, message: String, rdKafkaCode: Int32? = nil, rdKafkaName: String? = nil,
        isRetriable: Bool = false, isFatal: Bool = false, file: String = #fileID, line: UInt = #line
    ) {
        self.code = code
        self.message = message
        self.rdKafkaCode = rdKafkaCode
        self.rdKafkaName = rdKafkaName
        self.isRetriable = isRetriable
        self.isFatal = isFatal
        self.file = file
        self.line = line
    }

    public var description: String {
        var s = "KafkaError.\(code): \(message)"
        if let rdKafkaName { s += " [\(rdKafkaName)]" }
        if isFatal { s += " (fatal)" } else if isRetriable { s += " (retriable)" }
        return s
    }

    /// Builds an error from a librdkafka response code.
    static func rd(
        _ err: rd_kafka_resp_err_t, code: Code, context: String, file: String = #fileID, line: UInt = #line
    ) -> KafkaError {
        let reason = String(cString: rd_kafka_err2str(err))
        let name = String(cString: rd_kafka_err2name(err))
        return KafkaError(
            code: code, message: "\(context): \(reason)", rdKafkaCode: err.rawValue, rdKafkaName: name,
            isRetriable: Self.retriableCodes.contains(err), isFatal: err == RD_KAFKA_RESP_ERR__FATAL,
            file: file, line: line)
    }

    /// Builds an error from an `rd_kafka_error_t` and destroys it.
    static func consuming(
        _ error: OpaquePointer, code: Code, context: String, file: String = #fileID, line: UInt = #line
    ) -> KafkaError {
        defer { rd_kafka_error_destroy(error) }
        let err = rd_kafka_error_code(error)
        return KafkaError(
            code: code, message: "\(context): \(String(cString: rd_kafka_error_string(error)))",
            rdKafkaCode: err.rawValue, rdKafkaName: String(cString: rd_kafka_error_name(error)),
            isRetriable: rd_kafka_error_is_retriable(error) != 0, isFatal: rd_kafka_error_is_fatal(error) != 0,
            file: file, line: line)
    }

    /// The codes of ``isRebalance``.
    static let rebalanceCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS.rawValue, RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION.rawValue,
        RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID.rawValue, RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST.rawValue,
    ]

    /// Codes for which the same request may succeed later (the broker or network recovers).
    static let retriableCodes: Set<rd_kafka_resp_err_t> = [
        RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
        RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
        RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
    ]
}
