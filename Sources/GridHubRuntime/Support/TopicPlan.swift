import GridHubCore
import GridHubKafka

/// The contract's topics as they are created: names from the reference data, partition counts and
/// topic configuration.
public enum TopicPlan {
    /// Default partitions per topic: enough for a few router and adapter instances.
    public static let defaultPartitions = 6

    /// Every topic of the contract.
    public static func topics(departments: [Department], partitions: Int = defaultPartitions, replicationFactor: Int = -1) -> [NewTopic] {
        Topics.all(departments: departments).map { name in
            var config: [String: String] = [:]
            if Topics.compacted.contains(name) { config["cleanup.policy"] = "compact" }
            return NewTopic(name: name, partitions: partitions, replicationFactor: replicationFactor, config: config)
        }
    }
}
