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

    /// `GRIDHUB_LOG_LEVEL`, or `fallback` when unset; a value that is not a level is said on stderr.
    public static func logLevel(_ environment: [String: String] = ProcessInfo.processInfo.environment, fallback: Logger.Level = .info) -> Logger.Level {
        guard let text = try? EnvironmentSetting.logLevel.value(in: environment) else { return fallback }
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            FileHandle.standardError.write(Data("gridhub: \(EnvironmentSetting.logLevel.name)=\(text) is not one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")); logging at \(fallback.rawValue)\n".utf8))
            return fallback
        }
        return level
    }
}
