import Foundation

/// A deduplicated case (`gov.gridhub.case.v1` on the compacted `gridhub.cases.v1`): its full current
/// state. Status changes only through ``apply(_:at:)``, which follows ``CaseTransitions`` and throws
/// ``CaseTransitionError`` for anything else.
public struct Case: Sendable, Hashable, Codable {
    /// The case id (the router derives it with ``DeterministicID``).
    public var caseId: String
    /// Increases by one on every change, so consumers can drop stale records.
    public private(set) var version: Int
    /// The current status.
    public private(set) var status: CaseStatus
    /// The item of `reference/items.csv`, or `nil` when unclassified.
    public var itemCode: String?
    /// The department of the current dispatch (a `departments.csv` code), or `nil` before the first dispatch.
    public private(set) var department: String?
    /// The level of the current dispatch, or `nil` before the first dispatch.
    public private(set) var level: Level?
    /// The case's grid, or `nil` when unknown.
    public var gridCode: String?
    /// Where the problem is (from the report that opened the case unless improved later).
    public var location: Location
    /// The text of the report that opened the case.
    public var description: String
    /// Urgent when any merged report is.
    public var urgent: Bool
    /// When the case was opened.
    public let openedAt: Date
    /// When the case last changed.
    public private(set) var updatedAt: Date
    /// When the current dispatch is due, or `nil` when nothing is dispatched.
    public private(set) var dueAt: Date?
    /// The current (latest) dispatch's id, or `nil` before the first dispatch.
    public private(set) var currentDispatchId: String?
    /// How many dispatches the case has had.
    public private(set) var dispatchCount: Int
    /// Every source report merged into the case; the first opened it.
    public private(set) var reports: [CaseReport]
    /// Every change of status, oldest first.
    public private(set) var history: [CaseHistoryEntry]
    /// The earlier case of the same problem at the same place, closed too long ago to be reopened
    /// (``DedupPolicy/closedGrace``) but within ``DedupPolicy/recurrenceWindow``: the problem came back.
    /// Written only when present.
    public var recurrenceOf: String?
    /// The open cases nearest to taking the report that opened this one, and why each was kept apart
    /// (at most ``NearMiss/kept``, nearest first): the other half of the merge evidence.
    public var keptApart: [NearMiss] = []

    /// Opens a case from the report that opened it (status ``CaseStatus/open``).
    public init(caseId: String, openedBy incident: Incident, at time: Date) {
        self.caseId = caseId
        version = 1
        status = .open
        itemCode = incident.itemCode
        department = nil
        level = nil
        gridCode = incident.location.gridCode
        location = incident.location
        // A phone written into the text ("请联系138…") is masked: the case is everyone's record; the
        // departments that need to call back get the reporters' numbers as contacts on their dispatch.
        description = PersonalDataMasking.maskPhoneNumbers(in: incident.description)
        urgent = incident.urgent
        openedAt = time
        updatedAt = time
        dueAt = nil
        currentDispatchId = nil
        dispatchCount = 0
        reports = [CaseReport(incident: incident, mergedAt: time, match: nil)]
        history = [CaseHistoryEntry(at: time, event: .open, from: nil, to: .open)]
        recurrenceOf = nil
    }

    /// Marks the history entries from `index` on as caused by command `commandId`.
    public mutating func attribute(historyFrom index: Int, toCommand commandId: String) {
        for i in history.indices where i >= index { history[i].commandId = commandId }
    }

    /// Records when the citizen of report `incidentId` answered a survey (``CaseReport/surveyedAt``).
    public mutating func surveyed(report incidentId: String, answeredAt: Date) {
        if let i = reports.firstIndex(where: { $0.incidentId == incidentId }) { reports[i].surveyedAt = answeredAt }
    }

    /// Records the citizen's answer on the history entries from `index` on (those a survey caused).
    public mutating func attribute(historyFrom index: Int, toSurvey satisfaction: Satisfaction) {
        for i in history.indices where i >= index && [.close, .reopen, .rate].contains(history[i].event) { history[i].satisfaction = satisfaction }
    }

    /// Records the trace a report arrived with, unless it has one already.
    public mutating func trace(report incidentId: String, traceparent: String?) {
        guard let traceparent, TraceContext(header: traceparent) != nil, let i = reports.firstIndex(where: { $0.incidentId == incidentId }),
              reports[i].traceparent == nil else { return }
        reports[i].traceparent = traceparent
    }

    /// The trace context a record about the report `incidentId` (the opening report's when nil)
    /// carries: the span of the router's work on the report, as ``trace(report:traceparent:)`` recorded
    /// it; nil when the report came without one.
    public func traceparent(for incidentId: String? = nil) -> String? {
        let report = incidentId.flatMap { id in reports.first { $0.incidentId == id } } ?? reports.first
        return TraceContext(header: report?.traceparent)?.header
    }

