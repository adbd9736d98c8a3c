import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The router's consume loop: incidents, feedback and surveys in one consumer group, one database
/// transaction per polled batch holding the state changes, the outbox rows and the next offsets.
///
/// Exactly once comes from the database: each batch first locks its partitions' rows in
/// `consumed_offsets` and skips records below the stored offset (already applied by this or another
/// instance), so a record's effects are committed once whatever Kafka redelivers. Kafka offsets are
/// committed afterwards only as a hint; on assignment each partition is moved to the stored offset.
public final class RouterConsumer: Service, Sendable {
    /// Settings of the loop.
    public struct Configuration: Sendable {
        /// The consumer group shared by router instances.
        public var groupID = "gridhub-router"
        /// Records per poll, and so per transaction.
        public var maxBatchRecords = 2_000
        /// The topics read.
        public var incidentsTopic = Topics.incidents
        public var feedbackTopic = Topics.feedback
        public var surveysTopic = Topics.surveys
        public var commandsTopic = Topics.commands
        /// Failures of a transaction while the database answers before the batch is taken apart record
        /// by record, and before a record that fails alone is dead-lettered (a poison record). Failures
        /// while the database does not answer (an outage) are not counted: they are waited out.
        public var poisonAttempts = 5

        public init() {}
    }

    private let configuration: Configuration
    private let kafka: KafkaClientConfiguration
    private let store: RouterStore
    private let env: RouterEnvironment
    private let metrics: RouterMetrics
    private let logger: Logger
    private let state = Mutex<(running: Bool, lastError: String?)>((false, "not started"))
    private let holdsPartitions = Mutex(false)
    private let cache: CandidateCache
    private let outboxMemory: OutboxMemory?

    public convenience init(configuration: Configuration, kafka: KafkaClientConfiguration, store: RouterStore, environment: RouterEnvironment,
                            metrics: RouterMetrics, logger: Logger) {
        self.init(configuration: configuration, kafka: kafka, store: store, environment: environment, metrics: metrics, logger: logger, outboxMemory: nil)
    }

    /// A consumer that hands the outbox bodies it commits to `outboxMemory`, for this process's publisher.
    init(configuration: Configuration, kafka: KafkaClientConfiguration, store: RouterStore, environment: RouterEnvironment,
         metrics: RouterMetrics, logger: Logger, outboxMemory: OutboxMemory?) {
        self.outboxMemory = outboxMemory
        self.configuration = configuration
        self.kafka = kafka
        self.store = store
        env = environment
        self.metrics = metrics
        self.logger = logger
        cache = CandidateCache(policy: environment.matcher.policy)
    }

    /// Cases held in memory as duplicate candidates.
    public var candidatesCached: Int { cache.candidateCount }

    /// Whether the consumer holds partitions of its topics, moved to their stored offsets: its group's
    /// first assignment has come. Not a readiness check (an instance beyond the partitions' count holds
    /// none and is still fine); `gridhub dev` starts its simulated city once its one router does.
    public var hasPartitions: Bool { holdsPartitions.withLock { $0 } }

    /// nil when the loop is consuming and its last transaction succeeded; else why not (for `/readyz`).
    public func problem() -> String? {
        state.withLock { s in s.running ? s.lastError : (s.lastError ?? "not started") }
    }

