import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging
import PostgresNIO
import Tracing

/// What every unit of work needs and nothing changes: reference data, rules, matcher, the clock.
public struct RouterEnvironment: Sendable {
    public var reference: ReferenceData
    public var rules: RoutingRules
    public var matcher: DuplicateMatcher
    /// The rules of a case's life (feedback, surveys, deadlines).
    public var policy: CasePolicy
    /// The router's clock: wall time in production; tests move it.
    public var now: @Sendable () -> Date
    let departmentNames: [String: String]
    /// Each grid's code with the codes of the grids around it: where a report's duplicates may lie.
    let areas: [String: [String]]

    public init(reference: ReferenceData, rules: RoutingRules, policy: DedupPolicy = DedupPolicy(), now: @escaping @Sendable () -> Date = { Date() }) {
        self.reference = reference
        self.rules = rules
        matcher = DuplicateMatcher(items: reference.items, classifier: reference.classifier, policy: policy)
        self.now = now
        departmentNames = Dictionary(reference.departments.map { ($0.code, $0.nameZh) }, uniquingKeysWith: { a, _ in a })
        self.policy = CasePolicy(rules: rules, departmentNames: departmentNames)
        areas = Dictionary(reference.grids.map { ($0.gridCode, [$0.gridCode] + reference.neighbours(of: $0.gridCode).map(\.gridCode)) },
                           uniquingKeysWith: { a, _ in a })
    }
}

/// Counts of one unit of work, added to the metrics only after its transaction committed.
struct WorkCounts {
    var incidents = 0, exactDuplicates = 0, opened = 0, merged = 0, closedOnArrival = 0, escalations = 0
    var feedbackApplied = 0, feedbackRejected = 0, feedbackRepeated = 0, feedbackSuperseded = 0, surveys = 0, reopened = 0, deadLetters = 0
    var dispatched: [String: Int] = [:]
    var recurrences = 0, commandsApplied = 0, commandsRefused = 0, alerts = 0
    var caseLoads = 0, candidates = 0, gridsCached = 0
    /// Grids read from the database, by why the cache could not serve them.
    var gridsNotCached = 0, gridsChanged = 0, gridsNotCovered = 0

    func apply(to m: RouterMetrics) {
        m.tally("cases read one by one", caseLoads)
        m.tally("new cases recurring a case closed earlier", recurrences)
        m.tally("commands applied", commandsApplied)
        m.tally("commands refused", commandsRefused)
        m.tally("alerts raised", alerts)
        m.tally("dedup candidates read from the database", candidates)
        m.tally("grids whose candidates came from the cache", gridsCached)
        m.tally("grids read from the database: not cached", gridsNotCached)
        m.tally("grids read from the database: changed by another writer", gridsChanged)
        m.tally("grids read from the database: a report older than the cache covers", gridsNotCovered)
        m.incidents.increment(by: Int64(incidents))
        m.exactDuplicates.increment(by: Int64(exactDuplicates))
        m.casesOpened.increment(by: Int64(opened))
        m.merged.increment(by: Int64(merged))
        m.closedOnArrival.increment(by: Int64(closedOnArrival))
        m.escalations.increment(by: Int64(escalations))
        m.feedbackApplied.increment(by: Int64(feedbackApplied))
        m.feedbackRejected.increment(by: Int64(feedbackRejected))
        m.feedbackRepeated.increment(by: Int64(feedbackRepeated))
        m.feedbackSuperseded.increment(by: Int64(feedbackSuperseded))
        m.surveys.increment(by: Int64(surveys))
        m.reopened.increment(by: Int64(reopened))
        m.deadLetters.increment(by: Int64(deadLetters))
        for (d, n) in dispatched { m.dispatched(d).increment(by: Int64(n)) }
    }
}

/// One database transaction's work: cases loaded (locked) or opened, the rows to write and the records
/// for the outbox. Owned by the task that runs the transaction; nothing is written before ``flush()``.
final class CaseWork {
    /// A case with the indexed facts stored beside it.
    struct Entry {
        var value: Case
        var position: Coordinate?
        var radius: Double
        var text: String
        var firstMs: Int64
        var lastMs: Int64
        var closedMs: Int64?
        var onSite: Bool
        var dueMs: Int64?
        /// The catalogue groups the opening report's source category names when it names no item
        /// (``DedupCandidate/groups``), stored joined by commas.
        var groups: [String] = []

        /// `groups` as the `category_groups` column stores them, and back.
        static func stored(groups: [String]) -> String { groups.joined(separator: ",") }
        static func groups(stored: String) -> [String] { stored.split(separator: ",").map(String.init) }
    }

    struct DispatchRow {
        var id: String, caseId: String, attempt: Int, department: String, level: Level, reason: Dispatch.Reason, issuedMs: Int64
    }

    let conn: PostgresConnection
    let env: RouterEnvironment
    let logger: Logger
    let now: Date
    var counts = WorkCounts()

    private var cases: [String: Entry] = [:]
    private var changed: [String] = []
    private var changedSet: Set<String> = []
    private var reportCase: [String: (caseId: String, version: Int)] = [:]
    private var reportRows: [String: (caseId: String, system: String, recordId: String, version: Int)] = [:]
    private var dispatchRows: [DispatchRow] = []
    private var dispatchOwner: [String: (caseId: String, department: String)] = [:]
    /// The candidate cache (nil: read candidates from the database every time).
    let cache: CandidateCache?
    /// The grids this work locked, with their candidates as this work changes them.
    private var grids: [String: CandidateCache.Grid] = [:]
    /// Per grid, its cases closed too long ago to take reports but within the recurrence window: what a
    /// new case may be a recurrence of (``DuplicateMatcher/recurrence(of:position:uncertaintyMeters:among:)``).
    private var closedEarlier: [String: [DedupCandidate]] = [:]
    /// Grids whose candidate facts this work changed, and their versions after the bump in ``flush()``.
    private var factsChanged: Set<String> = []
    private var bumped: [String: Int64] = [:]
    private var newestReportMs: Int64 = .min
    /// Records for the outbox, in order; encoded all at once (on both cores) in ``flush()``.
    private var pending: [PendingRecord] = []
    /// For each changed case, the pending case record that holds its newest document (nil: encode it anew).
    private var docRecord: [String: Int] = [:]
    /// Personal data of the reports this work saw (revealed), for dispatches to departments that need it.
    private var personal: [String: ReportDetails] = [:]
    private var personalKnown: Set<String> = []
    /// The spans of the reports this work handles, ended when its records are written.
    private var openSpans: [any Span] = []
    private var features: [String: TextFeatures] = [:]
    /// The outbox body ``flush()`` wrote: its row id and records (for ``OutboxMemory`` once committed).
    private(set) var outboxBody: (id: Int64, records: [OutboxRecord])? = nil