    /// Merges another source report (or a new version of one already merged); the status is unchanged.
    /// A newer version records whether its source withdrew the report (or took the withdrawal back).
    public mutating func merge(_ incident: Incident, match: MergeEvidence, at time: Date) {
        if let index = reports.firstIndex(where: { $0.incidentId == incident.incidentId }) {
            if incident.source.version > reports[index].version {
                reports[index].withdrawnAt = incident.withdrawn ? (reports[index].withdrawnAt ?? time) : nil
            }
            reports[index].version = max(reports[index].version, incident.source.version)
        } else {
            reports.append(CaseReport(incident: incident, mergedAt: time, match: match))
        }
        urgent = urgent || incident.urgent
        touch(at: time)
    }

    /// Why the current dispatch was issued: an escalation, a return or a reopening before it, or the
    /// first dispatch.
    public var currentDispatchReason: Dispatch.Reason {
        guard let current = currentDispatchId,
              let index = history.lastIndex(where: { $0.dispatchId == current && [.dispatch, .escalate, .reroute].contains($0.event) }) else {
            return .initial
        }
        if history[index].event == .escalate { return .escalated }
        if history[index].event == .reroute { return .rerouted }
        switch index > 0 ? history[index - 1].event : .open {
        case .return: return .returned
        case .reopen: return .reopened
        default: return .initial
        }
    }

    /// The reports whose sources still want the problem handled.
    public var activeReports: [CaseReport] { reports.filter(\.isActive) }

    /// Applies a status event; throws instead of changing anything when the table forbids it, when
    /// feedback refers to an older dispatch, or when an escalation does not raise the level.
    public mutating func apply(_ event: CaseEvent, at time: Date) throws(CaseTransitionError) {
        guard let next = CaseTransitions.next(after: status, on: event.kind) else {
            throw CaseTransitionError(code: .forbiddenTransition, from: status, event: event.kind)
        }
        if let dispatchId = event.feedbackDispatchId, dispatchId != currentDispatchId {
            throw CaseTransitionError(code: .staleDispatch, from: status, event: event.kind,
                                      detail: "feedback is for dispatch \(dispatchId), the current one is \(currentDispatchId ?? "none")")
        }
        var entry = CaseHistoryEntry(at: time, event: event.kind, from: status, to: next)
        switch event {
        case .dispatch(let to, let newLevel, let dispatchId, let due), .escalate(let to, let newLevel, let dispatchId, let due),
             .reroute(let to, let newLevel, let dispatchId, let due):
            if event.kind == .escalate, let current = level, newLevel <= current {
                throw CaseTransitionError(code: .levelNotHigher, from: status, event: event.kind,
                                          detail: "escalation from \(current.rawValue) to \(newLevel.rawValue)")
            }
            department = to
            level = newLevel
            currentDispatchId = dispatchId
            dueAt = due
            dispatchCount += 1
            entry.department = to
            entry.level = newLevel
            entry.dispatchId = dispatchId
            entry.dueAt = due
        case .accept(let dispatchId), .start(let dispatchId):
            entry.dispatchId = dispatchId
        case .due(let due):
            dueAt = due
            entry.dispatchId = currentDispatchId
            entry.dueAt = due
        case .resolve(let dispatchId, let note), .return(let dispatchId, let note):
            entry.dispatchId = dispatchId
            entry.note = note.map(PersonalDataMasking.maskPhoneNumbers(in:))
            if event.kind == .return { dueAt = nil }
        case .supervise(let note), .warn(let note):
            entry.note = PersonalDataMasking.maskPhoneNumbers(in: note)
            entry.dispatchId = currentDispatchId
        case .rate(let note):
            entry.note = note.map(PersonalDataMasking.maskPhoneNumbers(in:))
            entry.dispatchId = currentDispatchId
        case .closeByCommand(let note):
            entry.note = PersonalDataMasking.maskPhoneNumbers(in: note)
            dueAt = nil
        case .closeOnArrival(let note), .close(let note), .reopen(let note), .withdraw(let note):
            entry.note = note.map(PersonalDataMasking.maskPhoneNumbers(in:))
            if next == .closed || next == .reopened { dueAt = nil }
        }
        status = next
        history.append(entry)
        touch(at: time)
    }

    private mutating func touch(at time: Date) {
        version += 1
        updatedAt = max(updatedAt, time)
    }

