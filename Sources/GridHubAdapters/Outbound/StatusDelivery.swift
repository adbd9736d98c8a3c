import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging
import Metrics
import ServiceLifecycle

/// One record on its way back to a source: a status for one of its reports, or a dispatch (for the
/// enforcement system).
public struct OutboundItem: Sendable {
    public enum Payload: Sendable {
        case status(StatusUpdate)
        case dispatch(Dispatch)
    }
    public var record: ConsumerRecord
    public var payload: Payload

    public init(record: ConsumerRecord, payload: Payload) {
        self.record = record
        self.payload = payload
    }

    /// Records of one key are delivered in order; different keys may go in parallel.
    public var orderingKey: String {
        switch payload {
        case .status(let s): "status/\(s.system.rawValue)/\(s.recordId)"
        case .dispatch(let d): "dispatch/\(d.dispatchId)"
        }
    }

    /// The version that makes an older record stale (the case version; 1 for a dispatch).
    public var version: Int {
        switch payload {
        case .status(let s): s.caseVersion
        case .dispatch: 1
        }
    }
}

/// What a source did with one item.
public enum OutboundResult: Sendable, Equatable {
    /// The source accepted it.
    case delivered
    /// Nothing to tell the source about (e.g. a status the source has no word for).
    case skipped
    /// The source refused it for good (it will never accept it): kept on the dead-letter topic.
    case rejected(reason: String)
}

/// Where items go: the hotline's `/api/v1/gd/fk`, Woodpecker's replies, the enforcement outbox.
/// `deliver` retries transient failures itself (the source down for an hour) and returns only when
/// every item has an outcome, or throws `CancellationError` when the daemon shuts down.
public protocol OutboundSink: Sendable {
    func deliver(_ items: [OutboundItem]) async throws -> [OutboundResult]
}

/// The shared way back to every source: consumes the source's status topic (and, for enforcement,
/// its dispatch topic) in the adapter's consumer group and hands records to the sink in order per
/// record. Offsets are committed only after the sink has an outcome for every record of a batch;
/// a small delivered-ledger (`outbound/ledger.log`, highest case version per record) skips stale and
/// already-delivered records after a crash or a rebalance.
public final class StatusDelivery: Service, Sendable {
    public struct Configuration: Sendable {
        public var topics: [String]
        public var groupID: String
        public var stage: String
        public var maxBatch: Int = 500
        /// Waits between attempts to write a dead letter while Kafka cannot take it.
        public var deadLetterBackoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
        public init(topics: [String], groupID: String, stage: String) {
            self.topics = topics
            self.groupID = groupID
            self.stage = stage
        }
    }

    private let configuration: Configuration
    private let kafka: KafkaClientConfiguration
    private let sink: any OutboundSink
    private let ledger: DeliveryLedger
    private let pipeline: IngestPipeline
    private let logger: Logger
    private let delivered: MetricsCounter
    private let skipped: MetricsCounter
    private let rejected: MetricsCounter
    private let lag: MetricsGauge

    public init(configuration: Configuration, kafka: KafkaClientConfiguration, sink: any OutboundSink, stateDirectory: URL,
                pipeline: IngestPipeline, metrics: DaemonMetrics, logger: Logger) throws {
        self.configuration = configuration
        self.kafka = kafka
        self.sink = sink
        // Remembered as long as, and on the clock of, the adapter's own ledger.
        self.ledger = try DeliveryLedger(directory: stateDirectory.appendingPathComponent("outbound"), retention: pipeline.ledger.retention, now: pipeline.ledger.now)
        self.pipeline = pipeline
        self.logger = logger
        let labels = [("adapter", pipeline.system.rawValue)]
        delivered = metrics.counter("outbound", "delivered", help: "Status records delivered to the source.", labels: labels)
        skipped = metrics.counter("outbound", "skipped", help: "Status records skipped: stale, already delivered, or nothing to tell.", labels: labels)
        rejected = metrics.counter("outbound", "rejected", help: "Status records the source refused for good (dead-lettered).", labels: labels)
        lag = metrics.gauge("outbound", "batch_size", unit: "records", help: "Records in the batch being delivered.", labels: labels)
    }