    init(conn: PostgresConnection, env: RouterEnvironment, cache: CandidateCache? = nil, logger: Logger) {
        self.conn = conn
        self.cache = cache
        self.env = env
        self.logger = logger
        now = env.now().wholeMilliseconds
    }

    // MARK: - Incidents

    /// Locks the places of `incidents` (their grids and the grids around them, in one order for every
    /// instance), then gathers what is known about them: reports already in cases, and the candidate
    /// cases of those grids, from the cache where its version is current, else from the database.
    func prepare(incidents: [Incident], metrics: RouterMetrics? = nil) async throws {
        guard !incidents.isEmpty else { return }
        var t = ContinuousClock.now
        let ids = Array(Set(incidents.map(\.incidentId)))
        let rows = try await conn.query(Self.knownReportsQuery(ids), logger: logger)
        for try await (incident, caseId, version) in rows.decode((String, String, Int).self) {
            reportCase[incident] = (caseId, version)
        }
        metrics?.spent("tx: prepare: known reports", since: t)
        // Each grid a new report looks at, with the earliest report time that looks at it.
        var needed: [String: Int64] = [:]
        for incident in incidents {
            let t = incident.reportedAt.millisecondsSince1970
            newestReportMs = max(newestReportMs, t)
            guard reportCase[incident.incidentId] == nil, !incident.resolvedOnSite, let grid = gridCode(of: incident) else { continue }
            for g in env.areas[grid] ?? [grid] { needed[g] = min(needed[g] ?? .max, t) }
        }
        guard !needed.isEmpty else { return }
        // Advisory locks on every grid involved, in ascending order: two instances that could open a case
        // for the same problem (same or neighbouring grids) take turns; the order rules out deadlocks.
        let keys = needed.keys.compactMap { Int64($0) }.sorted()
        t = ContinuousClock.now
        for try await _ in try await conn.run(Statement.LockGrids.self, keys, logger: logger) {}
        metrics?.spent("tx: prepare: grid locks", since: t)
        // Both read under the locks; queued together on the connection, the second is sent as the first
        // ends, without waiting for this task to run in between.
        t = ContinuousClock.now
        let codes = Array(needed.keys)
        let conn = self.conn, logger = self.logger
        let closedQuery = Self.closedEarlierQuery(grids: codes, from: codes.map { needed[$0]! }, policy: env.matcher.policy)
        async let versionRows = try await conn.query("SELECT grid_code, version FROM grid_state WHERE grid_code = ANY(\(codes)::text[])", logger: logger)
            .decode((String, Int64).self).reduce(into: []) { $0.append($1) }
        async let closedRows = try await conn.query(closedQuery, logger: logger).decode(DedupCandidate.Row.self).reduce(into: []) { $0.append($1) }
        var versions: [String: Int64] = [:]
        for (code, version) in try await versionRows { versions[code] = version }
        for row in try await closedRows { closedEarlier[row.2, default: []].append(DedupCandidate(row: row)) }
        metrics?.spent("tx: prepare: grid versions and cases closed earlier read", since: t)
        let cached = cache?.take(codes) ?? [:]
        let horizon = cache?.horizon(now: now.millisecondsSince1970)
        var stale: [String] = [], staleFrom: [Int64] = []
        for (code, from) in needed {
            let version = versions[code] ?? 0
            if let grid = cached[code], grid.version == version, grid.coveredFromMs <= from {
                grids[code] = grid
                counts.gridsCached += 1
            } else {
                if let grid = cached[code] {
                    if grid.version != version { counts.gridsChanged += 1 } else { counts.gridsNotCovered += 1 }
                } else {
                    counts.gridsNotCached += 1
                }
                let covered = min(from, horizon ?? from)
                grids[code] = CandidateCache.Grid(version: version, coveredFromMs: covered)
                stale.append(code)
                staleFrom.append(covered)
            }
        }
        guard !stale.isEmpty else { return }
        t = ContinuousClock.now
        defer { metrics?.spent("tx: prepare: candidates read", since: t) }
        let found = try await conn.query(Self.candidatesQuery(grids: stale, from: staleFrom, policy: env.matcher.policy), logger: logger)
        for try await row in found.decode(DedupCandidate.Row.self) {
            counts.candidates += 1
            grids[row.2]?.put(DedupCandidate(row: row))
        }
    }

    /// The stored reports among `ids`: case and version of each. One probe of the primary key per id
    /// (`LATERAL` with `OFFSET 0`, as ``candidatesQuery(grids:from:policy:)``), so its cost follows the
    /// batch, not the table. As `incident_id = ANY(ids)` the planner scanned the whole table, testing
    /// every row against the batch's ids, until the table held most of a million reports (in parallel
    /// from about 300 000): 16-30 ms per 2 000-incident batch with 30 000 reports in the router
    /// benchmark, 30 ms at 300 000 on a quiet server (docs/performance.md, stop 41).
    static func knownReportsQuery(_ ids: [String]) -> PostgresQuery {
        """
        SELECT r.incident_id, r.case_id, r.version FROM unnest(\(ids)::text[]) AS u(i)
        CROSS JOIN LATERAL (SELECT incident_id, case_id, version FROM reports WHERE incident_id = u.i OFFSET 0) r
        """
    }

    /// The case and department of each stored dispatch among `ids` (a batch's feedback): one probe of
    /// the primary key per id, as ``knownReportsQuery(_:)``, for the same reason.
    static func dispatchOwnersQuery(_ ids: [String]) -> PostgresQuery {
        """
        SELECT d.dispatch_id, d.case_id, d.department FROM unnest(\(ids)::text[]) AS u(i)
        CROSS JOIN LATERAL (SELECT dispatch_id, case_id, department FROM dispatches WHERE dispatch_id = u.i OFFSET 0) d
        """
    }

    /// The candidate cases of `grids`, each for reports from its time in `from` on: cases not solved on
    /// the spot, last reported within the policy's time gap before it, open or closed within its grace.
    ///
    /// One index range per grid (`cases_grid_time`), kept so by LATERAL with OFFSET 0, which stops the
    /// planner from flattening it into a join. As a join, the planner cannot see the times in the array,
    /// guesses a third of each grid's cases, and with a few hundred grids and a million cases chose a
    /// parallel scan of the whole table: 0.35-0.4 s at 1 M open cases, growing with every case the city
    /// keeps, for the few candidates of the time window.
    static func candidatesQuery(grids: [String], from: [Int64], policy: DedupPolicy) -> PostgresQuery {
        let gap = Int64(policy.maxTimeGap * 1000), grace = Int64(policy.closedGrace * 1000)
        return """
            SELECT c.case_id, c.item_code, c.grid_code, c.lat, c.lon, c.radius_m, c.text, c.first_ms, c.last_ms, c.closed_ms, c.category_groups
            FROM unnest(\(grids)::text[], \(from)::int8[]) AS u(g, f)
            CROSS JOIN LATERAL (SELECT * FROM cases c WHERE c.grid_code = u.g AND c.last_ms >= u.f - \(gap)
                                AND NOT c.on_site AND (c.closed_ms IS NULL OR c.closed_ms >= u.f - \(grace)) OFFSET 0) c
            """
    }

