import Foundation
import Testing
@testable import GridHubCore

/// The closed loop's rules for one case (CasePolicy): what the router must do about each answer,
/// survey and deadline, checked without a broker or a database.
@Suite("Case policy")
struct CasePolicyTests {
    static let rules: RoutingRules = {
        let text = (try? String(contentsOf: ReferenceTestData.packageRoot.appendingPathComponent("Deploy/routing.json"), encoding: .utf8)) ?? ""
        return try! RoutingRules(text: text, reference: ReferenceTestData.data)
    }()
    let policy = CasePolicy(rules: CasePolicyTests.rules)

    /// A case dispatched to urban management at village level as `D1`, then through `events`.
    func dispatched(_ events: [CaseEvent] = []) throws -> Case {
        let incident = try #require(ModelFixtures.incidents(count: 1).first)
        var value = Case(caseId: "C-1", openedBy: incident, at: ModelFixtures.time())
        try value.apply(ModelFixtures.dispatch(1), at: ModelFixtures.time(1))
        for event in events { try value.apply(event, at: ModelFixtures.time(2)) }
        return value
    }

    func answer(_ status: FeedbackStatus, on dispatchId: String = "D1", from department: String = "urban-mgmt", note: String? = nil) -> Feedback {
        Feedback(dispatchId: dispatchId, department: department, status: status, note: note, at: ModelFixtures.time(5))
    }

    @Test("an answer on the current dispatch is applied as its status event, with the department's note for the sources")
    func currentAnswer() throws {
        for (status, event) in [(FeedbackStatus.accepted, CaseEvent.accept(dispatchId: "D1")), (.inProgress, .start(dispatchId: "D1")),
                                (.resolved, .resolve(dispatchId: "D1", note: "已清理"))] {
            let plan = policy.feedback(answer(status, note: status == .resolved ? "已清理" : nil), on: try dispatched(), at: ModelFixtures.time(5))
            #expect(plan.outcome == .applied)
            #expect(plan.events == [event])
            #expect(plan.dispatch == nil)
        }
        let resolved = policy.feedback(answer(.resolved, note: "已清理"), on: try dispatched(), at: ModelFixtures.time(5))
        #expect(resolved.note == "已清理")
    }

    @Test("a return is applied and the case goes to the first return candidate not tried yet (Deploy/routing.json: urban-mgmt → env)")
    func returned() throws {
        let plan = policy.feedback(answer(.returned, note: "不属于我部门"), on: try dispatched(), at: ModelFixtures.time(5))
        #expect(plan.outcome == .applied)
        #expect(plan.events == [.return(dispatchId: "D1", note: "不属于我部门")])
        #expect(plan.dispatch?.reason == .returned)
        #expect(plan.dispatch?.route.department == "env")
    }

    @Test("the third return in a case goes to the command centre's triage instead of a fourth department, and the sources are told why")
    func returnLimit() throws {
        var value = try dispatched()
        var departments: [String] = []
        for attempt in 1...3 {
            let department = value.department!
            departments.append(department)
            let plan = policy.feedback(answer(.returned, on: "D\(attempt)", from: department, note: "不属于我部门"), on: value, at: ModelFixtures.time(5))
            let next = try #require(plan.dispatch)
            for event in plan.events { try value.apply(event, at: ModelFixtures.time(Double(10 * attempt))) }
            try value.apply(.dispatch(department: next.route.department, level: next.route.level, dispatchId: "D\(attempt + 1)", dueAt: ModelFixtures.time(9_000)),
                            at: ModelFixtures.time(Double(10 * attempt + 1)))
            if attempt < 3 {
                #expect(!next.route.triage && !departments.contains(next.route.department), "return \(attempt) went to \(next.route.department)")
            } else {
                #expect(next.route.triage && next.route.department == "command-center")
                #expect(plan.note == "已被退回3次，交指挥中心裁定（不属于我部门）")
            }
        }
    }

