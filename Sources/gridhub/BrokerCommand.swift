import ArgumentParser
import GridHubRuntime
import GridHubTools
import Logging
import ServiceLifecycle

/// `gridhub broker`: the embedded Kafka-protocol broker.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the embedded Kafka-protocol broker (librdkafka's mock cluster) with every GridHub topic, until SIGINT/SIGTERM.",
        discussion: """
            The first line on stdout is GRIDHUB_BOOTSTRAP=host:port[,host:port…]; any Kafka client can use it. \
            To try clients against an outage: SIGUSR1 takes every broker down (connections dropped, new ones refused, \
            records kept), SIGUSR2 brings them back.
            """
    )

    @Option(help: "Number of brokers in the cluster.") var brokers: Int = 3
    @Option(help: "Partitions of each topic.") var partitions: Int = TopicPlan.defaultPartitions
    @Option(help: "Folder of the reference data (default: Deploy/reference, or GRIDHUB_REFERENCE_DIR).") var referenceDir: String?

    func validate() throws {
        guard (1...32).contains(brokers) else { throw ValidationError("--brokers must be between 1 and 32") }
        guard (1...256).contains(partitions) else { throw ValidationError("--partitions must be between 1 and 256") }
    }

    func run() async throws {
        Runtime.bootstrapLogging()
        let logger = Logger(label: "gridhub.broker")
        let directory = try ReferenceLocation.directory(explicit: referenceDir)
        var config = BrokerService.Configuration(departments: try ReferenceLocation.departments(in: directory))
        config.brokers = brokers
        config.partitions = partitions
        let broker = BrokerService(configuration: config, logger: logger) { bootstrap in
            StandardOutput.writeLine("GRIDHUB_BOOTSTRAP=\(bootstrap)")
        }
        try await DaemonContext.runUntilSignalled(DaemonContext.serviceGroup([.init(service: broker)], logger: logger), logger: logger)
    }
}