    /// The cases of `grids` closed between the recurrence window and the closed grace before the reports
    /// (each grid from its earliest report's time in `from`): one index range per grid (`cases_grid_closed`).
    static func closedEarlierQuery(grids: [String], from: [Int64], policy: DedupPolicy) -> PostgresQuery {
        let window = Int64(policy.recurrenceWindow * 1000), grace = Int64(policy.closedGrace * 1000)
        return """
            SELECT c.case_id, c.item_code, c.grid_code, c.lat, c.lon, c.radius_m, c.text, c.first_ms, c.last_ms, c.closed_ms, c.category_groups
            FROM unnest(\(grids)::text[], \(from)::int8[]) AS u(g, f)
            CROSS JOIN LATERAL (SELECT * FROM cases c WHERE c.grid_code = u.g AND c.closed_ms >= u.f - \(window) AND c.closed_ms < u.f - \(grace)
                                AND c.item_code IS NOT NULL AND NOT c.on_site OFFSET 0) c
            """
    }

    /// The incident's text as bigrams, computed once per incident (``prefetch`` and ``handle`` both match it).
    private func textFeatures(of incident: Incident) -> TextFeatures {
        let key = "\(incident.incidentId)/\(incident.source.version)"
        if let f = features[key] { return f }
        let f = TextFeatures(incident.description)
        features[key] = f
        return f
    }

    /// The best case for `incident` among the candidates of `grid` and the grids around it.
    private func bestMatch(_ incident: Incident, grid: String, position: Coordinate, radius: Double) -> DedupDecision? {
        let text = textFeatures(of: incident)
        var best: DedupDecision? = nil
        for g in env.areas[grid] ?? [grid] {
            guard let cases = grids[g]?.cases, !cases.isEmpty else { continue }
            best = env.matcher.decide(incident, text: text, position: position, uncertaintyMeters: radius, candidates: cases, sameGrid: g == grid, better: best)
        }
        return best
    }

    /// Updates (or adds) a case's candidate facts in its grid, when this work holds that grid, and marks
    /// the grid as changed so its version is bumped at ``flush()``.
    private func updateCandidate(caseId: String, grid: String?, _ change: (inout DedupCandidate) -> Void, or make: (() -> DedupCandidate)? = nil) {
        guard let grid else { return }
        factsChanged.insert(grid)
        guard grids[grid] != nil else { return }
        if !grids[grid]!.update(caseId, change), let make { grids[grid]!.put(make()) }
    }

    /// What to hand the cache once this work's transaction committed.
    var cacheUpdate: CandidateCache.Update {
        CandidateCache.Update(grids: grids, bumped: bumped, newestReportMs: newestReportMs)
    }

    private func gridCode(of incident: Incident) -> String? {
        if let g = incident.location.gridCode { return g }
        if let lat = incident.location.lat, let lon = incident.location.lon { return env.reference.gridCode(at: Coordinate(lat: lat, lon: lon)) }
        return nil
    }

    /// Applies one incident: a new version of a known report, a report solved on the spot, a duplicate
    /// of a case nearby, or a new case routed and dispatched.
    func handle(_ incident: Incident, traceparent arrived: String? = nil) async throws {
        counts.incidents += 1
        // The router's span of its work on the report, under the adapter's (exported when a collector
        // is configured); the records it writes about the report carry it.
        var traceparent: String? = nil
        if let arrived {
            let (span, trace) = SpanExport.start("route incident", parent: arrived, kind: .consumer)
            span.attributes["gridhub.incident.id"] = incident.incidentId
            openSpans.append(span)
            traceparent = trace
        }
        if let known = reportCase[incident.incidentId] {
            counts.exactDuplicates += 1
            guard incident.source.version > known.version else { return }
            var entry = try await load(known.caseId)
            entry.value.merge(incident, match: MergeEvidence(distanceMeters: 0, timeGapSeconds: 0, itemRelation: .sameItem, textScore: 1), at: now)
            entry.value.trace(report: incident.incidentId, traceparent: traceparent)
            if incident.resolvedOnSite && !incident.withdrawn {
                // The source closed its own record (enforcement 结案): see CasePolicy.sourceClosed.
                setReport(incident, caseId: known.caseId)
                try await execute(env.policy.sourceClosed(incident, case: entry.value), on: &entry, caseChanged: true)
                return
            }
            if !incident.withdrawn {
                // The report that opened the case defines its text, address and item: they follow its new version.
                var itemChanged = false
                if entry.value.reports.first?.incidentId == incident.incidentId {
                    entry.value.description = PersonalDataMasking.maskPhoneNumbers(in: incident.description)
                    entry.value.location.address = incident.location.address
                    if !entry.onSite, let (position, radius) = DuplicateMatcher.position(of: incident.location, reference: env.reference) {
                        move(&entry, to: incident, position: position, radius: radius)
                    }
                    if let item = incident.itemCode, item != entry.value.itemCode {
                        entry.value.itemCode = item
                        itemChanged = true
                        updateCandidate(caseId: known.caseId, grid: entry.value.gridCode) { $0.itemCode = item }
                    }
                }
                setReport(incident, caseId: known.caseId)
                try await execute(env.policy.newVersion(incident, of: entry.value, itemChanged: itemChanged), on: &entry, caseChanged: true)
                return
            }
            var note = "来源记录已更新"
            if incident.withdrawn {
                // The case goes on for the sources that still want the problem handled; when none is
                // left, it closes as withdrawn.
                note = "来源已撤回本报告；同一问题的其他来源报告仍在办理"
                if entry.value.activeReports.isEmpty, (try? entry.value.apply(.withdraw(note: "来源撤回"), at: now)) != nil {
                    note = "来源撤回，已结案"
                    entry.closedMs = now.millisecondsSince1970
                    entry.dueMs = nil
                    let closed = now
                    updateCandidate(caseId: known.caseId, grid: entry.value.gridCode) { $0.closedAt = closed }
                } else if entry.value.status == .closed {
                    note = "来源已撤回本报告"
                }
            }
            setReport(incident, caseId: known.caseId)
            // Only the report that changed hears of it (the other sources' view of the case is the same),
            // unless the case closed with it.
            let audience: CasePolicy.Audience = entry.value.status == .closed ? .everyone : .only(incident.incidentId)
            store(entry, note: note, withdrawing: incident.withdrawn ? incident.incidentId : nil, tell: audience)
            return
        }
        if incident.withdrawn { return }
        let grid = gridCode(of: incident)
        let placed = DuplicateMatcher.position(of: incident.location, reference: env.reference)
        if !incident.resolvedOnSite, let grid, let (position, radius) = placed {
            if let decision = bestMatch(incident, grid: grid, position: position, radius: radius) {
                var entry = try await load(decision.caseId)
                entry.value.merge(incident, match: decision.evidence, at: now)
                entry.value.trace(report: incident.incidentId, traceparent: traceparent)
                let t = incident.reportedAt.millisecondsSince1970
                entry.firstMs = min(entry.firstMs, t)
                entry.lastMs = max(entry.lastMs, t)
                let (first, last) = (Date(millisecondsSince1970: entry.firstMs), Date(millisecondsSince1970: entry.lastMs))
                updateCandidate(caseId: decision.caseId, grid: entry.value.gridCode) { c in
                    c.firstReportedAt = first
                    c.lastReportedAt = last
                }
                setReport(incident, caseId: decision.caseId)
                counts.merged += 1
                let plan = env.policy.merged(incident, into: entry.value)
                if plan.dispatch != nil { counts.reopened += 1 }
                try await execute(plan, on: &entry, caseChanged: true)
                return
            }
        }
        // A new case.
        // Ordered by the report's time: new cases go to the right edge of the cases index.
        let caseId = DeterministicID(namespace: .case, parts: [incident.incidentId], orderedAt: incident.reportedAt.millisecondsSince1970).uuidString
        var value = Case(caseId: caseId, openedBy: incident, at: now)
        value.trace(report: incident.incidentId, traceparent: traceparent)
        if value.gridCode == nil { value.gridCode = grid }
        if !incident.resolvedOnSite, let grid, let (position, radius) = placed {
            value.recurrenceOf = env.matcher.recurrence(of: incident, position: position, uncertaintyMeters: radius,
                                                        among: (env.areas[grid] ?? [grid]).flatMap { closedEarlier[$0] ?? [] })
            if value.recurrenceOf != nil { counts.recurrences += 1 }
            // The evidence of the merges that did not happen, for the command centre.
            let text = textFeatures(of: incident)
            value.keptApart = Array((env.areas[grid] ?? [grid])
                .flatMap { env.matcher.nearMisses(incident, text: text, position: position, uncertaintyMeters: radius, candidates: grids[$0]?.cases ?? [], sameGrid: $0 == grid) }
                .sorted { a, b in (a.distanceMeters ?? 0, a.caseId) < (b.distanceMeters ?? 0, b.caseId) }
                .prefix(NearMiss.kept))
        }
        let t = incident.reportedAt.millisecondsSince1970
        let groups = incident.itemCode == nil ? env.matcher.categoryGroups(of: incident) : []
        var entry = Entry(value: value, position: placed?.0, radius: placed?.1 ?? 0, text: incident.description, firstMs: t, lastMs: t,
                          closedMs: nil, onSite: incident.resolvedOnSite, dueMs: nil, groups: groups)
        counts.opened += 1
        setReport(incident, caseId: caseId)
        if incident.resolvedOnSite { counts.closedOnArrival += 1 }
        try await execute(env.policy.opened(by: incident, case: entry.value), on: &entry, caseChanged: true)
        if !incident.resolvedOnSite, let grid = value.gridCode, placed != nil {
            updateCandidate(caseId: caseId, grid: grid, { _ in }, or: {
                DedupCandidate(caseId: caseId, itemCode: incident.itemCode, position: placed?.0, uncertaintyMeters: placed?.1 ?? 0,
                               text: incident.description, firstReportedAt: incident.reportedAt, lastReportedAt: incident.reportedAt, closedAt: nil,
                               groups: groups)
            })
        }
    }

