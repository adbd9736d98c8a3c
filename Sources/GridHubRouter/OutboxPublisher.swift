import Foundation
import GridHubKafka
import GridHubRuntime
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Publishes the outbox with the idempotent producer, in outbox order, and deletes rows only after
/// their delivery reports (the outbox holds one body of records per transaction; a body is deleted once all its records are delivered). One instance publishes at a time (a session advisory lock held on one
/// connection); after a crash the rows not yet deleted are sent again, byte for byte the same.
public final class OutboxPublisher: Service, Sendable {
    private let producer: KafkaProducer
    private let store: RouterStore
    private let metrics: RouterMetrics
    private let logger: Logger
    private let batchSize: Int
    private let memory: OutboxMemory?
    /// The topics the router writes, looked up at start (``KafkaProducer/prepare(topics:timeout:)``).
    private let topics: [String]
    /// Questions to the cluster (does it answer, where do partitions end) asked over this publisher's
    /// producer: the router needs no client of its own for them.
    public let admin: KafkaAdmin

    public convenience init(kafka: KafkaClientConfiguration, store: RouterStore, metrics: RouterMetrics, logger: Logger, batchSize: Int = 5_000) throws {
        try self.init(kafka: kafka, store: store, metrics: metrics, logger: logger, batchSize: batchSize, memory: nil)
    }

    /// A publisher that takes the bodies this process's consumer committed from `memory` rather than
    /// reading them back from the table.
    init(kafka: KafkaClientConfiguration, store: RouterStore, metrics: RouterMetrics, logger: Logger, batchSize: Int, memory: OutboxMemory?,
         topics: [String] = []) throws {
        self.memory = memory
        self.topics = topics
        var config = KafkaProducerConfiguration(client: kafka)
        config.idempotence = true
        config.acks = "all"
        // A round's records are handed over together, so a longer linger adds latency and no batching.
        config.lingerMilliseconds = 1
        producer = try KafkaProducer(configuration: config, logger: logger)
        admin = KafkaAdmin(sharing: producer)
        self.store = store
        self.metrics = metrics
        self.logger = logger
        self.batchSize = batchSize
    }

    public func run() async throws {
        // Every topic the router writes, looked up before the first record to each (not waited for:
        // with Kafka away it would only delay publishing).
        if !topics.isEmpty {
            let producer = self.producer, topics = self.topics
            Task { await producer.prepare(topics: topics) }
        }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                // Cancelled on shutdown while the database does not answer (the pool would wait a minute);
                // once it answered, the publishing loop below stops by itself at shutdown.
                // Abandoned when cancelled: a pool that has already been shut down (every service is
                // cancelled at once on a second Ctrl-C) would otherwise hold the lease forever.
                try await abandoningOnCancel {
                    try await cancelWhenGracefulShutdown { try await self.store.migrate() }
                    try await self.store.client.withConnection { conn in
                        defer { self.memory?.accept(false) }
                        // On the connection's event loop: a round's statements and their answers do not cross threads.
                        try await withTaskExecutorPreference(EventLoopTaskExecutor(conn.eventLoop)) {
                            try await self.publish(on: conn)
                        }
                    }
                }
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                logger.warning("outbox publishing interrupted", metadata: [RouterLogKeys.reason: .string(String(String(reflecting: error).prefix(400)))])
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        await producer.shutdown(timeout: .seconds(10))
    }

