import Foundation
import GridHubCore
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
/// version is the one cached, so another router instance's change is never missed. Work is written back
/// only after its transaction committed, and a grid whose bump shows someone else's change in between is
/// dropped, to be read again.
final class CandidateCache: Sendable {
    /// One grid's candidates: all cases of the grid that could take a report made at `coveredFromMs` or later.
    struct Grid: Sendable {
        var version: Int64
        var coveredFromMs: Int64
        var cases: [String: DedupCandidate]
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

    init(policy: DedupPolicy, lateness: Duration = .seconds(6 * 3600)) {
        self.policy = policy
        self.lateness = Int64(lateness.components.seconds * 1000)
    }

    /// The cached grids among `codes`.
    func grids(_ codes: some Sequence<String>) -> [String: Grid] {
        state.withLock { s in
            var out: [String: Grid] = [:]
            for code in codes { if let g = s.grids[code] { out[code] = g } }
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
                        if let old = s.grids.removeValue(forKey: code) { s.count -= old.cases.count }
                        continue
                    }
                    grid.version = after
                }
                if horizon > grid.coveredFromMs {
                    grid.coveredFromMs = horizon
                    let oldest = horizon - Int64(policy.maxTimeGap * 1000), closedOldest = horizon - Int64(policy.closedGrace * 1000)
                    grid.cases = grid.cases.filter { _, c in
                        c.lastReportedAt.millisecondsSince1970 >= oldest && (c.closedAt.map { $0.millisecondsSince1970 >= closedOldest } ?? true)
                    }
                }
                s.count += grid.cases.count - (s.grids[code]?.cases.count ?? 0)
                s.grids[code] = grid
            }
            for code in update.bumped.keys where update.grids[code] == nil {
                if let old = s.grids.removeValue(forKey: code) { s.count -= old.cases.count }
            }
        }
    }
}
