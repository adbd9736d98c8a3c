import ArgumentParser
import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging

/// `gridhub deadletters`: see why records failed, and send them back through after a fix.
struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deadletters",
        abstract: "List, show and replay the records on gridhub.deadletter.v1.",
        subcommands: [List.self, Show.self, Replay.self]
    )

    static func readAll(_ client: KafkaClientConfiguration, logger: Logger) async throws -> [ConsumerRecord] {
        try await DeadLetterReader.readAll(client, logger: logger)
    }

    /// The dead letter at `PARTITION@OFFSET`.
    static func find(_ position: String, client: KafkaClientConfiguration, logger: Logger) async throws -> ConsumerRecord {
        guard let (partition, offset) = DeadLetterReader.position(position) else {
            throw CommandFailure("a dead letter is named PARTITION@OFFSET, as `gridhub deadletters list` prints it, not \(position)")
        }
        guard let record = try await readAll(client, logger: logger).first(where: { $0.partition == partition && $0.offset == offset }) else {
            throw CommandFailure("no dead letter at \(position) (it may have aged out of the topic)")
        }
        return record
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per dead letter: position, time, stage, where it came from, why.")
        @Option(help: "Only this stage (e.g. adapter.hotline12345, router).") var stage: String?
        @Option(help: "At most this many, newest last.") var limit = 200

        func run() async throws {
            Runtime.bootstrapLogging()
            let records = try await readAll(try Runtime.kafkaClient(), logger: Logger(label: "gridhub.deadletters"))
            let chosen = records.filter { stage == nil || $0.headers.string(DeadLetterHeader.stage) == stage }.suffix(limit)
            for r in chosen {
                let h = r.headers
                StandardOutput.writeLine(Runtime.redact("\(r.partition)@\(r.offset)  \(h.string(DeadLetterHeader.time) ?? "?")  \(h.string(DeadLetterHeader.stage) ?? "?")  \(h.string(DeadLetterHeader.source) ?? "?")  \(h.string(DeadLetterHeader.reason) ?? "?")"))
            }
            StandardOutput.writeLine("\(chosen.count) dead letters")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A dead letter's headers and original value.")
        @Argument(help: "PARTITION@OFFSET") var position: String
        @Flag(help: "Write only the original value's bytes, unmasked (to correct it and replay it with --value-file).") var raw = false

        func run() async throws {
            Runtime.bootstrapLogging()
            let r = try await find(position, client: try Runtime.kafkaClient(), logger: Logger(label: "gridhub.deadletters"))
            if raw {
                FileHandle.standardOutput.write(Data(r.value))
                return
            }
            for h in r.headers { StandardOutput.writeLine(Runtime.redact("\(h.key): \(h.stringValue ?? h.value.map { String(format: "%02x", $0) }.joined())")) }
            if let key = r.keyString { StandardOutput.writeLine("key: \(key)") }
            let text = TextEncoding.readable(r.value)
            StandardOutput.writeLine("value (\(r.value.count) bytes):")
            StandardOutput.writeLine(Runtime.redact(text))
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a dead letter back through the hub after its cause is fixed.",
            discussion: "Inputs that came over HTTP go to the adapter again (--adapter-url), signed or keyed as their source would; records that came from a topic are produced to it again.")
        @Argument(help: "PARTITION@OFFSET") var position: String
        @Option(help: "Base URL of the adapter that received it, e.g. http://127.0.0.1:8080.") var adapterURL: String?
        @Option(help: "A corrected value to send instead of the original bytes.") var valueFile: String?

        func run() async throws {
            Runtime.bootstrapLogging()
            let client = try Runtime.kafkaClient()
            let logger = Logger(label: "gridhub.deadletters")
            let record = try await find(position, client: client, logger: logger)
            let value = try valueFile.map { Array(try Data(contentsOf: URL(fileURLWithPath: $0))) }
            let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: logger)
            do {
                let answer = try await DeadLetterReplay.replay(record, value: value, adapterURL: adapterURL, producer: producer)
                StandardOutput.writeLine("replayed \(position) → \(try DeadLetterReplay.target(of: record)): \(answer)")
            } catch let error as ReplayError {
                await producer.shutdown()
                throw CommandFailure(error.description)
            }
            await producer.shutdown()
        }
    }
}
