import Foundation
import Logging
import Synchronization

/// A swift-log handler that writes one JSON object per line on standard error:
/// `{"time":…,"level":…,"label":…,"message":…, <metadata keys>…}`.
///
/// Every string passes through `redact` first (the daemons pass the personal-data masker), so a
/// phone number that reaches a log line is written masked.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let redact: @Sendable (String) -> String
    private let sink: JSONLogSink

    public init(label: String, level: Logger.Level, sink: JSONLogSink = .standardError, redact: @escaping @Sendable (String) -> String) {
        self.label = label
        self.logLevel = level
        self.sink = sink
        self.redact = redact
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: Any] = [
            "time": Self.timestamp(),
            "level": event.level.rawValue,
            "label": label,
            "message": redact(event.message.description),
        ]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for (key, value) in merged { object[key] = jsonValue(value) }
        if event.level >= .warning {
            object["source.file"] = event.file
            object["source.line"] = Int(event.line)
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        sink.write(data + Data("\n".utf8))
    }

    private func jsonValue(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s): return redact(s)
        case .stringConvertible(let c):
            if let n = c as? any BinaryInteger { return Int(n) }
            if let d = c as? Double { return d }
            if let b = c as? Bool { return b }
            return redact(c.description)
        case .array(let a): return a.map(jsonValue)
        case .dictionary(let d): return d.mapValues(jsonValue)
        }
    }

    private static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}

/// Where JSON log lines go; writes of whole lines never interleave.
public final class JSONLogSink: Sendable {
    private let lock = Mutex(())
    private let handle: FileHandle

    public init(handle: FileHandle) { self.handle = handle }

    public static let standardError = JSONLogSink(handle: .standardError)

    func write(_ data: Data) {
        lock.withLock { _ in handle.write(data) }
    }
}
