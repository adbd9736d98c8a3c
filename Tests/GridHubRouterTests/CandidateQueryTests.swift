import Foundation
import GridHubCore
@testable import GridHubRouter
import GridHubTesting
import PostgresNIO
import Testing

/// The two reads of duplicate candidates (a batch's grids, and every grid at start) against a database
/// holding many open cases: they must read only the time window, through the grid index, whatever the
/// number of older cases, and give what a plain reading of their conditions gives. The same for the
/// read of a batch's known reports among many stored ones.
@Suite("Candidate queries at scale", .timeLimit(.minutes(3)))
struct CandidateQueryTests {
    @Test("with 200 k open cases over 400 days, candidates and the newest report are read through cases_grid_time, never by scanning the table, and are the right rows")
    func indexOnlyAtScale() async throws {
        let policy = RouterEnvironment(reference: Fixtures.reference, rules: Fixtures.rules).matcher.policy
        let before = Date(timeIntervalSince1970: 1_795_740_000)
        let beforeMs = before.millisecondsSince1970
        // A batch's worth of grids: a few hundred (the plan flipped to a table scan with 335).
        let grids = Fixtures.reference.grids.map(\.gridCode).sorted()
        let batchGrids = stride(from: 0, to: grids.count, by: 3).map { grids[$0] }
        let reportTimes = batchGrids.indices.map { beforeMs - Int64($0 % 48) * 3_600_000 }
        let url = try await TestPostgres.makeDatabase(prefix: "candq")
        let client = PostgresClient(configuration: try RouterStore.configuration(url: url), backgroundLogger: TestKafka.quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await client.run() }
            defer { tasks.cancelAll() }
            try await RouterStore(client: client, logger: TestKafka.quietLogger).migrate()
            // 200 000 cases over the 400 days before, in every grid; one in seven closed an hour after
            // its last report, one in fifty solved on the spot. Small rows (the plans depend on the
            // number of rows, not on the documents), and no checkpoint: other tests share this server.
            let span: Int64 = 400 * 86_400_000
            try await client.query("""
                INSERT INTO cases (case_id, status, item_code, grid_code, lat, lon, radius_m, text, first_ms, last_ms, closed_ms, on_site, department, level, due_ms, doc)
                SELECT 'case-' || s, 'dispatched', 'SR-001', (\(grids)::text[])[1 + s % \(Int32(grids.count))], 31.9, 120.3, 40, '路边垃圾成堆',
                       l - 3600000, l, CASE WHEN s % 7 = 0 THEN l + 3600000 END, s % 50 = 0, 'urban-mgmt', 'town', NULL, '\\x00'::bytea
                FROM generate_series(1, 200000) AS s, LATERAL (SELECT \(beforeMs) - (hashint8extended(s::int8, 0) & 9223372036854775807) % \(span) AS l) AS t
                """, logger: TestKafka.quietLogger)
            try await client.query("ANALYZE cases", logger: TestKafka.quietLogger)

            let queries: [(String, PostgresQuery)] = [
                ("a batch's candidates", CaseWork.candidatesQuery(grids: batchGrids, from: reportTimes, policy: policy)),
                ("every grid's candidates at start", CaseWork.candidatesQuery(grids: grids, from: Array(repeating: beforeMs, count: grids.count), policy: policy)),
                ("the newest report", CandidateCache.newestQuery(grids: grids)),
            ]
            for (what, query) in queries {
                let plan = try await Self.plan(of: query, on: client)
                #expect(!plan.contains("Seq Scan"), "\(what) scans the table:\n\(plan)")
                #expect(plan.contains("cases_grid_time"), "\(what) does not use the grid index:\n\(plan)")
            }

            // The same rows as the conditions read plainly (one grid at a time, no index needed to see them).
            let gap = Int64(policy.maxTimeGap * 1000), grace = Int64(policy.closedGrace * 1000)
            var expected = Set<String>()
            for (grid, from) in zip(batchGrids, reportTimes) {
                let rows = try await client.query("""
                    SELECT case_id FROM cases WHERE grid_code = \(grid) AND last_ms + \(gap) >= \(from) AND NOT on_site
                    AND (closed_ms IS NULL OR closed_ms + \(grace) >= \(from))
                    """, logger: TestKafka.quietLogger)
                for try await id in rows.decode(String.self) { expected.insert(id) }
            }
            var got: [String] = []
            let rows = try await client.query(CaseWork.candidatesQuery(grids: batchGrids, from: reportTimes, policy: policy), logger: TestKafka.quietLogger)
            for try await row in rows.decode(DedupCandidate.Row.self) { got.append(row.0) }
            #expect(!expected.isEmpty && expected.count < 20_000, "the window holds \(expected.count) of 200 000 cases")
            #expect(got.count == expected.count && Set(got) == expected)

            var newest: Int64? = nil, plain: Int64? = nil
            for try await v in try await client.query(CandidateCache.newestQuery(grids: grids), logger: TestKafka.quietLogger).decode(Int64?.self) { newest = v }
            for try await v in try await client.query("SELECT max(last_ms) FROM cases WHERE NOT on_site AND grid_code IS NOT NULL", logger: TestKafka.quietLogger).decode(Int64?.self) { plain = v }
            #expect(newest != nil && newest == plain)
        }
    }

    /// A read of a batch's rows by their random keys, against 100 000 stored rows.
    struct KeyedRead: Sendable, CustomTestStringConvertible {
        var table: String, key: String, columns: String, index: String
        /// 100 000 rows whose keys are `md5(1)` … `md5(100000)`.
        var load: String
        var query: @Sendable ([String]) -> PostgresQuery
        var testDescription: String { table }
    }

    static let keyedReads = [
        // Random ids, as incident ids are; the version tells the rows apart.
        KeyedRead(table: "reports", key: "incident_id", columns: "incident_id, case_id, version", index: "reports_pkey", load: """
            INSERT INTO reports (incident_id, case_id, system, record_id, version)
            SELECT md5(s::text), 'case-' || (s / 3), 'elink', 'E-' || s, 1 + s % 5 FROM generate_series(1, 100000) AS s
            """, query: CaseWork.knownReportsQuery),
        KeyedRead(table: "dispatches", key: "dispatch_id", columns: "dispatch_id, case_id, department", index: "dispatches_pkey", load: """
            INSERT INTO dispatches (dispatch_id, case_id, attempt, department, level, reason, issued_ms)
            SELECT md5(s::text), 'case-' || (s / 2), 1 + s % 2, (ARRAY['urban-mgmt', 'police', 'env'])[1 + s % 3], 'village', 'initial', s
            FROM generate_series(1, 100000) AS s
            """, query: CaseWork.dispatchOwnersQuery),
    ]

    @Test("with 100 k rows, a batch's 2 000 ids (its known reports; the dispatches its feedback answers) are read through the primary key, never by scanning the table, and are the right rows",
          arguments: keyedReads)
    func keyedReadAtScale(_ read: KeyedRead) async throws {
        let url = try await TestPostgres.makeDatabase(prefix: "keyq")
        let client = PostgresClient(configuration: try RouterStore.configuration(url: url), backgroundLogger: TestKafka.quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await client.run() }
            defer { tasks.cancelAll() }
            try await RouterStore(client: client, logger: TestKafka.quietLogger).migrate()
            try await client.query(PostgresQuery(unsafeSQL: read.load), logger: TestKafka.quietLogger)
            try await client.query(PostgresQuery(unsafeSQL: "ANALYZE \(read.table)"), logger: TestKafka.quietLogger)
            // A batch: 1 000 stored keys and 1 000 new ones, as a router's batch of retries and news.
            var ids: [String] = []
            for try await id in try await client.query("SELECT md5(s::text) FROM generate_series(1, 100000, 100) AS s", logger: TestKafka.quietLogger)
                .decode(String.self) { ids.append(id) }
            ids += (0..<1_000).map { _ in UUID().uuidString.lowercased() }

            let plan = try await Self.plan(of: read.query(ids), on: client)
            #expect(!plan.contains("Seq Scan"), "\(read.table) are read by scanning the table:\n\(plan)")
            #expect(plan.contains(read.index), "\(read.table) are not read through \(read.index):\n\(plan)")

            // Rows as text, the router's read against a plain reading of the same columns.
            func rows(_ query: PostgresQuery) async throws -> Set<String> {
                var found = Set<String>()
                let wrapped = PostgresQuery(unsafeSQL: "SELECT q::text FROM (\(query.sql)) q", binds: query.binds)
                for try await row in try await client.query(wrapped, logger: TestKafka.quietLogger).decode(String.self) { found.insert(row) }
                return found
            }
            let expected = try await rows("SELECT \(unescaped: read.columns) FROM \(unescaped: read.table) WHERE \(unescaped: read.key) = ANY(\(ids)::text[])")
            #expect(expected.count == 1_000)
            #expect(try await rows(read.query(ids)) == expected)
        }
    }

    /// The plan PostgreSQL chooses for `query` with its values, as text.
    static func plan(of query: PostgresQuery, on client: PostgresClient) async throws -> String {
        var lines: [String] = []
        let rows = try await client.query(PostgresQuery(unsafeSQL: "EXPLAIN " + query.sql, binds: query.binds), logger: TestKafka.quietLogger)
        for try await line in rows.decode(String.self) { lines.append(line) }
        return lines.joined(separator: "\n")
    }
}