    enum CodingKeys: String, CodingKey {
        case caseId, version, status, itemCode, department, level, gridCode, location, description, urgent
        case openedAt, updatedAt, dueAt, currentDispatchId, dispatchCount, reports, history, recurrenceOf, keptApart
    }

    /// Strict decoding: unknown keys, malformed codes and an empty report list are errors.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        caseId = try c.decode(String.self, forKey: .caseId, satisfying: FieldCheck.isRecordId, "a case id")
        version = try c.decode(Int.self, forKey: .version, atLeast: 1)
        status = try c.decode(CaseStatus.self, forKey: .status)
        itemCode = try c.decodeIfPresent(String.self, forKey: .itemCode, satisfying: FieldCheck.isItemCode, "an item code SR-nnn")
        department = try c.decodeIfPresent(String.self, forKey: .department, satisfying: FieldCheck.isDepartmentCode, "a department code")
        level = try c.decodeIfPresent(Level.self, forKey: .level)
        gridCode = try c.decodeIfPresent(String.self, forKey: .gridCode, satisfying: FieldCheck.isGridCode, "a 15-digit grid code")
        location = try c.decode(Location.self, forKey: .location)
        description = try c.decode(String.self, forKey: .description)
        urgent = try c.decode(Bool.self, forKey: .urgent)
        openedAt = try c.decode(Date.self, forKey: .openedAt)
        updatedAt = try c.decode(Date.self, forKey: .updatedAt)
        dueAt = try c.decodeIfPresent(Date.self, forKey: .dueAt)
        currentDispatchId = try c.decodeIfPresent(String.self, forKey: .currentDispatchId, satisfying: FieldCheck.isRecordId, "a dispatch id")
        dispatchCount = try c.decode(Int.self, forKey: .dispatchCount, atLeast: 0)
        reports = try c.decode([CaseReport].self, forKey: .reports)
        guard !reports.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .reports, in: c, debugDescription: "a case has at least the report that opened it")
        }
        history = try c.decode([CaseHistoryEntry].self, forKey: .history)
        recurrenceOf = try c.decodeIfPresent(String.self, forKey: .recurrenceOf, satisfying: FieldCheck.isRecordId, "a case id")
        keptApart = try c.decodeIfPresent([NearMiss].self, forKey: .keptApart) ?? []
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(caseId, forKey: .caseId)
        try c.encode(version, forKey: .version)
        try c.encode(status, forKey: .status)
        try c.encodeNullable(itemCode, forKey: .itemCode)
        try c.encodeNullable(department, forKey: .department)
        try c.encodeNullable(level, forKey: .level)
        try c.encodeNullable(gridCode, forKey: .gridCode)
        try c.encode(location, forKey: .location)
        try c.encode(description, forKey: .description)
        try c.encode(urgent, forKey: .urgent)
        try c.encode(openedAt, forKey: .openedAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encodeNullable(dueAt, forKey: .dueAt)
        try c.encodeNullable(currentDispatchId, forKey: .currentDispatchId)
        try c.encode(dispatchCount, forKey: .dispatchCount)
        try c.encode(reports, forKey: .reports)
        try c.encode(history, forKey: .history)
        try c.encodeIfPresent(recurrenceOf, forKey: .recurrenceOf)
        if !keptApart.isEmpty { try c.encode(keptApart, forKey: .keptApart) }
    }
}

extension Case {
    /// The case in `f`, with the same checks as ``init(from:)``; nil when anything is not plainly valid
    /// (``decodedDirectly(from:)`` then leaves it to `JSONDecoder`, which decides and says why).
    init?(direct f: JSONFields) {
        guard let caseId = f.string("caseId"), FieldCheck.isRecordId(caseId),
              let version = f.int("version"), version >= 1,
              let status = f.string("status").flatMap(CaseStatus.init(rawValue:)),
              let itemCode = f.optionalString("itemCode"), itemCode.map(FieldCheck.isItemCode) ?? true,
              let department = f.optionalString("department"), department.map(FieldCheck.isDepartmentCode) ?? true,
              let level = f.optionalEnum("level", Level.self),
              let gridCode = f.optionalString("gridCode"), gridCode.map(FieldCheck.isGridCode) ?? true,
              let location = Location(direct: f["location"]),
              let description = f.string("description"),
              let urgent = f.bool("urgent"),
              let openedAt = f.date("openedAt"), let updatedAt = f.date("updatedAt"), let dueAt = f.optionalDate("dueAt"),
              let currentDispatchId = f.optionalString("currentDispatchId"), currentDispatchId.map(FieldCheck.isRecordId) ?? true,
              let dispatchCount = f.int("dispatchCount"), dispatchCount >= 0,
              let reports = f.array("reports", CaseReport.init(direct:)), !reports.isEmpty,
              let history = f.array("history", CaseHistoryEntry.init(direct:)),
              let recurrenceOf = f.optionalString("recurrenceOf"), recurrenceOf.map(FieldCheck.isRecordId) ?? true else { return nil }
        var keptApart: [NearMiss] = []
        if case .null = f["keptApart"] {} else {
            guard let list = f.array("keptApart", NearMiss.init(direct:)) else { return nil }
            keptApart = list
        }
        self.caseId = caseId
        self.version = version
        self.status = status
        self.itemCode = itemCode
        self.department = department
        self.level = level
        self.gridCode = gridCode
        self.location = location
        self.description = description
        self.urgent = urgent
        self.openedAt = openedAt
        self.updatedAt = updatedAt
        self.dueAt = dueAt
        self.currentDispatchId = currentDispatchId
        self.dispatchCount = dispatchCount
        self.reports = reports
        self.history = history
        self.recurrenceOf = recurrenceOf
        self.keptApart = keptApart
    }
}