    @Test("the command centre's triage returning a case gives it back: returned, no next dispatch, the deadline no longer watched, every source told why; a report joining it later hears the same; the command centre may still dispatch it")
    func givenBack() throws {
        var value = try dispatched([.return(dispatchId: "D1", note: "不属于我部门"),
                                    .dispatch(department: "command-center", level: .city, dispatchId: "D2", dueAt: ModelFixtures.time(9_000))])
        let plan = policy.feedback(answer(.returned, on: "D2", from: "command-center", note: "属私人物业内部纠纷"), on: value, at: ModelFixtures.time(5))
        #expect(plan.outcome == .applied && plan.dispatch == nil && plan.stopWatchingDeadline && plan.audience == .everyone)
        #expect(plan.note == "经指挥中心裁定，不属于网格化受理范围，予以退回：属私人物业内部纠纷")
        for event in plan.events { try value.apply(event, at: ModelFixtures.time(6)) }
        #expect(value.status == .returned && value.dueAt == nil && policy.timer(for: value, resolvedAt: nil) == nil)
        let late = try #require(ModelFixtures.incidents(count: 2).last)
        let joined = policy.merged(late, into: value)
        #expect(joined.events.isEmpty && joined.dispatch == nil && joined.audience == .only(late.incidentId))
        #expect(joined.note == "经指挥中心裁定，不属于网格化受理范围，予以退回：属私人物业内部纠纷")
        try value.apply(.dispatch(department: "urban-mgmt", level: .town, dispatchId: "D3", dueAt: ModelFixtures.time(9_000)), at: ModelFixtures.time(7))
        #expect(value.status == .dispatched)
        // 12345 hears 退回 with the reason; the app's citizen a rejection; enforcement 已退回.
        let status = StatusUpdate(system: .hotline12345, recordId: "JY-1", caseId: "C-1", caseVersion: 3, status: .returned, department: "command-center",
                                  note: plan.note, at: ModelFixtures.time(6))
        let report = try #require(Hotline12345.Report(status: status, departmentName: "市综合管理服务指挥中心"))
        #expect(report.state == "退回" && report.result == plan.note)
        var bare = status
        bare.note = nil
        #expect(Hotline12345.Report(status: bare, departmentName: nil)?.result == Hotline12345.Report.defaultReturnResult)
        #expect(Woodpecker.reply(status, departmentName: "市综合管理服务指挥中心")?["state"] as? String == "rejected")
        #expect(Enforcement.StatusLine(status: status, departmentName: "指挥中心").state == "已退回")
    }

