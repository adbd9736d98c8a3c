import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging

/// Process-wide set-up shared by the commands: logging, environment, the personal-data masker.
enum Runtime {
    /// Masks phone numbers in anything shown to operators.
    static let redact = ProcessLogging.redact

    /// JSON-lines logging on stderr (see `ProcessLogging`). Call once, first.
    static func bootstrapLogging() { ProcessLogging.bootstrap() }

    /// JSON-lines logging into `path`, for `gridhub dev` whose terminal shows the summary.
    static func bootstrapLogging(toFile path: String) { ProcessLogging.bootstrap(toFile: path) }

    /// The Kafka client settings from `GRIDHUB_BOOTSTRAP` and `GRIDHUB_KAFKA_*`, or exit with a clear
    /// message naming the missing variable.
    static func kafkaClient() throws -> KafkaClientConfiguration {
        do {
            return try KafkaEnvironment.clientConfiguration(from: ProcessInfo.processInfo.environment)
        } catch {
            throw CommandFailure(error.message)
        }
    }
}

/// A command failed; the message is printed on stderr and the exit code is 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = "gridhub: \(message)" }
}