    /// The case follows its opening report's corrected place (a new version with another address or
    /// fix): position, grid and candidate facts; a case moving to another grid leaves the old grid's
    /// candidates. (Its department and level stay; the department gets the new place on its dispatch.)
    private func move(_ entry: inout Entry, to incident: Incident, position: Coordinate, radius: Double) {
        let id = entry.value.caseId
        let oldGrid = entry.value.gridCode
        let newGrid = gridCode(of: incident) ?? oldGrid
        entry.value.location = incident.location
        entry.value.location.gridCode = newGrid
        entry.value.gridCode = newGrid
        entry.position = position
        entry.radius = radius
        entry.text = incident.description
        entry.groups = incident.itemCode == nil ? env.matcher.categoryGroups(of: incident) : []
        if let oldGrid, oldGrid != newGrid {
            factsChanged.insert(oldGrid)
            grids[oldGrid]?.retain { $0.caseId != id }
        }
        let (item, first, last) = (entry.value.itemCode, Date(millisecondsSince1970: entry.firstMs), Date(millisecondsSince1970: entry.lastMs))
        let closed = entry.closedMs.map { Date(millisecondsSince1970: $0) }
        let text = incident.description
        let features = TextFeatures(text)
        let groups = entry.groups
        updateCandidate(caseId: id, grid: newGrid, { c in
            c.position = position
            c.uncertaintyMeters = radius
            c.text = features
            c.groups = groups
        }, or: {
            DedupCandidate(caseId: id, itemCode: item, position: position, uncertaintyMeters: radius, text: text,
                           firstReportedAt: first, lastReportedAt: last, closedAt: closed, groups: groups)
        })
    }

    private func setReport(_ incident: Incident, caseId: String) {
        reportCase[incident.incidentId] = (caseId, incident.source.version)
        personal[incident.incidentId] = ReportDetails(incident)
        personalKnown.insert(incident.incidentId)
        reportRows[incident.incidentId] = (caseId, incident.source.system.rawValue, incident.source.recordId, incident.source.version)
    }

    // MARK: - Feedback, surveys, deadlines

    /// Applies a department's feedback; returns why it was refused, or nil.
    func handle(_ feedback: Feedback) async throws -> String? {
        var owner = dispatchOwner[feedback.dispatchId]
        if owner == nil {
            let rows = try await conn.query("SELECT case_id, department FROM dispatches WHERE dispatch_id = \(feedback.dispatchId)", logger: logger)
            for try await (c, d) in rows.decode((String, String).self) { owner = (c, d) }
        }
        guard let owner else {
            counts.feedbackRejected += 1
            return "feedback for unknown dispatch \(feedback.dispatchId)"
        }
        guard owner.department == feedback.department else {
            counts.feedbackRejected += 1
            return "feedback from department \(feedback.department) for dispatch \(feedback.dispatchId), which went to \(owner.department)"
        }
        var entry = try await load(owner.caseId)
        let plan = env.policy.feedback(feedback, on: entry.value, at: now)
        switch plan.outcome {
        case .refused(let reason):
            counts.feedbackRejected += 1
            return reason
        case .repeated:
            counts.feedbackRepeated += 1
            return nil
        case .superseded(let applied):
            counts.feedbackSuperseded += 1
            if !applied {
                logger.info("feedback on a dispatch the case has moved on from", metadata: [
                    RouterLogKeys.caseID: .string(owner.caseId), RouterLogKeys.dispatchID: .string(feedback.dispatchId),
                    "gridhub.department": .string(feedback.department), "gridhub.department.current": .string(entry.value.department ?? "none")])
                return nil
            }
        case .applied:
            break
        }
        counts.feedbackApplied += 1
        try await execute(plan, on: &entry)
        return nil
    }

