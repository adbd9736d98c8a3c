import Foundation
import GridHubCore
import GridHubRouter
import Logging
import PostgresNIO
import ServiceLifecycle

/// What the console reads from the router's database (the router is its only writer): open cases per
/// grid, department and level; lists and single cases; the cases of a period for the assessment.
public final class ConsoleStore: Sendable {
    /// Open (not closed) cases of one grid, department and level.
    public struct OpenCount: Sendable, Hashable {
        public var gridCode: String?
        public var department: String?
        public var level: String?
        public var open: Int
        public var overdue: Int
    }

    /// Which open cases a list shows.
    public struct Filter: Sendable, Hashable {
        public var department: String?
        public var level: String?
        public var gridCode: String?
        public var overdueOnly = false
        public init() {}
    }

    let client: PostgresClient
    private let logger: Logger

    public init(databaseURL: String, logger: Logger) throws {
        client = PostgresClient(configuration: try RouterStore.configuration(url: databaseURL, maximumConnections: 4), backgroundLogger: logger)
        self.logger = logger
    }

    /// The connection pool: run it as one of the console's services.
    public var service: any Service { DatabasePool(client, logger: logger) }

    /// Counts of open cases in `scope`, overdue meaning due before `now`.
    public func openCounts(scope: ConsoleScope, now: Date) async throws -> [OpenCount] {
        let nowMs = now.millisecondsSince1970
        let prefix = scope.gridPrefix.map { $0 + "%" }
        let rows = try await client.query("""
            SELECT grid_code, department, level, count(*)::int8, (count(*) FILTER (WHERE deadline_ms < \(nowMs)))::int8
            FROM cases WHERE closed_ms IS NULL AND (\(prefix)::text IS NULL OR grid_code LIKE \(prefix)::text)
            GROUP BY grid_code, department, level
            """, logger: logger)
        var counts: [OpenCount] = []
        for try await (grid, department, level, open, overdue) in rows.decode((String?, String?, String?, Int64, Int64).self) {
            counts.append(OpenCount(gridCode: grid, department: department, level: level, open: Int(open), overdue: Int(overdue)))
        }
        return counts
    }

    /// Open cases matching `filter` in `scope`, the most urgent (earliest due) first.
    public func openCases(_ filter: Filter, scope: ConsoleScope, now: Date, limit: Int = 200) async throws -> [Case] {
        let prefix = scope.gridPrefix.map { $0 + "%" }
        let overdueBefore: Int64? = filter.overdueOnly ? now.millisecondsSince1970 : nil
        let rows = try await client.query("""
            SELECT doc FROM cases
            WHERE closed_ms IS NULL
              AND (\(prefix)::text IS NULL OR grid_code LIKE \(prefix)::text)
              AND (\(filter.department)::text IS NULL OR department = \(filter.department)::text)
              AND (\(filter.level)::text IS NULL OR level = \(filter.level)::text)
              AND (\(filter.gridCode)::text IS NULL OR grid_code = \(filter.gridCode)::text)
              AND (\(overdueBefore)::int8 IS NULL OR deadline_ms < \(overdueBefore)::int8)
            ORDER BY deadline_ms NULLS LAST, first_ms
            LIMIT \(limit)
            """, logger: logger)
        return try await decodeCases(rows)
    }

    /// One case as the router stored it.
    public func `case`(_ id: String) async throws -> Case? {
        let rows = try await client.query("SELECT doc FROM cases WHERE case_id = \(id)", logger: logger)
        return try await decodeCases(rows).first
    }

    /// Every case first reported in `[from, to)` in `scope` (the assessment's input).
    public func cases(reportedFrom from: Date, to: Date, scope: ConsoleScope) async throws -> [Case] {
        let prefix = scope.gridPrefix.map { $0 + "%" }
        let rows = try await client.query("""
            SELECT doc FROM cases WHERE first_ms >= \(from.millisecondsSince1970) AND first_ms < \(to.millisecondsSince1970)
              AND (\(prefix)::text IS NULL OR grid_code LIKE \(prefix)::text)
            """, logger: logger)
        return try await decodeCases(rows)
    }

    private func decodeCases(_ rows: PostgresRowSequence) async throws -> [Case] {
        let decoder = GridHubJSON.decoder()
        var cases: [Case] = []
        for try await doc in rows.decode(ByteBuffer.self) { cases.append(try Case.decoded(from: Array(doc.readableBytesView), decoder: decoder)) }
        return cases
    }
}