/// A status event on a case: what the router, a department's feedback or a survey says happened.
public enum CaseEvent: Sendable, Hashable {
    /// Send a work order to `department` at `level` (first dispatch, after a return, after a reopen).
    case dispatch(department: String, level: Level, dispatchId: String, dueAt: Date)
    /// The department accepted dispatch `dispatchId`.
    case accept(dispatchId: String)
    /// The department started work on `dispatchId`.
    case start(dispatchId: String)
    /// The department resolved `dispatchId`.
    case resolve(dispatchId: String, note: String?)
    /// The department returned `dispatchId` as "not ours": the case is open to be routed again.
    case `return`(dispatchId: String, note: String?)
    /// Re-dispatch at a higher level (overdue or too big for the current level).
    case escalate(department: String, level: Level, dispatchId: String, dueAt: Date)
    /// Move the case being worked on to another department: its source corrected the report to an item
    /// another department handles. The old dispatch is withdrawn.
    case reroute(department: String, level: Level, dispatchId: String, dueAt: Date)
    /// The command centre presses the department working on the case (督办); the status is unchanged.
    case supervise(note: String)
    /// The case has used most of its time: the command centre was warned (once per dispatch).
    case warn(note: String)
    /// The command centre closes the case, whatever it was doing, with the reason.
    case closeByCommand(note: String)
    /// The current dispatch is due at another time (a report with a stricter time limit of its source
    /// joined the case). The status is unchanged.
    case due(dueAt: Date)
    /// A report already solved on the spot closes the case as it arrives.
    case closeOnArrival(note: String?)
    /// Close a resolved case (satisfied survey, confirmation, or the survey period ended).
    case close(note: String?)
    /// Reopen a resolved or closed case (dissatisfied survey).
    case reopen(note: String?)
    /// A citizen answered a survey about a resolution that the answer can no longer close or reopen
    /// (another report's complaint reopened the case, or it is closed): recorded for the assessment,
    /// the status unchanged.
    case rate(note: String?)
    /// The source withdrew the report: close the case whatever it was doing.
    case withdraw(note: String?)

    /// The kind of event, as the transition table and the history know it.
    public var kind: CaseEventKind {
        switch self {
        case .dispatch: .dispatch
        case .accept: .accept
        case .start: .start
        case .resolve: .resolve
        case .return: .return
        case .escalate: .escalate
        case .reroute: .reroute
        case .due: .due
        case .supervise: .supervise
        case .warn: .warn
        case .closeByCommand: .closeByCommand
        case .closeOnArrival: .closeOnArrival
        case .close: .close
        case .reopen: .reopen
        case .rate: .rate
        case .withdraw: .withdraw
        }
    }

    /// The dispatch a department's feedback refers to (it must be the case's current one).
    var feedbackDispatchId: String? {
        switch self {
        case .accept(let id), .start(let id), .resolve(let id, _), .return(let id, _): id
        default: nil
        }
    }

    /// The event a department's feedback means.
    public static func feedback(_ status: FeedbackStatus, dispatchId: String, note: String?) -> CaseEvent {
        switch status {
        case .accepted: .accept(dispatchId: dispatchId)
        case .inProgress: .start(dispatchId: dispatchId)
        case .resolved: .resolve(dispatchId: dispatchId, note: note)
        case .returned: .return(dispatchId: dispatchId, note: note)
        }
    }

    /// The event a survey answer means: dissatisfied reopens, anything else closes.
    public static func survey(_ satisfaction: Satisfaction, note: String?) -> CaseEvent {
        satisfaction == .dissatisfied ? .reopen(note: note) : .close(note: note)
    }
}