    /// Applies a command of the command centre; returns why it was refused, or nil.
    func handle(_ command: Command) async throws -> String? {
        if cases[command.caseId] == nil { try await read([command.caseId]) }
        guard var entry = cases[command.caseId] else {
            counts.commandsRefused += 1
            return "command \(command.action.rawValue) refused: no case \(command.caseId)"
        }
        let plan = env.policy.command(command, on: entry.value, at: now)
        if case .refused(let reason) = plan.outcome {
            counts.commandsRefused += 1
            return reason
        }
        counts.commandsApplied += 1
        logger.info("command applied", metadata: [RouterLogKeys.caseID: .string(command.caseId), "gridhub.command": .string(command.action.rawValue),
                                                  "gridhub.command.id": .string(command.commandId), "gridhub.command.by": .string(command.issuedBy)])
        try await execute(plan, on: &entry, caseChanged: true, command: command.commandId)
        return nil
    }

    /// Applies a citizen's survey; returns why it was refused, or nil.
    func handle(_ survey: Survey) async throws -> String? {
        var caseId = reportCase[survey.incidentId]?.caseId
        if caseId == nil {
            let rows = try await conn.query("SELECT case_id FROM reports WHERE incident_id = \(survey.incidentId)", logger: logger)
            for try await c in rows.decode(String.self) { caseId = c }
        }
        guard let caseId else { return "survey for \(survey.system.rawValue) record \(survey.recordId), which is in no case" }
        var entry = try await load(caseId)
        let plan = env.policy.survey(survey, on: entry.value, at: now)
        switch plan.outcome {
        case .refused(let reason): return reason
        case .repeated, .superseded: return nil
        case .applied: break
        }
        counts.surveys += 1
        if plan.dispatch != nil { counts.reopened += 1 }
        // The same answer sent again will be a repeat.
        entry.value.surveyed(report: survey.incidentId, answeredAt: survey.at)
        try await execute(plan, on: &entry, survey: survey.satisfaction)
        return nil
    }

    /// Escalates the case one level if it is still overdue and unresolved; at city level it only stops
    /// watching the deadline.
    func escalate(caseId: String) async throws {
        var entry = try await load(caseId)
        guard let due = entry.dueMs else { return }
        let plan = env.policy.deadline(Date(millisecondsSince1970: due), on: entry.value, now: now)
        guard !plan.isEmpty else { return }
        if plan.dispatch != nil { counts.escalations += 1 }
        try await execute(plan, on: &entry)
    }

    /// Carries out a plan of ``CasePolicy`` on `entry`: its status events, its dispatch, the deadline and
    /// closing kept beside the case, then stores the case and tells the sources (unless nothing changed).
    private func execute(_ plan: CasePolicy.Plan, on entry: inout Entry, caseChanged: Bool = false, command: String? = nil,
                         survey: Satisfaction? = nil) async throws {
        let historyBefore = entry.value.history.count
        if plan.withdrawsDispatch {
            try await send(dispatchOf: entry.value, reason: entry.value.currentDispatchReason, firstEdition: false, withdrawnAt: now)
        }
        if let item = plan.classifiesAs {
            entry.value.itemCode = item
            updateCandidate(caseId: entry.value.caseId, grid: entry.value.gridCode) { $0.itemCode = item }
        }
        for event in plan.events { try entry.value.apply(event, at: now) }
        if let next = plan.dispatch {
            try await dispatch(&entry, next)
            if plan.startsWork, let current = entry.value.currentDispatchId { try entry.value.apply(.start(dispatchId: current), at: now) }
        }
        if let command { entry.value.attribute(historyFrom: historyBefore, toCommand: command) }
        if let survey { entry.value.attribute(historyFrom: historyBefore, toSurvey: survey) }
        if plan.updatesDispatch { try await send(dispatchOf: entry.value, reason: entry.value.currentDispatchReason, firstEdition: false) }
        for notice in plan.alerts { raise(notice, on: entry.value) }
        let c = entry.value
        // The timer beside the case: the dispatch's deadline, or the end of a resolved case's quiet period.
        let resolvedAt = c.status == .resolved ? (c.history.last { $0.to == .resolved }?.at ?? now) : nil
        entry.dueMs = plan.stopWatchingDeadline ? nil : env.policy.timer(for: c, resolvedAt: resolvedAt)?.wholeMilliseconds.millisecondsSince1970
        if c.status == .closed, entry.closedMs == nil {
            entry.closedMs = now.millisecondsSince1970
            let closed = now
            updateCandidate(caseId: c.caseId, grid: c.gridCode) { $0.closedAt = closed }
        } else if c.status != .closed, entry.closedMs != nil {
            entry.closedMs = nil
            updateCandidate(caseId: c.caseId, grid: c.gridCode) { $0.closedAt = nil }
        }
        let changed = caseChanged || !plan.events.isEmpty || plan.dispatch != nil
        store(entry, note: plan.note, publish: changed, tell: plan.audience)
    }

    // MARK: - Building blocks

    private func load(_ caseId: String) async throws -> Entry {
        if let e = cases[caseId] { return e }
        counts.caseLoads += 1
        try await read([caseId])
        guard let e = cases[caseId] else { throw RouterError("case \(caseId) is referenced but not stored") }
        return e
    }

    /// The most attachments one dispatch carries (the first reports' first).
    static let maxAttachments = 20

    /// The details of every report of `c`, in report order: from this work's incidents, else
    /// from the reports table (read once per report).
    private func personalData(of c: Case) async throws -> [ReportDetails] {
        let missing = c.reports.map(\.incidentId).filter { !personalKnown.contains($0) }
        if !missing.isEmpty {
            let rows = try await conn.query("SELECT incident_id, personal FROM reports WHERE incident_id = ANY(\(missing)::text[]) AND personal IS NOT NULL", logger: logger)
            let decoder = GridHubJSON.decoder()
            for try await (id, bytes) in rows.decode((String, ByteBuffer).self) {
                personal[id] = try decoder.decode(ReportDetails.self, from: Data(bytes.allBytes))
            }
            personalKnown.formUnion(missing)
        }
        return c.activeReports.compactMap { personal[$0.incidentId] ?? nil }
    }

