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

    /// Parses a `traceparent` value (spaces and tabs around it allowed); nil unless it is a valid
    /// version-00 header. Read as bytes: every request and record passes here.
    public init?(header: String?) {
        guard let header else { return nil }
        let all = Array(header.utf8)
        var lower = 0, upper = all.count
        while lower < upper, all[lower] == 0x20 || all[lower] == 0x09 { lower += 1 }
        while upper > lower, all[upper - 1] == 0x20 || all[upper - 1] == 0x09 { upper -= 1 }
        let b = all[lower..<upper]
        let o = b.startIndex
        // 00-<32 hex>-<16 hex>-<2 hex>: 55 bytes, dashes at 2, 35 and 52.
        guard b.count == 55, b[o] == UInt8(ascii: "0"), b[o + 1] == UInt8(ascii: "0"),
              b[o + 2] == UInt8(ascii: "-"), b[o + 35] == UInt8(ascii: "-"), b[o + 52] == UInt8(ascii: "-") else { return nil }
        let trace = b[(o + 3)..<(o + 35)], span = b[(o + 36)..<(o + 52)], flags = b[(o + 53)..<(o + 55)]
        guard trace.allSatisfy(Self.isLowerHex), span.allSatisfy(Self.isLowerHex), flags.allSatisfy(Self.isLowerHex),
              trace.contains(where: { $0 != UInt8(ascii: "0") }), span.contains(where: { $0 != UInt8(ascii: "0") }) else { return nil }
        traceId = String(decoding: trace, as: UTF8.self)
        spanId = String(decoding: span, as: UTF8.self)
        self.flags = String(decoding: flags, as: UTF8.self)
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

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    /// `bytes` (8 or 16) random bytes in lowercase hex, not all zero (W3C forbids an all-zero id).
    private static func randomHex(_ bytes: Int) -> String {
        var generator = IdentifierRandom()
        while true {
            var words: (UInt64, UInt64) = (generator.next(), bytes > 8 ? generator.next() : 0)
            if words.0 == 0 && words.1 == 0 { continue }
            return withUnsafeBytes(of: &words) { UnsafeRawBufferPointer(rebasing: $0.prefix(bytes)).hexString }
        }
    }
}
