import Foundation

/// A W3C Trace Context `traceparent` (`00-<trace id>-<parent id>-<flags>`): the thread by which one
/// report is followed across systems. The adapters take it from the source's request or start one; the
/// router carries each report's trace on to the case, the dispatches and the statuses for it, each
/// record a new span of the same trace.
public struct TraceContext: Sendable, Hashable {
    /// 32 lowercase hex digits, not all zero.
    public let traceId: String
    /// 16 lowercase hex digits, not all zero: the span this context names as the parent.
    public let spanId: String
    /// 2 hex digits (`01`: sampled).
    public let flags: String

    /// The `traceparent` header's value.
    public var header: String { "00-\(traceId)-\(spanId)-\(flags)" }

    /// The log metadata key of a trace id (OpenTelemetry's log data model names it `trace_id`).
    public static let logKey = "trace_id"

    /// Parses a `traceparent` value; nil unless it is a valid version-00 header.
    public init?(header: String?) {
        guard let header else { return nil }
        let parts = header.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0] == "00", Self.isHex(parts[1], count: 32), Self.isHex(parts[2], count: 16), Self.isHex(parts[3], count: 2),
              parts[1] != String(repeating: "0", count: 32), parts[2] != String(repeating: "0", count: 16) else { return nil }
        traceId = parts[1]
        spanId = parts[2]
        flags = parts[3]
    }

    private init(traceId: String, spanId: String, flags: String) {
        self.traceId = traceId
        self.spanId = spanId
        self.flags = flags
    }

    /// A new trace (sampled), for a report that arrived without one.
    public static func start() -> TraceContext {
        TraceContext(traceId: randomHex(16), spanId: randomHex(8), flags: "01")
    }

    /// A new span of the same trace, for the next record written about the report.
    public func child() -> TraceContext { TraceContext(traceId: traceId, spanId: Self.randomHex(8), flags: flags) }

    private static func isHex(_ s: String, count: Int) -> Bool {
        s.utf8.count == count && s.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    /// `bytes` random bytes in lowercase hex, not all zero (W3C forbids an all-zero id).
    private static func randomHex(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        while true {
            let id = (0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if id.contains(where: { $0 != 0 }) { return id.hexString }
        }
    }
}
