import Foundation
import GridHubCore
import GridHubKafka
import Logging
import PostgresNIO

/// The router's PostgreSQL state: schema migrations and the connection pool.
///
/// Tables: `cases` (one row per case: the indexed facts dedup and the deadline scheduler need, and the
/// full case document as published, which lists the case's reports), `reports` (every source report → its case, by report), `dispatches`,
/// `consumed_offsets` (next offset per topic-partition, written in the same transaction as the state it
/// produced), `outbox` (records to publish, one row per transaction, written in that transaction too), `grid_state` (a version
/// per grid, bumped whenever the grid's candidate cases change, which keeps ``CandidateCache`` honest). Deadlines are the
/// `cases.due_ms` column with a partial index (`cases_due`).
public struct RouterStore: Sendable {
    /// The channel a transaction that writes outbox rows notifies (at commit), which the publisher listens on.
    static let outboxChannel = "gridhub_outbox"

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
        // The router's statements are short and run thousands of times; PostgreSQL's JIT, on by default,
        // compiles the plans of its larger batches with LLVM at every execution, which costs more than it saves.
        config.options.additionalStartupParameters = [("jit", "off")]
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
        // The outbox becomes one row per transaction (per-row costs were most of a batch's writes):
        // its records framed in one body (``OutboxRecord/body(_:)``), compressed with lz4 where the
        // server has it (faster than the default pglz, and than no compression: fewer bytes to log),
        // `delivered` counting the records already published from its start.
        "CREATE TABLE outbox_body (id bigserial PRIMARY KEY, records integer NOT NULL, delivered integer NOT NULL DEFAULT 0, body bytea NOT NULL)",
        """
        DO $$ BEGIN ALTER TABLE outbox_body ALTER COLUMN body SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported THEN NULL; END $$
        """,
        """
        INSERT INTO outbox_body (records, body)
        SELECT count(*), string_agg(int4send(octet_length(convert_to(topic, 'UTF8'))) || convert_to(topic, 'UTF8')
                                    || CASE WHEN key IS NULL THEN int4send(-1) ELSE int4send(octet_length(key)) || key END
                                    || int4send(octet_length(value)) || value || int4send(octet_length(headers)) || headers, ''::bytea ORDER BY id)
        FROM outbox HAVING count(*) > 0
        """,
        "DROP TABLE outbox",
        "ALTER TABLE outbox_body RENAME TO outbox",
        // No statement looks reports up by case (a case's reports are in its document), and with random
        // keys each insert dirtied a page of its own: a fifth of the full-page images at 1 M cases.
        "DROP INDEX IF EXISTS reports_case",
        // A new case looks for the case of the same problem closed earlier (CaseWork.closedEarlierQuery).
        "CREATE INDEX cases_grid_closed ON cases (grid_code, closed_ms) WHERE closed_ms IS NOT NULL",
        // When each grid or grid worker was last alerted for its report mix (ReportMixWatch).
        "CREATE TABLE report_mix_alerts (subject_kind text NOT NULL, subject text NOT NULL, alerted_ms bigint NOT NULL, PRIMARY KEY (subject_kind, subject))",
        // When the department working on a case must have it done (the case's dueAt while it is dispatched,
        // accepted or in progress): overdue is deadline_ms < now. due_ms is the router's next timer
        // (the early warning comes first), not the deadline.
        "ALTER TABLE cases ADD COLUMN deadline_ms bigint",
        """
        UPDATE cases SET deadline_ms = (extract(epoch FROM ((convert_from(doc, 'UTF8')::jsonb) ->> 'dueAt')::timestamptz) * 1000)::int8
        WHERE status IN ('dispatched', 'accepted', 'inProgress')
        """,
        "CREATE INDEX cases_deadline ON cases (deadline_ms) WHERE deadline_ms IS NOT NULL",
        // For a case without an item: the catalogue groups its opening report's source category names
        // (a 12345 operator's first level only), joined by commas; the matcher keeps other groups' reports apart.
        "ALTER TABLE cases ADD COLUMN category_groups text NOT NULL DEFAULT ''",
        // Two thirds of the case documents of `gridhub dev` pass 2 kB, and every write of one was
        // compressed with pglz, the default: 7 % of the router's backend's CPU at 1 000 orders/s. lz4
        // where the server has it, as the outbox (values stored before keep theirs; PostgreSQL reads both).
        """
        DO $$ BEGIN ALTER TABLE cases ALTER COLUMN doc SET COMPRESSION lz4; ALTER TABLE reports ALTER COLUMN personal SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported THEN NULL; END $$
        """,
    ]

    /// Every case whose first report was made in `[from, to)`, as stored (for the assessment, `gridhub stats`).
    /// Read in one go through a short-lived client: a month of a city's cases is tens of megabytes.
    public static func cases(databaseURL: String, reportedFrom from: Date, to: Date, logger: Logger) async throws -> [Case] {
        try await DatabasePool.withClient(try configuration(url: databaseURL, maximumConnections: 1), logger: logger) { client in
            let decoder = GridHubJSON.decoder()
            var cases: [Case] = []
            let rows = try await client.query("SELECT doc FROM cases WHERE first_ms >= \(from.millisecondsSince1970) AND first_ms < \(to.millisecondsSince1970)", logger: logger)
            for try await doc in rows.decode(ByteBuffer.self) { cases.append(try Case.decoded(from: doc.allBytes, decoder: decoder)) }
            return cases
        }
    }

    /// How many cases were first reported at `from` or later, and the latest such first report.
    public static func firstReports(databaseURL: String, from: Date, logger: Logger) async throws -> (count: Int, last: Date?) {
        try await DatabasePool.withClient(try configuration(url: databaseURL, maximumConnections: 1), logger: logger) { client in
            var result: (count: Int, last: Date?) = (0, nil)
            let rows = try await client.query("SELECT count(*), max(first_ms) FROM cases WHERE first_ms >= \(from.millisecondsSince1970)", logger: logger)
            for try await (count, last) in rows.decode((Int, Int64?).self) { result = (count, last.map { Date(millisecondsSince1970: $0) }) }
            return result
        }
    }

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
}

