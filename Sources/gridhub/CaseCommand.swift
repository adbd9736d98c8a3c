import ArgumentParser
import Foundation
import GridHubConsole
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging

/// `gridhub case …`: the command centre's commands. Each sends one record on `gridhub.commands.v1`
/// and waits for the router's answer: the case's record with the command in its history (applied,
/// exit 0), or a dead letter with the command's `ce_id` (refused, exit 1, with the reason).
struct CaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "case",
        abstract: "The command centre's commands on a case: assign, reassign, supervise (督办), change the due date, close.",
        discussion: """
            Each sends one record on gridhub.commands.v1 (ce_source /gridhub/command-center) and waits for the router's \
            answer: exit 0 when it was applied (the case as it is now is printed), 1 when refused (with the reason), 2 when \
            no answer came in time. Kafka from GRIDHUB_BOOTSTRAP (and GRIDHUB_KAFKA_*).
            """,
        subcommands: [Assign.self, Reassign.self, Supervise.self, Due.self, Close.self]
    )

    /// Options every command has.
    struct Common: ParsableArguments {
        @Argument(help: "The case id.") var caseId: String
        @Option(help: "Who gives the command (default: $USER).") var by: String?
        @Option(help: "Seconds to wait for the router's answer.") var timeout: Int = 30
    }

    struct Assign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a case nobody could route (open, returned, or held by the command centre) to a department.")
        @OptionGroup var common: Common
        @Option(help: "A department code of departments.csv.") var department: String
        @Option(help: "A note for the sources.") var message: String?
        func run() async throws { try await send(.assign, common, department: department, message: message) }
    }

    struct Reassign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move a case a department works on to another department (its dispatch is withdrawn).")
        @OptionGroup var common: Common
        @Option(help: "A department code of departments.csv.") var department: String
        @Option(help: "A note for the sources.") var message: String?
        func run() async throws { try await send(.reassign, common, department: department, message: message) }
    }

    struct Supervise: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Press the department working on a case (督办): it gets its dispatch again with the message.")
        @OptionGroup var common: Common
        @Option(help: "The message to the department.") var message: String
        func run() async throws { try await send(.supervise, common, message: message) }
    }

    struct Due: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the due date of the dispatch a department works on.")
        @OptionGroup var common: Common
        @Option(help: "The new due date, RFC 3339 (e.g. 2026-12-08T18:00:00+08:00).") var at: String
        func run() async throws {
            guard let due = RFC3339.parse(at) else { throw ValidationError("--at must be an RFC 3339 time with offset, e.g. 2026-12-08T18:00:00+08:00") }
            try await send(.due, common, dueAt: due)
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a case with a reason (a department's dispatch is withdrawn).")
        @OptionGroup var common: Common
        @Option(help: "Why, for the history and the sources.") var reason: String
        func run() async throws { try await send(.close, common, message: reason) }
    }

    /// Sends the command and waits for the answer; exits 1 when refused, 2 without an answer.
    static func send(_ action: Command.Action, _ common: Common, department: String? = nil, message: String? = nil, dueAt: Date? = nil) async throws {
        Runtime.bootstrapLogging()
        let logger = Logger(label: "gridhub.case")
        let client = try Runtime.kafkaClient()
        let issuedBy = common.by ?? ProcessInfo.processInfo.environment["USER"] ?? "command-center"
        let command = Command(commandId: UUID().uuidString.lowercased(), caseId: common.caseId, action: action, department: department,
                              message: message, dueAt: dueAt, issuedBy: issuedBy, at: Date())
        // Read the answer topics from their ends as they are now, so the answer cannot be missed.
        let admin = try KafkaAdmin(configuration: client, logger: logger)
        var start: [TopicPartitionOffset] = []
        for topic in [Topics.cases, Topics.deadLetter] { start += try await admin.endOffsets(topic: topic) }
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: client), logger: logger)
        try consumer.assign(start)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: logger)
        try await producer.send(CommandPublisher.record(command))
        await producer.shutdown()
        let deadline = ContinuousClock.now + .seconds(common.timeout)
        let decoder = GridHubJSON.decoder()
        while ContinuousClock.now < deadline {
            for record in try await consumer.poll(timeout: .milliseconds(200)) {
                if record.topic == Topics.deadLetter, record.headers.string(CloudEventHeader.id) == command.commandId {
                    await consumer.close()
                    StandardOutput.writeLine("refused: \(record.headers.string(DeadLetterHeader.reason) ?? "no reason given")")
                    throw ExitCode(1)
                }
                guard record.topic == Topics.cases, record.keyString == command.caseId,
                      let c = try? decoder.decode(Case.self, from: Data(record.value)),
                      c.history.contains(where: { $0.commandId == command.commandId }) else { continue }
                await consumer.close()
                let due = c.dueAt.map { ", due \(RFC3339.format($0))" } ?? ""
                StandardOutput.writeLine("applied: case \(c.caseId) is \(c.status.rawValue) at \(c.department ?? "no department")\(due) (version \(c.version))")
                return
            }
        }
        await consumer.close()
        StandardOutput.writeLine("no answer from the router within \(common.timeout) s: is it running? (command \(command.commandId) is on \(Topics.commands))")
        throw ExitCode(2)
    }
}
