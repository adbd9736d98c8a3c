import AsyncHTTPClient
import Foundation
import GridHubCore
import GridHubRuntime
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A double of the 12345 hotline platform, built from its spec: it signs and pushes work orders
/// and surveys to the hub, and serves `POST /api/v1/gd/fk`, verifying each report's signature and
/// recording what it received. It can be taken "down for maintenance" (answers HTTP 503).
public final class HotlinePlatform: Sendable {
    /// A report the platform received, with whether its signature was right.
    public struct Received: Sendable, Hashable {
        public var report: Hotline12345.Report
        public var signatureValid: Bool
        public var receivedAt: Date
        /// The `traceparent` the result came with, if any.
        public var traceparent: String? = nil
    }

    public let secret: [UInt8]
    public let hubURL: String
    private let client: HTTPClient
    private let state = Mutex<(received: RecentList<Received>, down: Bool, refusedWhileDown: Int)>((RecentList(capacity: 10_000), false, 0))

    /// A platform that pushes to `hubURL` (e.g. `http://127.0.0.1:8080`) with `secret`.
    public init(hubURL: String, secret: [UInt8], client: HTTPClient = .shared) {
        self.hubURL = hubURL
        self.secret = secret
        self.client = client
    }

    // MARK: Pushing

    /// The answer of the hub.
    public struct Answer: Sendable, Hashable {
        public var httpStatus: Int
        public var code: Int?
        public var message: String
    }

    /// Pushes raw body bytes with the given headers (signed unless `signature` is given; with a W3C
    /// `traceparent` when given, as a platform that traces its calls sends it).
    public func push(path: String, body: [UInt8], contentType: String, timestamp: Int64 = Int64(Date().timeIntervalSince1970),
                     signature: String? = nil, traceparent: String? = nil, timeout: TimeAmount = .seconds(30)) async throws -> Answer {
        var request = HTTPClientRequest(url: hubURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        if let traceparent { request.headers.add(name: "traceparent", value: traceparent) }
        let ts = String(timestamp)
        request.headers.add(name: "X-Hotline-Timestamp", value: ts)
        request.headers.add(name: "X-Hotline-Signature", value: signature ?? Hotline12345.signature(secret: secret, timestamp: ts, body: body))
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let text = String(decoding: bytes.readableBytesView, as: UTF8.self)
        let parsed = Hotline12345.parseAnswer(text)
        return Answer(httpStatus: Int(response.status.code), code: parsed?.code, message: parsed?.message ?? text)
    }

    /// The body of a work order in `encoding` (GBK or UTF-8), prolog declaring the same.
    public static func body(_ order: Hotline12345.WorkOrder, encoding: TextEncoding) -> [UInt8] {
        encoding.encode(order.xml(encodingLabel: encoding.rawValue)) ?? []
    }

    /// Pushes a work order, signed, in `encoding`.
    /// A retry is signed anew; give a later `timestamp` for a retry within the same second (an identical
    /// signature is a replay and is refused).
    public func push(_ order: Hotline12345.WorkOrder, encoding: TextEncoding = .gbk, timestamp: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> Answer {
        try await push(path: "/hotline12345/workorders", body: Self.body(order, encoding: encoding),
                       contentType: "application/xml; charset=\(encoding.rawValue)", timestamp: timestamp)
    }

    /// Pushes a satisfaction survey.
    public func pushSurvey(recordId: String, satisfaction: Satisfaction, at: Date, note: String,
                           timestamp: Int64 = Int64(Date().timeIntervalSince1970)) async throws -> Answer {
        let body = Array(Hotline12345.surveyXML(recordId: recordId, satisfaction: satisfaction, at: at, note: note).utf8)
        return try await push(path: "/hotline12345/surveys", body: body, contentType: "application/xml; charset=UTF-8", timestamp: timestamp)
    }

    // MARK: Receiving reports

    /// The last 10 000 reports received, in arrival order.
    public var received: [Received] { state.withLock { $0.received.elements } }

    /// Reports received in all.
    public var receivedCount: Int { state.withLock { $0.received.total } }

    /// Requests answered 503 while down.
    public var refusedWhileDown: Int { state.withLock { $0.refusedWhileDown } }

    /// Takes the platform down for maintenance (every report answered HTTP 503) or back up.
    public func setDown(_ down: Bool) { state.withLock { $0.down = down } }

    /// The platform's HTTP server (a `Service`); `onListening` gets the port.
    public func server(port: Int = 0, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol & Service {
        let router = Router()
        router.post("/api/v1/gd/fk") { request, _ -> Response in
            let body = Array(try await request.body.collect(upTo: 1 << 20).readableBytesView)
            func answer(_ code: Hotline12345.AnswerCode, _ text: String) -> Response {
                Response(status: .ok, headers: [.contentType: "application/xml; charset=UTF-8"],
                         body: .init(byteBuffer: ByteBuffer(string: Hotline12345.answer(code, text))))
            }
            if self.state.withLock({ s -> Bool in if s.down { s.refusedWhileDown += 1 }; return s.down }) {
                return Response(status: .serviceUnavailable)
            }
            let ts = request.headers[HTTPFields.Element.Name("X-Hotline-Timestamp")!] ?? ""
            let sig = request.headers[HTTPFields.Element.Name("X-Hotline-Signature")!] ?? ""
            let valid = Hotline12345.signature(secret: self.secret, timestamp: ts, body: body) == sig
                && abs((Int64(ts) ?? 0) - Int64(Date().timeIntervalSince1970)) <= Hotline12345.signatureWindowSeconds
            guard valid else { return answer(.refused, "签名错误") }
            let report: Hotline12345.Report
            do { report = try Hotline12345.Report(xml: String(decoding: body, as: UTF8.self)) } catch {
                return answer(.invalid, "\(error)")
            }
            let traced = request.headers[HTTPFields.Element.Name("traceparent")!]
            self.state.withLock { _ = $0.received.append(Received(report: report, signatureValid: valid, receivedAt: Date(), traceparent: traced)) }
            return answer(.accepted, "成功")
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "hotline-double"),
                           onServerRunning: { await onListening($0.localAddress?.port ?? port) }, logger: logger)
    }
}
