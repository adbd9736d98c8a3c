import Foundation

/// The command centre's monthly assessment (考核) of departments, towns, communities, grids, items and
/// sources, computed from cases as they are now. Pure: the cases and the reference data are handed in.
/// The definitions are in `docs/assessment.md`.
public struct Assessment: Sendable {
    /// What the figures are grouped by.
    public enum Grouping: String, Sendable, CaseIterable {
        case department, town, community, grid, item, source
    }

    /// One group's figures.
    public struct Row: Sendable, Hashable, Codable {
        public var group: String
        /// The group's name in Chinese where the reference data has one.
        public var name: String
        /// Cases opened in the period (counted once per source that reported them when grouped by source).
        public var cases = 0
        /// Source reports in those cases.
        public var reports = 0
        /// Cases sent to a department (recorded ones of a source handling its own case included).
        public var dispatched = 0
        /// Dispatched cases whose department acted (accepted, started, resolved or returned) within
        /// ``Assessment/responseLimit`` of the first dispatch and before its due date.
        public var respondedInTime = 0
        /// Dispatched cases resolved before the due date in force when they were resolved.
        public var resolvedInTime = 0
        /// Dispatched cases resolved at all.
        public var resolved = 0
        /// Surveys answered, and those satisfied or basically satisfied.
        public var surveys = 0
        public var satisfied = 0
        /// Cases overdue: still worked on past their due date, or resolved after it.
        public var overdue = 0
        /// Cases returned at least once, reopened at least once.
        public var returned = 0
        public var reopened = 0
        /// 响应率, 办结率, 满意率 (nil when there is nothing to divide by).
        public var responseRate: Double? { dispatched == 0 ? nil : Double(respondedInTime) / Double(dispatched) }
        public var resolutionRate: Double? { dispatched == 0 ? nil : Double(resolvedInTime) / Double(dispatched) }
        public var satisfactionRate: Double? { surveys == 0 ? nil : Double(satisfied) / Double(surveys) }
        /// Hours from opening to the first resolution: median and 90th percentile.
        public var medianHoursToResolve: Double?
        public var p90HoursToResolve: Double?

        enum CodingKeys: String, CodingKey {
            case group, name, cases, reports, dispatched, respondedInTime, resolvedInTime, resolved, surveys, satisfied, overdue, returned, reopened
            case responseRate, resolutionRate, satisfactionRate, medianHoursToResolve, p90HoursToResolve
        }

        public init(group: String, name: String) {
            self.group = group
            self.name = name
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            group = try c.decode(String.self, forKey: .group)
            name = try c.decode(String.self, forKey: .name)
            for (key, path) in Self.counts { self[keyPath: path] = try c.decode(Int.self, forKey: key) }
            medianHoursToResolve = try c.decodeIfPresent(Double.self, forKey: .medianHoursToResolve)
            p90HoursToResolve = try c.decodeIfPresent(Double.self, forKey: .p90HoursToResolve)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(group, forKey: .group)
            try c.encode(name, forKey: .name)
            for (key, path) in Self.counts { try c.encode(self[keyPath: path], forKey: key) }
            try c.encode(responseRate, forKey: .responseRate)
            try c.encode(resolutionRate, forKey: .resolutionRate)
            try c.encode(satisfactionRate, forKey: .satisfactionRate)
            try c.encode(medianHoursToResolve, forKey: .medianHoursToResolve)
            try c.encode(p90HoursToResolve, forKey: .p90HoursToResolve)
        }

        static var counts: [(CodingKeys, WritableKeyPath<Row, Int>)] {
            [(.cases, \.cases), (.reports, \.reports), (.dispatched, \.dispatched), (.respondedInTime, \.respondedInTime),
             (.resolvedInTime, \.resolvedInTime), (.resolved, \.resolved), (.surveys, \.surveys), (.satisfied, \.satisfied),
             (.overdue, \.overdue), (.returned, \.returned), (.reopened, \.reopened)]
        }
    }

    /// How soon a department must act on a dispatch for it to count as responded in time.
    public var responseLimit: TimeInterval = 2 * 3_600
    let reference: ReferenceData

    public init(reference: ReferenceData) { self.reference = reference }