    @Test("the command centre's commands: each applied where it fits the case's state, refused with the reason where it does not")
    func commands() throws {
        func command(_ action: Command.Action, department: String? = nil, message: String? = nil, dueAt: Date? = nil) -> Command {
            Command(commandId: "K-1", caseId: "C-1", action: action, department: department, message: message, dueAt: dueAt, issuedBy: "zhihui-li", at: ModelFixtures.time(5))
        }
        func refused(_ plan: CasePolicy.Plan, _ words: String) -> Bool {
            if case .refused(let reason) = plan.outcome { return reason.contains(words) } else { return false }
        }
        let working = try dispatched()
        // Reassign moves a case a department works on; the old dispatch is withdrawn by the reroute.
        let moved = policy.command(command(.reassign, department: "env"), on: working, at: ModelFixtures.time(5))
        #expect(moved.outcome == .applied && moved.dispatch?.reason == .assigned && moved.dispatch?.route.department == "env")
        #expect(refused(policy.command(command(.reassign, department: "urban-mgmt"), on: working, at: ModelFixtures.time(5)), "already with urban-mgmt"))
        #expect(refused(policy.command(command(.reassign, department: "nobody"), on: working, at: ModelFixtures.time(5)), "not a department"))
        #expect(refused(policy.command(command(.reassign), on: working, at: ModelFixtures.time(5)), "names no department"))
        // Assign is for cases nobody could route: not for one a department works on.
        #expect(refused(policy.command(command(.assign, department: "env"), on: working, at: ModelFixtures.time(5)), "reassign moves"))
        var triage = try dispatched([.return(dispatchId: "D1", note: nil), .dispatch(department: "command-center", level: .city, dispatchId: "D2", dueAt: ModelFixtures.time(9_000))])
        #expect(policy.command(command(.assign, department: "housing"), on: triage, at: ModelFixtures.time(5)).dispatch?.route.department == "housing")
        for event in policy.feedback(answer(.returned, on: "D2", from: "command-center", note: "民事纠纷"), on: triage, at: ModelFixtures.time(6)).events {
            try triage.apply(event, at: ModelFixtures.time(6))
        }
        #expect(triage.status == .returned)
        #expect(policy.command(command(.assign, department: "justice"), on: triage, at: ModelFixtures.time(7)).dispatch?.route.department == "justice")
        // Supervise (督办) and due: the department gets its dispatch again; the sources hear nothing.
        let pressed = policy.command(command(.supervise, message: "已超期，请今日办结"), on: working, at: ModelFixtures.time(5))
        #expect(pressed.events == [.supervise(note: "已超期，请今日办结")] && pressed.updatesDispatch && pressed.audience == .nobody)
        #expect(refused(policy.command(command(.supervise), on: working, at: ModelFixtures.time(5)), "no message"))
        let due = policy.command(command(.due, dueAt: ModelFixtures.time(500)), on: working, at: ModelFixtures.time(5))
        #expect(due.events == [.due(dueAt: ModelFixtures.time(500))] && due.updatesDispatch)
        #expect(refused(policy.command(command(.due, dueAt: ModelFixtures.time(1)), on: working, at: ModelFixtures.time(5)), "has passed"))
        let resolved = try dispatched([.resolve(dispatchId: "D1", note: nil)])
        #expect(refused(policy.command(command(.due, dueAt: ModelFixtures.time(500)), on: resolved, at: ModelFixtures.time(5)), "is resolved"))
        // Close: from any state but closed, with a reason; a working department's dispatch is withdrawn.
        let close = policy.command(command(.close, message: "与另一工单重复"), on: working, at: ModelFixtures.time(5))
        #expect(close.events == [.closeByCommand(note: "与另一工单重复")] && close.withdrawsDispatch && close.stopWatchingDeadline)
        #expect(close.note == "指挥中心决定结案：与另一工单重复")
        #expect(!policy.command(command(.close, message: "已解决"), on: resolved, at: ModelFixtures.time(5)).withdrawsDispatch)
        #expect(refused(policy.command(command(.close), on: working, at: ModelFixtures.time(5)), "no reason"))
        var closed = working
        try closed.apply(.closeByCommand(note: "x"), at: ModelFixtures.time(6))
        #expect(refused(policy.command(command(.close, message: "再次"), on: closed, at: ModelFixtures.time(7)), "closed already"))
        // The history entries a command caused carry its id.
        let before = closed.history.count
        var supervised = try dispatched()
        try supervised.apply(.supervise(note: "请加快"), at: ModelFixtures.time(8))
        supervised.attribute(historyFrom: supervised.history.count - 1, toCommand: "K-9")
        #expect(supervised.history.last?.commandId == "K-9" && supervised.history.dropLast().allSatisfy { $0.commandId == nil } && before > 0)
    }

    @Test("the same answer twice is a repeat (nothing to do); an answer that does not fit the case's state is refused with the reason")
    func repeatedAndRefused() throws {
        let accepted = try dispatched([.accept(dispatchId: "D1")])
        #expect(policy.feedback(answer(.accepted), on: accepted, at: ModelFixtures.time(5)) == .init(outcome: .repeated))
        let resolved = try dispatched([.resolve(dispatchId: "D1", note: nil)])
        let refused = policy.feedback(answer(.accepted), on: resolved, at: ModelFixtures.time(5))
        guard case .refused(let reason) = refused.outcome else { Issue.record("\(refused)"); return }
        #expect(reason.contains("does not fit case C-1"))
        #expect(refused.isEmpty)
    }

