import Foundation
import GridHubCore
@testable import GridHubRouter
import GridHubTesting
import PostgresNIO
import Testing

/// The two reads of duplicate candidates (a batch's grids, and every grid at start) against a database
/// holding many open cases: they must read only the time window, through the grid index, whatever the
/// number of older cases, and give what a plain reading of their conditions gives.
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
        _ = try await BenchBacklog.load(prefix: "candq", openCases: 200_000, before: before, days: 400) { client in
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
            for try await row in rows.decode((String, String?, String, Double?, Double?, Double, String, Int64, Int64, Int64?).self) { got.append(row.0) }
            #expect(!expected.isEmpty && expected.count < 20_000, "the window holds \(expected.count) of 200 000 cases")
            #expect(got.count == expected.count && Set(got) == expected)

            var newest: Int64? = nil, plain: Int64? = nil
            for try await v in try await client.query(CandidateCache.newestQuery(grids: grids), logger: TestKafka.quietLogger).decode(Int64?.self) { newest = v }
            for try await v in try await client.query("SELECT max(last_ms) FROM cases WHERE NOT on_site AND grid_code IS NOT NULL", logger: TestKafka.quietLogger).decode(Int64?.self) { plain = v }
            #expect(newest != nil && newest == plain)
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