/// A record waiting in the outbox: everything the producer needs, byte for byte.
struct OutboxRecord: Sendable, Hashable {
    var topic: String
    var key: [UInt8]?
    var value: [UInt8]
    var headers: [KafkaHeader]

    /// Bytes of the record as Kafka carries them: key, value, header keys and values.
    var byteCount: Int { (key?.count ?? 0) + value.count + headers.reduce(0) { $0 + $1.key.utf8.count + $1.value.count } }

    /// One transaction's records as one `outbox` body: per record the topic, the key (length -1: none),
    /// the value and the header block, each after its 4-byte big-endian length; the header block holds
    /// each header's key and value, each after its length too. The migration that folded the old
    /// one-row-per-record outbox into bodies writes the same layout.
    static func body(_ records: [OutboxRecord]) -> ByteBuffer {
        var size = 0
        for r in records {
            size += 16 + r.topic.utf8.count + (r.key?.count ?? 0) + r.value.count
            for h in r.headers { size += 8 + h.key.utf8.count + h.value.count }
        }
        var out = ByteBufferAllocator().buffer(capacity: size)
        for r in records {
            out.writeInteger(Int32(r.topic.utf8.count))
            out.writeString(r.topic)
            if let key = r.key {
                out.writeInteger(Int32(key.count))
                out.writeBytes(key)
            } else {
                out.writeInteger(Int32(-1))
            }
            out.writeInteger(Int32(r.value.count))
            out.writeBytes(r.value)
            out.writeInteger(Int32(r.headers.reduce(0) { $0 + 8 + $1.key.utf8.count + $1.value.count }))
            for h in r.headers {
                out.writeInteger(Int32(h.key.utf8.count))
                out.writeString(h.key)
                out.writeInteger(Int32(h.value.count))
                out.writeBytes(h.value)
            }
        }
        return out
    }

    /// The records of an `outbox` body; throws when it is cut short or a length is impossible.
    static func records(in body: ByteBuffer) throws -> [OutboxRecord] {
        var buffer = body
        func block(_ what: String, in buffer: inout ByteBuffer, allowNone: Bool = false) throws -> ByteBuffer? {
            guard let n: Int32 = buffer.readInteger() else { throw RouterError("outbox body cut short before the length of a \(what)") }
            if n == -1 && allowNone { return nil }
            guard n >= 0, let b = buffer.readSlice(length: Int(n)) else { throw RouterError("outbox body has a \(what) of impossible length \(n)") }
            return b
        }
        var out: [OutboxRecord] = []
        while buffer.readableBytes > 0 {
            let topic = try block("topic", in: &buffer)!.allString
            let key = try block("key", in: &buffer, allowNone: true)?.allBytes
            let value = try block("value", in: &buffer)!.allBytes
            var headerBlock = try block("header block", in: &buffer)!
            var headers: [KafkaHeader] = []
            while headerBlock.readableBytes > 0 {
                headers.append(KafkaHeader(key: try block("header key", in: &headerBlock)!.allString,
                                           value: try block("header value", in: &headerBlock)!.allBytes))
            }
            out.append(OutboxRecord(topic: topic, key: key, value: value, headers: headers))
        }
        return out
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
    var allString: String { getString(at: readerIndex, length: readableBytes) ?? "" }
}
