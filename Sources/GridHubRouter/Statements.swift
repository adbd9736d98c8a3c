import Logging
import PostgresNIO

/// The statements the router runs in (almost) every transaction, each prepared once per connection.
///
/// Sent as unnamed statements, PostgreSQL parsed, analysed and planned every one of them at every use:
/// under `gridhub bench e2e` at 1 000 orders/s that was 30-33 % of PostgreSQL's CPU (`perf`: `GetCachedPlan`,
/// `pg_analyze_and_rewrite_varparams`, `raw_parser`). Prepared, a statement is parsed once per
/// connection and each use sends only its parameters.
///
/// Only statements whose plan cannot depend on their parameters or on the tables' sizes are here: the
/// writes of arrays of rows, the locks, and the offsets (a row per partition). Reads by a list of keys
/// (`= ANY($1)`) stay unnamed statements, planned for their values every time: prepared, PostgreSQL
/// switched them to a generic plan made while the tables were small, a scan of the whole table, and its
/// CPU rose by a third in the same benchmark. So do the reads of dedup candidates (their plan was
/// chosen with care, see ``CaseWork/candidatesQuery(grids:from:policy:)``).
enum Statement {
    /// A statement's text, with `$1`, `$2`… for its parameters in the order they are given.
    protocol Text { static var sql: String { get } }

    /// The consumed offsets of the batch's partitions, locked in the given order.
    enum LockOffsets: Text {
        static let sql = """
            SELECT o.topic, o.partition, o.next_offset FROM consumed_offsets o
            JOIN unnest($1::text[], $2::int4[]) WITH ORDINALITY AS u(t, p, n) ON o.topic = u.t AND o.partition = u.p
            ORDER BY u.n FOR UPDATE OF o
            """
    }

    /// Advisory locks on the grids a batch looks at, taken in the given order.
    enum LockGrids: Text {
        static let sql = "SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) WITH ORDINALITY AS u(k, n) ORDER BY n"
    }

    /// A transaction's writes that do not wait for its records' encoding, in one statement: a new version
    /// of each grid whose facts changed (`$1`, in the given order; returned), the reports written or given
    /// a new version (`$2`–`$7`), the dispatches issued (`$8`–`$14`), and the next offsets of the
    /// partitions the batch advanced (`$15`–`$17`). Any of them may be empty.
    ///
    /// They were four statements, pipelined, and the cases and the outbox two more: PostgreSQL ran six
    /// statements' rounds (bind, plan, execute, answer) where two do the work. PostgreSQL runs every
    /// data-modifying `WITH` part once and to completion, read or not; they touch different tables, and
    /// the rows two instances could both touch are locked earlier in the transaction, in one order.
    enum WriteFacts: Text {
        static let sql = """
            WITH offsets AS (
                UPDATE consumed_offsets o SET next_offset = u.o FROM unnest($15::text[], $16::int4[], $17::int8[]) AS u(t, p, o)
                WHERE o.topic = u.t AND o.partition = u.p
            ), reports_written AS (
                INSERT INTO reports (incident_id, case_id, system, record_id, version, personal)
                SELECT i, c, s, r, v, NULLIF(p, ''::bytea)
                FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::bytea[]) AS u(i, c, s, r, v, p)
                ON CONFLICT (incident_id) DO UPDATE SET version = EXCLUDED.version, personal = EXCLUDED.personal
            ), dispatches_written AS (
                INSERT INTO dispatches (dispatch_id, case_id, attempt, department, level, reason, issued_ms)
                SELECT * FROM unnest($8::text[], $9::text[], $10::int4[], $11::text[], $12::text[], $13::text[], $14::int8[])
            ), bumped AS (
                INSERT INTO grid_state (grid_code, version) SELECT g, 1 FROM unnest($1::text[]) WITH ORDINALITY AS u(g, n) ORDER BY n
                ON CONFLICT (grid_code) DO UPDATE SET version = grid_state.version + 1 RETURNING grid_code, version
            )
            SELECT grid_code, version FROM bumped
            """
    }

    /// The writes that carry the encoded records, in one statement: the changed cases (`$1`–`$18`: new
    /// ones inserted, changed ones replaced; each document is its case record's bytes) and the
    /// transaction's outbox body (`$19` records in body `$20`; no row when `$19` is 0). Returns the
    /// body's id; its NOTIFY (delivered at commit) wakes the outbox publisher.
    enum WriteCasesAndOutbox: Text {
        static let sql = """
            WITH cases_written AS (
                INSERT INTO cases (case_id, status, item_code, grid_code, lat, lon, radius_m, text, first_ms, last_ms, closed_ms, on_site, department, level, due_ms, deadline_ms, doc, category_groups)
                SELECT c, s, NULLIF(i, ''), NULLIF(g, ''), NULLIF(la, 'NaN'::float8), NULLIF(lo, 'NaN'::float8), r, t, f, l, NULLIF(cl, -1), o, NULLIF(d, ''), NULLIF(lv, ''), NULLIF(du, -1), NULLIF(dl, -1), doc, cg
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[], $8::text[],
                            $9::int8[], $10::int8[], $11::int8[], $12::bool[], $13::text[], $14::text[], $15::int8[], $16::int8[], $17::bytea[],
                            $18::text[])
                     AS u(c, s, i, g, la, lo, r, t, f, l, cl, o, d, lv, du, dl, doc, cg)
                ON CONFLICT (case_id) DO UPDATE SET status = EXCLUDED.status, item_code = EXCLUDED.item_code, grid_code = EXCLUDED.grid_code,
                    lat = EXCLUDED.lat, lon = EXCLUDED.lon, radius_m = EXCLUDED.radius_m, text = EXCLUDED.text,
                    first_ms = EXCLUDED.first_ms, last_ms = EXCLUDED.last_ms, closed_ms = EXCLUDED.closed_ms, department = EXCLUDED.department,
                    level = EXCLUDED.level, due_ms = EXCLUDED.due_ms, deadline_ms = EXCLUDED.deadline_ms, doc = EXCLUDED.doc,
                    category_groups = EXCLUDED.category_groups
            ), written AS (
                INSERT INTO outbox (records, body) SELECT $19::int4, $20::bytea WHERE $19::int4 > 0 RETURNING id
            )
            SELECT id, pg_notify('\(RouterStore.outboxChannel)', '')::text FROM written
            """
    }

    /// One use of statement `S` with its parameters; prepared on the connection the first time.
    struct Use<S: Text>: PostgresPreparedStatement {
        typealias Row = PostgresRow
        static var sql: String { S.sql }
        static var name: String { "gridhub.router.\(S.self)" }
        let bindings: PostgresBindings
        func makeBindings() -> PostgresBindings { bindings }
        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }
}

extension PostgresConnection {
    /// Runs prepared statement `S` with `parameters` (`$1`, `$2`… in order) and returns its rows.
    func run<S: Statement.Text, each Parameter: PostgresThrowingDynamicTypeEncodable>(
        _ statement: S.Type, _ parameters: repeat each Parameter, logger: Logger
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow> {
        var bindings = PostgresBindings()
        repeat try bindings.append(each parameters)
        return try await execute(Statement.Use<S>(bindings: bindings), logger: logger)
    }
}
