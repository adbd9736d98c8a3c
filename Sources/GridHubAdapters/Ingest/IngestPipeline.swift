import Foundation
import GridHubCore
import GridHubKafka
import Tracing
import GridHubRuntime
import Logging
import Prometheus

/// The path every adapter's records take onto Kafka: encode → produce → wait for the delivery report →
/// remember → only then "accepted". Anything that cannot be translated goes to the dead-letter topic
/// with its original bytes and the reason.
///
/// - A source is never told "accepted" for a record without a delivery report.
/// - When Kafka is known to be unreachable (its last probe failed) the answer is "busy" at once (the
///   source retries later); before the first probe a record is tried on Kafka. Never a silent
///   drop and never unbounded buffering (the producer's in-flight bound applies).
/// - A record version already delivered (a retry, a re-pushed batch) is answered "accepted" without a
///   second record on Kafka. Every record's `ce_id` is derived from (system, record id, version), so
///   the windows the ledger cannot close — a crash after delivery, before the ledger write; a delivery
///   that timed out here (answered busy) yet reached the broker — yield a second copy of the same
///   event (same `ce_id`, same incident but for `receivedAt`) when the source retries, which the
///   router recognises (BrokerFaultTests).
public final class IngestPipeline: Sendable {
    /// What happened to one submitted record.
    public enum Outcome: Sendable, Equatable {
        /// On Kafka (now, or already before: `duplicate`).
        case accepted(duplicate: Bool)
        /// Not stored; the source should retry later.
        case busy(reason: String)
    }

    /// The topics an ingest pipeline writes to; the contract's by default (tests use their own).
    public struct Topics: Sendable {
        public var incidents: String
        public var surveys: String
        public var feedback: String
        public var deadLetter: String

        public init(incidents: String = GridHubCore.Topics.incidents, surveys: String = GridHubCore.Topics.surveys,
                    feedback: String = GridHubCore.Topics.feedback, deadLetter: String = GridHubCore.Topics.deadLetter) {
            self.incidents = incidents
            self.surveys = surveys
            self.feedback = feedback
            self.deadLetter = deadLetter
        }

        /// The contract's topics.
        public static let contract = Topics()
    }

    public let system: SourceSystem
    public let topics: Topics
    private let producer: KafkaProducer
    /// Which versions of which records are on Kafka.
    public let ledger: DeliveryLedger
    private let reachability: KafkaReachability?
    private let logger: Logger
    private let metrics: IngestMetrics

    /// - Parameters:
    ///   - reachability: when given, records are refused as busy at once while its last probe failed.
    public init(system: SourceSystem, producer: KafkaProducer, ledger: DeliveryLedger, reachability: KafkaReachability?, metrics: DaemonMetrics, logger: Logger, topics: Topics = .contract) {
        self.system = system
        self.topics = topics
        self.producer = producer
        self.ledger = ledger
        self.reachability = reachability
        self.logger = logger
        self.metrics = IngestMetrics(metrics: metrics, adapter: system.rawValue)
    }

    /// Publishes incidents; each outcome is known only once its record is delivered (or refused).
    public func publish(_ incidents: [Incident], traceparent: String? = nil) async -> [Outcome] {
        let started = ContinuousClock.now
        metrics.received.increment(by: Int64(incidents.count))
        var outcomes = [Outcome?](repeating: nil, count: incidents.count)
        var records: [ProducerRecord] = []
        var spans: [any Span] = []
        var indices: [Int] = []
        // Every span ends (with the delivery's outcome) however this returns.
        defer { for span in spans { span.end() } }
        for (i, incident) in incidents.enumerated() {
            let key = ledgerKey(incident.source)
            if ledger.contains(key, version: incident.source.version) {
                outcomes[i] = .accepted(duplicate: true)
                metrics.duplicates.increment()
                continue
            }
            do {
                let (span, trace) = SpanExport.start("publish incident", parent: traceparent, kind: .producer)
                span.attributes["gridhub.incident.id"] = incident.incidentId
                span.attributes["messaging.destination.name"] = topics.incidents
                spans.append(span)
                records.append(try record(for: incident, traceparent: trace))
                indices.append(i)
            } catch {
                // Encoding a valid model value cannot fail; if it does, it is a bug worth shouting about.
                logger.error("incident could not be encoded", metadata: ["gridhub.incident.id": .string(incident.incidentId), "error": .string("\(error)")])
                outcomes[i] = .busy(reason: "internal error encoding the incident")
            }
        }
        if !records.isEmpty {
            if let reachability, reachability.isKnownUnreachable {
                for i in indices { outcomes[i] = .busy(reason: reachability.problem() ?? "Kafka unreachable") }
                for span in spans { span.setStatus(SpanStatus(code: .error, message: "Kafka unreachable")) }
                metrics.busy.increment(by: Int64(indices.count))
            } else {
                let results = await producer.send(records)
                var delivered: [(key: String, version: Int)] = []
                for (n, result) in results.enumerated() {
                    let i = indices[n]
                    switch result {
                    case .success:
                        delivered.append((ledgerKey(incidents[i].source), incidents[i].source.version))
                        outcomes[i] = .accepted(duplicate: false)
                    case .failure(let error):
                        outcomes[i] = .busy(reason: "not stored on Kafka: \(error.message)")
                        spans[n].setStatus(SpanStatus(code: .error, message: error.message))
                        logger.info("incident not delivered", metadata: ["gridhub.incident.id": .string(incidents[i].incidentId), "kafka.error.reason": .string(error.message)])
                    }
                }
                do {
                    try await ledger.record(delivered)
                } catch {
                    // The records are on Kafka: they are accepted. A retry may produce an identical copy.
                    logger.error("ledger write failed", metadata: ["error": .string("\(error)")])
                }
                metrics.accepted.increment(by: Int64(delivered.count))
                metrics.busy.increment(by: Int64(records.count - delivered.count))
            }
        }
        metrics.ackLatency.record(ContinuousClock.now - started)
        return outcomes.map { $0 ?? .busy(reason: "internal error") }
    }