    /// Reads and locks the cases of `ids` not read yet, in one statement (in id order, the order every
    /// instance locks in).
    private func read(_ ids: [String]) async throws {
        let missing = Set(ids.filter { cases[$0] == nil }).sorted()
        guard !missing.isEmpty else { return }
        let rows = try await conn.query("""
            SELECT case_id, doc, lat, lon, radius_m, text, first_ms, last_ms, closed_ms, on_site, due_ms, category_groups FROM cases
            WHERE case_id = ANY(\(missing)::text[]) ORDER BY case_id FOR UPDATE
            """, logger: logger)
        let decoder = GridHubJSON.decoder()
        for try await (id, doc, lat, lon, radius, text, first, last, closed, onSite, due, groups) in rows.decode(
            (String, ByteBuffer, Double?, Double?, Double, String, Int64, Int64, Int64?, Bool, Int64?, String).self) {
            let value = try Case.decoded(from: doc.allBytes, decoder: decoder)
            let position = (lat != nil && lon != nil) ? Coordinate(lat: lat!, lon: lon!) : nil
            cases[id] = Entry(value: value, position: position, radius: radius, text: text, firstMs: first, lastMs: last,
                              closedMs: closed, onSite: onSite, dueMs: due, groups: Entry.groups(stored: groups))
        }
    }

    /// Reads, in one statement, the stored cases a batch will most likely change: those of known reports
    /// with a newer version, those of the dispatches feedback answers and of the reports surveys rate, and
    /// those new reports would merge into (as far as the cases stored before the batch tell). A case
    /// missed here is still read when it is needed.
    func prefetch(incidents: [Incident], feedback: [Feedback], surveys: [Survey]) async throws {
        var wanted: [String] = []
        for incident in incidents {
            if let known = reportCase[incident.incidentId] {
                if incident.source.version > known.version { wanted.append(known.caseId) }
                continue
            }
            guard !incident.withdrawn, !incident.resolvedOnSite, let grid = gridCode(of: incident),
                  let (position, radius) = DuplicateMatcher.position(of: incident.location, reference: env.reference) else { continue }
            if let decision = bestMatch(incident, grid: grid, position: position, radius: radius) {
                wanted.append(decision.caseId)
            }
        }
        let dispatchIds = Array(Set(feedback.map(\.dispatchId).filter { dispatchOwner[$0] == nil }))
        if !dispatchIds.isEmpty {
            let rows = try await conn.query(Self.dispatchOwnersQuery(dispatchIds), logger: logger)
            for try await (d, c, department) in rows.decode((String, String, String).self) {
                dispatchOwner[d] = (c, department)
                wanted.append(c)
            }
        }
        let surveyed = Array(Set(surveys.map(\.incidentId).filter { reportCase[$0] == nil }))
        if !surveyed.isEmpty {
            let rows = try await conn.query(Self.knownReportsQuery(surveyed), logger: logger)
            for try await (incident, c, version) in rows.decode((String, String, Int).self) { reportCase[incident] = (c, version) }
        }
        for s in surveys { if let c = reportCase[s.incidentId]?.caseId { wanted.append(c) } }
        try await read(wanted)
    }

    /// Dispatches the case; with `publish` false (a case its source handles itself) the dispatch is
    /// recorded with the case but not sent to the department.
    private func dispatch(_ entry: inout Entry, _ next: CasePolicy.NextDispatch) async throws {
        let route = next.route, reason = next.reason, publish = next.publish
        let attempt = entry.value.dispatchCount + 1
        // Beside its case in the dispatches index (which so also grows at its right edge).
        let id = DeterministicID(namespace: .dispatch, parts: [entry.value.caseId, String(attempt)], orderedLike: entry.value.caseId).uuidString
        let due = next.dueAt(issuedAt: now).wholeMilliseconds
        if reason == .escalated {
            try entry.value.apply(.escalate(department: route.department, level: route.level, dispatchId: id, dueAt: due), at: now)
        } else if reason == .rerouted || (reason == .assigned && [.dispatched, .accepted, .inProgress].contains(entry.value.status)) {
            // The department losing the case hears it first: its dispatch again, withdrawn.
            try await send(dispatchOf: entry.value, reason: entry.value.currentDispatchReason, firstEdition: false, withdrawnAt: now)
            try entry.value.apply(.reroute(department: route.department, level: route.level, dispatchId: id, dueAt: due), at: now)
        } else {
            try entry.value.apply(.dispatch(department: route.department, level: route.level, dispatchId: id, dueAt: due), at: now)
        }
        entry.dueMs = due.millisecondsSince1970
        dispatchRows.append(DispatchRow(id: id, caseId: entry.value.caseId, attempt: attempt, department: route.department, level: route.level,
                                        reason: reason, issuedMs: now.millisecondsSince1970))
        dispatchOwner[id] = (entry.value.caseId, route.department)
        guard publish else { return }
        counts.dispatched[route.department, default: 0] += 1
        try await send(dispatchOf: entry.value, reason: reason, firstEdition: true)
    }

    /// Queues the case's current dispatch as the department sees it, its revision the case's version:
    /// the case's text and place, the reports' title and photos (phones in a title masked), and, for a
    /// department that calls citizens back or deals with the parties, who they are.
    private func send(dispatchOf c: Case, reason: Dispatch.Reason, firstEdition: Bool, withdrawnAt: Date? = nil) async throws {
        guard let id = c.currentDispatchId, let department = c.department, let level = c.level, let due = c.dueAt else { return }
        var work = Dispatch(
            dispatchId: id, caseId: c.caseId, attempt: c.dispatchCount, reason: reason, department: department, level: level,
            itemCode: c.itemCode, gridCode: c.gridCode, dueAt: due, issuedAt: now, urgent: c.urgent, description: c.description,
            location: c.location, reports: (c.activeReports.isEmpty ? c.reports : c.activeReports).map(ReportRef.init))
        work.revision = c.version
        work.withdrawnAt = withdrawnAt
        work.supervision = c.history.last { $0.event == .supervise && $0.dispatchId == id }?.note
        let details = try await personalData(of: c)
        work.title = details.lazy.compactMap(\.title).first.map(PersonalDataMasking.maskPhoneNumbers(in:))
        var seenAttachments = Set<String>()
        work.attachments = Array(details.flatMap { $0.attachments ?? [] }.filter { seenAttachments.insert($0).inserted }.prefix(Self.maxAttachments))
        let disclose = env.rules.disclosesPersonalData(to: department)
        if disclose {
            work.contacts = details.compactMap(\.reporter)
            var seen = Set<PersonName>()
            work.parties = details.flatMap(\.parties).filter { seen.insert($0).inserted }
        }
        let time = now, record = work, trace = c.traceparent()
        // The first edition keeps the id it always had; later ones are told apart by their revision.
        let eventParts = firstEdition ? ["dispatch", id] : ["dispatch", id, String(c.version)]
        pending.append(PendingRecord(topic: record.topic, key: Array(c.caseId.utf8)) { _ in
            let eventId = DeterministicID(namespace: .event, parts: eventParts).uuidString
            // Written directly; personal data revealed only to the departments that need it.
            return CloudEvent(id: eventId, source: CloudEvent.routerSource, type: EventType.dispatch.rawValue, time: time, subject: record.caseId,
                              traceparent: trace, data: record.jsonBytes(disclosing: disclose ? .reveal : .mask))
        })
    }