    private func publish(on conn: PostgresConnection) async throws {
        // Leadership: only the holder of this session lock publishes.
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var got = false
            for try await ok in try await conn.query("SELECT pg_try_advisory_lock(7261002)", logger: logger).decode(Bool.self) { got = ok }
            if got { break }
            try? await Task.sleep(for: .milliseconds(500))
        }
        memory?.accept(true)
        // Woken by the NOTIFY that every transaction writing outbox rows sends at commit (RouterStore.outboxChannel);
        // a poll each second besides, in case a notification is missed.
        try await conn.listen(on: RouterStore.outboxChannel) { notifications in
            let wakeup = Wakeup()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for try await _ in notifications { wakeup.signal() } }
                group.addTask { try await self.publishRounds(on: conn, wakeup: wakeup) }
                try await group.next()
                group.cancelAll()
            }
        }
        try await conn.query("SELECT pg_advisory_unlock(7261002)", logger: logger)
    }

    /// Publishes round after round until shutdown, sleeping while the outbox is empty.
    ///
    /// Rounds overlap: the next bodies are handed to the producer while earlier ones' delivery reports
    /// are still coming (up to `batchSize` records on their way), so a record waits for the bodies
    /// before it to be sent, not delivered. New bodies are sent before the delivered ones are deleted,
    /// so a dispatch does not wait for that delete. Each key keeps its order (one producer, bodies sent
    /// in outbox order, idempotent). A round with a failed record stops new sends until every round on
    /// its way is back; then the rest is sent again, byte for byte the same, from the oldest undelivered
    /// body.
    private func publishRounds(on conn: PostgresConnection, wakeup: Wakeup) async throws {
        let finished = FinishedRounds()
        // Bodies handed to the producer and not yet settled (delivered and deleted, or failed): the
        // table still lists them, and they are not sent again meanwhile.
        var onTheirWay: Set<Int64> = [], recordsOnTheirWay = 0
        var failure: String? = nil
        try await withThrowingTaskGroup(of: Void.self) { group in
            func settleFinished() async throws -> Bool {
                let rounds = finished.takeAll()
                guard !rounds.isEmpty else { return false }
                if let problem = try await settle(rounds, on: conn) { failure = failure ?? problem }
                for round in rounds {
                    for body in round.bodies { onTheirWay.remove(body.id) }
                    recordsOnTheirWay -= round.recordCount
                }
                metrics.outboxSending.set(Double(recordsOnTheirWay))
                return true
            }
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                var sent = false
                if failure == nil, !finished.anyFailed, recordsOnTheirWay < batchSize,
                   let round = try await nextRound(on: conn, skipping: onTheirWay, room: batchSize - recordsOnTheirWay) {
                    let t = ContinuousClock.now
                    let pending = await producer.submit(round.bodies.flatMap { $0.records.map { ProducerRecord(topic: $0.topic, key: $0.key, value: $0.value, headers: $0.headers) } })
                    metrics.spent("outbox: hand records to the producer", since: t)
                    for body in round.bodies { onTheirWay.insert(body.id) }
                    recordsOnTheirWay += round.recordCount
                    metrics.outboxSending.set(Double(recordsOnTheirWay))
                    group.addTask {
                        var round = round
                        round.reports = await pending.reports()
                        self.metrics.spent("outbox: produce and await delivery", since: t)
                        finished.add(round)
                        wakeup.signal()
                    }
                    sent = true
                }
                let settled = try await settleFinished()
                if let problem = failure {
                    // Nothing new until every round on its way is back; then from the oldest again.
                    if onTheirWay.isEmpty {
                        logger.warning("outbox records not delivered, retrying", metadata: [RouterLogKeys.reason: .string(problem)])
                        failure = nil
                        try? await Task.sleep(for: .milliseconds(500))
                    } else if !settled {
                        await wakeup.wait(upTo: .seconds(1))
                    }
                    continue
                }
                if !sent && !settled { await wakeup.wait(upTo: .seconds(1)) }
            }
            // At shutdown the rounds on their way are awaited (the producer reports each one within its
            // delivery timeout) and settled, so a restart does not send them again.
            try await group.waitForAll()
            _ = try await settleFinished()
        }
    }

    /// The oldest bodies not already on their way, as many as fit `room` records (at least one); nil
    /// when there are none.
    private func nextRound(on conn: PostgresConnection, skipping onTheirWay: Set<Int64>, room: Int) async throws -> Round? {
        let t = ContinuousClock.now
        var waiting: [(id: Int64, delivered: Int, left: Int)] = []
        var taken = 0, lag: Int64 = 0, oldest: Int64? = nil
        // Each row also carries the whole outbox's count of undelivered records, for the lag gauge.
        let heads = try await conn.query("SELECT id, delivered, records - delivered, sum(records - delivered) OVER ()::int8 FROM outbox ORDER BY id LIMIT \(100 + onTheirWay.count)", logger: logger)
        for try await (id, delivered, left, total) in heads.decode((Int64, Int32, Int32, Int64).self) {
            lag = total
            oldest = oldest ?? id
            guard !onTheirWay.contains(id) else { continue }
            if waiting.isEmpty || taken + Int(left) <= room { waiting.append((id, Int(delivered), Int(left))) }
            taken += Int(left)
        }
        metrics.outboxLag.set(lag)
        guard !waiting.isEmpty, let oldest else { return nil }
        // Bodies this process committed come from memory; the others are read from the table.
        memory?.forget(below: oldest)
        let held = memory?.take(waiting.map(\.id)) ?? [:]
        var read: [Int64: (delivered: Int, records: [OutboxRecord])] = [:]
        let unheld = waiting.filter { held[$0.id] == nil }.map(\.id)
        if !unheld.isEmpty {
            let rows = try await conn.query("SELECT id, delivered, body FROM outbox WHERE id = ANY(\(unheld)::int8[])", logger: logger)
            for try await (id, delivered, body) in rows.decode((Int64, Int32, ByteBuffer).self) {
                read[id] = (Int(delivered), try OutboxRecord.records(in: body))
            }
        }
        var round = Round(bodies: [])
        for head in waiting {
            if let records = held[head.id] {
                round.bodies.append((head.id, head.delivered, Array(records.dropFirst(head.delivered))))
            } else if let row = read[head.id] {
                round.bodies.append((head.id, row.delivered, Array(row.records.dropFirst(row.delivered))))
            }
        }
        metrics.tally("outbox bodies taken from memory", held.count)
        metrics.tally("outbox bodies read from the table", read.count)
        metrics.spent("outbox: read rows", since: t)
        return round.bodies.isEmpty ? nil : round
    }

    /// Deletes the bodies whose records were all delivered and remembers the delivered prefix of the
    /// others (the rest is sent again). Returns the first failure's reason, if a record failed.
    private func settle(_ rounds: [Round], on conn: PostgresConnection) async throws -> String? {
        let t = ContinuousClock.now
        var done: [Int64] = [], partial: [(id: Int64, delivered: Int)] = []
        var failure: String? = nil
        var delivered = 0, deliveredBytes = 0
        for round in rounds {
            var remaining = round.reports[...]
            for body in round.bodies {
                let mine = remaining.prefix(body.records.count)
                remaining = remaining.dropFirst(body.records.count)
                let firstFailure = mine.firstIndex { if case .failure = $0 { true } else { false } }
                if let firstFailure {
                    if case .failure(let error) = mine[firstFailure] { failure = failure ?? error.message }
                    let prefix = firstFailure - mine.startIndex
                    if prefix > 0 { partial.append((body.id, body.delivered + prefix)) }
                    delivered += prefix
                    deliveredBytes += body.records.prefix(prefix).reduce(0) { $0 + $1.byteCount }
                } else {
                    done.append(body.id)
                    delivered += body.records.count
                    deliveredBytes += body.records.reduce(0) { $0 + $1.byteCount }
                }
            }
        }
        if !done.isEmpty {
            try await conn.query("DELETE FROM outbox WHERE id = ANY(\(done)::int8[])", logger: logger)
        }
        if !partial.isEmpty {
            try await conn.query("""
                UPDATE outbox o SET delivered = u.d FROM unnest(\(partial.map(\.id))::int8[], \(partial.map { Int32($0.delivered) })::int4[]) AS u(i, d)
                WHERE o.id = u.i
                """, logger: logger)
        }
        metrics.delivered(delivered, bytes: deliveredBytes)
        metrics.spent("outbox: delete delivered rows", since: t)
        return failure
    }
}