/// The kinds of case events (the history's `event` strings).
public enum CaseEventKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// The case was opened (history only; not an event one can apply).
    case open
    /// See ``CaseEvent/dispatch(department:level:dispatchId:dueAt:)``.
    case dispatch
    /// See ``CaseEvent/accept(dispatchId:)``.
    case accept
    /// See ``CaseEvent/start(dispatchId:)``.
    case start
    /// See ``CaseEvent/resolve(dispatchId:note:)``.
    case resolve
    /// See ``CaseEvent/return(dispatchId:note:)``.
    case `return`
    /// See ``CaseEvent/escalate(department:level:dispatchId:dueAt:)``.
    case escalate
    /// See ``CaseEvent/reroute(department:level:dispatchId:dueAt:)``.
    case reroute
    /// See ``CaseEvent/due(dueAt:)``.
    case due
    /// See ``CaseEvent/supervise(note:)``.
    case supervise
    /// See ``CaseEvent/warn(note:)``.
    case warn
    /// See ``CaseEvent/closeByCommand(note:)``.
    case closeByCommand
    /// See ``CaseEvent/closeOnArrival(note:)``.
    case closeOnArrival
    /// See ``CaseEvent/close(note:)``.
    case close
    /// See ``CaseEvent/reopen(note:)``.
    case reopen
    /// See ``CaseEvent/withdraw(note:)``.
    case withdraw
    /// A survey answered while the case was being handled again (``CaseEvent/rate(note:)``).
    case rate
}

/// The case status machine: which event may follow which status, and where it leads.
public enum CaseTransitions {
    /// `table[event][from] = to`. Anything not listed is forbidden.
    public static let table: [CaseEventKind: [CaseStatus: CaseStatus]] = [
        .dispatch: [.open: .dispatched, .reopened: .dispatched, .returned: .dispatched],
        .accept: [.dispatched: .accepted],
        .start: [.dispatched: .inProgress, .accepted: .inProgress],
        .resolve: [.dispatched: .resolved, .accepted: .resolved, .inProgress: .resolved],
        .return: [.dispatched: .returned, .accepted: .returned, .inProgress: .returned],
        .escalate: [.dispatched: .dispatched, .accepted: .dispatched, .inProgress: .dispatched],
        .reroute: [.dispatched: .dispatched, .accepted: .dispatched, .inProgress: .dispatched],
        .due: [.dispatched: .dispatched, .accepted: .accepted, .inProgress: .inProgress],
        .supervise: [.dispatched: .dispatched, .accepted: .accepted, .inProgress: .inProgress],
        .warn: [.dispatched: .dispatched, .accepted: .accepted, .inProgress: .inProgress],
        .closeByCommand: [.open: .closed, .dispatched: .closed, .accepted: .closed, .inProgress: .closed, .resolved: .closed, .reopened: .closed,
                          .returned: .closed],
        .closeOnArrival: [.open: .closed],
        .close: [.resolved: .closed],
        .reopen: [.resolved: .reopened, .closed: .reopened],
        .rate: [.reopened: .reopened, .dispatched: .dispatched, .accepted: .accepted, .inProgress: .inProgress, .returned: .returned, .closed: .closed],
        .withdraw: [.open: .closed, .dispatched: .closed, .accepted: .closed, .inProgress: .closed, .reopened: .closed, .returned: .closed],
    ]

    /// The status after `event` in status `from`, or `nil` when the event is not allowed there.
    public static func next(after from: CaseStatus, on event: CaseEventKind) -> CaseStatus? {
        table[event]?[from]
    }
}

/// A status event that the transition table (or the dispatch bookkeeping) does not allow; the case is unchanged.
public struct CaseTransitionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why the event was refused.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        /// The table has no transition for this event in this status.
        public static let forbiddenTransition = Code(name: "forbiddenTransition")
        /// The feedback refers to a dispatch that is not the case's current one.
        public static let staleDispatch = Code(name: "staleDispatch")
        /// An escalation that does not raise the level.
        public static let levelNotHigher = Code(name: "levelNotHigher")
        /// The code's name.
        public var description: String { name }
    }

    /// Why the event was refused.
    public var code: Code
    /// The case's status when the event arrived.
    public var from: CaseStatus
    /// The refused event.
    public var event: CaseEventKind
    /// More detail, if any.
    public var detail: String?

    /// An error.
    public init(code: Code, from: CaseStatus, event: CaseEventKind, detail: String? = nil) {
        self.code = code
        self.from = from
        self.event = event
        self.detail = detail
    }

    /// True when the event would lead to the status the case already has (a redelivered feedback, say):
    /// callers may count and drop it instead of treating it as an error.
    public var isRepeat: Bool {
        code == .forbiddenTransition && (CaseTransitions.table[event]?.values.contains(from) ?? false)
    }

    /// A readable sentence.
    public var description: String {
        var text = "case event '\(event.rawValue)' is not allowed in status '\(from.rawValue)' (\(code))"
        if let detail { text += ": \(detail)" }
        return text
    }
}

