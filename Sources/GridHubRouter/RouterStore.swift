import Foundation
import GridHubKafka
import Logging
import PostgresNIO

/// The router's PostgreSQL state: schema migrations and the connection pool.
///
/// Tables: `cases` (one row per case: the indexed facts dedup and the deadline scheduler need, and the
/// full case document as published), `reports` (every source report → its case), `dispatches`,
/// `consumed_offsets` (next offset per topic-partition, written in the same transaction as the state it
/// produced), `outbox` (records to publish, written in that transaction too), `grid_state` (a version
/// per grid, bumped whenever the grid's candidate cases change, which keeps ``CandidateCache`` honest). Deadlines are the
/// `cases.due_ms` column with a partial index (`cases_due`).
public struct RouterStore: Sendable {
    /// The pool.
    public let client: PostgresClient
    let logger: Logger

    /// A store over `client` (which must be running: ``PostgresClient/run()``).
    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The pool's configuration from a `postgres://user:pass@host:port/db` URL.
    public static func configuration(url: String, maximumConnections: Int = 8) throws -> PostgresClient.Configuration {
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql", let host = c.host, !host.isEmpty else {
            throw RouterError("GRIDHUB_DATABASE_URL must look like postgres://user:pass@host:port/db, not \(url.replacingOccurrences(of: #":[^:@/]*@"#, with: ":***@", options: .regularExpression))")
        }
        let database = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        var config = PostgresClient.Configuration(
            host: host, port: c.port ?? 5432, username: c.user ?? "postgres", password: c.password,
            database: database.isEmpty ? nil : database, tls: .disable)
        config.options.maximumConnections = maximumConnections
        config.options.minimumConnections = 1
        return config
    }

    /// The schema, one statement per step; applied once each, in order, under an advisory lock so two
    /// instances starting together do not race.
    static let migrations: [String] = [
        """
        CREATE TABLE cases (
            case_id text PRIMARY KEY,
            status text NOT NULL,
            item_code text,
            grid_code text,
            lat double precision,
            lon double precision,
            radius_m double precision NOT NULL,
            text text NOT NULL,
            first_ms bigint NOT NULL,
            last_ms bigint NOT NULL,
            closed_ms bigint,
            on_site boolean NOT NULL,
            department text,
            level text,
            due_ms bigint,
            doc bytea NOT NULL
        )
        """,
        "CREATE INDEX cases_grid_time ON cases (grid_code, last_ms)",
        "CREATE INDEX cases_due ON cases (due_ms) WHERE due_ms IS NOT NULL",
        "CREATE TABLE reports (incident_id text PRIMARY KEY, case_id text NOT NULL, system text NOT NULL, record_id text NOT NULL, version integer NOT NULL)",
        "CREATE INDEX reports_case ON reports (case_id)",
        "CREATE TABLE dispatches (dispatch_id text PRIMARY KEY, case_id text NOT NULL, attempt integer NOT NULL, department text NOT NULL, level text NOT NULL, reason text NOT NULL, issued_ms bigint NOT NULL)",
        "CREATE TABLE consumed_offsets (topic text NOT NULL, partition integer NOT NULL, next_offset bigint NOT NULL, PRIMARY KEY (topic, partition))",
        "CREATE TABLE outbox (id bigserial PRIMARY KEY, topic text NOT NULL, key bytea, value bytea NOT NULL, headers bytea NOT NULL)",
        // Bumped by every transaction that changes a grid's candidate cases (see CandidateCache).
        "CREATE TABLE grid_state (grid_code text PRIMARY KEY, version bigint NOT NULL)",
        // Who reported and the parties named (JSON, revealed) for dispatches to departments that need them.
        "ALTER TABLE reports ADD COLUMN personal bytea",
    ]

    /// Applies the migrations not applied yet.
    public func migrate() async throws {
        try await client.withTransaction(logger: logger) { conn in
            try await conn.query("SELECT pg_advisory_xact_lock(7261001)", logger: logger)
            try await conn.query("CREATE TABLE IF NOT EXISTS router_schema (step integer PRIMARY KEY)", logger: logger)
            var done = Set<Int>()
            for try await step in try await conn.query("SELECT step FROM router_schema", logger: logger).decode(Int.self) { done.insert(step) }
            for (i, sql) in Self.migrations.enumerated() where !done.contains(i) {
                try await conn.query(PostgresQuery(unsafeSQL: sql), logger: logger)
                try await conn.query("INSERT INTO router_schema (step) VALUES (\(i))", logger: logger)
            }
        }
    }

    /// Rows waiting in the outbox (for the lag gauge and readiness).
    public func outboxCount() async throws -> Int {
        var n = 0
        for try await c in try await client.query("SELECT count(*) FROM outbox", logger: logger).decode(Int.self) { n = c }
        return n
    }
}

/// A record waiting in the outbox: everything the producer needs, byte for byte.
struct OutboxRecord: Sendable {
    var topic: String
    var key: [UInt8]?
    var value: [UInt8]
    var headers: [KafkaHeader]

    /// Headers as bytes: per header a 4-byte key length, the key, a 4-byte value length, the value.
    static func encode(_ headers: [KafkaHeader]) -> [UInt8] {
        var out: [UInt8] = []
        func put(_ n: Int) { withUnsafeBytes(of: UInt32(n).bigEndian) { out.append(contentsOf: $0) } }
        for h in headers {
            let k = Array(h.key.utf8)
            put(k.count); out += k
            put(h.value.count); out += h.value
        }
        return out
    }

    static func decode(_ bytes: [UInt8]) -> [KafkaHeader] {
        var headers: [KafkaHeader] = []
        var i = 0
        func take() -> [UInt8]? {
            guard i + 4 <= bytes.count else { return nil }
            let n = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            i += 4
            guard i + n <= bytes.count else { return nil }
            defer { i += n }
            return Array(bytes[i..<(i + n)])
        }
        while i < bytes.count, let k = take(), let v = take() {
            headers.append(KafkaHeader(key: String(decoding: k, as: UTF8.self), value: v))
        }
        return headers
    }
}

/// A router failure, said in one sentence.
public struct RouterError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension ByteBuffer {
    init(bytes: [UInt8]) {
        self = ByteBufferAllocator().buffer(capacity: bytes.count)
        writeBytes(bytes)
    }

    var allBytes: [UInt8] { getBytes(at: readerIndex, length: readableBytes) ?? [] }
}