    /// Queues an alert for the command centre on `gridhub.alerts.v1`, keyed by the case.
    private func raise(_ notice: CasePolicy.AlertNotice, on c: Case) {
        counts.alerts += 1
        let alert = Alert(alertId: DeterministicID(namespace: .event, parts: ["alert", c.caseId, notice.kind.rawValue, String(c.version)]).uuidString,
                          caseId: c.caseId, kind: notice.kind, department: c.department, level: c.level, dispatchId: c.currentDispatchId,
                          dueAt: c.dueAt, message: PersonalDataMasking.maskPhoneNumbers(in: notice.message), at: now)
        let time = now, trace = c.traceparent()
        // On the alerts topic for the command centre; and, when it presses the department working on the
        // case (early warning, overdue, 督办), on that department's dispatch topic too, beside its work order.
        var topics = [Topics.alerts]
        if let department = c.department, Self.departmentAlerts.contains(notice.kind) { topics.append(Topics.dispatch(department: department)) }
        for topic in topics {
            pending.append(PendingRecord(topic: topic, key: Array(c.caseId.utf8)) { encoder in
                try CloudEvent(id: alert.alertId, source: CloudEvent.routerSource, type: .alert, time: time, subject: alert.caseId, traceparent: trace,
                               payload: alert, encoder: encoder)
            })
        }
    }

    /// The alerts that concern the department working on the case, published on its dispatch topic too.
    static let departmentAlerts: Set<Alert.Kind> = [.earlyWarning, .overdue, .supervised]

    /// Keeps the changed case and queues its record on the cases topic and a status record for every
    /// report in `tell` whose source has not withdrawn it (`withdrawing`: the report withdrawn by this
    /// change, whose source gets this last status).
    private func store(_ entry: Entry, note: String?, publish: Bool = true, withdrawing: String? = nil, tell: CasePolicy.Audience = .everyone) {
        let id = entry.value.caseId
        cases[id] = entry
        if changedSet.insert(id).inserted { changed.append(id) }
        docRecord[id] = nil
        guard publish else { return }
        let c = entry.value
        let time = now
        docRecord[id] = pending.count
        // Cases and status records are written directly (byte for byte what the encoder writes; they
        // carry no personal data): they are most of the router's records.
        let caseTrace = c.traceparent()
        pending.append(PendingRecord(topic: Topics.cases, key: Array(id.utf8)) { _ in
            CloudEvent(id: DeterministicID(namespace: .event, parts: ["case", id, String(c.version)]).uuidString, source: CloudEvent.routerSource,
                       type: EventType.case.rawValue, time: time, subject: id, traceparent: caseTrace, data: c.jsonBytes())
        })
        // A department's or citizen's note goes to every source: phones written in it are masked.
        let text = note.map(PersonalDataMasking.maskPhoneNumbers(in:)) ?? statusNote(c)
        for report in c.reports where (report.isActive && tell.includes(report.incidentId)) || report.incidentId == withdrawing {
            let status = StatusUpdate(system: report.system, recordId: report.recordId, caseId: id, caseVersion: c.version,
                                      status: c.status, department: c.department, note: text, at: time)
            let trace = c.traceparent(for: report.incidentId)
            pending.append(PendingRecord(topic: status.topic, key: Array(report.recordId.utf8)) { _ in
                CloudEvent(id: DeterministicID(namespace: .event, parts: ["status", report.incidentId, String(c.version)]).uuidString,
                           source: CloudEvent.routerSource, type: EventType.status.rawValue, time: time, subject: id, traceparent: trace, data: status.jsonBytes())
            })
        }
    }

    private func statusNote(_ c: Case) -> String? {
        let name = c.department.flatMap { env.departmentNames[$0] } ?? c.department ?? ""
        switch c.status {
        case .dispatched: return "已转交\(name)处理"
        case .accepted: return "\(name)已签收"
        case .inProgress: return "\(name)处理中"
        case .resolved: return "\(name)已办结"
        case .closed: return "已结案"
        case .reopened: return "已重新办理"
        case .open: return "已受理"
        case .returned: return "经指挥中心裁定，不属于网格化受理范围，予以退回"
        }
    }

    /// Queues a record as a dead letter: original key, value and headers, plus the reason.
    func deadLetter(_ record: ConsumerRecord, reason: String) {
        counts.deadLetters += 1
        var metadata: Logger.Metadata = [
            RouterLogKeys.topic: .string(record.topic), RouterLogKeys.partition: .stringConvertible(record.partition),
            RouterLogKeys.offset: .stringConvertible(record.offset), RouterLogKeys.reason: .string(reason)]
        if let trace = TraceContext(header: record.headers.string(CloudEventHeader.traceparent)) { metadata[TraceContext.logKey] = .string(trace.traceId) }
        logger.warning("record dead-lettered", metadata: metadata)
        let headers = DeadLetterHeader.headers(
            original: record.headers.map { ($0.key, $0.value) }, stage: "router", reason: reason,
            source: "\(record.topic)/\(record.partition)/\(record.offset)", time: now)
        let done = OutboxRecord(topic: Topics.deadLetter, key: record.key, value: record.value, headers: headers.map { KafkaHeader(key: $0.key, value: $0.value) })
        pending.append(PendingRecord(topic: done.topic, key: done.key, ready: done))
    }

    // MARK: - Writing

    /// Encodes `records`, in two halves at once when there are many.
    private static func encode(_ records: [PendingRecord]) async throws -> [OutboxRecord] {
        guard records.count >= 64 else { return try PendingRecord.encode(records[...]) }
        let half = records.count / 2
        async let first = PendingRecord.encode(records[..<half])
        let second = try PendingRecord.encode(records[half...])
        return try await first + second
    }

    /// The next offsets of the partitions a transaction advanced, written with its changes.
    struct OffsetsAdvanced: Sendable {
        var topics: [String] = [], partitions: [Int32] = [], next: [Int64] = []
        var isEmpty: Bool { topics.isEmpty }
    }

