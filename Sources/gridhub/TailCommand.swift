import ArgumentParser
import GridHubRuntime
import GridHubTools
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
    @Option(help: "Only records for this department code (e.g. urban-mgmt).") var department: String?
    @Option(help: "Only records in this town: its 9-digit code or its name (e.g. 澄江街道).") var town: String?
    @Option(help: "Only records in this grid (15-digit code).") var grid: String?
    @Option(help: "Only records of this type (incident, case, dispatch, feedback, survey, status).") var type: String?
    @Option(name: .customLong("case"), help: "Only records about this case (its id).") var caseId: String?
    @Option(help: "Folder of the reference data (to resolve --town by name).") var referenceDir: String?

    func run() async throws {
        Runtime.bootstrapLogging()
        let client = try Runtime.kafkaClient()
        var options = TopicTail.Options(topic: topic)
        options.fromBeginning = fromBeginning
        options.follow = !noFollow
        options.json = json
        options.department = department
        options.grid = grid
        options.type = type
        options.caseId = caseId
        if let town {
            if town.count == 9, town.allSatisfy(\.isNumber) {
                options.townCode = town
            } else {
                let reference = try ReferenceLocation.load(from: try ReferenceLocation.directory(explicit: referenceDir))
                guard let match = reference.towns.first(where: { $0.name == town || $0.name.hasPrefix(town) }) else {
                    throw CommandFailure("no town named \(town) in the reference data")
                }
                options.townCode = match.code
            }
        }
        let logger = Logger(label: "gridhub.tail")
        let tail = TopicTail(options: options, client: client, logger: logger, redact: Runtime.redact) { StandardOutput.writeLine($0) }
        try await DaemonContext.runUntilSignalled(DaemonContext.serviceGroup([.init(service: tail, successTerminationBehavior: .gracefullyShutdownGroup)], logger: logger), logger: logger)
    }
}
