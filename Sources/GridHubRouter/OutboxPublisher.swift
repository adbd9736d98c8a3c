import Foundation
import GridHubKafka
import Logging
import PostgresNIO
import ServiceLifecycle

/// Publishes the outbox with the idempotent producer, in outbox order, and deletes rows only after
/// their delivery reports. One instance publishes at a time (a session advisory lock held on one
/// connection); after a crash the rows not yet deleted are sent again, byte for byte the same.
public final class OutboxPublisher: Service, Sendable {
    private let producer: KafkaProducer
    private let store: RouterStore
    private let metrics: RouterMetrics
    private let logger: Logger
    private let batchSize: Int

    public init(kafka: KafkaClientConfiguration, store: RouterStore, metrics: RouterMetrics, logger: Logger, batchSize: Int = 5_000) throws {
        var config = KafkaProducerConfiguration(client: kafka)
        config.idempotence = true
        config.acks = "all"
        producer = try KafkaProducer(configuration: config, logger: logger)
        self.store = store
        self.metrics = metrics
        self.logger = logger
        self.batchSize = batchSize
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await store.migrate()
                try await store.client.withConnection { conn in
                    try await self.publish(on: conn)
                }
            } catch {
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
        var idle = Duration.milliseconds(2)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var t = ContinuousClock.now
            var ids: [Int64] = []
            var records: [ProducerRecord] = []
            let rows = try await conn.query("SELECT id, topic, key, value, headers FROM outbox ORDER BY id LIMIT \(batchSize)", logger: logger)
            for try await (id, topic, key, value, headers) in rows.decode((Int64, String, ByteBuffer?, ByteBuffer, ByteBuffer).self) {
                ids.append(id)
                records.append(ProducerRecord(topic: topic, key: key?.allBytes, value: value.allBytes, headers: OutboxRecord.decode(headers.allBytes)))
            }
            metrics.outboxLag.set(Int64(ids.count))
            guard !records.isEmpty else {
                try? await Task.sleep(for: idle)
                idle = min(idle * 2, .milliseconds(50))
                continue
            }
            metrics.spent("outbox: read rows", since: t)
            idle = .milliseconds(2)
            t = ContinuousClock.now
            let results = await producer.send(records)
            metrics.spent("outbox: produce and await delivery", since: t)
            t = ContinuousClock.now
            var delivered: [Int64] = []
            var failure: String? = nil
            for (id, result) in zip(ids, results) {
                switch result {
                case .success: delivered.append(id)
                case .failure(let error): failure = failure ?? error.message
                }
            }
            if !delivered.isEmpty {
                try await conn.query("DELETE FROM outbox WHERE id = ANY(\(delivered)::int8[])", logger: logger)
                metrics.delivered(delivered.count)
            }
            metrics.spent("outbox: delete delivered rows", since: t)
            if let failure {
                logger.warning("outbox records not delivered, retrying", metadata: [RouterLogKeys.reason: .string(failure), RouterLogKeys.count: .stringConvertible(ids.count - delivered.count)])
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        try await conn.query("SELECT pg_advisory_unlock(7261002)", logger: logger)
    }
}

/// Escalates overdue cases: due cases come from the partial index on `cases.due_ms`, locked with
/// `SKIP LOCKED` so instances share the work; each escalation is a transaction with its outbox rows.
public final class DeadlineScheduler: Service, Sendable {
    private let store: RouterStore
    private let env: RouterEnvironment
    private let metrics: RouterMetrics
    private let logger: Logger
    private let interval: Duration

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
                if !migrated { try await store.migrate(); migrated = true }
                while try await escalateDue() > 0 {}
            } catch {
                logger.warning("deadline check failed", metadata: [RouterLogKeys.reason: .string(String(String(reflecting: error).prefix(400)))])
            }
            try? await Task.sleep(for: interval)
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