    @Test("an answer on a dispatch the case has moved on from is never refused: the same department's applies to the current dispatch, another department's changes nothing")
    func superseded() throws {
        // Escalated to town level as D2: urban management answers on D1.
        let escalated = try dispatched([.escalate(department: "urban-mgmt", level: .town, dispatchId: "D2", dueAt: ModelFixtures.time(9_000))])
        let plan = policy.feedback(answer(.resolved, note: "已清运"), on: escalated, at: ModelFixtures.time(5))
        #expect(plan.outcome == .superseded(applied: true))
        #expect(plan.events == [.resolve(dispatchId: "D2", note: "已清运")])
        // Returned and sent to env as D2: urban management's late answer on D1 does nothing.
        let moved = try dispatched([.return(dispatchId: "D1", note: nil),
                                    .dispatch(department: "env", level: .village, dispatchId: "D2", dueAt: ModelFixtures.time(9_000))])
        let late = policy.feedback(answer(.resolved), on: moved, at: ModelFixtures.time(5))
        #expect(late.outcome == .superseded(applied: false))
        #expect(late.isEmpty)
        // Escalated as D2 and resolved there: urban management's "accepted" on D1, arriving after
        // (another partition), is history, not a dead letter (seen in a gridhub dev run).
        let resolvedAfterEscalation = try dispatched([.escalate(department: "urban-mgmt", level: .town, dispatchId: "D2", dueAt: ModelFixtures.time(9_000)),
                                                      .resolve(dispatchId: "D2", note: "已清运")])
        let stale = policy.feedback(answer(.accepted), on: resolvedAfterEscalation, at: ModelFixtures.time(5))
        #expect(stale.outcome == .superseded(applied: false) && stale.isEmpty)
        // The same answer on the current dispatch is still refused: that department's system is wrong.
        let current = policy.feedback(answer(.accepted, on: "D2"), on: resolvedAfterEscalation, at: ModelFixtures.time(5))
        if case .refused = current.outcome {} else { Issue.record("an 'accepted' on the resolved current dispatch was \(current.outcome)") }
    }

    @Test("a satisfied survey closes a resolved case; a dissatisfied one reopens it to the department and level that had it; a survey on an open case is refused")
    func surveys() throws {
        let resolved = try dispatched([.resolve(dispatchId: "D1", note: nil)])
        func survey(_ satisfaction: Satisfaction) -> Survey {
            Survey(system: .hotline12345, recordId: "JY-1", satisfaction: satisfaction, note: satisfaction == .dissatisfied ? "没有处理" : nil, at: ModelFixtures.time(9))
        }
        let satisfied = policy.survey(survey(.satisfied), on: resolved, at: ModelFixtures.time(9))
        #expect(satisfied.outcome == .applied && satisfied.dispatch == nil)
        var closed = resolved
        for event in satisfied.events { try closed.apply(event, at: ModelFixtures.time(9)) }
        #expect(closed.status == .closed)
        let dissatisfied = policy.survey(survey(.dissatisfied), on: resolved, at: ModelFixtures.time(9))
        #expect(dissatisfied.dispatch?.reason == .reopened)
        #expect(dissatisfied.dispatch?.route.department == "urban-mgmt" && dissatisfied.dispatch?.route.level == .village)
        #expect(dissatisfied.note == "没有处理")
        guard case .refused = policy.survey(survey(.satisfied), on: try dispatched(), at: ModelFixtures.time(9)).outcome else {
            Issue.record("a survey before the case was resolved was taken"); return
        }
    }