    /// The figures of `cases`, grouped, ordered by group; `now` decides what is overdue today.
    public func rows(_ cases: [Case], by grouping: Grouping, now: Date) -> [Row] {
        var rows: [String: Row] = [:]
        var hours: [String: [Double]] = [:]
        for c in cases {
            let facts = Facts(c, now: now, responseLimit: responseLimit)
            for (group, name) in groups(of: c, by: grouping) {
                var row = rows[group] ?? Row(group: group, name: name)
                row.cases += 1
                row.reports += grouping == .source ? c.reports.filter { $0.system.rawValue == group }.count : c.reports.count
                if facts.dispatched { row.dispatched += 1 }
                if facts.respondedInTime { row.respondedInTime += 1 }
                if facts.resolvedInTime { row.resolvedInTime += 1 }
                if let h = facts.hoursToResolve { row.resolved += 1; hours[group, default: []].append(h) }
                row.surveys += facts.surveys
                row.satisfied += facts.satisfied
                if facts.overdue { row.overdue += 1 }
                if facts.returned { row.returned += 1 }
                if facts.reopened { row.reopened += 1 }
                rows[group] = row
            }
        }
        for (group, values) in hours {
            let sorted = values.sorted()
            rows[group]?.medianHoursToResolve = Self.percentile(sorted, 0.5)
            rows[group]?.p90HoursToResolve = Self.percentile(sorted, 0.9)
        }
        return rows.values.sorted { $0.group < $1.group }
    }

    /// The groups a case counts in (one, or one per source for `source`), with their names.
    func groups(of c: Case, by grouping: Grouping) -> [(String, String)] {
        let grid = c.gridCode.flatMap { reference.grid(code: $0) }
        switch grouping {
        // Cases outside every department, place or item get a group of their own, named for an operator:
        // reports a grid worker resolved on the spot are never dispatched.
        case .department:
            guard let code = c.department else { return [("(none)", "未派遣 not dispatched (resolved on the spot, or not yet)")] }
            return [(code, reference.department(code: code)?.nameZh ?? "")]
        case .town: return [(grid?.townCode ?? "(unlocated)", grid?.townName ?? Self.unlocated)]
        case .community: return [(grid?.communityCode ?? "(unlocated)", grid?.communityName ?? Self.unlocated)]
        case .grid: return [(c.gridCode ?? "(unlocated)", grid?.name ?? Self.unlocated)]
        case .item:
            guard let code = c.itemCode else { return [("(unclassified)", "未分类 unclassified")] }
            return [(code, reference.item(code: code)?.nameZh ?? "")]
        case .source:
            return Array(Set(c.reports.map(\.system.rawValue))).sorted().map { ($0, "") }
        }
    }

    static let unlocated = "未定位 not located"

    /// The nearest-rank percentile of sorted values.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = max(1, Int((p * Double(sorted.count)).rounded(.up)))
        return (sorted[rank - 1] * 10).rounded() / 10
    }

    /// What one case says, from its history.
    struct Facts {
        var dispatched = false, respondedInTime = false, resolvedInTime = false, overdue = false, returned = false, reopened = false
        var hoursToResolve: Double? = nil
        var surveys = 0, satisfied = 0

        init(_ c: Case, now: Date, responseLimit: TimeInterval) {
            let dispatchEvents: Set<CaseEventKind> = [.dispatch, .escalate, .reroute]
            let responses: Set<CaseEventKind> = [.accept, .start, .resolve, .return]
            var due: Date? = nil
            var firstDispatch: (at: Date, due: Date?)? = nil
            var resolvedLate = false
            for h in c.history {
                if dispatchEvents.contains(h.event) || h.event == .due, let d = h.dueAt { due = d }
                if dispatchEvents.contains(h.event), firstDispatch == nil { firstDispatch = (h.at, h.dueAt) }
                if responses.contains(h.event), let first = firstDispatch, !respondedInTime,
                   h.at.timeIntervalSince(first.at) <= responseLimit, first.due.map({ h.at <= $0 }) ?? true {
                    respondedInTime = true
                }
                if h.event == .resolve {
                    if hoursToResolve == nil { hoursToResolve = h.at.timeIntervalSince(c.openedAt) / 3_600 }
                    // The last resolution decides (resolved in time, reopened, resolved late: late).
                    resolvedInTime = due.map { h.at <= $0 } ?? false
                    if !resolvedInTime { resolvedLate = true }
                }
                if h.event == .return { returned = true }
                if h.event == .reopen { reopened = true }
                if let s = h.satisfaction {
                    surveys += 1
                    if s != .dissatisfied { satisfied += 1 }
                }
            }
            dispatched = firstDispatch != nil
            let stillLate = [.dispatched, .accepted, .inProgress].contains(c.status) && (c.dueAt.map { $0 < now } ?? false)
            overdue = resolvedLate || stillLate
        }
    }
}