    public func run() async throws {
        var config = KafkaConsumerConfiguration(client: kafka, groupID: configuration.groupID)
        config.offsetReset = .earliest
        // A source down for an hour holds a batch that long: stay in the group meanwhile.
        config.maxPollIntervalMilliseconds = 86_400_000
        config.maxBatchRecords = configuration.maxBatch
        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        try consumer.subscribe(topics: configuration.topics)
        logger.info("status delivery started", metadata: ["kafka.topics": .string(configuration.topics.joined(separator: ",")), "kafka.group": .string(configuration.groupID)])
        await withDiscardingTaskGroup { _ in
            do {
                try await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        // A poll returns with the first record that comes, and at once when cancelled: a
                        // longer wait costs no latency, and an idle adapter wakes less often.
                        let records = try await consumer.poll(maxRecords: self.configuration.maxBatch, timeout: .seconds(1))
                        if records.isEmpty { continue }
                        try await self.handle(records)
                        do { try await consumer.commit(after: records) } catch let error as KafkaError where error.isRebalance || error.isRetriable {
                            // Delivered and in the ledger: whoever reads these records again skips them.
                            self.logger.info("status batch not committed; its records may be read again", metadata: ["error": .string("\(error)")])
                        }
                    }
                }
            } catch is CancellationError {
            } catch {
                self.logger.error("status delivery stopped", metadata: ["error": .string("\(error)")])
            }
        }
        await consumer.close()
        logger.info("status delivery stopped")
    }

    /// Decodes, drops stale and delivered records, hands the rest to the sink, records the outcomes.
    func handle(_ records: [ConsumerRecord]) async throws {
        lag.set(Double(records.count))
        var items: [OutboundItem] = []
        var newest: [String: Int] = [:]
        for record in records {
            // The router's alerts for a department travel on its dispatch topic too: not for the source.
            if record.headers.string(CloudEventHeader.type) == EventType.alert.rawValue {
                skipped.increment()
                continue
            }
            let item: OutboundItem
            do { item = try Self.decode(record) } catch {
                try await deadLetter(record, reason: "not a GridHub status or dispatch event: \(error)", reasonCode: "undecodable")
                continue
            }
            let key = item.orderingKey
            let known = max(ledger.version(of: key) ?? 0, newest[key] ?? 0)
            if item.version <= known {
                skipped.increment()
                continue
            }
            newest[key] = item.version
            items.append(item)
        }
        guard !items.isEmpty else { return }
        let results = try await sink.deliver(items)
        var done: [(key: String, version: Int)] = []
        for (item, result) in zip(items, results) {
            switch result {
            case .delivered: delivered.increment()
            case .skipped: skipped.increment()
            case .rejected(let reason):
                rejected.increment()
                try await deadLetter(item.record, reason: reason, reasonCode: "refusedBySource")
            }
            done.append((item.orderingKey, item.version))
        }
        try await ledger.record(done)
    }

    /// Puts `record` on the dead-letter topic, waiting (with back-off) while Kafka cannot take it: the
    /// batch's offsets are committed only after every dead letter of it is written, so none is lost.
    /// Throws only when the daemon stops meanwhile (the batch is then read again after the restart).
    private func deadLetter(_ record: ConsumerRecord, reason: String, reasonCode: String) async throws {
        var attempt = 0
        while true {
            let outcome = await pipeline.deadLetter(original: record.value, headers: record.headers.map { (key: $0.key, value: $0.value) }, key: record.key,
                                                    stage: configuration.stage, reason: reason, origin: "\(record.topic)/\(record.partition)/\(record.offset)",
                                                    reasonCode: reasonCode)
            guard case .busy(let why) = outcome else { return }
            logger.warning("dead letter not written yet; the batch waits", metadata: ["reason": .string(why), "attempt": .stringConvertible(attempt)])
            try await Task.sleep(for: configuration.deadLetterBackoff.delay(attempt: attempt))
            attempt += 1
        }
    }

    static func decode(_ record: ConsumerRecord) throws -> OutboundItem {
        let event = try CloudEvent(headers: record.headers.map { (key: $0.key, value: $0.value) }, value: record.value)
        switch event.eventType {
        // Read directly when plainly valid; otherwise the decoder decides and says why.
        case .status: return OutboundItem(record: record, payload: .status(try StatusUpdate.decoded(from: event.data, decoder: GridHubJSON.decoder())))
        case .dispatch: return OutboundItem(record: record, payload: .dispatch(try event.decode(Dispatch.self)))
        default: throw CloudEventError(code: .invalidHeader, header: "ce_type", detail: "'\(event.type)' is neither a status nor a dispatch")
        }
    }
}

/// Retries an operation until it succeeds or fails for good: exponential back-off with jitter from
/// `initial` up to `maximum`, for as long as it takes (cancellation ends it).
public struct Backoff: Sendable {
    public var initial: Duration
    public var maximum: Duration
    public init(initial: Duration = .milliseconds(200), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before attempt `n` (0-based), with ±25 % jitter.
    public func delay(attempt n: Int) -> Duration {
        let base = min(Double(initial.components.seconds) + Double(initial.components.attoseconds) / 1e18, 1e9) * pow(2, Double(min(n, 30)))
        let cap = Double(maximum.components.seconds) + Double(maximum.components.attoseconds) / 1e18
        let seconds = min(base, cap) * Double.random(in: 0.75...1.25)
        return .milliseconds(Int64(seconds * 1000))
    }
}

/// Delivers items per ordering key in order, different keys concurrently (bounded), each with
/// `attempt` retried on transient failures.
public enum PerKeyDelivery {
    public enum Attempt: Sendable, Equatable {
        case done(OutboundResult)
        case retry(reason: String)
    }

    public static func deliver(_ items: [OutboundItem], concurrency: Int, backoff: Backoff, logger: Logger,
                               attempt: @escaping @Sendable (OutboundItem) async -> Attempt) async throws -> [OutboundResult] {
        var groups: [String: [Int]] = [:]
        var order: [String] = []
        for (i, item) in items.enumerated() {
            if groups[item.orderingKey] == nil { order.append(item.orderingKey) }
            groups[item.orderingKey, default: []].append(i)
        }
        var results = [OutboundResult](repeating: .skipped, count: items.count)
        try await withThrowingTaskGroup(of: [(Int, OutboundResult)].self) { group in
            var next = 0
            func add() {
                let indices = groups[order[next]] ?? []
                next += 1
                group.addTask {
                    var out: [(Int, OutboundResult)] = []
                    for i in indices {
                        var n = 0
                        while true {
                            try Task.checkCancellation()
                            switch await attempt(items[i]) {
                            case .done(let r):
                                out.append((i, r))
                            case .retry(let reason):
                                if n == 0 || n % 10 == 0 {
                                    logger.info("source not reachable; retrying", metadata: ["outbound.reason": .string(reason), "outbound.attempt": .stringConvertible(n + 1)])
                                }
                                try await Task.sleep(for: backoff.delay(attempt: n))
                                n += 1
                                continue
                            }
                            break
                        }
                    }
                    return out
                }
            }
            while next < order.count && next < concurrency { add() }
            while let finished = try await group.next() {
                for (i, r) in finished { results[i] = r }
                if next < order.count { add() }
            }
        }
        return results
    }
}