/// One source report merged into a case.
public struct CaseReport: Sendable, Hashable, Codable {
    /// The incident id of the report.
    public var incidentId: String
    /// The source system.
    public var system: SourceSystem
    /// The source's record id.
    public var recordId: String
    /// The latest version of the report merged.
    public var version: Int
    /// When the report was merged.
    public var mergedAt: Date
    /// Why it was merged; `nil` for the report that opened the case.
    public var match: MergeEvidence?
    /// When its source withdrew it, or `nil` while the source still wants the problem handled. A
    /// withdrawn report stays on the case (it was reported) but its source gets no more status records
    /// and its reporter's contacts no longer go to departments.
    public var withdrawnAt: Date?
    /// The W3C `traceparent` of the router's work on the report: a span under the one the report
    /// arrived with (the adapter's), which the records the router writes about it carry. Written only
    /// when present.
    public var traceparent: String?
    /// The grid worker who reported it (综治e通's staff id, `sbr`; staff data, not a citizen's), for
    /// the command centre's report-mix assessment. Written only when present.
    public var workerId: String?
    /// When this report's citizen last answered a survey (the source's time of the answer): the same
    /// answer sent again is a repeat. Written only when present.
    public var surveyedAt: Date?

    /// Whether the source still wants the problem handled.
    public var isActive: Bool { withdrawnAt == nil }

    /// A merged report.
    public init(incidentId: String, system: SourceSystem, recordId: String, version: Int, mergedAt: Date, match: MergeEvidence?) {
        self.incidentId = incidentId
        self.system = system
        self.recordId = recordId
        self.version = version
        self.mergedAt = mergedAt
        self.match = match
        withdrawnAt = nil
    }

    /// The entry for `incident`.
    public init(incident: Incident, mergedAt: Date, match: MergeEvidence?) {
        self.init(incidentId: incident.incidentId, system: incident.source.system, recordId: incident.source.recordId,
                  version: incident.source.version, mergedAt: mergedAt, match: match)
        if incident.withdrawn { withdrawnAt = mergedAt }
        if incident.reporter?.kind == .gridWorker, let id = incident.reporter?.id, !id.isEmpty { workerId = id }
    }

    enum CodingKeys: String, CodingKey { case incidentId, system, recordId, version, mergedAt, match, withdrawnAt, traceparent, workerId, surveyedAt }

    /// Strict decoding: unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        incidentId = try c.decode(String.self, forKey: .incidentId, satisfying: FieldCheck.isUUID, "a lowercase UUID")
        system = try c.decode(SourceSystem.self, forKey: .system)
        recordId = try c.decode(String.self, forKey: .recordId, satisfying: FieldCheck.isRecordId, "a record id")
        version = try c.decode(Int.self, forKey: .version, atLeast: 1)
        mergedAt = try c.decode(Date.self, forKey: .mergedAt)
        match = try c.decodeIfPresent(MergeEvidence.self, forKey: .match)
        withdrawnAt = try c.decodeIfPresent(Date.self, forKey: .withdrawnAt)
        traceparent = try c.decodeIfPresent(String.self, forKey: .traceparent, satisfying: { TraceContext(header: $0) != nil }, "a W3C traceparent")
        workerId = try c.decodeIfPresent(String.self, forKey: .workerId, satisfying: { !$0.isEmpty && $0.count <= 64 }, "a worker id of 1–64 characters")
        surveyedAt = try c.decodeIfPresent(Date.self, forKey: .surveyedAt)
    }

    /// Writes every field, `null` where absent; `withdrawnAt` only once the source withdrew the report.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(incidentId, forKey: .incidentId)
        try c.encode(system, forKey: .system)
        try c.encode(recordId, forKey: .recordId)
        try c.encode(version, forKey: .version)
        try c.encode(mergedAt, forKey: .mergedAt)
        try c.encodeNullable(match, forKey: .match)
        try c.encodeIfPresent(withdrawnAt, forKey: .withdrawnAt)
        try c.encodeIfPresent(traceparent, forKey: .traceparent)
        try c.encodeIfPresent(workerId, forKey: .workerId)
        try c.encodeIfPresent(surveyedAt, forKey: .surveyedAt)
    }
}

