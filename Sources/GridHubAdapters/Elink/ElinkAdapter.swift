import Foundation
import GridHubCore
import GridHubRuntime
import Hummingbird
import Logging
import Tracing

/// 综治e通's inbound side: `POST /elink/events`, 1..500 events a batch, `X-Api-Key`. Valid events
/// are stored once (a re-sent batch repeats them harmlessly); invalid ones are listed in `rejected`
/// and kept on the dead-letter topic, since the platform never re-sends them.
public final class ElinkIngest: Sendable {
    public struct Configuration: Sendable {
        /// The API key (`GRIDHUB_ELINK_API_KEY`).
        public var apiKey: String
        /// Largest body accepted (5 MiB by the spec).
        public var maxBodyBytes: Int = Elink.maxBodyBytes
        /// The dead letter of an oversized body keeps this many first bytes.
        public var deadLetterKeepBytes: Int = 512 * 1024
        public var now: @Sendable () -> Date = { Date() }
        public init(apiKey: String) { self.apiKey = apiKey }
    }

    static let stage = "adapter.elink"
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

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.post("/elink/events") { request, context in await self.handle(request, context) }
    }

    private func handle(_ request: Request, _ context: some RequestContext) async -> Response {
        let started = ContinuousClock.now
        let rid = requestID(request, context)
        var log = logger
        log[metadataKey: "http.request.id"] = .string(rid)
        let (span, trace) = requestSpan(request, name: "POST /elink/events")
        defer { span.end() }
        log[metadataKey: TraceContext.logKey] = .string(trace.traceId)
        let (status, body) = await process(request, requestID: rid, trace: trace, logger: log)
        pipeline.recordAckLatency(ContinuousClock.now - started)
        if status != .ok { log.info("elink batch not accepted", metadata: ["http.status": .stringConvertible(status.code)]) }
        return response(status, contentType: "application/json; charset=utf-8", body: body, requestID: rid)
    }

    private func process(_ request: Request, requestID rid: String, trace: TraceContext, logger: Logger) async -> (HTTPResponse.Status, [UInt8]) {
        let given = Array((request.headers[.apiKey] ?? "").utf8)
        guard !given.isEmpty, Elink.isAPIKey(given, Array(configuration.apiKey.utf8)) else {
            pipeline.countRejected(reason: "apiKey")
            return (.unauthorized, Elink.errorAnswer(code: 401, message: "invalid api key"))
        }
        let body: LimitedBody
        do {
            body = try await LimitedBody.read(request.body, limit: configuration.maxBodyBytes, hardCap: configuration.maxBodyBytes + 1)
        } catch {
            return (.internalServerError, Elink.errorAnswer(code: 500, message: "cannot read the request"))
        }
        let origin = "POST /elink/events request \(rid)"
        var headers: [(key: String, value: [UInt8])] = [("http.request.id", Array(rid.utf8)), (CloudEventHeader.traceparent, Array(trace.header.utf8))]
        if let ct = request.headers[.contentType] { headers.append(("content-type", Array(ct.utf8))) }
        let busy = (HTTPResponse.Status.serviceUnavailable, Elink.errorAnswer(code: 503, message: "cannot store now, re-send the batch later"))

        if body.oversized {
            pipeline.countRejected(reason: "tooLarge")
            let keep = Array(body.bytes.prefix(configuration.deadLetterKeepBytes))
            let h = headers + [("gridhub.error.truncated", Array("kept the first \(keep.count) bytes of a body over \(configuration.maxBodyBytes) bytes".utf8))]
            if case .busy = await pipeline.deadLetter(original: keep, headers: h, stage: Self.stage, reason: "the body exceeds \(configuration.maxBodyBytes) bytes",
                                                     origin: origin, reasonCode: "tooLarge", once: true) { return busy }
            return (.contentTooLarge, Elink.errorAnswer(code: 413, message: "body over 5 MiB"))
        }
        let batch: Elink.Batch
        do { batch = try Elink.batch(body.bytes) } catch {
            pipeline.countRejected(reason: error.code)
            let keep = Array(body.bytes.prefix(configuration.deadLetterKeepBytes))
            var h = headers
            if keep.count < body.bytes.count { h.append(("gridhub.error.truncated", Array("kept the first \(keep.count) of \(body.bytes.count) bytes".utf8))) }
            if case .busy = await pipeline.deadLetter(original: keep, headers: h, stage: Self.stage, reason: error.reason, origin: origin,
                                                     reasonCode: error.code, once: true) { return busy }
            if error.code == "tooLarge" { return (.contentTooLarge, Elink.errorAnswer(code: 413, message: error.reason)) }
            return (.badRequest, Elink.errorAnswer(code: 400, message: error.reason))
        }
        let now = configuration.now()
        var incidents: [Incident] = []
        var rejected: [(sjbh: String, reason: String)] = []
        var seen = Set<String>()
        for entry in batch.events {
            switch entry.event {
            case .success(let event):
                // The same event twice in one batch is stored once.
                if seen.insert(event.id).inserted { incidents.append(event.incident(reference: reference, receivedAt: now)) }
            case .failure(let problem):
                pipeline.countRejected(reason: problem.code)
                let sjbh = entry.sjbh ?? ""
                rejected.append((sjbh, problem.reason))
                let h = headers + [("elink.batch.id", Array((batch.batchId ?? "").utf8))]
                if case .busy = await pipeline.deadLetter(original: entry.json, headers: h, key: sjbh.isEmpty ? nil : Array(sjbh.utf8), stage: Self.stage,
                                                         reason: problem.reason, origin: "\(origin) event \(sjbh)", reasonCode: problem.code, once: true) {
                    return busy
                }
            }
        }
        let outcomes = await pipeline.publish(incidents, traceparent: trace.header)
        for outcome in outcomes {
            if case .busy(let reason) = outcome {
                logger.info("elink batch not stored", metadata: ["kafka.error.reason": .string(reason)])
                return busy
            }
        }
        return (.ok, Elink.answer(accepted: incidents.count, rejected: rejected))
    }
}