    @Test("an answer about a resolution that another report's complaint reopened, or about a closed case, is recorded (rate) and changes nothing else; the same answer again is a repeat; before any resolution it is still refused")
    func answersAfterAComplaint() throws {
        var c = try dispatched([.resolve(dispatchId: "D1", note: nil)])
        let first = try #require(c.reports.first)
        let incident = try #require(ModelFixtures.incidents(count: 2).last)
        c.merge(incident, match: MergeEvidence(distanceMeters: 10, timeGapSeconds: 60, itemRelation: .sameItem, textScore: 0.5), at: ModelFixtures.time(3))
        let unhappy = Survey(system: first.system, recordId: first.recordId, satisfaction: .dissatisfied, note: "没修好", at: ModelFixtures.time(9))
        let reopen = policy.survey(unhappy, on: c, at: ModelFixtures.time(9))
        #expect(reopen.dispatch?.reason == .reopened)
        for event in reopen.events { try c.apply(event, at: ModelFixtures.time(9)) }
        try c.apply(.dispatch(department: "urban-mgmt", level: .village, dispatchId: "D2", dueAt: ModelFixtures.time(99)), at: ModelFixtures.time(9))
        c.surveyed(report: first.incidentId, answeredAt: unhappy.at)

        // The other report's citizen is satisfied with the first resolution: recorded, nobody told, no dispatch.
        let happy = Survey(system: incident.source.system, recordId: incident.source.recordId, satisfaction: .satisfied, note: nil, at: ModelFixtures.time(10))
        let rate = policy.survey(happy, on: c, at: ModelFixtures.time(10))
        #expect(rate.outcome == .applied && rate.events == [.rate(note: nil)] && rate.dispatch == nil && rate.alerts.isEmpty && rate.audience == .nobody)
        var rated = c
        for event in rate.events { try rated.apply(event, at: ModelFixtures.time(10)) }
        #expect(rated.status == .dispatched && rated.currentDispatchId == "D2" && rated.dueAt == c.dueAt)
        // The complaint sent again: a repeat, not a second reopening nor a dead letter.
        #expect(policy.survey(unhappy, on: c, at: ModelFixtures.time(11)).outcome == .repeated)

        // A closed case: a later answer is recorded too.
        var closed = try dispatched([.resolve(dispatchId: "D1", note: nil), .close(note: nil)])
        let late = policy.survey(Survey(system: .woodpecker, recordId: "WP-77", satisfaction: .satisfied, note: "很好", at: ModelFixtures.time(12)), on: closed, at: ModelFixtures.time(12))
        #expect(late.events == [.rate(note: "很好")])
        for event in late.events { try closed.apply(event, at: ModelFixtures.time(12)) }
        #expect(closed.status == .closed && closed.history.last?.event == .rate)
        // Never resolved: still refused, as before.
        guard case .refused = policy.survey(happy, on: try dispatched(), at: ModelFixtures.time(9)).outcome else {
            Issue.record("a survey before any resolution was taken"); return
        }
    }

    @Test("a passed deadline escalates village → town → city while the case is worked on; at city level, or once resolved, only the watching stops; not yet due: nothing")
    func deadlines() throws {
        let value = try dispatched()
        let due = ModelFixtures.time(100)
        #expect(policy.deadline(due, on: value, now: ModelFixtures.time(50)).isEmpty)
        let village = policy.deadline(due, on: value, now: ModelFixtures.time(200))
        #expect(village.dispatch?.reason == .escalated && village.dispatch?.route.level == .town)
        #expect(village.dispatch?.route.timeLimit == Self.rules.escalationLimit(to: .town))
        #expect(village.note?.contains("升级至镇（街道）级") == true)
        let atCity = try dispatched([.escalate(department: "urban-mgmt", level: .city, dispatchId: "D2", dueAt: ModelFixtures.time(9_000))])
        let city = policy.deadline(due, on: atCity, now: ModelFixtures.time(200))
        #expect(city.dispatch == nil && city.stopWatchingDeadline && city.events.isEmpty)
        // A resolved case's timer is its quiet period: when it is over, the case closes.
        let resolved = try dispatched([.resolve(dispatchId: "D1", note: nil)])
        let quiet = policy.deadline(due, on: resolved, now: ModelFixtures.time(200))
        #expect(quiet.events == [.close(note: CasePolicy.quietCloseNote)] && quiet.dispatch == nil)
    }