/// Bodies handed to the producer together, and their records' delivery reports once all are in.
private struct Round: Sendable {
    var bodies: [(id: Int64, delivered: Int, records: [OutboxRecord])]
    var reports: [Result<DeliveryReport, KafkaError>] = []
    var recordCount: Int { bodies.reduce(0) { $0 + $1.records.count } }
}

/// Rounds whose delivery reports are all in, waiting to be settled by the publishing loop.
private final class FinishedRounds: Sendable {
    private let state = Mutex<(rounds: [Round], failed: Bool)>(([], false))
    func add(_ round: Round) {
        let failed = round.reports.contains { if case .failure = $0 { true } else { false } }
        state.withLock { $0.rounds.append(round); $0.failed = $0.failed || failed }
    }
    func takeAll() -> [Round] { state.withLock { s in defer { s = ([], false) }; return s.rounds } }
    /// Whether a record of a finished round failed (then nothing new is sent before it is settled).
    var anyFailed: Bool { state.withLock { $0.failed } }
}

/// Escalates overdue cases: due cases come from the partial index on `cases.due_ms`, locked with
/// `SKIP LOCKED` so instances share the work; each escalation is a transaction with its outbox rows.
public final class DeadlineScheduler: Service, Sendable {
    private let store: RouterStore
    private let env: RouterEnvironment
    private let metrics: RouterMetrics
    private let logger: Logger
    private let interval: Duration
    /// The last check's failure (nil: it reached the database), and since when a check has been waiting.
    private let health = Mutex<(error: String?, waitingSince: ContinuousClock.Instant?)>(("not checked yet", nil))
    /// A check waiting longer than this makes the database count as not answering.
    static let answerWithin: Duration = .seconds(10)

