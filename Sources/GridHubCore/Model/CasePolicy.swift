import Foundation

/// The closed loop's rules for one case, without storage: given a case and what happened to it (a
/// department's feedback, a citizen's survey, a deadline), what must be done — which status events to
/// apply, whether to dispatch again and why, who hears of it and with what note. The router
/// (`CaseWork`) reads the case, carries the plan out, stores and publishes; every rule is here and
/// tested without a broker or a database (`docs/architecture.md`: a case rule goes here).
public struct CasePolicy: Sendable {
    public let rules: RoutingRules
    /// How long a resolved case waits for a complaint (a dissatisfied survey, the problem reported
    /// again) before it closes by itself. Sources without surveys (the app, 综治e通, enforcement) would
    /// otherwise leave it resolved for ever; a dissatisfied survey after closing still reopens it.
    public var quietPeriod: TimeInterval = 7 * 86_400
    /// Returns ("not ours") a case may take before the command centre's triage decides who handles it,
    /// instead of the next return candidate: no ping-pong between departments.
    public var maxReturns = 3
    /// The share of a dispatch's time after which the command centre gets an early warning (预警).
    public var warningShare = 0.8
    /// Departments' names by code, for the notes and alerts people read (a code without a name is
    /// shown as it is).
    public var departmentNames: [String: String] = [:]

    public init(rules: RoutingRules, departmentNames: [String: String] = [:]) {
        self.rules = rules
        self.departmentNames = departmentNames
    }

    /// The department as a note names it.
    func name(ofDepartment code: String?) -> String {
        guard let code else { return "未定部门" }
        return departmentNames[code] ?? code
    }

