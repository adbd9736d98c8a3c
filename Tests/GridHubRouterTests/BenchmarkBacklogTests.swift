import Foundation
import GridHubCore
@testable import GridHubBenchmarks
@testable import GridHubRouter
import GridHubTesting
import PostgresNIO
import Testing

/// The backlog `gridhub bench router` loads before a phase: what its flatness figure rests on.
@Suite("Router benchmark backlog")
struct BenchmarkBacklogTests {
    @Test("the open cases are spread evenly over the days asked for, before the measured incidents, with ids shaped like the router's")
    func spreadAndIds() async throws {
        let url = try await TestPostgres.makeDatabase(prefix: "backlog")
        let client = PostgresClient(configuration: try RouterStore.configuration(url: url), backgroundLogger: TestKafka.quietLogger)
        let environment = RouterEnvironment(reference: Fixtures.reference, rules: Fixtures.rules)
        let before = Date(timeIntervalSince1970: 1_795_740_000)
        let beforeMs = before.millisecondsSince1970, days: Int64 = 80
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await client.run() }
            defer { tasks.cancelAll() }
            try await RouterStore(client: client, logger: TestKafka.quietLogger).migrate()
            let db = BenchDatabase(client: client, logger: TestKafka.quietLogger)
            try await db.prepareGenerator(environment: environment, template: try RouterBenchmark.caseTemplate(environment: environment, at: before))
            try await db.load(openCases: 20_000, before: before, days: Double(days))
        }
        #expect(try await TestPostgres.query(url, "SELECT count(*), max(last_ms) <= \(beforeMs) FROM cases") == [["20000", "t"]])
        // Eight ten-day spans, 2 500 cases each give or take chance: none empty, none crowded (a 32-bit
        // hash once squeezed every backlog into its last 25 days).
        let spans = try await TestPostgres.query(url, """
            SELECT width_bucket(last_ms, \(beforeMs - days * 86_400_000), \(beforeMs + 1), 8) AS b, count(*) FROM cases GROUP BY b ORDER BY b
            """)
        #expect(spans.map { $0[0] } == (1...8).map(String.init), "\(spans)")
        #expect(spans.allSatisfy { (2_200...2_800).contains(Int($0[1]) ?? 0) }, "\(spans)")
        // Case ids start with the first report's time, dispatch ids with their case's: as the router's.
        let misplaced = try await TestPostgres.query(url, """
            SELECT (SELECT count(*) FROM cases WHERE left(replace(case_id, '-', ''), 12) <> lpad(to_hex(first_ms), 12, '0') OR substr(case_id, 15, 1) <> '8'),
                   (SELECT count(*) FROM dispatches WHERE left(dispatch_id, 13) <> left(case_id, 13) OR dispatch_id = case_id)
            """)
        #expect(misplaced == [["0", "0"]])
        let routerId = DeterministicID(namespace: .case, parts: ["x"], orderedAt: beforeMs).uuidString
        let sqlPrefix = try await TestPostgres.query(url, "SELECT lpad(to_hex(\(beforeMs)::int8), 12, '0')")
        #expect(routerId.replacingOccurrences(of: "-", with: "").hasPrefix(sqlPrefix.first?.first ?? "?"))
    }
}