    @Test("alerts for the command centre: the early warning at 80 % of the time (once per dispatch, status unchanged, sources not told), overdue (督办) and escalated at the deadline, overdue alone at city level, a second return, a dissatisfied citizen")
    func alerts() throws {
        let value = try dispatched()
        let warning = try #require(policy.warningTime(of: value)), due = try #require(value.dueAt)
        let warn = policy.deadline(warning, on: value, now: warning)
        #expect(warn.alerts.map(\.kind) == [.earlyWarning] && warn.audience == .nobody && warn.dispatch == nil)
        #expect(warn.events.count == 1 && warn.events.first.map { if case .warn = $0 { true } else { false } } == true)
        let late = policy.deadline(due, on: value, now: due)
        #expect(late.alerts.map(\.kind) == [.overdue, .escalated] && late.dispatch?.reason == .escalated)
        let atCity = try dispatched([.escalate(department: "urban-mgmt", level: .city, dispatchId: "D2", dueAt: ModelFixtures.time(9_000)),
                                     .warn(note: "已用时限80%")])
        let city = policy.deadline(ModelFixtures.time(9_000), on: atCity, now: ModelFixtures.time(9_001))
        #expect(city.alerts.map(\.kind) == [.overdue] && city.stopWatchingDeadline && city.dispatch == nil)
        let once = policy.feedback(answer(.returned, note: "不属于我部门"), on: value, at: ModelFixtures.time(5))
        #expect(once.alerts.isEmpty)
        let twice = try dispatched([.return(dispatchId: "D1", note: nil), .dispatch(department: "env", level: .village, dispatchId: "D2", dueAt: ModelFixtures.time(9_000))])
        #expect(policy.feedback(answer(.returned, on: "D2", from: "env", note: "也不属于我们"), on: twice, at: ModelFixtures.time(5)).alerts.map(\.kind) == [.returnedRepeatedly])
        let resolved = try dispatched([.resolve(dispatchId: "D1", note: nil)])
        let unhappy = policy.survey(Survey(system: .hotline12345, recordId: "JY-1", satisfaction: .dissatisfied, note: "没处理好", at: ModelFixtures.time(9)), on: resolved, at: ModelFixtures.time(9))
        #expect(unhappy.alerts.map(\.kind) == [.reopened])
    }

    @Test("the notes and alerts people read name the department and the level in Chinese and give the deadline in Beijing time, never a code")
    func readableNotes() throws {
        let names = Dictionary(ReferenceTestData.data.departments.map { ($0.code, $0.nameZh) }, uniquingKeysWith: { a, _ in a })
        let named = CasePolicy(rules: Self.rules, departmentNames: names)
        let value = try dispatched()
        let department = try #require(value.department.flatMap { names[$0] })
        let warning = try #require(named.warningTime(of: value)), due = try #require(value.dueAt)
        // The oracle: Foundation's formatter at +08:00.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 8 * 3600)
        formatter.dateFormat = "M月d日HH:mm"
        let warn = named.deadline(warning, on: value, now: warning)
        #expect(warn.alerts.map(\.message) == ["已用时限80%，\(formatter.string(from: due))到期，\(department)尚未办结"])
        let late = named.deadline(due, on: value, now: due)
        #expect(late.alerts.map(\.message) == ["逾期未办结（督办）：\(department)，村（社区）级", "逾期未办结，升级至镇（街道）级"])
        let twice = try dispatched([.return(dispatchId: "D1", note: nil), .dispatch(department: "env", level: .village, dispatchId: "D2", dueAt: ModelFixtures.time(9_000))])
        let returned = named.feedback(answer(.returned, on: "D2", from: "env", note: "也不属于我们"), on: twice, at: ModelFixtures.time(5))
        #expect(returned.alerts.map(\.message) == ["第2次被退回（\(try #require(names["env"]))）：也不属于我们"])
        for message in (warn.alerts + late.alerts + returned.alerts).map(\.message) {
            #expect(!message.contains("urban-mgmt") && !message.contains("env") && !message.contains("+08:00") && !message.contains("village"), "\(message)")
        }
        // Times at any hour: two digits for hours and minutes, the day of Beijing, not of UTC.
        for seconds in stride(from: 0.0, to: 86_400 * 3, by: 1_234) {
            let time = Date(timeIntervalSince1970: 1_796_000_000 + seconds)
            #expect(CasePolicy.noteTime(time) == formatter.string(from: time))
        }
    }

    @Test("the case's timer: the dispatch's deadline while it is worked on, the end of the quiet period once resolved, none when open or closed")
    func timer() throws {
        var value = try dispatched()
        // First the early warning (80 % of the dispatch's time), then, once warned, the deadline.
        let warning = try #require(policy.warningTime(of: value))
        let due = try #require(value.dueAt)
        let issued = ModelFixtures.time(1)
        #expect(abs(warning.timeIntervalSince(issued) - 0.8 * due.timeIntervalSince(issued)) < 0.001)
        #expect(policy.timer(for: value, resolvedAt: nil) == warning)
        try value.apply(.warn(note: "已用时限80%"), at: warning)
        #expect(policy.timer(for: value, resolvedAt: nil) == value.dueAt && policy.warningTime(of: value) == nil)
        let resolved = try dispatched([.resolve(dispatchId: "D1", note: nil)])
        #expect(policy.timer(for: resolved, resolvedAt: ModelFixtures.time(2)) == ModelFixtures.time(2 + 7 * 86_400))
        var closed = resolved
        try closed.apply(.close(note: nil), at: ModelFixtures.time(3))
        #expect(policy.timer(for: closed, resolvedAt: nil) == nil)
    }