    public func run() async throws {
        // The start-up steps are cancelled on shutdown: with the database gone the pool would wait a
        // minute for a connection (both are transactions; cut short they are simply done again).
        guard case .done = await retrying("migrate", { try await cancelWhenGracefulShutdown { try await self.store.migrate() } }) else { return }
        let warmed = await retrying("read duplicate candidates") { try await cancelWhenGracefulShutdown {
            let started = ContinuousClock.now
            let n = try await self.cache.warm(self.store.client, grids: self.env.reference.grids.map(\.gridCode),
                                              now: self.env.now().millisecondsSince1970, logger: self.logger)
            self.metrics.candidatesCached.set(Double(n))
            self.logger.info("duplicate candidates read", metadata: [
                RouterLogKeys.count: .stringConvertible(n), "gridhub.duration_ms": .stringConvertible(Int((ContinuousClock.now - started) / .milliseconds(1)))])
        } }
        guard case .done = warmed else { return }
        var config = KafkaConsumerConfiguration(client: kafka, groupID: configuration.groupID)
        config.maxBatchRecords = configuration.maxBatchRecords
        config.sessionTimeoutMilliseconds = 6_000
        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        try consumer.subscribe(topics: [configuration.incidentsTopic, configuration.feedbackTopic, configuration.surveysTopic, configuration.commandsTopic])
        state.withLock { $0 = (true, nil) }
        var known = Set<TopicPartition>()
        // The next batch is polled and decoded while the current one is in its transaction (decoding
        // is CPU work that needs no database). Records read ahead from a partition that is revoked
        // meanwhile are harmless: the transaction skips what the stored offsets say is done.
        let metrics = self.metrics
        @Sendable func fetch() -> Task<DecodedBatch?, Never> {
            Task {
                let polled = ContinuousClock.now
                let batch: [ConsumerRecord]
                // A long wait: a quiet router wakes once a second, not ten times; records end it at once,
                // and so does a shutdown (``KafkaConsumer/wakeUp()`` below).
                do { batch = try await consumer.poll(timeout: .seconds(1)) } catch {
                    self.logger.warning("poll failed", metadata: [RouterLogKeys.reason: .string("\(error)")])
                    try? await Task.sleep(for: .milliseconds(200))
                    return nil
                }
                guard !batch.isEmpty else { return DecodedBatch(records: [], items: [], assignment: consumer.assignment) }
                metrics.spent("consumer: poll", since: polled)
                let decoding = ContinuousClock.now
                let items = await self.decodeAll(batch)
                metrics.spent("consumer: decode records (while the previous batch commits)", since: decoding)
                return DecodedBatch(records: batch, items: items, assignment: consumer.assignment)
            }
        }
        var next: Task<DecodedBatch?, Never>? = nil
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let waiting = ContinuousClock.now
                guard var decoded = await (next ?? fetch()).value else { next = nil; continue }
                metrics.spent("consumer: wait for the next batch", since: waiting)
                // The batch read ahead holds what had come when the last transaction began; what came
                // during it joins now, so that a record waits for one transaction before its own, not two.
                if !decoded.records.isEmpty, decoded.records.count < configuration.maxBatchRecords,
                   let more = try? await consumer.poll(maxRecords: configuration.maxBatchRecords - decoded.records.count, timeout: .zero), !more.isEmpty {
                    let decoding = ContinuousClock.now
                    decoded.items += await decodeAll(more)
                    decoded.records += more
                    decoded.assignment = consumer.assignment
                    metrics.spent("consumer: decode records that came during the last transaction", since: decoding)
                }
                if decoded.assignment != known {
                    // Moves new partitions to their stored offsets; a batch already read ahead from
                    // before the seek is processed first (what is done in it is skipped).
                    await seekToStoredOffsets(consumer, partitions: decoded.assignment.subtracting(known))
                    known = decoded.assignment
                    holdsPartitions.withLock { [empty = known.isEmpty] in $0 = !empty }
                }
                next = fetch()
                guard !decoded.records.isEmpty else { continue }
                let start = ContinuousClock.now
                guard await processIsolatingPoison(decoded) else { break }
                metrics.batchLatency.record(ContinuousClock.now - start)
                metrics.batchCommitted()
                metrics.spent("consumer: transaction (total)", since: start)
                // A hint for tools that read the group's offsets; the stored offsets are the truth, so
                // the next batch does not wait for the broker to confirm it.
                let committing = ContinuousClock.now
                do { try consumer.commitInBackground(after: decoded.records) } catch {
                    logger.debug("Kafka offset commit not queued", metadata: [RouterLogKeys.reason: .string("\(error)")])
                }
                metrics.spent("consumer: Kafka offset commit (queued)", since: committing)
            }
        } onGracefulShutdown: {
            self.state.withLock { $0 = (false, "shutting down") }
            consumer.wakeUp()
        }
        // A batch read ahead and not processed is read again by whoever gets its partitions.
        _ = await next?.value
        await consumer.close()
    }

    /// Processes a batch. When its transaction keeps failing while the database answers, the batch is
    /// taken apart and each record processed alone; a record that still fails goes to the dead-letter
    /// topic with the reason (in a transaction that also moves its offset on), and the router moves on.
    /// Returns false when shutdown interrupted it.
    private func processIsolatingPoison(_ decoded: DecodedBatch) async -> Bool {
        let limit = configuration.poisonAttempts
        switch await retrying("batch", giveUpAfter: limit, { try await self.process(decoded) }) {
        case .done: return true
        case .stopped: return false
        case .gaveUp: break
        }
        logger.warning("a batch keeps failing: processing its records one by one", metadata: [RouterLogKeys.count: .stringConvertible(decoded.records.count)])
        for (record, item) in zip(decoded.records, decoded.items) {
            let single = DecodedBatch(records: [record], items: [item], assignment: decoded.assignment)
            switch await retrying("record", giveUpAfter: limit, { try await self.process(single) }) {
            case .done: continue
            case .stopped: return false
            case .gaveUp(let error):
                metrics.poisonRecords.increment()
                let reason = "processing failed \(limit) times while the database answered: \(String(String(reflecting: error).prefix(500)))"
                let deadLetter = DecodedBatch(records: [record], items: [.invalid(reason)], assignment: decoded.assignment)
                guard case .done = await retrying("dead letter", { try await self.process(deadLetter) }) else { return false }
            }
        }
        return true
    }

    enum Attempts { case done, stopped, gaveUp(any Error) }

    /// Runs `body` until it succeeds, backing off on errors (database down, deadlock between instances).
    /// With `giveUpAfter`, gives up after that many failures during which the database answered a probe
    /// (the failure was the work's, not an outage's). `.stopped` when shutdown interrupted it.
    private func retrying(_ what: String, giveUpAfter limit: Int? = nil, _ body: () async throws -> Void) async -> Attempts {
        var delay = Duration.milliseconds(50)
        var attempt = 0
        var failuresWithDatabase = 0
        while !Task.isCancelled {
            do {
                try await body()
                if attempt > 0 { state.withLock { $0.lastError = nil } }
                return .done
            } catch {
                attempt += 1
                metrics.batchRetries.increment()
                let reason = String(reflecting: error)
                state.withLock { $0.lastError = "\(what) failed: \(reason.prefix(300))" }
                logger.warning("router transaction failed", metadata: [RouterLogKeys.reason: .string(String(reason.prefix(500))), RouterLogKeys.attempt: .stringConvertible(attempt)])
                if Task.isShuttingDownGracefully && (attempt > 3 || error is CancellationError) { return .stopped }
                if let limit, !(error is CancellationError), await databaseAnswers() {
                    failuresWithDatabase += 1
                    if failuresWithDatabase >= limit { return .gaveUp(error) }
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
        return .stopped
    }

    /// Whether the database answers a trivial query within a few seconds.
    private func databaseAnswers() async -> Bool {
        let client = store.client, logger = self.logger
        // Abandoned when the timer wins: a pool waiting for a connection to a server that is down may
        // not react to cancellation at once.
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await abandoningOnCancel { _ = try await client.query("SELECT 1", logger: logger) }) != nil }
            group.addTask { try? await Task.sleep(for: .seconds(3)); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Moves newly assigned partitions to the offsets stored with the state. Best effort: records below
    /// the stored offset are skipped in the transaction anyway.
    private func seekToStoredOffsets(_ consumer: KafkaConsumer, partitions: Set<TopicPartition>) async {
        guard !partitions.isEmpty else { return }
        do {
            let topics = partitions.map(\.topic), numbers = partitions.map { Int32($0.partition) }
            let rows = try await store.client.query("""
                SELECT o.topic, o.partition, o.next_offset FROM consumed_offsets o
                JOIN unnest(\(topics)::text[], \(numbers)::int4[]) AS u(t, p) ON o.topic = u.t AND o.partition = u.p
                """, logger: logger)
            for try await (topic, partition, next) in rows.decode((String, Int32, Int64).self) {
                try? await consumer.seek(TopicPartitionOffset(topic: topic, partition: partition, offset: next), timeout: .seconds(2))
            }
        } catch {
            logger.info("stored offsets not read", metadata: [RouterLogKeys.reason: .string("\(error)")])
        }
    }

    /// A polled batch with its records decoded, and the assignment seen right after the poll.
    struct DecodedBatch: Sendable {
        var records: [ConsumerRecord]
        var items: [Item]
        var assignment: Set<TopicPartition>
    }

    /// The largest batch whose transaction runs on its connection's event loop (``EventLoopTaskExecutor``).
    /// A larger one runs on the shared pool: its CPU work (dedup, routing, encoding on both cores) would
    /// hold the loop's other connections up and lose the second core, for a saving it does not need.
    static let onLoopBatch = 256

    /// One transaction: lock the offsets, skip what is done, apply the rest, write state, outbox, offsets.
    func process(_ decoded: DecodedBatch) async throws {
        let batch = decoded.records
        let (counts, update, ended) = try await store.client.withConnection { connection in
            do {
                // A small batch's cost is mostly its fifteen-odd statements: run on the connection's event
                // loop, a statement and its answer do not cross threads (see ``EventLoopTaskExecutor``).
                let executor: EventLoopTaskExecutor? = batch.count <= Self.onLoopBatch ? EventLoopTaskExecutor(connection.eventLoop) : nil
                return try await withTaskExecutorPreference(executor) {
                    try await connection.withTransaction(logger: logger) { conn in
                        try await self.transaction(batch, decoded.items, on: conn)
                    }
                }
            } catch {
                // A statement whose preparation fails stays failed on its connection (PostgresNIO keeps the
                // error), and one first prepared after another statement had failed the transaction fails
                // ("current transaction is aborted"): the connection goes with the failed transaction, and
                // the pool opens a new one.
                try? await connection.close()
                throw error
            }
        }
        metrics.spent("tx: commit", since: ended)
        cache.apply(update, now: env.now().millisecondsSince1970)
        metrics.candidatesCached.set(Double(cache.candidateCount))
        counts.apply(to: metrics)
    }

    /// The work of one transaction on `conn`: returns its counts, the candidate cache's update, and when it
    /// ended (the commit follows).
    private func transaction(_ batch: [ConsumerRecord], _ items: [Item], on conn: PostgresConnection) async throws
        -> (WorkCounts, CandidateCache.Update, ContinuousClock.Instant) {
        var t = ContinuousClock.now
        var next: [TopicPartition: Int64] = [:]
        for r in batch {
            let tp = TopicPartition(topic: r.topic, partition: r.partition)
            next[tp] = max(next[tp] ?? 0, r.offset + 1)
        }
        let partitions = next.keys.sorted()
        let topics = partitions.map(\.topic), numbers = partitions.map { Int32($0.partition) }
        // Each partition's row is locked (in one order for every instance); a partition read for the
        // first time gets its row first, then all are locked again.
        var stored: [TopicPartition: Int64] = [:]
        func lock() async throws {
            for try await row in try await conn.run(Statement.LockOffsets.self, topics, numbers, logger: logger) {
                let (t, p, o) = try row.decode((String, Int32, Int64).self)
                stored[TopicPartition(topic: t, partition: p)] = o
            }
        }
        try await lock()
        if stored.count < partitions.count {
            try await conn.query("""
                INSERT INTO consumed_offsets (topic, partition, next_offset) SELECT t, p, 0 FROM unnest(\(topics)::text[], \(numbers)::int4[]) AS u(t, p)
                ON CONFLICT DO NOTHING
                """, logger: logger)
            stored = [:]
            try await lock()
        }
        metrics.spent("tx: lock offsets", since: t)
        let fresh = zip(batch, items).filter { $0.0.offset >= (stored[TopicPartition(topic: $0.0.topic, partition: $0.0.partition)] ?? 0) }
        let work = CaseWork(conn: conn, env: env, cache: cache, logger: logger)
        try await apply(fresh, to: work)
        // The offsets after the batch are written with the batch's changes (in one of its statements).
        let advance = partitions.filter { next[$0]! > (stored[$0] ?? 0) }
        let offsets = CaseWork.OffsetsAdvanced(topics: advance.map(\.topic), partitions: advance.map { Int32($0.partition) }, next: advance.map { next[$0]! })
        t = ContinuousClock.now
        try await work.flush(offsets: offsets, metrics: metrics)
        metrics.spent("tx: flush (encode, write cases, reports, dispatches, outbox, offsets)", since: t)
        // Handed to the publisher before the commit, so that it finds the body in memory when the
        // commit's notification wakes it; it takes a body only once the table lists it, which only the
        // commit makes (a body of a transaction that fails is never listed, and is dropped later).
        if let body = work.outboxBody { outboxMemory?.keep(id: body.id, records: body.records) }
        return (work.counts, work.cacheUpdate, ContinuousClock.now)
    }

    /// A consumed record, decoded. An incident keeps its event's `traceparent` (a header in binary mode, an
    /// attribute in structured mode), read with the event rather than again when the incident is handled.
    enum Item: Sendable { case incident(Incident, traceparent: String?), feedback(Feedback), survey(Survey), command(Command), invalid(String) }

    /// Decodes `records` in order, in two halves at once when there are many (decoding is most of a
    /// batch's CPU time outside the database).
    func decodeAll(_ records: [ConsumerRecord]) async -> [Item] {
        guard records.count >= 200 else { return decodeChunk(records[...]) }
        let half = records.count / 2
        async let first = decodeChunk(records[..<half])
        let second = decodeChunk(records[half...])
        return await first + second
    }

    /// Decodes `records` with one decoder.
    private func decodeChunk(_ records: ArraySlice<ConsumerRecord>) -> [Item] {
        let decoder = GridHubJSON.decoder()
        return records.map { decode($0, with: decoder) }
    }

    private func decode(_ record: ConsumerRecord, with decoder: JSONDecoder) -> Item {
        do {
            let event = try CloudEvent(headers: record.headers.map { ($0.key, $0.value) }, value: record.value)
            switch record.topic {
            case configuration.incidentsTopic:
                guard event.eventType == .incident else { throw RouterError("ce_type '\(event.type)' on the incidents topic, expected \(EventType.incident.rawValue)") }
                return .incident(try Incident.decoded(from: event.data, decoder: decoder), traceparent: event.traceparent)
            case configuration.feedbackTopic:
                guard event.eventType == .feedback else { throw RouterError("ce_type '\(event.type)' on the feedback topic, expected \(EventType.feedback.rawValue)") }
                let feedback = try decoder.decode(Feedback.self, from: Data(event.data))
                // A department answers only for itself: the producer's ce_source (which a real cluster's
                // ACLs tie to its credentials, Deploy/README.md) must name the department in the body.
                guard event.source == CloudEvent.departmentSource(feedback.department) else {
                    throw RouterError("ce_source \(event.source) does not match the feedback's department \(feedback.department) (expected \(CloudEvent.departmentSource(feedback.department)))")
                }
                return .feedback(feedback)
            case configuration.surveysTopic:
                guard event.eventType == .survey else { throw RouterError("ce_type '\(event.type)' on the surveys topic, expected \(EventType.survey.rawValue)") }
                return .survey(try decoder.decode(Survey.self, from: Data(event.data)))
            case configuration.commandsTopic:
                guard event.eventType == .command else { throw RouterError("ce_type '\(event.type)' on the commands topic, expected \(EventType.command.rawValue)") }
                // Only the command centre gives commands (a real cluster's ACLs tie the ce_source to its credentials).
                guard event.source == CloudEvent.commandCenterSource else {
                    throw RouterError("command from ce_source \(event.source): commands come from the command centre (\(CloudEvent.commandCenterSource))")
                }
                let command = try decoder.decode(Command.self, from: Data(event.data))
                guard command.commandId == event.id else { throw RouterError("the command's commandId \(command.commandId) is not its ce_id \(event.id)") }
                return .command(command)
            default:
                throw RouterError("record from unexpected topic \(record.topic)")
            }
        } catch {
            return .invalid("not a valid record: \(Self.readable(error))")
        }
    }

    private func apply(_ records: [(ConsumerRecord, Item)], to work: CaseWork) async throws {
        var items: [(ConsumerRecord, Item)] = []
        for (record, item) in records {
            if case .invalid(let reason) = item { work.deadLetter(record, reason: reason) } else { items.append((record, item)) }
        }
        var t = ContinuousClock.now
        let incidents = items.compactMap { if case .incident(let i, _) = $0.1 { i } else { nil } }
        try await work.prepare(incidents: incidents, metrics: metrics)
        metrics.spent("tx: prepare (known reports, grid locks, candidates)", since: t)
        t = ContinuousClock.now
        try await work.prefetch(incidents: incidents, feedback: items.compactMap { if case .feedback(let f) = $0.1 { f } else { nil } },
                                surveys: items.compactMap { if case .survey(let s) = $0.1 { s } else { nil } })
        metrics.spent("tx: prefetch (read the cases the batch changes)", since: t)
        t = ContinuousClock.now
        defer { metrics.spent("tx: handle (dedup, route, load merged cases, encode)", since: t) }
        for (record, item) in items {
            switch item {
            case .incident(let incident, let traceparent):
                try await work.handle(incident, traceparent: traceparent)
            case .feedback(let feedback):
                if let reason = try await work.handle(feedback) { work.deadLetter(record, reason: reason) }
            case .survey(let survey):
                if let reason = try await work.handle(survey) { work.deadLetter(record, reason: reason) }
            case .command(let command):
                if let reason = try await work.handle(command) { work.deadLetter(record, reason: reason) }
            case .invalid:
                break
            }
        }
    }

    static func readable(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): return "\(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        case DecodingError.keyNotFound(let k, let c): return "missing \((c.codingPath + [k]).map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let c): return "\(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        case DecodingError.valueNotFound(_, let c): return "\(c.codingPath.map(\.stringValue).joined(separator: ".")) is null"
        default: return "\(error)"
        }
    }
}