/// Why a report was merged into an existing case.
public struct MergeEvidence: Sendable, Hashable, Codable {
    /// How the two reports' items relate.
    public enum ItemRelation: String, Sendable, Hashable, Codable, CaseIterable {
        /// The same item code.
        case sameItem
        /// Different items of the same group of the catalogue, and one report's text names the other's
        /// item (its catalogue name or one of its keywords).
        case sameGroup
        /// At least one report is unclassified; the texts have enough words in common.
        case unclassified
        /// One report is unclassified and its text names the other's item.
        case namedItem
        /// One report is unclassified, its text names no item, and its source's category names the group
        /// of the other's item (a 12345 order filed under a first level only, `城乡建设`; a 综治e通 event under its
        /// family's 其他, `0499`).
        case categoryGroup
    }

    /// Distance in metres between the two positions, or `nil` when one has no position (same grid or address).
    public var distanceMeters: Double?
    /// Seconds between the two reports' `reportedAt`.
    public var timeGapSeconds: Double
    /// How the items relate.
    public var itemRelation: ItemRelation
    /// Text similarity of the two descriptions, 0…1.
    public var textScore: Double

    /// The two positions' uncertainties added (metres): how far apart they may be and still be one
    /// place (the merge allowed up to 100 m more). `nil` in evidence recorded before it was kept.
    public var uncertaintyMeters: Double?

    /// Merge evidence.
    public init(distanceMeters: Double?, timeGapSeconds: Double, itemRelation: ItemRelation, textScore: Double, uncertaintyMeters: Double? = nil) {
        self.distanceMeters = distanceMeters
        self.timeGapSeconds = timeGapSeconds
        self.itemRelation = itemRelation
        self.textScore = textScore
        self.uncertaintyMeters = uncertaintyMeters
    }

    enum CodingKeys: String, CodingKey { case distanceMeters, timeGapSeconds, itemRelation, textScore, uncertaintyMeters }

    /// Strict decoding: unknown keys and out-of-range numbers are errors.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        distanceMeters = try c.decodeIfPresent(Double.self, forKey: .distanceMeters, in: 0...Double.greatestFiniteMagnitude)
        timeGapSeconds = try c.decode(Double.self, forKey: .timeGapSeconds, in: 0...Double.greatestFiniteMagnitude)
        itemRelation = try c.decode(ItemRelation.self, forKey: .itemRelation)
        textScore = try c.decode(Double.self, forKey: .textScore, in: 0...1)
        uncertaintyMeters = try c.decodeIfPresent(Double.self, forKey: .uncertaintyMeters, in: 0...Double.greatestFiniteMagnitude)
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeNullable(distanceMeters, forKey: .distanceMeters)
        try c.encode(timeGapSeconds, forKey: .timeGapSeconds)
        try c.encode(itemRelation, forKey: .itemRelation)
        try c.encode(textScore, forKey: .textScore)
        try c.encodeIfPresent(uncertaintyMeters, forKey: .uncertaintyMeters)
    }
}

/// A case that nearly took a report and why it did not: kept with the case the report opened.
public struct NearMiss: Sendable, Hashable, Codable {
    /// At most this many are kept per case.
    public static let kept = 3

    /// Why the two were kept apart.
    public enum Reason: String, Sendable, Hashable, Codable, CaseIterable {
        /// One of them has no position.
        case notPlaced
        /// Further apart than the allowed distance (`limitMeters`).
        case tooFar
        /// Reported too long after (or before) the case's reports.
        case tooLongApart
        /// The case was closed longer ago than the grace period.
        case closedBefore
        /// Different items (of different groups, or related items the texts do not name).
        case otherItem
        /// Related or unclassified items need the reports closer together.
        case notCloseEnough
        /// The same item, but positions too coarse to merge without words in common.
        case coarseWithoutCommonText
        /// An unclassified report with too few words in common.
        case tooLittleCommonText
    }

    /// How the two reports' items relate, as far as it was looked at.
    public enum ItemRelation: String, Sendable, Hashable, Codable, CaseIterable {
        case sameItem, sameGroup, otherGroup, unclassified, unknown
    }

    public var caseId: String
    public var reason: Reason
    public var distanceMeters: Double?
    /// The distance the two could be apart and still merge: 100 m plus both positions' uncertainties.
    public var limitMeters: Double
    public var timeGapSeconds: Double
    public var itemRelation: ItemRelation
    public var textScore: Double

    public init(caseId: String, reason: Reason, distanceMeters: Double?, limitMeters: Double, timeGapSeconds: Double, itemRelation: ItemRelation, textScore: Double) {
        self.caseId = caseId
        self.reason = reason
        self.distanceMeters = distanceMeters
        self.limitMeters = limitMeters
        self.timeGapSeconds = timeGapSeconds
        self.itemRelation = itemRelation
        self.textScore = textScore
    }