    @Test("a report joining a case is told so alone; one made after the case was resolved or closed reopens it to the same department for everyone; one made before (a late report) only joins")
    func recurrence() throws {
        var later = try #require(ModelFixtures.incidents(count: 2).last)
        later.reportedAt = ModelFixtures.time(3_600)
        let working = policy.merged(later, into: try dispatched())
        #expect(working.events.isEmpty && working.dispatch == nil)
        #expect(working.audience == .only(later.incidentId))
        let resolved = try dispatched([.resolve(dispatchId: "D1", note: nil)])   // resolved at time(2)
        let back = policy.merged(later, into: resolved)
        #expect(back.events == [.reopen(note: CasePolicy.recurrenceNote)])
        #expect(back.dispatch?.reason == .reopened && back.dispatch?.route.department == "urban-mgmt" && back.dispatch?.route.level == .village)
        #expect(back.audience == .everyone && back.note == CasePolicy.recurrenceNote)
        var closed = resolved
        try closed.apply(.close(note: nil), at: ModelFixtures.time(3))
        #expect(policy.merged(later, into: closed).dispatch?.reason == .reopened)
        var late = later
        late.reportedAt = ModelFixtures.time(1)   // made before the resolution, arrived after it
        let joined = policy.merged(late, into: resolved)
        #expect(joined.events.isEmpty && joined.dispatch == nil && joined.audience == .only(late.incidentId))
    }

    @Test("a source closing its own record (enforcement 结案) resolves and closes the case being worked on, with its result; a resolved case just closes; an open one only notes the new version")
    func sourceClosed() throws {
        var closedBySource = try #require(ModelFixtures.incidents(count: 1).first)
        closedBySource.resolvedOnSite = true
        closedBySource.resolution = "已责令改正，联系13812345678"
        let plan = policy.sourceClosed(closedBySource, case: try dispatched())
        #expect(plan.events == [.resolve(dispatchId: "D1", note: "已责令改正，联系138****5678"), .close(note: "已责令改正，联系138****5678")])
        #expect(plan.audience == .everyone)
        let resolved = try dispatched([.resolve(dispatchId: "D1", note: nil)])
        #expect(policy.sourceClosed(closedBySource, case: resolved).events == [.close(note: "已责令改正，联系138****5678")])
        let incident = try #require(ModelFixtures.incidents(count: 1).first)
        let open = Case(caseId: "C-2", openedBy: incident, at: ModelFixtures.time())
        let noted = policy.sourceClosed(closedBySource, case: open)
        #expect(noted.events.isEmpty && noted.audience == .only(closedBySource.incidentId))
    }

    @Test("a report opens its case: solved on the spot closed at once; a patrol case of the enforcement system recorded as in progress at urban management, not sent; anything else routed and dispatched")
    func opened() throws {
        let incidents = ModelFixtures.incidents(count: 3)
        var citizen = incidents[0]
        citizen.source.system = .hotline12345
        let routed = policy.opened(by: citizen, case: Case(caseId: "C-1", openedBy: citizen, at: ModelFixtures.time()))
        #expect(routed.dispatch?.publish == true && routed.dispatch?.reason == .initial && !routed.startsWork)
        var patrol = incidents[1]
        patrol.source.system = .enforcement
        let own = policy.opened(by: patrol, case: Case(caseId: "C-2", openedBy: patrol, at: ModelFixtures.time()))
        #expect(own.dispatch?.publish == false && own.dispatch?.route.department == "urban-mgmt" && own.startsWork)
        #expect(own.note == CasePolicy.handledBySourceNote)
        var recorded = Case(caseId: "C-2", openedBy: patrol, at: ModelFixtures.time())
        try recorded.apply(.dispatch(department: "urban-mgmt", level: .village, dispatchId: "D1", dueAt: ModelFixtures.time(60)), at: ModelFixtures.time(1))
        try recorded.apply(.start(dispatchId: "D1"), at: ModelFixtures.time(1))
        #expect(policy.isHandledBySource(recorded) && policy.timer(for: recorded, resolvedAt: nil) == nil, "the source's own deadline is not watched here")
        var onSite = incidents[2]
        onSite.resolvedOnSite = true
        onSite.resolution = "已现场清理"
        let closed = policy.opened(by: onSite, case: Case(caseId: "C-3", openedBy: onSite, at: ModelFixtures.time()))
        #expect(closed.events == [.closeOnArrival(note: "已现场清理")] && closed.dispatch == nil)
    }

