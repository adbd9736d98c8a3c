import ArgumentParser
import GridHubKafka
import GridHubRuntime
import Logging

/// `gridhub topics`: the contract's topics on a cluster.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create or list GridHub's topics on the cluster named by GRIDHUB_BOOTSTRAP.",
        subcommands: [Create.self, List.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create every contract topic that does not exist yet (running it twice is harmless).")

        @Option(help: "Partitions of each new topic.") var partitions: Int = TopicPlan.defaultPartitions
        @Option(help: "Replication factor of each new topic (-1: the cluster's default; 3 on a three-broker cluster).") var replicationFactor: Int = -1
        @Option(help: "min.insync.replicas of each new topic (default: the cluster's; 2 with a replication factor of 3).") var minInsyncReplicas: Int?

        func validate() throws {
            guard partitions > 0 else { throw ValidationError("--partitions must be positive") }
            guard replicationFactor == -1 || replicationFactor > 0 else { throw ValidationError("--replication-factor must be positive, or -1 for the cluster's default") }
            if let m = minInsyncReplicas {
                guard m > 0 else { throw ValidationError("--min-insync-replicas must be positive") }
                guard replicationFactor == -1 || m <= replicationFactor else {
                    throw ValidationError("--min-insync-replicas (\(m)) above --replication-factor (\(replicationFactor)) would refuse every write")
                }
            }
        }
        @Option(help: "Folder of the reference data.") var referenceDir: String?

        func run() async throws {
            Runtime.bootstrapLogging()
            let client = try Runtime.kafkaClient()
            let departments = try ReferenceLocation.departments(in: try ReferenceLocation.directory(explicit: referenceDir))
            let admin = try KafkaAdmin(configuration: client, logger: Logger(label: "gridhub.topics"))
            let plan = TopicPlan.topics(departments: departments, partitions: partitions, replicationFactor: replicationFactor, minInSyncReplicas: minInsyncReplicas)
            let created = try await admin.createTopics(plan)
            for name in created { StandardOutput.writeLine("created \(name)") }
            StandardOutput.writeLine("\(plan.count) topics present, \(created.count) created")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the cluster's topics with their partition counts.")

        func run() async throws {
            Runtime.bootstrapLogging()
            let admin = try KafkaAdmin(configuration: try Runtime.kafkaClient(), logger: Logger(label: "gridhub.topics"))
            for topic in try await admin.listTopics() {
                StandardOutput.writeLine("\(topic.name)\t\(topic.partitionCount)")
            }
        }
    }
}