    enum CodingKeys: String, CodingKey { case caseId, reason, distanceMeters, limitMeters, timeGapSeconds, itemRelation, textScore }

    /// Strict decoding: unknown keys and out-of-range numbers are errors.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        caseId = try c.decode(String.self, forKey: .caseId, satisfying: FieldCheck.isRecordId, "a case id")
        reason = try c.decode(Reason.self, forKey: .reason)
        distanceMeters = try c.decodeIfPresent(Double.self, forKey: .distanceMeters, in: 0...Double.greatestFiniteMagnitude)
        limitMeters = try c.decode(Double.self, forKey: .limitMeters, in: 0...Double.greatestFiniteMagnitude)
        timeGapSeconds = try c.decode(Double.self, forKey: .timeGapSeconds, in: 0...Double.greatestFiniteMagnitude)
        itemRelation = try c.decode(ItemRelation.self, forKey: .itemRelation)
        textScore = try c.decode(Double.self, forKey: .textScore, in: 0...1)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(caseId, forKey: .caseId)
        try c.encode(reason, forKey: .reason)
        try c.encodeNullable(distanceMeters, forKey: .distanceMeters)
        try c.encode(limitMeters, forKey: .limitMeters)
        try c.encode(timeGapSeconds, forKey: .timeGapSeconds)
        try c.encode(itemRelation, forKey: .itemRelation)
        try c.encode(textScore, forKey: .textScore)
    }
}

/// One change of a case's status.
public struct CaseHistoryEntry: Sendable, Hashable, Codable {
    /// When it happened.
    public var at: Date
    /// What happened.
    public var event: CaseEventKind
    /// The status before, `nil` for the opening entry.
    public var from: CaseStatus?
    /// The status after.
    public var to: CaseStatus
    /// The department dispatched to, for dispatch and escalate.
    public var department: String?
    /// The level dispatched at, for dispatch and escalate.
    public var level: Level?
    /// The dispatch concerned, for dispatches and feedback.
    public var dispatchId: String?
    /// The note of the feedback or survey, if any.
    public var note: String?
    /// The command of the command centre that caused it, if one did. Written only when present.
    public var commandId: String?
    /// The due date it set (dispatch, escalate, reroute, due). Written only when present.
    public var dueAt: Date?
    /// The citizen's answer, for the entry a survey caused. Written only when present.
    public var satisfaction: Satisfaction?

    /// A history entry.
    public init(at: Date, event: CaseEventKind, from: CaseStatus?, to: CaseStatus, department: String? = nil,
                level: Level? = nil, dispatchId: String? = nil, note: String? = nil) {
        self.at = at
        self.event = event
        self.from = from
        self.to = to
        self.department = department
        self.level = level
        self.dispatchId = dispatchId
        self.note = note
    }

    enum CodingKeys: String, CodingKey { case at, event, from, to, department, level, dispatchId, note, commandId, dueAt, satisfaction }

    /// Strict decoding: unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        at = try c.decode(Date.self, forKey: .at)
        event = try c.decode(CaseEventKind.self, forKey: .event)
        from = try c.decodeIfPresent(CaseStatus.self, forKey: .from)
        to = try c.decode(CaseStatus.self, forKey: .to)
        department = try c.decodeIfPresent(String.self, forKey: .department, satisfying: FieldCheck.isDepartmentCode, "a department code")
        level = try c.decodeIfPresent(Level.self, forKey: .level)
        dispatchId = try c.decodeIfPresent(String.self, forKey: .dispatchId, satisfying: FieldCheck.isRecordId, "a dispatch id")
        note = try c.decodeIfPresent(String.self, forKey: .note)
        commandId = try c.decodeIfPresent(String.self, forKey: .commandId, satisfying: FieldCheck.isRecordId, "a command id")
        dueAt = try c.decodeIfPresent(Date.self, forKey: .dueAt)
        satisfaction = try c.decodeIfPresent(Satisfaction.self, forKey: .satisfaction)
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(at, forKey: .at)
        try c.encode(event, forKey: .event)
        try c.encodeNullable(from, forKey: .from)
        try c.encode(to, forKey: .to)
        try c.encodeNullable(department, forKey: .department)
        try c.encodeNullable(level, forKey: .level)
        try c.encodeNullable(dispatchId, forKey: .dispatchId)
        try c.encodeNullable(note, forKey: .note)
        try c.encodeIfPresent(commandId, forKey: .commandId)
        try c.encodeIfPresent(dueAt, forKey: .dueAt)
        try c.encodeIfPresent(satisfaction, forKey: .satisfaction)
    }
}