    @Test("a new version of a report: while a department works on the case it gets its dispatch again (a new revision), the report's source is told; otherwise the source only hears it was taken in")
    func newVersion() throws {
        var incident = try #require(ModelFixtures.incidents(count: 1).first)
        incident.source.version = 2
        let working = policy.newVersion(incident, of: try dispatched([.accept(dispatchId: "D1")]))
        #expect(working.updatesDispatch && working.audience == .only(incident.incidentId) && working.events.isEmpty && working.dispatch == nil)
        #expect(working.note == "来源补充了报告内容，已更新派单")
        let resolved = policy.newVersion(incident, of: try dispatched([.resolve(dispatchId: "D1", note: nil)]))
        #expect(!resolved.updatesDispatch && resolved.note == "来源记录已更新")
    }

    @Test("a new version of the opening report that names another department's item moves the case there (rerouted), every source told; the same department's item, or a case not being worked on, only updates")
    func rerouted() throws {
        var value = try dispatched()
        let incident = try #require(ModelFixtures.incidents(count: 1).first)
        value.itemCode = "SR-021"   // 噪声扰民: environmental protection's
        let plan = policy.newVersion(incident, of: value, itemChanged: true)
        let next = try #require(plan.dispatch)
        #expect(next.reason == .rerouted && next.route.department == "env" && plan.audience == .everyone && plan.note == CasePolicy.reroutedNote)
        try value.apply(.reroute(department: "env", level: next.route.level, dispatchId: "D2", dueAt: ModelFixtures.time(9_000)), at: ModelFixtures.time(6))
        #expect(value.status == .dispatched && value.department == "env" && value.currentDispatchReason == .rerouted && value.dispatchCount == 2)
        // Another urban-management item: the dispatch is only updated.
        var same = try dispatched()
        same.itemCode = "SR-003"
        let update = policy.newVersion(incident, of: same, itemChanged: true)
        #expect(update.dispatch == nil && update.updatesDispatch)
        // Resolved already: nothing moves.
        var resolved = try dispatched([.resolve(dispatchId: "D1", note: nil)])
        resolved.itemCode = "SR-021"
        #expect(policy.newVersion(incident, of: resolved, itemChanged: true).dispatch == nil)
    }

    @Test("the current dispatch's reason follows from the case's history")
    func currentDispatchReason() throws {
        #expect(try dispatched().currentDispatchReason == .initial)
        #expect(try dispatched([.escalate(department: "urban-mgmt", level: .town, dispatchId: "D2", dueAt: ModelFixtures.time(9_000))]).currentDispatchReason == .escalated)
        #expect(try dispatched([.return(dispatchId: "D1", note: nil), .dispatch(department: "env", level: .village, dispatchId: "D2", dueAt: ModelFixtures.time(9_000))])
            .currentDispatchReason == .returned)
        #expect(try dispatched([.resolve(dispatchId: "D1", note: nil), .reopen(note: nil), .dispatch(department: "urban-mgmt", level: .village, dispatchId: "D2", dueAt: ModelFixtures.time(9_000))])
            .currentDispatchReason == .reopened)
    }

    @Test("a change tells every active report, or only the one it was about")
    func audience() {
        #expect(CasePolicy.Audience.everyone.includes("a"))
        #expect(CasePolicy.Audience.only("a").includes("a"))
        #expect(!CasePolicy.Audience.only("a").includes("b"))
    }
}
