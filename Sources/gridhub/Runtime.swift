import Foundation
import GridHubCore
import GridHubKafka
import GridHubServices
import Logging

/// Process-wide set-up shared by the commands: logging, environment, the personal-data masker.
enum Runtime {
    /// Masks phone numbers in anything written to logs or shown to operators.
    static let redact: @Sendable (String) -> String = { PersonalDataMasking.maskPhoneNumbers(in: $0) }

    /// Bootstraps JSON-lines logging on stderr at `GRIDHUB_LOG_LEVEL` (default info). Call once, first.
    static func bootstrapLogging() {
        let level = ProcessInfo.processInfo.environment["GRIDHUB_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level, redact: redact) }
    }

    /// Bootstraps JSON-lines logging into `path` (appending), for `gridhub dev` whose terminal shows the summary.
    static func bootstrapLogging(toFile path: String) {
        let level = ProcessInfo.processInfo.environment["GRIDHUB_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let sink = FileHandle(forWritingAtPath: path).map { handle -> JSONLogSink in
            _ = try? handle.seekToEnd()
            return JSONLogSink(handle: handle)
        } ?? .standardError
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level, sink: sink, redact: redact) }
    }

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