    /// Publishes one incident.
    public func publish(_ incident: Incident, traceparent: String? = nil) async -> Outcome {
        await publish([incident], traceparent: traceparent)[0]
    }

    /// Publishes a citizen's survey answer on `gridhub.surveys.v1`, keyed by the source's record id.
    public func publish(survey: Survey, traceparent: String? = nil) async -> Outcome {
        let key = "survey/\(system.rawValue)/\(survey.recordId)/\(RFC3339.format(survey.at))"
        if ledger.contains(key, version: 1) { return .accepted(duplicate: true) }
        do {
            let event = try CloudEvent(
                id: DeterministicID(namespace: .event, parts: ["survey", system.rawValue, survey.recordId, RFC3339.format(survey.at)]).uuidString,
                source: system.adapterEventSource, type: .survey, time: survey.at, subject: survey.recordId,
                traceparent: (TraceContext(header: traceparent)?.child() ?? .start()).header,
                payload: survey, encoder: GridHubJSON.encoder())
            let record = ProducerRecord(topic: topics.surveys, key: survey.recordId, value: event.data, headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) })
            return await deliver(record, ledgerKey: key, version: 1)
        } catch {
            return .busy(reason: "internal error encoding the survey")
        }
    }

    /// The most bytes of an input a dead letter keeps.
    public static let maxDeadLetterBytes = 512 * 1024

    /// Puts the original bytes of something unusable on the dead-letter topic with the reason.
    /// Returns `.accepted` once it is stored; `.busy` if it could not be (the source should retry).
    ///
    /// - Parameters:
    ///   - origin: where it came from (`gridhub.error.source`): the endpoint or file and record id;
    ///     the adapter's CloudEvents source when nil.
    ///   - reasonCode: a short bounded code counted in `gridhub_ingest_deadlettered_total{reason}`.
    ///   - once: when set, the same input (same bytes and reason) re-sent later — a re-pushed batch, a
    ///     re-read file — is not dead-lettered a second time (remembered in the ledger).
    public func deadLetter(original: [UInt8], headers: [(key: String, value: [UInt8])] = [], key: [UInt8]? = nil, stage: String, reason: String,
                           origin: String? = nil, reasonCode: String = "invalid", once: Bool = false) async -> Outcome {
        var onceKey: String? = nil
        if once {
            onceKey = "deadletter/\(system.rawValue)/\(ContentDigest.sha256(original, Array(("\n" + reason).utf8)).hexString)"
            if let onceKey, ledger.contains(onceKey, version: 1) { return .accepted(duplicate: true) }
        }
        if let reachability, reachability.isKnownUnreachable { return .busy(reason: reachability.problem() ?? "Kafka unreachable") }
        // A dead letter must fit in a Kafka record (1 MB by default): a larger input keeps its start.
        var kept = headers
        if original.count > Self.maxDeadLetterBytes {
            kept.append(("gridhub.error.truncated", Array("kept the first \(Self.maxDeadLetterBytes) of \(original.count) bytes".utf8)))
        }
        let all = DeadLetterHeader.headers(original: kept, stage: stage, reason: reason, source: origin ?? system.adapterEventSource, time: Date())
        let record = ProducerRecord(topic: topics.deadLetter, key: key, value: Array(original.prefix(Self.maxDeadLetterBytes)), headers: all.map { KafkaHeader(key: $0.key, value: $0.value) })
        do {
            try await producer.send(record)
            if let onceKey { try? await ledger.record([(onceKey, 1)]) }
            metrics.deadLettered(reasonCode).increment()
            logger.info("dead-lettered", metadata: ["gridhub.error.stage": .string(stage), "gridhub.error.reason": .string(reason)])
            return .accepted(duplicate: false)
        } catch {
            return .busy(reason: "dead letter not stored: \(error.message)")
        }
    }

    /// Publishes a department's feedback (e.g. an enforcement case closing a dispatch) on
    /// `gridhub.feedback.v1`, keyed by dispatch id, once per `(dispatchId, version)`.
    public func publish(feedback: Feedback, version: Int, eventSource: String, traceparent: String? = nil) async -> Outcome {
        let key = "feedback/\(feedback.dispatchId)/\(feedback.status.rawValue)"
        if ledger.contains(key, version: version) { return .accepted(duplicate: true) }
        do {
            let event = try CloudEvent(
                id: DeterministicID(namespace: .event, parts: ["feedback", feedback.dispatchId, feedback.status.rawValue, String(version)]).uuidString,
                source: eventSource, type: .feedback, time: feedback.at, subject: feedback.dispatchId,
                traceparent: (TraceContext(header: traceparent)?.child() ?? .start()).header,
                payload: feedback, encoder: GridHubJSON.encoder())
            let record = ProducerRecord(topic: topics.feedback, key: feedback.dispatchId, value: event.data, headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) })
            return await deliver(record, ledgerKey: key, version: version)
        } catch {
            return .busy(reason: "internal error encoding the feedback")
        }
    }

    /// Counts a refusal (bad signature, bad key…) that stores nothing.
    public func countRejected(reason: String) {
        metrics.rejected(reason).increment()
    }

    /// Records how long an answer took (from receiving a request to answering it).
    public func recordAckLatency(_ duration: Duration) {
        metrics.requestLatency.record(duration)
    }

    // MARK: -

    private func deliver(_ record: ProducerRecord, ledgerKey: String, version: Int) async -> Outcome {
        if let reachability, reachability.isKnownUnreachable { return .busy(reason: reachability.problem() ?? "Kafka unreachable") }
        do {
            try await producer.send(record)
            try? await ledger.record([(ledgerKey, version)])
            return .accepted(duplicate: false)
        } catch {
            return .busy(reason: "not stored on Kafka: \(error.message)")
        }
    }

    private func ledgerKey(_ source: SourceRef) -> String { "\(source.system.rawValue)/\(source.recordId)" }

    /// The Kafka record of an incident: keyed by its grid (records of one place share a partition),
    /// CloudEvents headers, deterministic `ce_id`, and `traceparent`: the span that publishes it (a new
    /// span of the source's trace, or of a new trace when the source sent none).
    func record(for incident: Incident, traceparent: String) throws -> ProducerRecord {
        let trace = TraceContext(header: traceparent) ?? .start()
        // Incidents carry reporters' contact details to the router, which discloses them only to
        // departments that need them; every other topic masks them. Written directly: the same bytes
        // as GridHubJSON's encoder (JSONBytesWriterTests), without its cost on every record.
        let event = CloudEvent(
            id: DeterministicID(namespace: .event, parts: ["incident", incident.source.system.rawValue, incident.source.recordId, String(incident.source.version)]).uuidString,
            source: system.adapterEventSource, type: EventType.incident.rawValue, time: incident.receivedAt, subject: incident.incidentId,
            traceparent: trace.header, data: incident.jsonBytes(disclosing: .reveal))
        return ProducerRecord(
            topic: topics.incidents, key: IngestPipeline.partitionKey(for: incident), value: event.data,
            headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) })
    }

    /// The incidents topic's key: the grid code, or the incident id for reports without a grid.
    public static func partitionKey(for incident: Incident) -> String {
        incident.location.gridCode ?? "unlocated/\(incident.incidentId)"
    }
}

