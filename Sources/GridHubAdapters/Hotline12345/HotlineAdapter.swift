import Foundation
import GridHubCore
import GridHubRuntime
import Hummingbird
import Logging
import Tracing

/// The 12345 hotline adapter's inbound side: `POST /hotline12345/workorders` and
/// `POST /hotline12345/surveys`, signed with HMAC-SHA256 over `timestamp LF body`, answered with
/// `FHXX` (always HTTP 200; `ZT` 0 only once the record is on Kafka). Only stale (more than 300 s
/// off) or forged requests are refused; a retried request is answered as its first push was.
public final class HotlineIngest: Sendable {
    /// Settings of the inbound side.
    public struct Configuration: Sendable {
        /// The shared secret of the signature (`GRIDHUB_HOTLINE_SECRET`).
        public var secret: [UInt8] { didSet { signingKey = Hotline12345.SigningKey(secret: secret) } }
        /// The secret, keyed for HMAC-SHA256 once.
        private(set) var signingKey: Hotline12345.SigningKey
        /// Largest body accepted, in bytes; larger bodies are answered `400` and dead-lettered (first bytes).
        public var maxBodyBytes: Int = 256 * 1024
        /// Bodies beyond this are not even read to the end (the signature cannot be checked).
        public var hardCapBytes: Int = 8 * 1024 * 1024
        /// The clock (tests move it).
        public var now: @Sendable () -> Date = { Date() }

        public init(secret: [UInt8]) {
            self.secret = secret
            signingKey = Hotline12345.SigningKey(secret: secret)
        }
    }

    static let stage = "adapter.hotline12345"
    private let configuration: Configuration
    private let pipeline: IngestPipeline
    private let reference: ReferenceData
    private let logger: Logger

    public init(configuration: Configuration, pipeline: IngestPipeline, reference: ReferenceData, logger: Logger) {
        self.configuration = configuration
        self.pipeline = pipeline
        self.reference = reference
        self.logger = logger
    }

