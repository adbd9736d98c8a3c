/// Metadata keys used in the Kafka client's log lines, kept in one place.
enum LoggingKeys {
    static let librdkafkaFacility = "kafka.librdkafka.facility"
    static let librdkafkaMessage = "kafka.librdkafka.message"
    static let librdkafkaLevel = "kafka.librdkafka.level"
    static let errorCode = "kafka.error.code"
    static let errorReason = "kafka.error.reason"
    static let topic = "kafka.topic"
    static let partition = "kafka.partition"
    static let partitions = "kafka.partitions"
    static let offset = "kafka.offset"
    static let groupID = "kafka.group.id"
    static let client = "kafka.client"
    static let rebalance = "kafka.rebalance"
}
