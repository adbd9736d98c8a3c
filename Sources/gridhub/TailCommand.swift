import ArgumentParser
import GridHubServices
import Logging
import ServiceLifecycle

/// `gridhub tail`: an operator's view of a topic.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Show a topic's records decoded, one line each, following new ones until Ctrl-C."
    )

    @Argument(help: "The topic, e.g. gridhub.cases.v1.") var topic: String
    @Flag(help: "Start at the first retained record instead of the end.") var fromBeginning = false
    @Flag(help: "Stop at the end of the topic instead of waiting for new records.") var noFollow = false
    @Flag(help: "One JSON object per line.") var json = false

    func run() async throws {
        Runtime.bootstrapLogging()
        let client = try Runtime.kafkaClient()
        var options = TopicTail.Options(topic: topic)
        options.fromBeginning = fromBeginning
        options.follow = !noFollow
        options.json = json
        let logger = Logger(label: "gridhub.tail")
        let tail = TopicTail(options: options, client: client, logger: logger, redact: Runtime.redact) { StandardOutput.writeLine($0) }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: tail, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}
