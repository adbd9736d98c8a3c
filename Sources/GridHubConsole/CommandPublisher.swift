import Foundation
import GridHubCore
import GridHubKafka
import Logging
import ServiceLifecycle
import Synchronization

/// Sends the command centre's commands on `gridhub.commands.v1` (the router applies or refuses them),
/// and learns of refusals: the router dead-letters a refused command with its `ce_id`.
public final class CommandPublisher: Service, Sendable {
    /// What became of a command this console sent.
    public enum Outcome: Sendable, Hashable {
        case pending
        case applied
        case refused(String)
    }

    private let producer: KafkaProducer
    private let client: KafkaClientConfiguration
    private let logger: Logger
    /// Commands sent from here, newest last, with their refusal reasons once known (bounded).
    private let sent = Mutex<(order: [String], refused: [String: String], known: Set<String>)>(([], [:], []))
    static let remembered = 1_000

    public init(client: KafkaClientConfiguration, logger: Logger) throws {
        self.client = client
        self.logger = logger
        producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: logger)
    }

    /// The record a command travels as: a CloudEvent from the command centre, keyed by its case.
    public static func record(_ command: Command) throws -> ProducerRecord {
        let event = try CloudEvent(id: command.commandId, source: CloudEvent.commandCenterSource, type: .command, time: command.at,
                                   subject: command.caseId, payload: command)
        return ProducerRecord(topic: Topics.commands, key: command.caseId, value: event.data,
                              headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) })
    }

    /// Sends a command; returns once Kafka has it.
    public func send(_ command: Command) async throws {
        sent.withLock { s in
            s.order.append(command.commandId)
            s.known.insert(command.commandId)
            if s.order.count > Self.remembered {
                let gone = s.order.removeFirst()
                s.known.remove(gone)
                s.refused[gone] = nil
            }
        }
        try await producer.send(try Self.record(command))
    }

    /// What became of a command sent from here, given the case as it is now.
    public func outcome(of commandId: String, in current: Case?) -> Outcome {
        if let current, current.history.contains(where: { $0.commandId == commandId }) { return .applied }
        return sent.withLock { s in s.refused[commandId].map { .refused($0) } ?? .pending }
    }

    /// Follows the dead-letter topic from its end for refusals of the commands sent from here; flushes
    /// the producer on shutdown.
    public func run() async throws {
        let admin = try KafkaAdmin(configuration: client, logger: logger)
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: client), logger: logger)
        try consumer.assign(try await admin.endOffsets(topic: Topics.deadLetter))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let records = (try? await consumer.poll(timeout: .milliseconds(250))) ?? []
            for record in records {
                guard let id = record.headers.string(CloudEventHeader.id) else { continue }
                let reason = record.headers.string(DeadLetterHeader.reason) ?? "refused"
                sent.withLock { s in if s.known.contains(id) { s.refused[id] = reason } }
            }
        }
        await consumer.close()
        await producer.shutdown(timeout: .seconds(10))
    }
}