/// The ingest metrics of one adapter, created once.
struct IngestMetrics: Sendable {
    let received: Counter
    let accepted: Counter
    let duplicates: Counter
    let busy: Counter
    let ackLatency: DurationHistogram
    let requestLatency: DurationHistogram
    private let metrics: DaemonMetrics
    private let adapter: String

    init(metrics: DaemonMetrics, adapter: String) {
        self.metrics = metrics
        self.adapter = adapter
        let labels = [("adapter", adapter)]
        received = metrics.counter("ingest", "received", help: "Source records received.", labels: labels)
        accepted = metrics.counter("ingest", "accepted", help: "Source records stored on Kafka and acknowledged.", labels: labels)
        duplicates = metrics.counter("ingest", "duplicates", help: "Source record versions received again (retries, re-pushed batches).", labels: labels)
        busy = metrics.counter("ingest", "busy", help: "Source records answered busy because Kafka could not store them.", labels: labels)
        ackLatency = metrics.latency("ingest", "ack_latency", help: "Time from handing records to Kafka to their delivery reports.", labels: labels)
        requestLatency = metrics.latency("ingest", "request_latency", help: "Time from receiving a source request to answering it.", labels: labels)
    }

    /// Inputs put on the dead-letter topic, by reason code.
    func deadLettered(_ reason: String) -> Counter {
        metrics.counter("ingest", "deadlettered", help: "Unusable inputs put on the dead-letter topic, by reason.", labels: [("adapter", adapter), ("reason", reason)])
    }

    /// Refusals by reason (a small fixed vocabulary: signature, timestamp, replay, apiKey, tooLarge, malformed…).
    func rejected(_ reason: String) -> Counter {
        metrics.counter("ingest", "rejected", help: "Inputs refused, by reason.", labels: [("adapter", adapter), ("reason", reason)])
    }
}