    /// A time as a note gives it, in China Standard Time: `12月7日09:05`.
    static func noteTime(_ date: Date) -> String {
        let parts = noteCalendar.dateComponents([.month, .day, .hour, .minute], from: date)
        func twoDigits(_ n: Int?) -> String { n.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        return "\(parts.month ?? 0)月\(parts.day ?? 0)日\(twoDigits(parts.hour)):\(twoDigits(parts.minute))"
    }

    private static let noteCalendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 8 * 3600)!
        return calendar
    }()

    /// The note of a case the command centre's triage returned: not the grid's to handle.
    public static let givenBackNote = "经指挥中心裁定，不属于网格化受理范围，予以退回"

    /// The note of a case closed after its quiet period.
    public static let quietCloseNote = "办结后无异议，自动结案"

    /// When the case's timer should next fire: the deadline of the dispatch being worked on, the end of
    /// the quiet period of a resolved case (from `resolvedAt`), or never.
    public func timer(for c: Case, resolvedAt: Date?) -> Date? {
        if isHandledBySource(c), [.dispatched, .accepted, .inProgress].contains(c.status) { return nil }
        return switch c.status {
        case .dispatched, .accepted, .inProgress: warningTime(of: c) ?? c.dueAt
        case .resolved: resolvedAt.map { $0.addingTimeInterval(quietPeriod) }
        case .open, .closed, .reopened, .returned: nil
        }
    }

    /// When the command centre is to be warned about the case's current dispatch (its issue time plus
    /// ``warningShare`` of its time), or nil when it was warned already or has no deadline.
    public func warningTime(of c: Case) -> Date? {
        guard let due = c.dueAt, let current = c.currentDispatchId,
              let issued = c.history.last(where: { $0.dispatchId == current && [.dispatch, .escalate, .reroute].contains($0.event) })?.at,
              !c.history.contains(where: { $0.event == .warn && $0.dispatchId == current }) else { return nil }
        let at = issued.addingTimeInterval(due.timeIntervalSince(issued) * warningShare)
        return at < due ? at : nil
    }

    /// An alert the plan raises for the command centre.
    public struct AlertNotice: Sendable, Hashable {
        public var kind: Alert.Kind
        public var message: String
    }

    /// Which reports of a case hear of a change.
    public enum Audience: Sendable, Hashable {
        /// Every report whose source has not withdrawn it: the case's status, department or note
        /// changed for all of them.
        case everyone
        /// Only this report (by incident id): the change was about it alone (it joined the case, or its
        /// source sent a new version). Telling every report of every merge made n(n+1)/2 statuses.
        case only(String)
        /// No report: the command centre's internal work (督办, a new due date).
        case nobody

        /// Whether the report `incidentId` hears of the change.
        public func includes(_ incidentId: String) -> Bool {
            switch self {
            case .everyone: true
            case .only(let id): id == incidentId
            case .nobody: false
            }
        }
    }

    /// A dispatch the plan asks for: where to, and why.
    public struct NextDispatch: Sendable, Hashable {
        public var route: RouteDecision
        public var reason: Dispatch.Reason
        /// Sent on the department's topic; false for a case its source handles itself (recorded, not sent).
        public var publish = true
        /// Due at the latest then (a source's own time limit, 12345 `BLSX`), if that is earlier than the
        /// route's time limit from now.
        public var dueBy: Date? = nil

        /// The dispatch's due date when issued at `now`: the stricter of the route's limit and ``dueBy``.
        public func dueAt(issuedAt now: Date) -> Date {
            let byRoute = now.addingTimeInterval(route.timeLimit)
            return dueBy.map { min($0, byRoute) } ?? byRoute
        }
    }

    /// What to do about one event on a case.
    public struct Plan: Sendable, Hashable {
        /// How the event was taken.
        public enum Outcome: Sendable, Hashable {
            /// Carried out.
            case applied
            /// The same answer again (a redelivery): nothing to do.
            case repeated
            /// An answer to a dispatch the case has moved on from. `applied` when it was the same
            /// department's earlier dispatch (escalated or reopened since): applied to the current one.
            case superseded(applied: Bool)
            /// Not possible in the case's state: the reason (the record is dead-lettered).
            case refused(String)
        }

        public var outcome: Outcome
        /// Status events to apply, in order.
        public var events: [CaseEvent] = []
        /// A dispatch to issue after them.
        public var dispatch: NextDispatch? = nil
        /// The note for the sources (nil: the words of the case's new status).
        public var note: String? = nil
        /// Stop watching the case's deadline (nothing more can be escalated).
        public var stopWatchingDeadline = false
        /// Who hears of it.
        public var audience: Audience = .everyone
        /// After the dispatch, the department is already at work (`start`): a case its source handles.
        public var startsWork = false
        /// Send the department its current dispatch again, as a new revision with the case as it is now.
        public var updatesDispatch = false
        /// Before the events, send the department its current dispatch again, withdrawn (stop work).
        public var withdrawsDispatch = false
        /// Alerts for the command centre (`gridhub.alerts.v1`).
        public var alerts: [AlertNotice] = []
        /// The case takes this item (it had none): a report merged into it said what the problem is.
        public var classifiesAs: String? = nil

        /// Nothing to do.
        public var isEmpty: Bool { events.isEmpty && dispatch == nil && !stopWatchingDeadline }

        static func nothing(_ outcome: Outcome) -> Plan { Plan(outcome: outcome) }
    }

    // MARK: - Reports

    /// A report opens a case. Solved on the spot: closed at once. From a source that handles its own
    /// reports (`handledBySource`): recorded as in progress at that source's department, not sent to
    /// it. Otherwise routed and dispatched.
    public func opened(by incident: Incident, case c: Case) -> Plan {
        if incident.resolvedOnSite {
            let note = incident.resolution.map(PersonalDataMasking.maskPhoneNumbers(in:))
            return Plan(outcome: .applied, events: [.closeOnArrival(note: note)], note: note ?? "现场已处置")
        }
        let route = rules.route(itemCode: incident.itemCode, gridCode: c.gridCode, urgent: incident.urgent)
        if let department = rules.handledBySource[incident.source.system] {
            let own = RouteDecision(department: department, level: route.triage ? .town : route.level, timeLimit: route.timeLimit, triage: false)
            return Plan(outcome: .applied, dispatch: NextDispatch(route: own, reason: .initial, publish: false), note: Self.handledBySourceNote,
                        startsWork: true)
        }
        return Plan(outcome: .applied, dispatch: NextDispatch(route: route, reason: .initial, dueBy: sourceDeadline(of: incident)))
    }

    /// The deadline the source set itself (12345 `BLSX`: working days after the day of the call), if any.
    public func sourceDeadline(of incident: Incident) -> Date? {
        incident.source.timeLimitWorkingDays.map { rules.calendar.deadline(workingDays: $0, after: incident.reportedAt) }
    }

    /// The note of a case its source handles itself.
    public static let handledBySourceNote = "来源单位自行办理中"

    /// Whether the case is its source's own work (opened by a source in `handledBySource` and still
    /// with the department it was recorded under): its deadline is the source's, not watched here.
    public func isHandledBySource(_ c: Case) -> Bool {
        guard let opener = c.reports.first, let department = rules.handledBySource[opener.system] else { return false }
        return c.dispatchCount == 1 && c.department == department
    }

    /// A report joins the case (it matched it in place, time and item). It is told so, and nobody else
    /// hears of it; but a report made after the case was resolved or closed says the problem is back: the
    /// case is reopened and sent again to the department and level that had it, and every source hears it.
    public func merged(_ incident: Incident, into c: Case) -> Plan {
        let settled = c.history.last { $0.to == .resolved || $0.to == .closed }?.at
        if c.status == .resolved || c.status == .closed, let settled, incident.reportedAt > settled {
            return Plan(outcome: .applied, events: [.reopen(note: Self.recurrenceNote)], dispatch: sameHandler(of: c, reason: .reopened),
                        note: Self.recurrenceNote, alerts: [AlertNotice(kind: .reopened, message: Self.recurrenceNote)])
        }
        if c.itemCode == nil, let item = incident.itemCode, c.status == .dispatched, c.department == rules.triageDepartment,
           case let route = rules.route(itemCode: item, gridCode: c.gridCode, urgent: c.urgent || incident.urgent), !route.triage {
            // A case nobody could classify, not yet taken up by the command centre, and a report of the same
            // problem that says what it is: the case takes its item and goes where that item goes.
            var plan = Plan(outcome: .applied, dispatch: NextDispatch(route: route, reason: .rerouted), note: Self.classifiedNote)
            plan.classifiesAs = item
            return plan
        }
        if [.dispatched, .accepted, .inProgress].contains(c.status), !isHandledBySource(c), let due = c.dueAt,
           let stricter = sourceDeadline(of: incident), stricter < due {
            // A 12345 order with a shorter BLSX joins a case being worked on: its deadline becomes the
            // case's, and the department gets its dispatch again with it.
            return Plan(outcome: .applied, events: [.due(dueAt: stricter)], note: Self.earlierDueNote, audience: .only(incident.incidentId),
                        updatesDispatch: true)
        }
        if c.status == .returned {
            // Given back by the command centre: the new report hears the same answer as the others.
            let reason = c.history.last { $0.event == .return }?.note
            return Plan(outcome: .applied, note: Self.givenBackNote + (reason.map { "：\($0)" } ?? ""), audience: .only(incident.incidentId))
        }
        return Plan(outcome: .applied, note: "与同一问题的其他来源报告合并", audience: .only(incident.incidentId))
    }

    /// A source closed its own record of the problem in a later version (the enforcement system's
    /// 结案): the problem is solved, so the case being worked on is resolved with the source's result and
    /// closed, and every source hears it. Otherwise only that report hears of its new version.
    public func sourceClosed(_ incident: Incident, case c: Case) -> Plan {
        let note = incident.resolution.map(PersonalDataMasking.maskPhoneNumbers(in:)) ?? "来源已办结"
        var events: [CaseEvent] = []
        switch c.status {
        case .dispatched, .accepted, .inProgress:
            if let current = c.currentDispatchId { events = [.resolve(dispatchId: current, note: note), .close(note: note)] }
        case .resolved:
            events = [.close(note: note)]
        case .open, .reopened, .closed, .returned:
            break
        }
        var trial = c
        guard !events.isEmpty, (try? events.forEach { try trial.apply($0, at: incident.receivedAt) }) != nil else {
            return Plan(outcome: .applied, note: "来源记录已更新", audience: .only(incident.incidentId))
        }
        return Plan(outcome: .applied, events: events, note: note)
    }

    /// A source sent a new version of a report of the case (a 12345 supplement, an edited app report, the
    /// enforcement case moving on), neither withdrawing nor closing it. While a department works on the
    /// case, it gets its dispatch again (same id, a higher revision) with what changed; the report's
    /// source is told it was taken in, the other sources hear nothing new.
    ///
    /// `itemChanged`: the new version of the report that opened the case names another item (the case
    /// took it). When that item belongs to another department, the case moves there (``NextDispatch``
    /// with reason `rerouted`; the old department's dispatch is withdrawn) and every source hears it.
    public func newVersion(_ incident: Incident, of c: Case, itemChanged: Bool = false) -> Plan {
        var plan = Plan(outcome: .applied, note: "来源记录已更新", audience: .only(incident.incidentId))
        if [.dispatched, .accepted, .inProgress].contains(c.status), !isHandledBySource(c) {
            if itemChanged {
                let route = rules.route(itemCode: c.itemCode, gridCode: c.gridCode, urgent: c.urgent)
                if !route.triage, route.department != c.department {
                    return Plan(outcome: .applied, dispatch: NextDispatch(route: route, reason: .rerouted, dueBy: sourceDeadline(of: incident)),
                                note: Self.reroutedNote)
                }
            }
            plan.updatesDispatch = true
            plan.note = "来源补充了报告内容，已更新派单"
        }
        return plan
    }

    /// The note for a report whose source's time limit brought the case's due date forward.
    public static let earlierDueNote = "与同一问题的其他来源报告合并，按本来源办理时限提前办理期限"

    /// The note of a case moved to another department after its source corrected the report.
    public static let reroutedNote = "来源更正了问题类别，已改派相应部门"

    /// The note of a recurrence, for the sources and the case's history.
    public static let recurrenceNote = "同一问题再次被报告，已重新办理"

    /// A dispatch to the department and level that last had the case (the item's route when none did).
    func sameHandler(of c: Case, reason: Dispatch.Reason) -> NextDispatch {
        let base = rules.route(itemCode: c.itemCode, gridCode: c.gridCode, urgent: c.urgent)
        return NextDispatch(route: RouteDecision(department: c.department ?? base.department, level: c.level ?? base.level,
                                                 timeLimit: base.timeLimit, triage: base.triage), reason: reason)
    }

    // MARK: - Departments' feedback

    /// A department's answer on one of the case's dispatches (the router has checked that the answered
    /// dispatch went to that department). An answer on a dispatch the case has moved on from is never
    /// refused: the same department's (escalated or reopened since) applies to the current dispatch,
    /// another department's (the case went elsewhere) changes nothing.
    public func feedback(_ feedback: Feedback, on c: Case, at time: Date) -> Plan {
        var event = feedback.caseEvent
        var superseded = false
        if let current = c.currentDispatchId, current != feedback.dispatchId {
            // The department acted on the case, not on a record: never a dead letter.
            guard c.department == feedback.department else { return .nothing(.superseded(applied: false)) }
            event = .feedback(feedback.status, dispatchId: current, note: feedback.note)
            superseded = true
        }
        var trial = c
        do {
            try trial.apply(event, at: time)
        } catch {
            if error.isRepeat { return .nothing(.repeated) }
            // An old dispatch's answer that the case has gone past (its "accepted" arriving after the
            // current dispatch was resolved): history, not an error of the department's system.
            if superseded { return .nothing(.superseded(applied: false)) }
            // An answer that crossed the case's closing (every report withdrawn, closed by the command
            // centre): the department was sent the withdrawal; its answer is history, not an error.
            if c.status == .closed { return .nothing(.superseded(applied: false)) }
            return .nothing(.refused("feedback '\(feedback.status.rawValue)' does not fit case \(c.caseId): \(error.description)"))
        }
        var plan = Plan(outcome: superseded ? .superseded(applied: true) : .applied, events: [event], note: feedback.note)
        if feedback.status == .returned && feedback.department == rules.triageDepartment {
            // The command centre, which decides where cases go, says it is nobody's here: the case stays
            // returned (given back), its deadline no longer watched, and every source is told why.
            plan.note = Self.givenBackNote + (feedback.note.map { "：\($0)" } ?? "")
            plan.stopWatchingDeadline = true
        } else if feedback.status == .returned {
            var tried = Set(c.history.compactMap(\.department))
            tried.insert(feedback.department)
            let returns = c.history.filter { $0.event == .return }.count + 1
            let route = returns >= maxReturns
                ? rules.route(itemCode: nil, gridCode: nil, urgent: c.urgent)   // triage: the command centre decides
                : rules.reroute(returnedBy: feedback.department, tried: tried, itemCode: c.itemCode, gridCode: c.gridCode, urgent: c.urgent)
            plan.dispatch = NextDispatch(route: route, reason: .returned)
            if returns >= 2 {
                plan.alerts = [AlertNotice(kind: .returnedRepeatedly, message: "第\(returns)次被退回（\(name(ofDepartment: feedback.department))）" + (feedback.note.map { "：\($0)" } ?? ""))]
            }
            if route.triage && returns >= maxReturns {
                plan.note = "已被退回\(returns)次，交指挥中心裁定" + (feedback.note.map { "（\($0)）" } ?? "")
            }
        }
        return plan
    }

    // MARK: - The command centre's commands

    /// A command of the command centre (the router has checked that it comes from it). Each is checked
    /// against the case's state and refused with the reason when it does not fit.
    public func command(_ command: Command, on c: Case, at time: Date) -> Plan {
        let working: Set<CaseStatus> = [.dispatched, .accepted, .inProgress]
        func refuse(_ why: String) -> Plan { .nothing(.refused("command \(command.action.rawValue) on case \(c.caseId) refused: \(why)")) }
        switch command.action {
        case .assign, .reassign:
            guard let department = command.department else { return refuse("it names no department") }
            guard rules.departments.contains(department) else { return refuse("\(department) is not a department of departments.csv") }
            let atTriage = working.contains(c.status) && c.department == rules.triageDepartment
            if command.action == .assign {
                guard [.open, .returned].contains(c.status) || atTriage else {
                    return refuse("the case is \(c.status.rawValue) at \(c.department ?? "no department"); assign is for a case nobody could route, reassign moves one a department works on")
                }
            } else {
                guard working.contains(c.status) else { return refuse("the case is \(c.status.rawValue); reassign moves a case a department works on") }
            }
            guard !(working.contains(c.status) && c.department == department) else { return refuse("the case is already with \(department)") }
            let base = rules.route(itemCode: c.itemCode, gridCode: c.gridCode, urgent: c.urgent)
            let route = RouteDecision(department: department, level: base.triage ? .town : base.level, timeLimit: base.timeLimit,
                                      triage: department == rules.triageDepartment)
            return Plan(outcome: .applied, dispatch: NextDispatch(route: route, reason: .assigned),
                        note: Self.assignedNote + (command.message.map { "：\($0)" } ?? ""))
        case .supervise:
            guard let message = command.message, !message.isEmpty else { return refuse("it has no message") }
            guard working.contains(c.status) else { return refuse("the case is \(c.status.rawValue): only a case a department works on can be pressed") }
            return Plan(outcome: .applied, events: [.supervise(note: message)], audience: .nobody, updatesDispatch: true,
                        alerts: [AlertNotice(kind: .supervised, message: message)])
        case .due:
            guard let due = command.dueAt else { return refuse("it has no due date") }
            guard due > time else { return refuse("the due date \(RFC3339.format(due)) has passed") }
            guard working.contains(c.status) else { return refuse("the case is \(c.status.rawValue): only a case a department works on has a due date") }
            return Plan(outcome: .applied, events: [.due(dueAt: due)], audience: .nobody, updatesDispatch: true)
        case .close:
            guard let reason = command.message, !reason.isEmpty else { return refuse("it gives no reason") }
            guard c.status != .closed else { return refuse("the case is closed already") }
            return Plan(outcome: .applied, events: [.closeByCommand(note: reason)], note: Self.closedByCommandNote + "：" + reason,
                        stopWatchingDeadline: true, withdrawsDispatch: working.contains(c.status))
        }
    }

    /// The note for the sources of an unclassified case that a merged report classified.
    public static let classifiedNote = "已按同一问题其他来源报告的事项转交责任部门办理"

    /// The note for the sources of a case the command centre assigned.
    public static let assignedNote = "指挥中心已指派办理"
    /// The note for the sources of a case the command centre closed.
    public static let closedByCommandNote = "指挥中心决定结案"

    // MARK: - Citizens' surveys

    /// A citizen's satisfaction survey: satisfied closes the case; dissatisfied reopens it and sends it
    /// again to the department and level that last had it. The same answer again (same report, same
    /// time of answer) is a repeat. Any other answer about a resolution that cannot close or reopen the
    /// case any more (another report's complaint reopened it, or it is closed already) is recorded
    /// (``CaseEvent/rate(note:)``) and changes nothing else.
    public func survey(_ survey: Survey, on c: Case, at time: Date) -> Plan {
        if let report = c.reports.first(where: { $0.incidentId == survey.incidentId }), report.surveyedAt == survey.at {
            return .nothing(.repeated)
        }
        var trial = c
        do {
            try trial.apply(survey.caseEvent, at: time)
        } catch {
            if c.history.contains(where: { $0.event == .resolve }), CaseTransitions.next(after: c.status, on: .rate) != nil {
                return Plan(outcome: .applied, events: [.rate(note: survey.note)], audience: .nobody)
            }
            if error.isRepeat { return .nothing(.repeated) }
            return .nothing(.refused("survey '\(survey.satisfaction.rawValue)' does not fit case \(c.caseId): \(error.description)"))
        }
        var plan = Plan(outcome: .applied, events: [survey.caseEvent], note: survey.note)
        if survey.satisfaction == .dissatisfied {
            plan.dispatch = sameHandler(of: c, reason: .reopened)
            plan.alerts = [AlertNotice(kind: .reopened, message: "市民不满意，重新办理" + (survey.note.map { "：\($0)" } ?? ""))]
        }
        return plan
    }

    // MARK: - Deadlines

    /// The case's timer has fired (`due` ≤ `now`): before the deadline, the early warning (once per
    /// dispatch, alert only); at it, a case being worked on is overdue (督办 alert) and escalated one level
    /// below city level (alert), else the timer stops; a resolved case whose quiet period is over closes.
    /// Nothing when it is not due yet.
    public func deadline(_ due: Date, on c: Case, now: Date) -> Plan {
        guard due <= now else { return .nothing(.applied) }
        // The early warning before the deadline: the command centre hears it, the status stays.
        if [.dispatched, .accepted, .inProgress].contains(c.status), let warning = warningTime(of: c), warning <= now,
           let deadline = c.dueAt, now < deadline {
            let message = "已用时限\(Int(warningShare * 100))%，\(Self.noteTime(deadline))到期，\(name(ofDepartment: c.department))尚未办结"
            return Plan(outcome: .applied, events: [.warn(note: message)], audience: .nobody, alerts: [AlertNotice(kind: .earlyWarning, message: message)])
        }
        if c.status == .resolved {
            return Plan(outcome: .applied, events: [.close(note: Self.quietCloseNote)], note: Self.quietCloseNote)
        }
        let overdue = AlertNotice(kind: .overdue, message: "逾期未办结（督办）：\(name(ofDepartment: c.department))，\(c.level?.nameZh ?? "未定层级")")
        guard [.dispatched, .accepted, .inProgress].contains(c.status),
              let level = c.level, let next = level.higher, let department = c.department else {
            var plan = Plan.nothing(.applied)
            plan.stopWatchingDeadline = true
            if [.dispatched, .accepted, .inProgress].contains(c.status) { plan.alerts = [overdue] }
            return plan
        }
        let route = RouteDecision(department: department, level: next, timeLimit: rules.escalationLimit(to: next), triage: false)
        let note = "逾期未办结，升级至\(next.nameZh)"
        return Plan(outcome: .applied, dispatch: NextDispatch(route: route, reason: .escalated), note: note,
                    alerts: [overdue, AlertNotice(kind: .escalated, message: note)])
    }
}