    /// Writes every change of this unit of work and `offsets` in two statements: what does not wait for
    /// the records' encoding (grid versions, reports, dispatches, offsets: ``Statement/WriteFacts``) is
    /// sent at once and runs while the records are encoded on both cores; the case rows, which carry
    /// their case records' bytes, and the outbox body follow (``Statement/WriteCasesAndOutbox``). Their
    /// order does not matter (one transaction, and the rows two instances could both touch are locked
    /// earlier, in one order).
    func flush(offsets: OffsetsAdvanced = OffsetsAdvanced(), metrics: RouterMetrics? = nil) async throws {
        defer {
            for span in openSpans { span.end() }
            openSpans = []
        }
        let conn = self.conn
        let records = pending
        async let encoded = Self.encode(records)
        let facts = try factsStatement(offsets: offsets)
        async let versions: [(String, Int64)] = {
            guard let facts else { return [] }
            return try await facts(conn)
        }()
        let encoding = ContinuousClock.now
        let outbox = try await encoded
        metrics?.spent("tx: flush: wait for the records' encoding", since: encoding)
        var docs: [String: [UInt8]] = [:]
        for (id, index) in docRecord { docs[id] = outbox[index].value }
        let casesAndOutbox = try casesAndOutboxStatement(docs: docs, outbox: outbox)
        async let outboxId: Int64? = {
            guard let casesAndOutbox else { return nil }
            return try await casesAndOutbox(conn)
        }()
        let waiting = ContinuousClock.now
        for (code, version) in try await versions { bumped[code] = version }
        if let id = try await outboxId { outboxBody = (id, outbox) }
        metrics?.spent("tx: flush: wait for the statements", since: waiting)
    }

    /// ``Statement/WriteFacts`` with this unit's grids, reports and dispatches and `offsets`; nil when all
    /// are empty. Returns the grids' new versions.
    private func factsStatement(offsets: OffsetsAdvanced) throws -> (@Sendable (PostgresConnection) async throws -> [(String, Int64)])? {
        let codes = factsChanged.sorted()
        guard !codes.isEmpty || !reportRows.isEmpty || !dispatchRows.isEmpty || !offsets.isEmpty else { return nil }
        var ids: [String] = [], caseIds: [String] = [], systems: [String] = [], records: [String] = [], versions: [Int32] = []
        var personalData: [ByteBuffer] = []
        for (k, v) in reportRows {
            ids.append(k); caseIds.append(v.caseId); systems.append(v.system); records.append(v.recordId); versions.append(Int32(clamping: v.version))
            personalData.append(ByteBuffer(bytes: (personal[k] ?? nil)?.revealedJSONBytes() ?? []))
        }
        let r = dispatchRows, logger = self.logger
        let (dispatchIds, dispatchCases, attempts) = (r.map(\.id), r.map(\.caseId), r.map { Int32($0.attempt) })
        let (departments, levels, reasons, issued) = (r.map(\.department), r.map(\.level.rawValue), r.map(\.reason.rawValue), r.map(\.issuedMs))
        return { [ids, caseIds, systems, records, versions, personalData] conn in
            try await conn.run(Statement.WriteFacts.self, codes, ids, caseIds, systems, records, versions, personalData,
                               dispatchIds, dispatchCases, attempts, departments, levels, reasons, issued,
                               offsets.topics, offsets.partitions, offsets.next, logger: logger)
                .reduce(into: []) { $0.append(try $1.decode((String, Int64).self)) }
        }
    }

    /// ``Statement/WriteCasesAndOutbox`` with the changed cases' rows (`docs`: the documents already
    /// encoded for their records) and `outbox`; nil when both are empty. Returns the body's id.
    private func casesAndOutboxStatement(docs: [String: [UInt8]], outbox: [OutboxRecord]) throws -> (@Sendable (PostgresConnection) async throws -> Int64?)? {
        guard !changed.isEmpty || !outbox.isEmpty else { return nil }
        var ids: [String] = [], status: [String] = [], item: [String] = [], grid: [String] = [], lat: [Double] = [], lon: [Double] = []
        var radius: [Double] = [], text: [String] = [], first: [Int64] = [], last: [Int64] = [], closed: [Int64] = []
        var onSite: [Bool] = [], department: [String] = [], level: [String] = [], due: [Int64] = [], deadline: [Int64] = [], doc: [ByteBuffer] = []
        var groups: [String] = []
        let encoder = GridHubJSON.encoder()
        for id in changed {
            guard let e = cases[id] else { continue }
            ids.append(id); status.append(e.value.status.rawValue); item.append(e.value.itemCode ?? ""); grid.append(e.value.gridCode ?? "")
            lat.append(e.position?.lat ?? .nan); lon.append(e.position?.lon ?? .nan); radius.append(e.radius); text.append(e.text)
            first.append(e.firstMs); last.append(e.lastMs); closed.append(e.closedMs ?? -1); onSite.append(e.onSite)
            department.append(e.value.department ?? ""); level.append(e.value.level?.rawValue ?? ""); due.append(e.dueMs ?? -1)
            let working: Set<CaseStatus> = [.dispatched, .accepted, .inProgress]
            deadline.append(working.contains(e.value.status) ? e.value.dueAt?.millisecondsSince1970 ?? -1 : -1)
            doc.append(ByteBuffer(bytes: try docs[id] ?? Array(encoder.encode(e.value))))
            groups.append(Entry.stored(groups: e.groups))
        }
        let logger = self.logger
        let count = Int32(outbox.count), body = outbox.isEmpty ? ByteBuffer() : OutboxRecord.body(outbox)
        return { [ids, status, item, grid, lat, lon, radius, text, first, last, closed, onSite, department, level, due, deadline, doc, groups] conn in
            var id: Int64? = nil
            for try await row in try await conn.run(Statement.WriteCasesAndOutbox.self, ids, status, item, grid, lat, lon, radius, text, first, last, closed,
                                                    onSite, department, level, due, deadline, doc, groups, count, body, logger: logger) {
                let (written, _) = try row.decode((Int64, String).self)
                id = written
            }
            return id
        }
    }
}

extension CloudEvent {
    /// The binary-mode headers as Kafka headers.
    var kafkaHeaders: [KafkaHeader] { headers.map { KafkaHeader(key: $0.key, value: $0.value) } }
}

/// A record for the outbox whose bytes are made later, off the order of the batch (encoding is the
/// batch's largest CPU cost, and it parallelises).
struct PendingRecord: Sendable {
    var topic: String
    var key: [UInt8]?
    /// Makes the record; given an encoder that masks personal data, for the records not written directly
    /// (dispatches, which may reveal it to a department, are).
    var make: (@Sendable (JSONEncoder) throws -> CloudEvent)?
    var ready: OutboxRecord?

    init(topic: String, key: [UInt8]?, make: @escaping @Sendable (JSONEncoder) throws -> CloudEvent) {
        self.topic = topic
        self.key = key
        self.make = make
    }

    init(topic: String, key: [UInt8]?, ready: OutboxRecord) {
        self.topic = topic
        self.key = key
        self.ready = ready
    }

    static func encode(_ records: ArraySlice<PendingRecord>) throws -> [OutboxRecord] {
        let encoder = GridHubJSON.encoder()
        return try records.map { r in
            if let ready = r.ready { return ready }
            do {
                let event = try r.make!(encoder)
                return OutboxRecord(topic: r.topic, key: r.key, value: event.data, headers: event.kafkaHeaders)
            } catch {
                throw RouterError("a record for \(r.topic) could not be encoded: \(error)")
            }
        }
    }
}
