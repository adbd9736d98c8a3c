import Foundation
import GridHubCore
import Logging
import PostgresNIO
import Synchronization

/// The cases that can still take a duplicate report, kept between transactions grid by grid, so a batch
/// does not read its candidates from the database again and again: the cost of a report stays the same
/// whether the city has ten thousand or a million open cases.
///
/// Only what the time window allows is kept (cases reported within ``DedupPolicy/maxTimeGap`` of the
/// newest reports, or closed within ``DedupPolicy/closedGrace``): memory follows the rate of new
/// problems, not the number of open cases.
///
/// The database stays the truth. Every transaction that changes a grid's candidate facts (a case opened,
/// a report merged, a case closed or reopened) bumps that grid's row in `grid_state`; a transaction
/// reads the versions of its grids under the grids' advisory locks and uses a cached grid only when its
/// version is the one cached, so another router instance's change is never missed. A transaction takes
/// its grids out of the cache and hands them back only after it committed; a grid whose bump shows
/// someone else's change in between is dropped, to be read again.
package final class CandidateCache: Sendable {
    /// One grid's candidates: all cases of the grid that could take a report made at `coveredFromMs` or later.
    struct Grid: Sendable {
        var version: Int64
        var coveredFromMs: Int64
        /// The candidates, in an array the matcher scans without copying, and where each one is.
        private(set) var cases: [DedupCandidate] = []
        private var index: [String: Int] = [:]

        init(version: Int64, coveredFromMs: Int64) {
            self.version = version
            self.coveredFromMs = coveredFromMs
        }

        var count: Int { cases.count }

        /// Adds `candidate`, or replaces the one of the same case.
        mutating func put(_ candidate: DedupCandidate) {
            if let i = index[candidate.caseId] { cases[i] = candidate } else {
                index[candidate.caseId] = cases.count
                cases.append(candidate)
            }
        }

        /// Changes the candidate of `caseId`; false when this grid has none.
        mutating func update(_ caseId: String, _ change: (inout DedupCandidate) -> Void) -> Bool {
            guard let i = index[caseId] else { return false }
            change(&cases[i])
            return true
        }

        /// Keeps only the candidates `keep` says yes to.
        mutating func retain(where keep: (DedupCandidate) -> Bool) {
            // In place: kept candidates are moved, not copied (this runs for every grid of every batch).
            let before = cases.count
            cases.removeAll { !keep($0) }
            guard cases.count != before else { return }
            index = Dictionary(uniqueKeysWithValues: cases.enumerated().map { ($1.caseId, $0) })
        }
    }

    /// What a committed transaction hands back.
    struct Update {
        /// Grids the work read or changed, with the version it saw and its candidates at the end.
        var grids: [String: Grid] = [:]
        /// Grids whose version the work bumped: grid → version after the bump.
        var bumped: [String: Int64] = [:]
        /// The newest report time the work saw.
        var newestReportMs: Int64 = .min
    }

    private struct State {
        var grids: [String: Grid] = [:]
        var newestReportMs: Int64 = .min
        var count = 0
    }

    private let state = Mutex(State())
    private let policy: DedupPolicy
    /// How late a report may come (behind the newest one) and still find its grid cached; a later one
    /// makes the grid be read again from the database.
    let lateness: Int64

    /// The lateness allowed unless told otherwise.
    package static let defaultLateness: Duration = .seconds(24 * 3600)

    init(policy: DedupPolicy, lateness: Duration = CandidateCache.defaultLateness) {
        self.policy = policy
        self.lateness = Int64(lateness.components.seconds * 1000)
    }

    /// Takes the cached grids among `codes` out of the cache for one transaction's work, so the work
    /// changes them in place instead of copying them; ``apply(_:now:)`` puts them back once the work
    /// committed. If it does not commit they stay out, and the next transaction that needs them reads
    /// them again from the database. One transaction at a time takes grids (the consume loop).
    func take(_ codes: some Sequence<String>) -> [String: Grid] {
        state.withLock { s in
            var out: [String: Grid] = [:]
            for code in codes {
                if let g = s.grids.removeValue(forKey: code) {
                    s.count -= g.count
                    out[code] = g
                }
            }
            return out
        }
    }

    /// The earliest report time worth covering when a grid is read: the newest report seen (never ahead
    /// of `now`) less the lateness allowed; nil before the first report.
    func horizon(now: Int64) -> Int64? {
        let newest = state.withLock { $0.newestReportMs }
        return newest == .min ? nil : min(newest, now) - lateness
    }

    /// Candidates cached, over every grid.
    var candidateCount: Int { state.withLock { $0.count } }

    /// Takes in a committed transaction's grids, dropping what fell out of the window and any grid
    /// another writer changed meanwhile.
    func apply(_ update: Update, now: Int64) {
        state.withLock { s in
            s.newestReportMs = max(s.newestReportMs, update.newestReportMs)
            let horizon = s.newestReportMs == .min ? Int64.min : min(s.newestReportMs, now) - lateness
            for (code, var grid) in update.grids {
                if let after = update.bumped[code] {
                    guard after == grid.version + 1 else {
                        if let old = s.grids.removeValue(forKey: code) { s.count -= old.count }
                        continue
                    }
                    grid.version = after
                }
                if horizon > grid.coveredFromMs {
                    grid.coveredFromMs = horizon
                    let oldest = horizon - Int64(policy.maxTimeGap * 1000), closedOldest = horizon - Int64(policy.closedGrace * 1000)
                    grid.retain { c in
                        c.lastReportedAt.millisecondsSince1970 >= oldest && (c.closedAt.map { $0.millisecondsSince1970 >= closedOldest } ?? true)
                    }
                }
                s.count += grid.count - (s.grids[code]?.count ?? 0)
                s.grids[code] = grid
            }
            for code in update.bumped.keys where update.grids[code] == nil {
                if let old = s.grids.removeValue(forKey: code) { s.count -= old.count }
            }
        }
    }

    /// The newest report time among the cases of `grids` that were not solved on the spot: per grid, the
    /// last entry of its `cases_grid_time` range (LATERAL with LIMIT keeps it so), not a scan of every case
    /// the city ever had, which the warm-up once read at every start (0.4 s at 1 M cases, and growing).
    static func newestQuery(grids: [String]) -> PostgresQuery {
        """
        SELECT max(c.last_ms) FROM unnest(\(grids)::text[]) AS u(g)
        CROSS JOIN LATERAL (SELECT last_ms FROM cases WHERE grid_code = u.g AND NOT on_site ORDER BY last_ms DESC LIMIT 1) c
        """
    }

    /// Reads every grid's candidates at once, so the first batches need not: the window before the
    /// newest report stored in a grid (never ahead of `now`), with the versions of the same snapshot. Returns the
    /// candidates read.
    func warm(_ client: PostgresClient, grids codes: [String], now: Int64, logger: Logger) async throws -> Int {
        let (loaded, newest) = try await client.withTransaction(logger: logger) { conn -> ([String: Grid], Int64) in
            try await conn.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            var versions: [String: Int64] = [:]
            for try await (code, version) in try await conn.query("SELECT grid_code, version FROM grid_state", logger: logger).decode((String, Int64).self) {
                versions[code] = version
            }
            // Every grid that may hold cases: the city's, and any other a case was ever written with.
            let all = Array(Set(codes).union(versions.keys)).sorted()
            var newest = Int64.min
            for try await last in try await conn.query(Self.newestQuery(grids: all), logger: logger).decode(Int64?.self) {
                newest = last ?? .min
            }
            guard newest != .min else { return ([:], .min) }
            let from = min(newest, now) - lateness
            var grids: [String: Grid] = [:]
            for code in codes { grids[code] = Grid(version: versions[code] ?? 0, coveredFromMs: from) }
            let rows = try await conn.query(CaseWork.candidatesQuery(grids: all, from: Array(repeating: from, count: all.count), policy: policy), logger: logger)
            for try await row in rows.decode(DedupCandidate.Row.self) {
                let candidate = DedupCandidate(row: row)
                if grids[row.2] == nil { grids[row.2] = Grid(version: versions[row.2] ?? 0, coveredFromMs: from) }
                grids[row.2]!.put(candidate)
            }
            return (grids, newest)
        }
        guard newest != .min else { return 0 }
        return state.withLock { s in
            s.grids = loaded
            s.newestReportMs = max(s.newestReportMs, newest)
            s.count = loaded.values.reduce(0) { $0 + $1.count }
            return s.count
        }
    }
}

extension DedupCandidate {
    /// The columns of a candidate: `case_id, item_code, grid_code, lat, lon, radius_m, text, first_ms, last_ms, closed_ms,
    /// category_groups`.
    typealias Row = (String, String?, String, Double?, Double?, Double, String, Int64, Int64, Int64?, String)

    /// A candidate from its columns (``Row``).
    init(row: Row) {
        let (id, item, _, lat, lon, radius, text, first, last, closed, groups) = row
        let position = (lat != nil && lon != nil) ? Coordinate(lat: lat!, lon: lon!) : nil
        self.init(caseId: id, itemCode: item, position: position, uncertaintyMeters: radius, text: text,
                  firstReportedAt: Date(millisecondsSince1970: first), lastReportedAt: Date(millisecondsSince1970: last),
                  closedAt: closed.map { Date(millisecondsSince1970: $0) }, groups: CaseWork.Entry.groups(stored: groups))
    }
}
