import GridHubCore
import GridHubKafka

/// The contract's topics as they are created: names from the reference data, partition counts and
/// topic configuration.
public enum TopicPlan {
    /// Default partitions per topic: enough for a few router and adapter instances.
    public static let defaultPartitions = 6

    /// Every topic of the contract.
    /// `minInSyncReplicas`: the topics' `min.insync.replicas` (with the producers' `acks=all`, a write
    /// succeeds only once that many replicas have it; 2 of 3 on a three-broker cluster), nil for the
    /// cluster's default.
    public static func topics(departments: [Department], partitions: Int = defaultPartitions, replicationFactor: Int = -1,
                              minInSyncReplicas: Int? = nil) -> [NewTopic] {
        Topics.all(departments: departments).map { name in
            var config: [String: String] = [:]
            if Topics.compacted.contains(name) { config["cleanup.policy"] = "compact" }
            if let minInSyncReplicas { config["min.insync.replicas"] = String(minInSyncReplicas) }
            return NewTopic(name: name, partitions: partitions, replicationFactor: replicationFactor, config: config)
        }
    }
}