    /// Adds the two endpoints to `router`.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.post("/hotline12345/workorders") { request, context in await self.handle(request, context, kind: .workOrder) }
        router.post("/hotline12345/surveys") { request, context in await self.handle(request, context, kind: .survey) }
    }

    enum Kind: String { case workOrder = "workorders", survey = "surveys" }

    private struct Answer {
        var code: Hotline12345.AnswerCode
        var message: String
    }

    private func handle(_ request: Request, _ context: some RequestContext, kind: Kind) async -> Response {
        let started = ContinuousClock.now
        let rid = requestID(request, context)
        var log = logger
        log[metadataKey: "http.request.id"] = .string(rid)
        let (span, trace) = requestSpan(request, name: "POST /hotline12345/\(kind.rawValue)")
        defer { span.end() }
        log[metadataKey: TraceContext.logKey] = .string(trace.traceId)
        let answer = await process(request, kind: kind, requestID: rid, trace: trace, logger: log)
        pipeline.recordAckLatency(ContinuousClock.now - started)
        if answer.code != .accepted {
            log.info("hotline request not accepted", metadata: ["hotline.zt": .stringConvertible(answer.code.rawValue), "hotline.xx": .string(answer.message), "http.path": .string(kind.rawValue)])
        }
        return response(.ok, contentType: "application/xml; charset=UTF-8", body: Array(Hotline12345.answer(answer.code, answer.message).utf8), requestID: rid)
    }

    private func refuse(_ reason: String, _ message: String) -> Answer {
        pipeline.countRejected(reason: reason)
        return Answer(code: .refused, message: message)
    }

    private func process(_ request: Request, kind: Kind, requestID rid: String, trace: TraceContext, logger: Logger) async -> Answer {
        // 1. Timestamp and signature: nothing is processed before both check out.
        let now = configuration.now()
        guard let tsText = request.headers[.hotlineTimestamp], let timestamp = Int64(tsText.trimmingWhitespace()) else {
            return refuse("timestamp", "缺少或无效的时间戳")
        }
        let nowSeconds = Int64(now.timeIntervalSince1970)
        guard abs(nowSeconds - timestamp) <= Hotline12345.signatureWindowSeconds else { return refuse("timestamp", "时间戳超出300秒有效期") }
        guard let signatureText = request.headers[.hotlineSignature], let signature = Hotline12345.unhex(signatureText.trimmingWhitespace()), signature.count == 32 else {
            return refuse("signature", "缺少或无效的签名")
        }
        var computed = Hotline12345.Signature(key: configuration.signingKey, timestamp: tsText)
        let body: LimitedBody
        do {
            body = try await LimitedBody.read(request.body, limit: configuration.maxBodyBytes, hardCap: configuration.hardCapBytes) { computed.update($0) }
        } catch {
            return Answer(code: .internalError, message: "读取请求失败")
        }
        if body.truncatedRead {
            pipeline.countRejected(reason: "tooLarge")
            return Answer(code: .invalid, message: "请求体过大")
        }
        guard computed.matches(signature) else { return refuse("signature", "签名错误") }
        // A request signed correctly within the window is processed even if it was seen before: the
        // platform retries a 429 or an unanswered request with the very same signed bytes, and the spec
        // wants the retry stored (or answered 0 again). Processing is idempotent (the delivery ledger
        // and deterministic record ids), so a replay by a third party within 300 s changes nothing.

        // 2. From here on the request is authentic: anything unusable is kept on the dead-letter topic.
        let origin = "POST /hotline12345/\(kind.rawValue) request \(rid)"
        var headers: [(key: String, value: [UInt8])] = [("http.request.id", Array(rid.utf8)), (CloudEventHeader.traceparent, Array(trace.header.utf8))]
        if let ct = request.headers[.contentType] { headers.append(("content-type", Array(ct.utf8))) }
        headers.append(("x-hotline-timestamp", Array(tsText.utf8)))
        func deadLetter(_ code: String, _ reason: String, key: String? = nil) async -> Answer {
            pipeline.countRejected(reason: code)
            switch await pipeline.deadLetter(original: body.bytes, headers: headers, key: key.map { Array($0.utf8) }, stage: Self.stage,
                                              reason: reason, origin: origin, reasonCode: code) {
            case .accepted: return Answer(code: .invalid, message: "请求无效：\(reason)")
            case .busy: return Answer(code: .busy, message: "系统繁忙，请稍后重试")
            }
        }
        if body.oversized {
            var keptHeaders = headers
            keptHeaders.append(("gridhub.error.truncated", Array("kept the first \(body.bytes.count) of \(body.total) bytes".utf8)))
            headers = keptHeaders
            return await deadLetter("tooLarge", "the body of \(body.total) bytes exceeds the limit of \(configuration.maxBodyBytes) bytes")
        }
        // 3. Encoding as declared (Content-Type charset and XML prolog must agree).
        let contentCharset = charset(ofContentType: request.headers[.contentType])
        let declared = FlatXML.declaredEncoding(body.bytes)
        let labels = [contentCharset, declared].compactMap { $0 }
        var encodings: [TextEncoding] = []
        for label in labels {
            guard let e = TextEncoding(label: label) else { return await deadLetter("encoding", "unsupported encoding \(label)") }
            encodings.append(e)
        }
        if encodings.count == 2 && encodings[0] != encodings[1] {
            return await deadLetter("encoding", "Content-Type says \(labels[0]) but the XML declaration says \(labels[1])")
        }
        let encoding = encodings.first ?? .utf8
        guard let text = encoding.decode(body.bytes) else { return await deadLetter("encoding", "the body is not valid \(encoding.rawValue)") }

        // 4. Translate, then store; "accepted" only after the delivery report.
        switch kind {
        case .workOrder:
            let order: Hotline12345.WorkOrder
            do { order = try Hotline12345.WorkOrder(xml: text) } catch {
                return await deadLetter(error.code, error.reason)
            }
            let incident = order.incident(reference: reference, receivedAt: now)
            switch await pipeline.publish(incident, traceparent: trace.header) {
            case .accepted: return Answer(code: .accepted, message: "成功")
            case .busy(let reason):
                logger.info("work order not stored", metadata: ["gridhub.record.id": .string(order.id), "kafka.error.reason": .string(reason)])
                return Answer(code: .busy, message: "系统繁忙，请稍后重试")
            }
        case .survey:
            let survey: Survey
            do { survey = try Hotline12345.survey(xml: text) } catch {
                return await deadLetter(error.code, error.reason)
            }
            switch await pipeline.publish(survey: survey, traceparent: trace.header) {
            case .accepted: return Answer(code: .accepted, message: "成功")
            case .busy: return Answer(code: .busy, message: "系统繁忙，请稍后重试")
            }
        }
    }
}