    public init(store: RouterStore, environment: RouterEnvironment, metrics: RouterMetrics, logger: Logger, interval: Duration = .seconds(1)) {
        self.store = store
        env = environment
        self.metrics = metrics
        self.logger = logger
        self.interval = interval
    }

    public func run() async throws {
        var migrated = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                health.withLock { $0.waitingSince = .now }
                // Cancelled on shutdown: with the database gone the pool would wait for a connection for
                // a minute, and an escalation cut short is rolled back and done again at the next start.
                let migrate = !migrated
                try await cancelWhenGracefulShutdown {
                    if migrate { try await self.store.migrate() }
                    while try await self.escalateDue() > 0 { self.health.withLock { $0.waitingSince = .now } }
                }
                migrated = true
                health.withLock { $0 = (nil, nil) }
            } catch {
                let reason = String(String(reflecting: error).prefix(400))
                health.withLock { $0 = (reason, nil) }
                logger.warning("deadline check failed", metadata: [RouterLogKeys.reason: .string(reason)])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// nil when the last deadline check reached the database, else why not (for `/readyz`: the check
    /// runs every `interval`, so it also tells when the database is gone while no incidents come). A
    /// check still waiting after ``answerWithin`` counts as no answer: the pool waits for a connection
    /// as long as the database is unreachable.
    public func problem() -> String? {
        health.withLock { h in
            if let since = h.waitingSince, ContinuousClock.now - since > Self.answerWithin {
                return "no answer from PostgreSQL for \(Int((ContinuousClock.now - since).components.seconds)) s"
            }
            return h.error
        }
    }

    /// Escalates up to 200 overdue cases in one transaction; returns how many were due.
    func escalateDue() async throws -> Int {
        let counts = try await store.client.withTransaction(logger: logger) { conn -> WorkCounts? in
            let work = CaseWork(conn: conn, env: env, logger: logger)
            let nowMs = work.now.millisecondsSince1970
            var ids: [String] = []
            let rows = try await conn.query("SELECT case_id FROM cases WHERE due_ms <= \(nowMs) ORDER BY due_ms LIMIT 200 FOR UPDATE SKIP LOCKED", logger: logger)
            for try await id in rows.decode(String.self) { ids.append(id) }
            guard !ids.isEmpty else { return nil }
            for id in ids { try await work.escalate(caseId: id) }
            try await work.flush()
            return work.counts
        }
        guard let counts else { return 0 }
        counts.apply(to: metrics)
        return 1
    }
}
