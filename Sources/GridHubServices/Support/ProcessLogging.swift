import Foundation
import GridHubCore
import Logging

/// Process-wide logging of every `gridhub` command: JSON lines at `GRIDHUB_LOG_LEVEL` (default info),
/// every string masked of personal data on its way out. Bootstrap once, first.
public enum ProcessLogging {
    /// Masks phone numbers in anything written to logs or shown to operators.
    public static let redact: @Sendable (String) -> String = { PersonalDataMasking.maskPhoneNumbers(in: $0) }

    /// JSON lines on standard error.
    public static func bootstrap(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let level = logLevel(environment)
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level, redact: redact) }
    }

    /// JSON lines appended to `path` (for `gridhub dev`, whose terminal shows the live summary).
    public static func bootstrap(toFile path: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        let level = logLevel(environment)
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let sink = FileHandle(forWritingAtPath: path).map { handle -> JSONLogSink in
            _ = try? handle.seekToEnd()
            return JSONLogSink(handle: handle)
        } ?? .standardError
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level, sink: sink, redact: redact) }
    }

    static func logLevel(_ environment: [String: String]) -> Logger.Level {
        environment["GRIDHUB_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
    }
}
