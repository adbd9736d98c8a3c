import AsyncHTTPClient
import Foundation
import GridHubCore
import GridHubRuntime
import Logging
import NIOCore
import ServiceLifecycle

/// Reports progress and results to the hotline: `POST {hotline}/api/v1/gd/fk`, `FKXX` signed like
/// the inbound requests, retried until the hotline answers `ZT` 0 (or 400: refused for good).
public struct HotlineResultSink: OutboundSink {
    public var endpoint: String
    public var secret: [UInt8] { didSet { signingKey = Hotline12345.SigningKey(secret: secret) } }
    /// The secret, keyed for HMAC-SHA256 once.
    private var signingKey: Hotline12345.SigningKey
    public var reference: ReferenceData
    public var client: HTTPClient
    public var logger: Logger
    public var backoff = Backoff()
    public var concurrency = 32
    public var now: @Sendable () -> Date = { Date() }

    public init(hotlineURL: String, secret: [UInt8], reference: ReferenceData, client: HTTPClient = .shared, logger: Logger) {
        var base = hotlineURL
        while base.hasSuffix("/") { base.removeLast() }
        endpoint = base + "/api/v1/gd/fk"
        self.secret = secret
        signingKey = Hotline12345.SigningKey(secret: secret)
        self.reference = reference
        self.client = client
        self.logger = logger
    }

    public func deliver(_ items: [OutboundItem]) async throws -> [OutboundResult] {
        try await PerKeyDelivery.deliver(items, concurrency: concurrency, backoff: backoff, logger: logger) { item in
            await self.attempt(item)
        }
    }

    func attempt(_ item: OutboundItem) async -> PerKeyDelivery.Attempt {
        guard case .status(let status) = item.payload else { return .done(.skipped) }
        let name = status.department.flatMap { reference.department(code: $0)?.nameZh }
        guard let report = Hotline12345.Report(status: status, departmentName: name) else { return .done(.skipped) }
        let body = Array(report.xml.utf8)
        let timestamp = String(Int64(now().timeIntervalSince1970))
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/xml; charset=UTF-8")
        request.headers.add(name: "X-Hotline-Timestamp", value: timestamp)
        request.headers.add(name: "X-Hotline-Signature", value: Hotline12345.signature(key: signingKey, timestamp: timestamp, body: body))
        // The trace goes back with the result: the platform that traced its call sees the answer in it.
        if let traceparent = item.record.headers.string(CloudEventHeader.traceparent), TraceContext(header: traceparent) != nil {
            request.headers.add(name: "traceparent", value: traceparent)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            let answer = try await response.body.collect(upTo: 64 * 1024)
            guard response.status == .ok else { return .retry(reason: "HTTP \(response.status.code)") }
            guard let (code, message) = Hotline12345.parseAnswer(String(decoding: answer.readableBytesView, as: UTF8.self)) else {
                return .retry(reason: "the answer is not FHXX")
            }
            switch code {
            case 0: return .done(.delivered)
            case 400: return .done(.rejected(reason: "the hotline refused the report for good (ZT 400): \(message)"))
            default: return .retry(reason: "ZT \(code): \(message)")
            }
        } catch {
            return .retry(reason: "\(error)")
        }
    }
}

/// The hotline adapter's way back: status delivery from `gridhub.status.hotline12345.v1`.
public enum HotlineOutbound {
    public static func service(runtime: AdapterRuntime, hotlineURL: String, secret: [UInt8], reference: ReferenceData, stateDir: URL,
                               logger: Logger, statusTopic: String = SourceSystem.hotline12345.statusTopic,
                               groupID: String = "gridhub-adapter-hotline12345") throws -> [any Service] {
        let sink = HotlineResultSink(hotlineURL: hotlineURL, secret: secret, reference: reference, logger: logger)
        let delivery = try StatusDelivery(
            configuration: .init(topics: [statusTopic], groupID: groupID, stage: "adapter.hotline12345.status"),
            kafka: runtime.kafka, sink: sink, stateDirectory: stateDir, pipeline: runtime.pipeline, metrics: runtime.metrics, logger: logger)
        return [delivery]
    }
}
