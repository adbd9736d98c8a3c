import Foundation

/// Finds grids and grid workers whose reports lean toward easy items far more than their peers' do:
/// the way a worker games a count by reporting only what is quick to close (docs/report-mix.md).
///
/// **Easy items** are the catalogue's village-level, non-urgent items (exposed rubbish, small ads,
/// piled materials …: 27 of 150), closed by the village on the spot or in a day. **Peers** are the
/// same town's other grid workers' reports (a town's grids share their kind of area: old town,
/// industrial, rural), so the baseline is the town's, leaving the subject's own reports out.
///
/// For a subject with `n` reports, `k` of them easy, against a baseline share `p`: the exact binomial
/// probability of `k` or more easy reports by chance, `P(X ≥ k)`, `X ~ Binomial(n, p)` (exact, because
/// with a few dozen reports and `p` near 0.2 the normal approximation understates the tail tenfold).
/// A subject is flagged when it has at least ``minimumReports``, that probability is at most
/// ``familyFalseFlagRate`` divided by the number of subjects tested (Bonferroni: in an honest city the
/// chance of even one flag is at most 1 %), and its easy share exceeds the baseline by at least
/// ``minimumExcess`` (a difference that matters, not only one that is significant because a subject
/// reports a lot). The z-score is given as evidence too.
public struct ReportMixAnomaly: Sendable {
    /// What is compared.
    public enum SubjectKind: String, Sendable, Hashable, Codable {
        case grid
        case worker
    }

    /// One grid worker's report: where it is and what item.
    public struct Observation: Sendable, Hashable {
        public var gridCode: String
        public var workerId: String?
        public var itemCode: String
        /// The case the report is in, when known.
        public var caseId: String?
        public init(gridCode: String, workerId: String?, itemCode: String, caseId: String? = nil) {
            self.gridCode = gridCode
            self.workerId = workerId
            self.itemCode = itemCode
            self.caseId = caseId
        }
    }

    /// A subject whose mix is significantly easier than its peers', with the evidence.
    public struct Flag: Sendable, Hashable, Codable {
        public var subjectKind: SubjectKind
        public var subject: String
        public var townCode: String
        public var reports: Int
        public var easyReports: Int
        public var easyShare: Double
        public var baselineEasyShare: Double
        public var zScore: Double
        /// The probability of at least this many easy reports by chance, given the baseline.
        public var pValue: Double
        /// The subject's most reported items, most first (at most 3).
        public var topItems: [String]
        /// One of the subject's easy reports' cases (the last seen), to start looking from.
        public var exampleCaseId: String?
    }

    public var minimumReports = 20
    /// The chance, in an honest city, of flagging anyone at all.
    public var familyFalseFlagRate = 0.01
    public var minimumExcess = 0.15
    public let easyItems: Set<String>

    public init(reference: ReferenceData) {
        easyItems = Set(reference.items.filter { $0.level == .village && !$0.urgent }.map(\.code))
    }

    public init(easyItems: Set<String>) { self.easyItems = easyItems }

    /// The flags among `observations`, the strongest first.
    public func flags(_ observations: [Observation]) -> [Flag] {
        // Totals per town, to take each subject's own reports out of its baseline.
        var town: [String: (n: Int, easy: Int)] = [:]
        struct Tally { var n = 0; var easy = 0; var items: [String: Int] = [:]; var town = ""; var example: String? }
        var subjects: [SubjectKind: [String: Tally]] = [.grid: [:], .worker: [:]]
        for o in observations {
            let townCode = String(o.gridCode.prefix(9))
            let isEasy = easyItems.contains(o.itemCode)
            town[townCode, default: (0, 0)].n += 1
            if isEasy { town[townCode, default: (0, 0)].easy += 1 }
            var keys: [(SubjectKind, String)] = [(.grid, o.gridCode)]
            if let worker = o.workerId { keys.append((.worker, worker)) }
            for (kind, key) in keys {
                var t = subjects[kind]![key] ?? Tally()
                t.n += 1
                if isEasy {
                    t.easy += 1
                    if let id = o.caseId { t.example = id }
                }
                t.items[o.itemCode, default: 0] += 1
                t.town = townCode
                subjects[kind]![key] = t
            }
        }
        var candidates: [(kind: SubjectKind, subject: String, tally: Tally, baseline: Double)] = []
        for (kind, table) in subjects {
            for (subject, t) in table where t.n >= minimumReports {
                guard let totals = town[t.town] else { continue }
                let peersN = totals.n - t.n, peersEasy = totals.easy - t.easy
                guard peersN >= minimumReports else { continue }
                // A baseline never exactly 0 or 1 (a town where no peer reported an easy item still
                // has some chance of one): add one report of each kind.
                candidates.append((kind, subject, t, (Double(peersEasy) + 1) / (Double(peersN) + 2)))
            }
        }
        let threshold = familyFalseFlagRate / Double(max(candidates.count, 1))
        var flags: [Flag] = []
        for c in candidates {
            let t = c.tally, p = c.baseline, n = Double(t.n)
            let share = Double(t.easy) / n
            guard share - p >= minimumExcess else { continue }
            let pValue = Self.binomialUpperTail(atLeast: t.easy, of: t.n, probability: p)
            guard pValue <= threshold else { continue }
            let z = (Double(t.easy) - n * p) / (n * p * (1 - p)).squareRoot()
            let top = t.items.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(3).map(\.key)
            flags.append(Flag(subjectKind: c.kind, subject: c.subject, townCode: t.town, reports: t.n, easyReports: t.easy,
                              easyShare: share, baselineEasyShare: p, zScore: z, pValue: pValue, topItems: Array(top),
                              exampleCaseId: t.example))
        }
        return flags.sorted { ($1.pValue, $1.subject) > ($0.pValue, $0.subject) }
    }

    /// `P(X ≥ k)` for `X ~ Binomial(n, p)`, summed in log space.
    public static func binomialUpperTail(atLeast k: Int, of n: Int, probability p: Double) -> Double {
        guard k > 0 else { return 1 }
        guard k <= n, p > 0 else { return 0 }
        guard p < 1 else { return 1 }
        // log C(n, k) + k log p + (n − k) log q, then each next term from the one before.
        var logTerm = Double(k) * log(p) + Double(n - k) * log(1 - p)
        for j in 0..<k { logTerm += log(Double(n - j)) - log(Double(j + 1)) }
        var term = exp(logTerm), total = 0.0
        for i in k...n {
            total += term
            if i < n { term *= Double(n - i) / Double(i + 1) * p / (1 - p) }
        }
        return min(total, 1)
    }

    /// The grid workers' reports of `cases`: one observation per 综治e通 report of a classified case
    /// with a grid.
    public static func observations(_ cases: [Case]) -> [Observation] {
        cases.flatMap(observations(of:))
    }

    /// The grid workers' reports in one case.
    public static func observations(of c: Case) -> [Observation] {
        guard let grid = c.gridCode, let item = c.itemCode else { return [] }
        return c.reports.filter { $0.system == .elink }.map {
            Observation(gridCode: grid, workerId: $0.workerId, itemCode: item, caseId: c.caseId)
        }
    }
}
