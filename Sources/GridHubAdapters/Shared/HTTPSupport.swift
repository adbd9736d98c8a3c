import Foundation
import GridHubCore
import GridHubRuntime
import Hummingbird
import Tracing
import Logging
import Synchronization

/// A request body read with a size limit: the first `limit` bytes are kept; the rest is read (up to a
/// hard cap) only to feed the signature, so an oversized but signed body can still be recognised.
struct LimitedBody: Sendable {
    /// The bytes kept (all of them when not oversized).
    var bytes: [UInt8]
    /// Total bytes read.
    var total: Int
    /// The body was larger than the limit.
    var oversized: Bool
    /// The body was larger than the hard cap: reading stopped early.
    var truncatedRead: Bool

    /// Reads `body`, keeping up to `limit` bytes and stopping past `hardCap`; `each` sees every chunk read
    /// (the 12345 signature is computed over the whole body as it arrives).
    static func read(_ body: RequestBody, limit: Int, hardCap: Int, each: ([UInt8]) -> Void = { _ in }) async throws -> LimitedBody {
        var kept: [UInt8] = []
        var total = 0
        for try await buffer in body {
            let chunk = Array(buffer.readableBytesView)
            total += chunk.count
            if kept.count < limit { kept.append(contentsOf: chunk.prefix(limit - kept.count + 1)) }
            each(chunk)
            if total > hardCap { return LimitedBody(bytes: Array(kept.prefix(limit)), total: total, oversized: true, truncatedRead: true) }
        }
        let oversized = total > limit
        return LimitedBody(bytes: oversized ? Array(kept.prefix(limit)) : kept, total: total, oversized: oversized, truncatedRead: false)
    }
}

/// A response with a body and content type, echoing the request id.
func response(_ status: HTTPResponse.Status, contentType: String, body: [UInt8], requestID: String) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = contentType
    headers[.requestID] = requestID
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
}

/// The request id: the caller's `X-Request-Id` when it gave a short one, else a fresh random one.
func requestID(_ request: Request, _ context: some RequestContext) -> String {
    if let given = request.headers[.requestID], !given.isEmpty, given.utf8.count <= 64,
       given.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) {
        return given
    }
    var generator = IdentifierRandom()
    return String(generator.next(), radix: 16)
}

/// The request's span (a server span, exported when a collector is configured: ``SpanExport``), a
/// child of the caller's W3C `traceparent` when it sent a valid one, else of a new trace. Its trace id
/// goes on every log line of the request (`trace_id`); each record published for the request is a
/// span of its own under it. End the span when the request is answered.
func requestSpan(_ request: Request, name: String) -> (span: any Span, trace: TraceContext) {
    let (span, traceparent) = SpanExport.start(name, parent: request.headers[.traceparent], kind: .server)
    span.attributes["http.request.method"] = request.method.rawValue
    span.attributes["url.path"] = request.uri.path
    return (span, TraceContext(header: traceparent) ?? .start())
}

/// `HTTPTypes.HTTPField.Name`, reached through Hummingbird's re-exported `HTTPFields`.
typealias HTTPFieldName = HTTPFields.Element.Name

extension HTTPFields.Element.Name {
    static let hotlineTimestamp = HTTPFieldName("X-Hotline-Timestamp")!
    static let hotlineSignature = HTTPFieldName("X-Hotline-Signature")!
    static let apiKey = HTTPFieldName("X-Api-Key")!
    static let requestID = HTTPFieldName("X-Request-Id")!
    /// W3C Trace Context.
    static let traceparent = HTTPFieldName("traceparent")!
}

/// The `charset` parameter of a Content-Type, if any.
func charset(ofContentType value: String?) -> String? {
    guard let value else { return nil }
    // Read as bytes: every 12345 request passes here. Parameters are `name=value` after the first `;`,
    // with optional white space (RFC 9110: spaces and tabs) around each part; the value may be quoted.
    func trimmed(_ bytes: Substring.UTF8View) -> Substring.UTF8View {
        var bytes = bytes
        while let b = bytes.first, b == 0x20 || b == 0x09 { bytes.removeFirst() }
        while let b = bytes.last, b == 0x20 || b == 0x09 { bytes.removeLast() }
        return bytes
    }
    for parameter in value[...].utf8.split(separator: UInt8(ascii: ";")).dropFirst() {
        guard let eq = parameter.firstIndex(of: UInt8(ascii: "=")) else { continue }
        let name = trimmed(parameter[..<eq])
        guard name.count == 7, zip(name, "charset".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { continue }
        var charset = trimmed(parameter[parameter.index(after: eq)...])
        while let q = charset.first, q == UInt8(ascii: "\"") || q == UInt8(ascii: "'") { charset.removeFirst() }
        while let q = charset.last, q == UInt8(ascii: "\"") || q == UInt8(ascii: "'") { charset.removeLast() }
        if !charset.isEmpty { return String(Substring(charset)) }
    }
    return nil
}
