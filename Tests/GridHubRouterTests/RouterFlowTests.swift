import Foundation
import GridHubCore
import GridHubKafka
import GridHubRouter
import GridHubTesting
import Testing

@Suite("Router end to end (Kafka + PostgreSQL)", .timeLimit(.minutes(3)))
struct RouterFlowTests {
    @Test("duplicates across channels become one case; far apart, other item or a retry do not open or split cases")
    func mergeAndNoMerge() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(2000).coordinate
        let item = "SR-001"  // 暴露垃圾, urban-mgmt, village
        let app = Make.incident(.woodpecker, "WP-1", item: item, at: spot.offset(metres: 20, bearing: 40), text: "小区门口垃圾成堆没人清理，发臭了")
        let call = Make.incident(.hotline12345, "JY-1", item: item, at: spot.offset(metres: 35, bearing: 200), method: .addressMatch, minutes: 45,
                                 text: "市民来电反映门口垃圾堆积发臭")
        let worker = Make.incident(.elink, "ZZ-1", item: nil, at: spot, minutes: 90, text: "门口垃圾成堆，发臭")
        let far = Make.incident(.woodpecker, "WP-2", item: item, at: spot.offset(metres: 700, bearing: 90), minutes: 10, text: "小区门口垃圾成堆没人清理")
        let otherItem = Make.incident(.woodpecker, "WP-3", item: "SR-060", at: spot.offset(metres: 10, bearing: 0), minutes: 20, text: "楼道里电动车充电，飞线充电很危险")
        let retry = call
        var edited = app
        edited.source.version = 2
        edited.description += "（补充：已经三天了）"
        let newVersion = edited
        try await world.withRouter { _ in
            try await world.publish([app, call, worker, far, otherItem])
            try await world.waitForReports(5)
            try await world.publish([retry, newVersion])
            // Both new records are applied once the case shows the new version of the app report.
            _ = try await world.waitFor(Topics.cases, as: Case.self) { cases in
                cases.contains { $0.reports.contains { $0.recordId == "WP-1" && $0.version == 2 } }
            }
        }
        let map = try await world.caseOfIncident()
        #expect(map.count == 5)
        #expect(map[app.incidentId] == map[call.incidentId])
        #expect(map[app.incidentId] == map[worker.incidentId])
        #expect(map[far.incidentId] != map[app.incidentId])
        #expect(map[otherItem.incidentId] != map[app.incidentId])

        let cases = try world.latestCases(try await world.read(Topics.cases))
        #expect(cases.count == 3)
        let merged = try #require(cases[map[app.incidentId]!])
        #expect(merged.reports.map(\.recordId) == ["WP-1", "JY-1", "ZZ-1"])
        #expect(merged.department == "urban-mgmt")
        #expect(merged.status == .dispatched)
        let evidence = try #require(merged.reports[1].match)
        #expect(evidence.itemRelation == .sameItem)
        #expect((evidence.distanceMeters ?? 999) < 100)
        #expect(evidence.timeGapSeconds == 45 * 60)
        // The worker gave no item, but its words name the case's (垃圾): the stronger of the two reasons.
        #expect(merged.reports[2].match?.itemRelation == .namedItem)
        // The distance the merge allowed: both positions' uncertainties (a phone's fix, a door plate).
        #expect(evidence.uncertaintyMeters == 90)
        // The report of another item at the same door opened its own case, and says which case it was kept
        // apart from and why; the same item 700 m away is too far to be a near miss.
        let other = try #require(cases[map[otherItem.incidentId]!])
        #expect(other.keptApart.first?.caseId == merged.caseId && other.keptApart.first?.reason == .otherItem, "\(other.keptApart)")
        #expect(try #require(cases[map[far.incidentId]!]).keptApart.allSatisfy { $0.caseId != merged.caseId })
        // An operator sees both on the case with gridhub tail.
        let env = ["GRIDHUB_BOOTSTRAP": world.cluster.bootstrapServers, "GRIDHUB_LOG_LEVEL": "warning"]
        let shown = try await runCommand(GridHubPaths.executable, ["tail", Topics.cases, "--from-beginning", "--no-follow", "--case", other.caseId], environment: env)
        #expect(shown.status == 0 && !shown.stdout.isEmpty && shown.stdout.split(separator: "\n").allSatisfy { $0.contains("case=\(other.caseId)") }, "\(shown.stdout)")
        #expect(shown.stdout.contains("kept apart from: \(merged.caseId)(otherItem "), "\(shown.stdout)")
        let mergedShown = try await runCommand(GridHubPaths.executable, ["tail", Topics.cases, "--from-beginning", "--no-follow", "--case", merged.caseId], environment: env)
        #expect(mergedShown.stdout.contains("merged: JY-1("), "\(mergedShown.stdout)")
        #expect(mergedShown.stdout.contains("/≤190m 45min sameItem text="), "\(mergedShown.stdout)")

        // One dispatch per case, on the department's topic, keyed by case id; the app report's new
        // version sent it again (same id, higher revision, its text: the app report opened the case).
        let dispatches = try await world.read(Topics.dispatch(department: "urban-mgmt"))
        let decoded = try dispatches.map { try GridHubJSON.decoder().decode(Dispatch.self, from: Data($0.value)) }
        let editions = decoded.filter { $0.caseId == merged.caseId }
        #expect(Set(editions.map(\.dispatchId)).count == 1 && editions.count == 2)
        #expect(editions.map(\.revision) == editions.map(\.revision).sorted() && editions.last?.description.hasSuffix("（补充：已经三天了）") == true)
        #expect(decoded.allSatisfy { d in dispatches.contains { $0.keyString == d.caseId } })

        // Every source hears about its own report.
        for (system, recordId) in [(SourceSystem.woodpecker, "WP-1"), (.hotline12345, "JY-1"), (.elink, "ZZ-1")] {
            let statuses = try await world.read(system.statusTopic).map { try GridHubJSON.decoder().decode(StatusUpdate.self, from: Data($0.value)) }
            let mine = statuses.filter { $0.recordId == recordId }
            #expect(!mine.isEmpty, "no status for \(recordId)")
            #expect(mine.allSatisfy { $0.caseId == merged.caseId })
            #expect(mine.last?.department == "urban-mgmt")
        }
    }

    @Test("a case nobody could classify, waiting at triage, takes the item of a report of the same problem that names it, and goes where that item goes; the command centre's dispatch is withdrawn")
    func classifiedByMerge() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(2100).coordinate
        let worker = Make.incident(.elink, "ZZ-7", item: nil, at: spot, text: "门口垃圾成堆，发臭")
        let app = Make.incident(.woodpecker, "WP-7", item: "SR-001", at: spot.offset(metres: 15, bearing: 30), minutes: 30, text: "小区门口垃圾成堆没人清理")
        try await world.withRouter { _ in
            try await world.publish([worker])
            _ = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.department == "command-center" } }
            try await world.publish([app])
            _ = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.reports.count == 2 && $0.department == "urban-mgmt" } }
        }
        let cases = try world.latestCases(try await world.read(Topics.cases))
        #expect(cases.count == 1)
        let c = try #require(cases.values.first)
        #expect(c.itemCode == "SR-001" && c.department == "urban-mgmt" && c.status == .dispatched && c.dispatchCount == 2)
        #expect(c.history.map(\.event) == [.open, .dispatch, .reroute])
        let triage = try await world.read(Topics.dispatch(department: "command-center")).map { try GridHubJSON.decoder().decode(Dispatch.self, from: Data($0.value)) }
        #expect(triage.last?.caseId == c.caseId && triage.last?.withdrawnAt != nil)
        let work = try await world.read(Topics.dispatch(department: "urban-mgmt")).map { try GridHubJSON.decoder().decode(Dispatch.self, from: Data($0.value)) }
        #expect(work.count == 1 && work[0].reason == .rerouted && work[0].itemCode == "SR-001")
    }

    @Test("a 12345 order filed under a first level only (城乡建设) whose words name no problem: an app report of an item of that level's groups at the same door joins its case, also after a restart (the groups are stored with the case); a report of another group there stays apart, though its words share the order's")
    func categoryGroup() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(2200).coordinate
        var order = Make.incident(.hotline12345, "JY-9", item: nil, at: spot, method: .addressMatch, text: "这里有问题，请尽快派人来处理")
        order.source.category = "城乡建设"
        let call = order
        let app = Make.incident(.woodpecker, "WP-9", item: "SR-001", at: spot.offset(metres: 15, bearing: 30), minutes: 40, text: "垃圾成堆没人清理，发臭了")
        let hydrant = Make.incident(.woodpecker, "WP-10", item: "SR-060", at: spot.offset(metres: 10, bearing: 200), minutes: 20,
                                    text: "消防栓漏水，这里有问题，请尽快派人来处理")
        try await world.withRouter { _ in
            try await world.publish([call])
            _ = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.department == "command-center" } }
        }
        try await world.withRouter { _ in
            try await world.publish([hydrant, app])
            try await world.waitForReports(3)
            _ = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.reports.count == 2 } }
        }
        let map = try await world.caseOfIncident()
        #expect(map[app.incidentId] == map[call.incidentId])
        #expect(map[hydrant.incidentId] != map[call.incidentId])
        let cases = try world.latestCases(try await world.read(Topics.cases))
        let joined = try #require(cases[map[call.incidentId]!])
        #expect(joined.reports.map(\.recordId) == ["JY-9", "WP-9"])
        #expect(joined.reports[1].match?.itemRelation == .categoryGroup)
        #expect(joined.itemCode == "SR-001" && joined.department == "urban-mgmt")
        // The hydrant's case says why it was kept apart from the order's.
        let apart = try #require(cases[map[hydrant.incidentId]!])
        #expect(apart.keptApart.contains { $0.caseId == joined.caseId && $0.itemRelation == .otherGroup })
    }

    @Test("personal data only where the department needs it: police and civil affairs get the reporters' phones (read back for a re-dispatch), health and urban management none, the cases topic masked")
    func personalDataOnlyWhereNeeded() async throws {
        let world = try await RouterWorld()
        let noise = Make.place(6100).coordinate, clinic = Make.place(8200).coordinate
        var caller = Make.incident(.hotline12345, "JY-77", item: "SR-022", at: noise, method: .addressMatch, text: "楼下广场舞音响太响，每天到深夜")
        caller.reporter = Reporter(kind: .citizen, name: PersonName("王建国"), phone: PhoneNumber("13912345678"))
        var patient = Make.incident(.hotline12345, "JY-78", item: "SR-136", at: clinic, method: .addressMatch, text: "小区里有黑诊所无证行医")
        patient.reporter = Reporter(kind: .citizen, name: PersonName("李梅"), phone: PhoneNumber("13611112222"))
        var neighbour = Make.incident(.woodpecker, "WP-78", item: "SR-136", at: clinic.offset(metres: 25, bearing: 60), minutes: 20, text: "黑诊所非法行医，无证行医")
        neighbour.reporter = Reporter(kind: .citizen, id: "u-881", phone: PhoneNumber("13787654321"))
        var litter = Make.incident(.hotline12345, "JY-79", item: "SR-001", at: Make.place(7300).coordinate, method: .addressMatch, text: "路口垃圾成堆没人清")
        litter.reporter = Reporter(kind: .citizen, name: PersonName("赵强"), phone: PhoneNumber("13500001111"))
        let incidents = [caller, patient, neighbour, litter]
        try await world.withRouter { _ in
            try await world.publish(incidents)
            try await world.waitForReports(4)
            let health = try await world.waitFor(Topics.dispatch(department: "health"), as: Dispatch.self) { !$0.isEmpty }
            let first = try #require(health.first)
            // Deploy/routing.json: health returns → civil affairs, which needs personal data: read back
            // from the database, in a later transaction than the reports came in.
            try await world.publish(feedback: Feedback(dispatchId: first.dispatchId, department: "health", status: .returned, note: "不属于本单位",
                                                       at: Make.base.addingTimeInterval(3600)))
            _ = try await world.waitFor(Topics.dispatch(department: "civil-affairs"), as: Dispatch.self) { !$0.isEmpty }
        }
        let map = try await world.caseOfIncident()
        #expect(map[patient.incidentId] == map[neighbour.incidentId])
        let decoder = GridHubJSON.decoder()
        let police = try decoder.decode(Dispatch.self, from: Data(try #require(try await world.read(Topics.dispatch(department: "police")).first).value))
        #expect(police.contacts.map { $0.phone?.revealed } == ["13912345678"])
        #expect(police.contacts.first?.name?.revealed == "王建国")
        let civil = try decoder.decode(Dispatch.self, from: Data(try #require(try await world.read(Topics.dispatch(department: "civil-affairs")).first).value))
        // Both reports, in the order they joined the case (which depends on the partitions' order).
        #expect(Set(civil.reports.map(\.recordId)) == ["JY-78", "WP-78"])
        let phoneOf = ["JY-78": "13611112222", "WP-78": "13787654321"]
        #expect(civil.contacts.map { $0.phone?.revealed } == civil.reports.map { phoneOf[$0.recordId] })
        // Nowhere else: not other departments' dispatches, not the cases topic, not the status topics.
        var elsewhere = try await world.read(Topics.cases)
        for d in ["health", "urban-mgmt"] { elsewhere += try await world.read(Topics.dispatch(department: d)) }
        for system in SourceSystem.allCases { elsewhere += try await world.read(system.statusTopic) }
        #expect(elsewhere.count > 8)
        for record in elsewhere {
            let text = String(decoding: record.value, as: UTF8.self)
            for secret in ["13912345678", "13787654321", "13611112222", "13500001111", "王建国", "李梅", "赵强"] {
                #expect(!text.contains(secret), "\(secret) appears on \(record.topic)")
            }
        }
        for d in ["health", "urban-mgmt"] {
            let dispatch = try decoder.decode(Dispatch.self, from: Data(try #require(try await world.read(Topics.dispatch(department: d)).first).value))
            #expect(dispatch.contacts.isEmpty && dispatch.parties.isEmpty)
        }
    }

    @Test("full loop: dispatch, feedback, status for every source, dissatisfied survey reopens, later answers about the old resolution are recorded without a dead letter, a repeat changes nothing, bad feedback is dead-lettered, returned re-routes")
    func fullLoop() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(5000).coordinate
        let a = Make.incident(.woodpecker, "WP-10", item: "SR-003", at: spot, text: "路边乱堆物料，堆放建材占道")
        let b = Make.incident(.hotline12345, "JY-10", item: "SR-003", at: spot.offset(metres: 30, bearing: 90), method: .addressMatch, minutes: 30, text: "来电反映路边杂物堆放、乱堆物料")
        let other = Make.incident(.elink, "ZZ-20", item: "SR-001", at: Make.place(9000).coordinate, text: "垃圾成堆")
        try await world.withRouter { _ in
            try await world.publish([a, b, other])
            let firstCases = try await world.waitFor(Topics.cases, as: Case.self) { cs in Set(cs.map(\.caseId)).count == 2 && cs.filter { $0.reports.count == 2 }.count >= 1 }
            let theCase = try #require(firstCases.last { $0.reports.count == 2 })
            let dispatchId = try #require(theCase.currentDispatchId)
            let department = try #require(theCase.department)
            let t = Date()
            try await world.publish(feedback: Feedback(dispatchId: dispatchId, department: department, status: .accepted, note: nil, at: t))
            try await world.publish(feedback: Feedback(dispatchId: dispatchId, department: department, status: .inProgress, note: nil, at: t))
            try await world.publish(feedback: Feedback(dispatchId: dispatchId, department: department, status: .resolved, note: "已清理", at: t))
            // Misfits: unknown dispatch, wrong department, impossible transition (accept after resolve), and
            // another department's system writing in the dispatch's department's name.
            try await world.publish(feedback: Feedback(dispatchId: "DSP-unknown", department: department, status: .accepted, note: nil, at: t))
            try await world.publish(feedback: Feedback(dispatchId: dispatchId, department: "police", status: .accepted, note: nil, at: t))
            try await world.publish(feedback: Feedback(dispatchId: dispatchId, department: department, status: .returned, note: nil, at: t))
            try await world.publish(feedback: Feedback(dispatchId: dispatchId, department: department, status: .returned, note: "冒名", at: t), source: "/department/police")
            let resolved = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.caseId == theCase.caseId && $0.status == .resolved } }
            #expect(resolved.contains { $0.caseId == theCase.caseId && $0.status == .resolved })
            let dead = try await world.waitFor(Topics.deadLetter, as: Feedback.self) { $0.count >= 4 }
            #expect(dead.count == 4)
            let deadRecords = try await world.read(Topics.deadLetter)
            let reasons = deadRecords.compactMap { $0.headers.string(DeadLetterHeader.reason) }
            #expect(reasons.contains { $0.contains("unknown dispatch") })
            #expect(reasons.contains { $0.contains("went to \(department)") })
            #expect(reasons.contains { $0.contains("does not fit") })
            #expect(reasons.contains { $0.contains("ce_source /department/police does not match") })
            #expect(deadRecords.allSatisfy { $0.headers.string(DeadLetterHeader.stage) == "router" && $0.headers.string(DeadLetterHeader.source)?.hasPrefix(Topics.feedback) == true })

            // Both sources got the resolution.
            for (system, id) in [(SourceSystem.woodpecker, "WP-10"), (.hotline12345, "JY-10")] {
                let statuses = try await world.waitFor(system.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.recordId == id && $0.status == .resolved } }
                #expect(statuses.contains { $0.recordId == id && $0.status == .resolved && $0.note == "已清理" })
            }
            // The hotline caller is dissatisfied: reopened and dispatched again to the same department.
            try await world.publish(survey: Survey(system: .hotline12345, recordId: "JY-10", satisfaction: .dissatisfied, note: "没有清理干净", at: t))
            let again = try await world.waitFor(Topics.dispatch(department: department), as: Dispatch.self) { ds in ds.contains { $0.caseId == theCase.caseId && $0.reason == .reopened } }
            let redispatch = try #require(again.first { $0.caseId == theCase.caseId && $0.reason == .reopened })
            #expect(redispatch.attempt == 2)
            let reopenedCase = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.caseId == theCase.caseId && $0.history.contains { $0.event == .reopen } && $0.status == .dispatched } }
            #expect(reopenedCase.contains { $0.caseId == theCase.caseId && $0.status == .dispatched && $0.dispatchCount == 2 })

            // The app's citizen, satisfied with the first resolution, answers now: recorded, the case goes on.
            // The hotline's answer sent again is a repeat; its caller's later answer is recorded too (and,
            // on the same partition, shows that the repeat before it was taken).
            try await world.publish(survey: Survey(system: .woodpecker, recordId: "WP-10", satisfaction: .satisfied, note: nil, at: t))
            try await world.publish(survey: Survey(system: .hotline12345, recordId: "JY-10", satisfaction: .dissatisfied, note: "没有清理干净", at: t))
            try await world.publish(survey: Survey(system: .hotline12345, recordId: "JY-10", satisfaction: .basicallySatisfied, note: nil, at: t.addingTimeInterval(60)))
            let rated = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.caseId == theCase.caseId && $0.history.filter { $0.event == .rate }.count == 2 } }
            let latest = try #require(rated.last { $0.caseId == theCase.caseId })
            #expect(latest.status == .dispatched && latest.dispatchCount == 2 && latest.currentDispatchId == redispatch.dispatchId)
            #expect(latest.history.filter { $0.event == .rate }.map(\.satisfaction) == [.satisfied, .basicallySatisfied])
            #expect(latest.history.filter { $0.event == .reopen }.count == 1)
            let reopenDispatches = try await world.read(Topics.dispatch(department: department)).map { try GridHubJSON.decoder().decode(Dispatch.self, from: Data($0.value)) }
            #expect(Set(reopenDispatches.filter { $0.caseId == theCase.caseId && $0.reason == .reopened }.map(\.dispatchId)).count == 1)
            #expect(try await world.read(Topics.deadLetter).count == 4, "no survey was dead-lettered")

            // The department returns it: routed to its first return candidate.
            try await world.publish(feedback: Feedback(dispatchId: redispatch.dispatchId, department: department, status: .returned, note: "不属于我部门", at: t))
            let candidate = "env"  // Deploy/routing.json: urban-mgmt → env first
            let rerouted = try await world.waitFor(Topics.dispatch(department: candidate), as: Dispatch.self) { ds in ds.contains { $0.caseId == theCase.caseId } }
            #expect(rerouted.first { $0.caseId == theCase.caseId }?.reason == .returned)
        }
    }

    @Test("a withdrawn report leaves the case to the other sources: its source gets one last status, then none; when every report is withdrawn the case closes")
    func withdrawnReports() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(6000).coordinate
        let app = Make.incident(.woodpecker, "WP-30", item: "SR-001", at: spot, text: "小区门口垃圾成堆没人清理，发臭了")
        let worker = Make.incident(.elink, "ZZ-30", item: "SR-001", at: spot.offset(metres: 25, bearing: 120), minutes: 30, text: "门口垃圾成堆，发臭")
        @Sendable func withdrawn(_ incident: Incident) -> Incident {
            var next = incident
            next.source.version = 2
            next.withdrawn = true
            return next
        }
        try await world.withRouter { _ in
            try await world.publish([app, worker])
            let opened = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.reports.count == 2 } }
            let theCase = try #require(opened.last { $0.reports.count == 2 })
            let dispatchId = try #require(theCase.currentDispatchId)

            // The app user withdraws: the case goes on for the grid worker's report.
            try await world.publish([withdrawn(app)])
            let afterFirst = try await world.waitFor(Topics.cases, as: Case.self) { cs in
                cs.contains { $0.caseId == theCase.caseId && $0.reports.first?.withdrawnAt != nil }
            }
            let going = try #require(afterFirst.last { $0.caseId == theCase.caseId })
            #expect(going.status == .dispatched)
            #expect(going.reports.map(\.recordId) == ["WP-30", "ZZ-30"])
            #expect(going.reports[1].withdrawnAt == nil)
            let appStatus = try await world.waitFor(SourceSystem.woodpecker.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.note?.contains("撤回") == true } }
            #expect(appStatus.last?.recordId == "WP-30" && appStatus.last?.status == .dispatched, "\(appStatus)")

            // The department accepts: the grid worker hears of it, the app user no longer.
            try await world.publish(feedback: Feedback(dispatchId: dispatchId, department: "urban-mgmt", status: .accepted, note: nil, at: Date()))
            _ = try await world.waitFor(SourceSystem.elink.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.recordId == "ZZ-30" && $0.status == .accepted } }
            let appAfter = try await world.read(SourceSystem.woodpecker.statusTopic).map { try GridHubJSON.decoder().decode(StatusUpdate.self, from: Data($0.value)) }
            #expect(appAfter.count == appStatus.count, "the app user heard more after withdrawing: \(appAfter.suffix(2))")

            // The grid worker withdraws too: nobody wants it any more, the case closes as withdrawn.
            try await world.publish([withdrawn(worker)])
            let closed = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.caseId == theCase.caseId && $0.status == .closed } }
            let last = try #require(closed.last { $0.caseId == theCase.caseId })
            #expect(last.history.last?.event == .withdraw)
            #expect(last.reports.allSatisfy { $0.withdrawnAt != nil })
            #expect(last.dueAt == nil)
            _ = try await world.waitFor(SourceSystem.elink.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.recordId == "ZZ-30" && $0.status == .closed } }
        }
    }

    @Test("on-site solved reports are closed cases, counted, never dispatched")
    func onSiteSolved() async throws {
        let world = try await RouterWorld()
        let solved = Make.incident(.elink, "ZZ-50", item: "SR-001", at: Make.place(7000).coordinate, text: "垃圾堆积，已现场清理", onSite: true)
        try await world.withRouter { daemon in
            try await world.publish([solved])
            try await world.waitForReports(1)
            let cases = try await world.waitFor(Topics.cases, as: Case.self) { !$0.isEmpty }
            #expect(cases.last?.status == .closed)
            #expect(cases.last?.dispatchCount == 0)
        }
        let dispatched = try await world.read(Topics.dispatch(department: "urban-mgmt"), quiet: .milliseconds(300))
        #expect(dispatched.isEmpty)
    }

    @Test("an overdue case escalates one level; the deadline survives a restart")
    func escalation() async throws {
        let world = try await RouterWorld()
        // SR-001: village level, 24 h limit.
        let report = Make.incident(.woodpecker, "WP-70", item: "SR-001", at: Make.place(15000).coordinate, text: "垃圾成堆")
        let opened = try await world.withRouter { _ in
            try await world.publish([report])
            return try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .dispatched } }
        }
        let first = try #require(opened.last)
        #expect(first.level == .village)
        let due = try #require(first.dueAt)
        #expect(abs(due.timeIntervalSince(first.openedAt) - 24 * 3600) < 5)
        // At 80 % of the time the command centre is warned; the case stays where it is, the source hears nothing.
        world.advanceClock(by: 20 * 3600)
        try await world.withRouter(group: "router") { _ in
            let alerts = try await world.waitFor(Topics.alerts, as: Alert.self) { $0.contains { $0.kind == .earlyWarning } }
            #expect(alerts.first?.caseId == first.caseId && alerts.first?.department == first.department && alerts.first?.dueAt == due)
            // The department working on it is warned on its own dispatch topic too, beside the work order.
            let onDesk = try await world.waitFor(Topics.dispatch(department: first.department!), as: Alert.self) { $0.contains { $0.kind == .earlyWarning } }
            #expect(onDesk.map(\.alertId) == [try #require(alerts.first).alertId])
            #expect(try await world.read(SourceSystem.woodpecker.statusTopic, quiet: .seconds(1)).count == 1, "the source heard of the warning")
        }
        // Stopped; time passes beyond the deadline; a new router finds the deadline in the database.
        world.advanceClock(by: 5 * 3600)
        try await world.withRouter(group: "router") { _ in
            let raised = try await world.waitFor(Topics.alerts, as: Alert.self) { a in a.contains { $0.kind == .escalated } }
            #expect(raised.map(\.kind) == [.earlyWarning, .overdue, .escalated])
            // The department hears of the warning and of the 督办, not of the escalation (its new dispatch says that).
            let pressed = try await world.waitFor(Topics.dispatch(department: first.department!), as: Alert.self) { $0.count >= 2 }
            #expect(pressed.map(\.kind) == [.earlyWarning, .overdue])
            let escalated = try await world.waitFor(Topics.dispatch(department: first.department!), as: Dispatch.self) { ds in ds.contains { $0.reason == .escalated } }
            let d = try #require(escalated.first { $0.reason == .escalated })
            #expect(d.level == .town)
            #expect(d.caseId == first.caseId)
            let cases = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.level == .town } }
            #expect(cases.last?.history.last?.event == .escalate)
            let statuses = try await world.waitFor(SourceSystem.woodpecker.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.note?.contains("升级") == true } }
            #expect(statuses.contains { $0.recordId == "WP-70" && $0.note?.contains("升级") == true })

            // The department answers on the dispatch it had before the escalation: the same department's
            // work, applied to the current dispatch, never a dead letter.
            let old = try #require(first.currentDispatchId)
            #expect(old != d.dispatchId)
            try await world.publish(feedback: Feedback(dispatchId: old, department: first.department!, status: .resolved, note: "已清运", at: Date()))
            let resolved = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.caseId == first.caseId && $0.status == .resolved } }
            let done = try #require(resolved.last { $0.caseId == first.caseId && $0.status == .resolved })
            #expect(done.history.last?.dispatchId == d.dispatchId && done.history.last?.note == "已清运")
            #expect(try await world.read(Topics.deadLetter, quiet: .seconds(1)).isEmpty)
        }
    }

    @Test("the problem comes back: a report made after the case was resolved reopens it and sends it again to the same department; every source hears it")
    func recurrence() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(13000).coordinate
        let minutesNow = Date().timeIntervalSince(Make.base) / 60
        let first = Make.incident(.woodpecker, "WP-RC-1", item: "SR-003", at: spot, minutes: minutesNow - 30, text: "路边乱堆物料，堆放建材占道")
        try await world.withRouter { _ in
            try await world.publish([first])
            let opened = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .dispatched } }
            let theCase = try #require(opened.last { $0.status == .dispatched })
            try await world.publish(feedback: Feedback(dispatchId: theCase.currentDispatchId!, department: theCase.department!, status: .resolved, note: "已清理", at: Date()))
            _ = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.status == .resolved } }
            // An hour later in the street, the same heap again, on the hotline.
            let again = Make.incident(.hotline12345, "JY-RC-2", item: "SR-003", at: spot.offset(metres: 20, bearing: 0), method: .addressMatch,
                                      minutes: minutesNow + 2, text: "路边又堆满了建材杂物")
            try await world.publish([again])
            let dispatches = try await world.waitFor(Topics.dispatch(department: theCase.department!), as: Dispatch.self) { ds in ds.contains { $0.reason == .reopened } }
            let redispatch = try #require(dispatches.first { $0.reason == .reopened })
            #expect(redispatch.caseId == theCase.caseId && redispatch.level == theCase.level && redispatch.attempt == 2)
            for (system, id) in [(SourceSystem.woodpecker, "WP-RC-1"), (.hotline12345, "JY-RC-2")] {
                let statuses = try await world.waitFor(system.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.recordId == id && $0.status == .dispatched && $0.note == CasePolicy.recurrenceNote } }
                #expect(statuses.contains { $0.recordId == id && $0.note == CasePolicy.recurrenceNote }, "\(id)")
            }
        }
    }

    @Test("a resolved case nobody complains about closes by itself after its quiet period (7 days), every source told; a dissatisfied survey after that still reopens it")
    func quietClose() async throws {
        let world = try await RouterWorld()
        let report = Make.incident(.elink, "ZZ-Q-1", item: "SR-001", at: Make.place(17000).coordinate, text: "垃圾成堆")
        let hotline = Make.incident(.hotline12345, "JY-Q-1", item: "SR-001", at: Make.place(17000).coordinate, method: .addressMatch, minutes: 10, text: "垃圾成堆没人清理")
        try await world.withRouter { _ in
            try await world.publish([report, hotline])
            let opened = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .dispatched && $0.reports.count == 2 } }
            let theCase = try #require(opened.last { $0.status == .dispatched })
            try await world.publish(feedback: Feedback(dispatchId: theCase.currentDispatchId!, department: theCase.department!, status: .resolved, note: "已清运", at: Date()))
            _ = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.status == .resolved } }
            world.advanceClock(by: 7 * 86_400 + 60)
            let closed = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.status == .closed } }
            #expect(closed.last?.history.last?.event == .close)
            let statuses = try await world.waitFor(SourceSystem.elink.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.status == .closed } }
            #expect(statuses.contains { $0.recordId == "ZZ-Q-1" && $0.status == .closed && $0.note == CasePolicy.quietCloseNote })
            // The hotline's caller is dissatisfied after all: reopened and sent again.
            try await world.publish(survey: Survey(system: .hotline12345, recordId: "JY-Q-1", satisfaction: .dissatisfied, note: "又堆起来了", at: world.now))
            let again = try await world.waitFor(Topics.dispatch(department: theCase.department!), as: Dispatch.self) { ds in ds.contains { $0.reason == .reopened } }
            #expect(again.contains { $0.caseId == theCase.caseId && $0.reason == .reopened })
        }
    }

    @Test("the same problem at the same place days after its case closed opens a new case that records the old one (recurrenceOf); another item there, or a report beyond 30 days, does not")
    func lateRecurrence() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(21000).coordinate
        var first = Make.incident(.hotline12345, "JY-RC-1", item: "SR-001", at: spot, method: .addressMatch, text: "垃圾成堆没人清理")
        first.reportedAt = Date()
        let opened = first
        try await world.withRouter { _ in
            try await world.publish([opened])
            let dispatched = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .dispatched } }
            let old = try #require(dispatched.last)
            try await world.publish(feedback: Feedback(dispatchId: old.currentDispatchId!, department: old.department!, status: .resolved, note: "已清运", at: Date()))
            _ = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .resolved } }
            try await world.publish(survey: Survey(system: .hotline12345, recordId: "JY-RC-1", satisfaction: .satisfied, note: "满意", at: Date()))
            _ = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .closed } }
            // Three days later the rubbish is back, 20 m away; an open-air barbecue there is another problem;
            // and a report 40 days later is too late to be called the same.
            func report(_ id: String, item: String, days: Double, text: String) -> Incident {
                var i = Make.incident(.elink, id, item: item, at: spot.offset(metres: 20, bearing: 90), text: text)
                i.reportedAt = Date().addingTimeInterval(days * 86_400)
                i.receivedAt = i.reportedAt
                return i
            }
            try await world.publish([report("ZZ-RC-2", item: "SR-001", days: 3, text: "垃圾又堆起来了"),
                                     report("ZZ-RC-3", item: "SR-015", days: 3, text: "露天烧烤"),
                                     report("ZZ-RC-4", item: "SR-001", days: 40, text: "垃圾成堆")])
            let all = try await world.waitFor(Topics.cases, as: Case.self) { cs in Set(cs.map(\.caseId)).count >= 4 }
            let latest = Dictionary(all.map { ($0.caseId, $0) }, uniquingKeysWith: { a, b in a.version >= b.version ? a : b })
            func caseOf(_ record: String) -> Case? { latest.values.first { $0.reports.contains { $0.recordId == record } } }
            #expect(caseOf("ZZ-RC-2")?.caseId != old.caseId, "a report three days after closing reopened the case")
            #expect(caseOf("ZZ-RC-2")?.recurrenceOf == old.caseId)
            #expect(caseOf("ZZ-RC-3")?.recurrenceOf == nil)
            #expect(caseOf("ZZ-RC-4")?.recurrenceOf == nil)
        }
    }

    @Test("a patrol case the enforcement system handles itself is recorded as in progress at urban management, not dispatched back to it; when the enforcement system closes it (结案 in a later version) the case is resolved and closed with its result, and every source of the problem hears it")
    func sourceClosesItsCase() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(19000).coordinate
        let patrol = Make.incident(.enforcement, "ZF2026-P-1", item: "SR-003", at: spot, text: "乱堆物料，澄江中队")
        let citizen = Make.incident(.hotline12345, "JY-ZF-1", item: "SR-003", at: spot.offset(metres: 15, bearing: 45), method: .addressMatch, minutes: 20, text: "路边乱堆物料")
        try await world.withRouter { _ in
            try await world.publish([patrol, citizen])
            let recorded = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .inProgress && $0.reports.count == 2 } }
            #expect(recorded.last?.department == "urban-mgmt")
            #expect(try await world.read(Topics.dispatch(department: "urban-mgmt"), quiet: .seconds(1)).isEmpty, "the patrol case was dispatched back to enforcement")
            let told = try await world.waitFor(SourceSystem.enforcement.statusTopic, as: StatusUpdate.self) { !$0.isEmpty }
            #expect(told.first?.status == .inProgress && told.first?.note == CasePolicy.handledBySourceNote)
            let closing = Make.incident(.enforcement, "ZF2026-P-1", item: "SR-003", at: spot, minutes: 60, text: "乱堆物料，澄江中队", version: 2, onSite: true)
            try await world.publish([closing])
            let closed = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .closed } }
            let last = try #require(closed.last { $0.status == .closed })
            #expect(last.history.suffix(2).map(\.event) == [.resolve, .close])
            let heard = try await world.waitFor(SourceSystem.hotline12345.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.status == .closed } }
            #expect(heard.contains { $0.recordId == "JY-ZF-1" && $0.status == .closed && $0.note == "已现场清理" })
            #expect(try await world.read(Topics.deadLetter, quiet: .seconds(1)).isEmpty)
        }
    }

    @Test("the department sees the reports' title and photos: on the first dispatch, and on a later one with the photos of reports merged since (phones in a title masked)")
    func titleAndAttachments() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(21000).coordinate
        var order = Make.incident(.hotline12345, "JY-AT-1", item: "SR-003", at: spot, method: .addressMatch, text: "路边乱堆物料")
        order.title = "人民东路乱堆物料，回电13812345678"
        order.attachments = ["https://12345.example/files/abc.jpg"]
        var report = Make.incident(.woodpecker, "WP-AT-2", item: "SR-003", at: spot.offset(metres: 10, bearing: 180), minutes: 15, text: "路边乱堆物料堆放建材")
        report.attachments = ["https://woodpecker.example/p/2.jpg", "https://12345.example/files/abc.jpg"]
        let (firstReport, laterReport) = (order, report)
        try await world.withRouter { _ in
            try await world.publish([firstReport])
            let opened = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .dispatched } }
            let theCase = try #require(opened.last { $0.status == .dispatched })
            let department = try #require(theCase.department)
            let first = try await world.waitFor(Topics.dispatch(department: department), as: Dispatch.self) { !$0.isEmpty }
            #expect(first.first?.title == "人民东路乱堆物料，回电138****5678")
            #expect(first.first?.attachments == ["https://12345.example/files/abc.jpg"])
            try await world.publish([laterReport])
            _ = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.reports.count == 2 } }
            try await world.publish(feedback: Feedback(dispatchId: theCase.currentDispatchId!, department: department, status: .returned, note: "不属于我部门", at: Date()))
            let moved = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.department != department && $0.status == .dispatched } }
            let next = try #require(moved.last { $0.department != department }?.department)
            let second = try await world.waitFor(Topics.dispatch(department: next), as: Dispatch.self) { !$0.isEmpty }
            #expect(second.first?.title == "人民东路乱堆物料，回电138****5678")
            #expect(second.first?.attachments == ["https://12345.example/files/abc.jpg", "https://woodpecker.example/p/2.jpg"])
        }
    }

    @Test("a 12345 supplement (a new version of the order) while the department works on the case: the department gets its dispatch again, same id, higher revision, with the new text and photos; the order's source is told, the other source hears nothing new")
    func supplementUpdatesDispatch() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(23000).coordinate
        let order = Make.incident(.hotline12345, "JY-SUP-1", item: "SR-003", at: spot, method: .addressMatch, text: "路边乱堆物料")
        let app = Make.incident(.woodpecker, "WP-SUP-2", item: "SR-003", at: spot.offset(metres: 12, bearing: 90), minutes: 10, text: "路边乱堆物料，堆放建材")
        var supplement = order
        supplement.source.version = 2
        supplement.description = "路边乱堆物料（补充：建材已堆到人行道上，联系13812345678）"
        supplement.attachments = ["https://12345.example/files/more.jpg"]
        let update = supplement
        try await world.withRouter { _ in
            try await world.publish([order, app])
            let opened = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .dispatched && $0.reports.count == 2 } }
            let theCase = try #require(opened.last { $0.status == .dispatched })
            let department = try #require(theCase.department)
            try await world.publish([update])
            let dispatches = try await world.waitFor(Topics.dispatch(department: department), as: Dispatch.self) { $0.count >= 2 }
            let first = try #require(dispatches.first), second = try #require(dispatches.last)
            #expect(second.dispatchId == first.dispatchId && second.attempt == first.attempt)
            #expect(second.revision > first.revision)
            #expect(second.description == "路边乱堆物料（补充：建材已堆到人行道上，联系138****5678）")
            #expect(second.attachments.contains("https://12345.example/files/more.jpg"))
            let heard = try await world.waitFor(SourceSystem.hotline12345.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.note == "来源补充了报告内容，已更新派单" } }
            #expect(heard.contains { $0.recordId == "JY-SUP-1" && $0.note == "来源补充了报告内容，已更新派单" })
            let app = try await world.read(SourceSystem.woodpecker.statusTopic, quiet: .seconds(1))
            #expect(app.count == 1, "the app's reporter heard of the other source's supplement")
        }
    }

    @Test("a 12345 order with BLSX 1 is due at the end of the next working day when that is stricter than its item's 120 hours; one without BLSX gets the item's limit")
    func hotlineTimeLimit() async throws {
        let world = try await RouterWorld()
        var order = Make.incident(.hotline12345, "JY-BLSX-1", item: "SR-005", at: Make.place(17000).coordinate, method: .addressMatch, text: "楼顶违规广告牌")
        order.source.timeLimitWorkingDays = 1
        order.reportedAt = Date()
        var plain = Make.incident(.hotline12345, "JY-BLSX-2", item: "SR-005", at: Make.place(5000).coordinate, method: .addressMatch, text: "违规户外广告")
        plain.reportedAt = Date()
        let itemLimit: TimeInterval = 120 * 3_600
        let blsx = Fixtures.rules.calendar.deadline(workingDays: 1, after: order.reportedAt)
        let before = Date()
        let (orders, other) = (order, plain)
        let dispatches = try await world.withRouter { _ in
            try await world.publish([orders, other])
            return try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { $0.count >= 2 }
        }
        let after = Date()
        let withLimit = try #require(dispatches.first { $0.reports.contains { $0.recordId == "JY-BLSX-1" } })
        let without = try #require(dispatches.first { $0.reports.contains { $0.recordId == "JY-BLSX-2" } })
        if blsx <= before.addingTimeInterval(itemLimit) {
            #expect(withLimit.dueAt == blsx, "due \(withLimit.dueAt), the end of the next working day is \(blsx)")
        } else {
            #expect(withLimit.dueAt >= before.addingTimeInterval(itemLimit - 1) && withLimit.dueAt <= after.addingTimeInterval(itemLimit + 1))
        }
        #expect(without.dueAt >= before.addingTimeInterval(itemLimit - 1) && without.dueAt <= after.addingTimeInterval(itemLimit + 1))
    }

    @Test("an order nobody could route goes to the command centre; its return gives the case back: returned, no further dispatch, 12345 told why (退回), not a dead letter")
    func givenBack() async throws {
        let world = try await RouterWorld()
        let order = Make.incident(.hotline12345, "JY-BACK-1", item: nil, at: Make.place(9000).coordinate, method: .addressMatch, text: "邻居家装修纠纷，要求调解赔偿")
        try await world.withRouter { _ in
            try await world.publish([order])
            let triage = try await world.waitFor(Topics.dispatch(department: "command-center"), as: Dispatch.self) { !$0.isEmpty }
            let dispatch = try #require(triage.first)
            try await world.publish(feedback: Feedback(dispatchId: dispatch.dispatchId, department: "command-center", status: .returned, note: "属民事纠纷，请通过法律途径解决", at: Date()))
            let statuses = try await world.waitFor(SourceSystem.hotline12345.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.status == .returned } }
            let back = try #require(statuses.last)
            #expect(back.status == .returned && back.recordId == "JY-BACK-1")
            #expect(back.note == "经指挥中心裁定，不属于网格化受理范围，予以退回：属民事纠纷，请通过法律途径解决")
            #expect(Hotline12345.Report(status: back, departmentName: "市综合管理服务指挥中心")?.state == "退回")
            let cases = try world.latestCases(try await world.read(Topics.cases, quiet: .seconds(1)))
            #expect(cases.values.first?.status == .returned)
            let dispatches = try await world.read(Topics.dispatch(department: "command-center"), quiet: .seconds(1))
            #expect(dispatches.count == 1, "the case was dispatched again after it was given back")
            #expect(try await world.read(Topics.deadLetter, quiet: .seconds(1)).isEmpty)
        }
    }

    @Test("a 12345 supplement that corrects the problem to another department's item moves the case: the old department gets its dispatch withdrawn, the new one a rerouted dispatch, the caller hears it")
    func correctedItemReroutes() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(15000).coordinate
        let order = Make.incident(.hotline12345, "JY-RR-1", item: "SR-001", at: spot, method: .addressMatch, text: "小区门口垃圾成堆")
        var corrected = order
        corrected.source.version = 2
        corrected.itemCode = "SR-021"
        corrected.description = "更正：小区门口店铺音响噪声扰民"
        let update = corrected
        try await world.withRouter { _ in
            try await world.publish([order])
            let first = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { !$0.isEmpty }
            let old = try #require(first.first)
            try await world.publish([update])
            let withdrawn = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { $0.contains { $0.withdrawnAt != nil } }
            let last = try #require(withdrawn.last)
            #expect(last.dispatchId == old.dispatchId && last.revision > old.revision && last.withdrawnAt != nil)
            let moved = try await world.waitFor(Topics.dispatch(department: "env"), as: Dispatch.self) { !$0.isEmpty }
            #expect(moved.first?.reason == .rerouted && moved.first?.itemCode == "SR-021" && moved.first?.dispatchId != old.dispatchId)
            let heard = try await world.waitFor(SourceSystem.hotline12345.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.note == CasePolicy.reroutedNote } }
            #expect(heard.last?.department == "env")
            #expect(try await world.read(Topics.deadLetter, quiet: .seconds(1)).isEmpty)
        }
    }

    @Test("a supplement correcting the address moves the case to the new place and grid: the department's dispatch shows it, and later reports there join the case while reports at the old place do not")
    func correctedPlaceMoves() async throws {
        let world = try await RouterWorld()
        let wrong = Make.place(6000).coordinate, right = Make.place(26000).coordinate
        let order = Make.incident(.hotline12345, "JY-MV-1", item: "SR-003", at: wrong, method: .addressMatch, text: "路边乱堆物料")
        var corrected = Make.incident(.hotline12345, "JY-MV-1", item: "SR-003", at: right, method: .addressMatch, text: "路边乱堆物料（地址更正）", version: 2)
        corrected.reportedAt = order.reportedAt
        let update = corrected
        try await world.withRouter { _ in
            try await world.publish([order])
            let first = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { !$0.isEmpty }
            #expect(first.first?.gridCode == order.location.gridCode)
            try await world.publish([update])
            let revised = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { $0.count >= 2 }
            #expect(revised.last?.gridCode == update.location.gridCode && revised.last?.location.lat == right.lat)
            #expect(revised.last?.dispatchId == first.first?.dispatchId)
            // Reports of the same problem: at the corrected place they join; at the old place they open a case.
            try await world.publish([Make.incident(.elink, "ZZ-MV-2", item: "SR-003", at: right.offset(metres: 10, bearing: 0), minutes: 30, text: "乱堆物料"),
                                     Make.incident(.elink, "ZZ-MV-3", item: "SR-003", at: wrong.offset(metres: 10, bearing: 0), minutes: 30, text: "乱堆物料")])
            try await world.waitForReports(3)
            let caseOf = try await world.caseOfIncident()
            let id = { (system: SourceSystem, record: String) in DeterministicID.incidentID(system: system, recordId: record) }
            #expect(caseOf[id(.elink, "ZZ-MV-2")] == caseOf[id(.hotline12345, "JY-MV-1")], "a report at the corrected place did not join")
            #expect(caseOf[id(.elink, "ZZ-MV-3")] != caseOf[id(.hotline12345, "JY-MV-1")], "a report at the old place joined")
        }
    }

    @Test("commands of the command centre: 督办 and a new due date reach the department on its dispatch; reassign withdraws the old dispatch and sends the case on; close ends it and tells the sources; a command that does not fit, or not from the command centre, is a dead letter with the reason")
    func commands() async throws {
        let world = try await RouterWorld()
        let order = Make.incident(.hotline12345, "JY-CMD-1", item: "SR-003", at: Make.place(8000).coordinate, method: .addressMatch, text: "路边乱堆物料")
        @Sendable func command(_ action: Command.Action, department: String? = nil, message: String? = nil, dueAt: Date? = nil, on caseId: String) -> Command {
            Command(commandId: UUID().uuidString.lowercased(), caseId: caseId, action: action, department: department, message: message, dueAt: dueAt,
                    issuedBy: "zhihui-li", at: Date())
        }
        try await world.withRouter { _ in
            try await world.publish([order])
            let first = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { !$0.isEmpty }
            let caseId = try #require(first.first?.caseId)
            // 督办 and a new due date: the department gets its dispatch again with them.
            try await world.publish(command: command(.supervise, message: "已超期，请今日办结", on: caseId))
            let due = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 6 * 3_600).rounded(.down))
            let dueCommand = command(.due, dueAt: due, on: caseId)
            try await world.publish(command: dueCommand)
            let pressed = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { $0.contains { $0.dueAt == due } }
            #expect(pressed.last?.supervision == "已超期，请今日办结" && pressed.last?.dispatchId == first.first?.dispatchId)
            let cases = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.history.contains { $0.commandId == dueCommand.commandId } } }
            #expect(cases.last?.dueAt == due)
            // Assign does not fit a case a department works on; a command from a department is not one.
            let wrong = command(.assign, department: "env", on: caseId)
            try await world.publish(command: wrong)
            let forged = command(.close, message: "我们说了算", on: caseId)
            try await world.publish(command: forged, source: CloudEvent.departmentSource("urban-mgmt"))
            var refused: [ConsumerRecord] = []
            #expect(try await waitUntil(timeout: .seconds(30)) {
                refused = try await world.read(Topics.deadLetter, quiet: .milliseconds(300))
                return refused.count >= 2
            })
            #expect(refused.contains { $0.headers.string(CloudEventHeader.id) == wrong.commandId && ($0.headers.string(DeadLetterHeader.reason) ?? "").contains("reassign moves") })
            #expect(refused.contains { $0.headers.string(CloudEventHeader.id) == forged.commandId && ($0.headers.string(DeadLetterHeader.reason) ?? "").contains("commands come from the command centre") })
            // Reassign: urban management's dispatch withdrawn, environmental protection gets the case.
            try await world.publish(command: command(.reassign, department: "env", on: caseId))
            let withdrawn = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { $0.contains { $0.withdrawnAt != nil } }
            #expect(withdrawn.last?.withdrawnAt != nil)
            let assigned = try await world.waitFor(Topics.dispatch(department: "env"), as: Dispatch.self) { !$0.isEmpty }
            #expect(assigned.first?.reason == .assigned)
            // Close with a reason: env's dispatch withdrawn, the caller told.
            try await world.publish(command: command(.close, message: "经核实为重复工单", on: caseId))
            let envWithdrawn = try await world.waitFor(Topics.dispatch(department: "env"), as: Dispatch.self) { $0.contains { $0.withdrawnAt != nil } }
            #expect(envWithdrawn.last?.withdrawnAt != nil)
            let heard = try await world.waitFor(SourceSystem.hotline12345.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.status == .closed } }
            #expect(heard.last?.note == "指挥中心决定结案：经核实为重复工单")
        }
    }

    @Test("a report's trace continues on everything the router writes about it: the case, the dispatch, the status and alerts, each a new span of the same trace")
    func traceCarriedThrough() async throws {
        let world = try await RouterWorld()
        let traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
        let order = Make.incident(.hotline12345, "JY-TR-1", item: "SR-003", at: Make.place(14000).coordinate, method: .addressMatch, text: "路边乱堆物料")
        try await world.withRouter { _ in
            try await world.publish([order], traceparent: "00-\(traceId)-00f067aa0ba902b7-01")
            _ = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { !$0.isEmpty }
            _ = try await world.waitFor(SourceSystem.hotline12345.statusTopic, as: StatusUpdate.self) { !$0.isEmpty }
            for topic in [Topics.cases, Topics.dispatch(department: "urban-mgmt"), SourceSystem.hotline12345.statusTopic] {
                let records = try await world.read(topic, quiet: .milliseconds(500))
                #expect(!records.isEmpty)
                for r in records {
                    let trace = TraceContext(header: r.headers.string(CloudEventHeader.traceparent))
                    #expect(trace?.traceId == traceId, "\(topic) record without the report's trace")
                    #expect(trace?.spanId != "00f067aa0ba902b7", "\(topic): the same span, not a new one")
                }
            }
        }
    }

    @Test("a department answering a dispatch it returned, after the case went to another department, changes nothing and is not a dead letter")
    func answerAfterReturn() async throws {
        let world = try await RouterWorld()
        let report = Make.incident(.elink, "ZZ-RT-1", item: "SR-003", at: Make.place(11000).coordinate, text: "路边杂物堆放")
        try await world.withRouter { _ in
            try await world.publish([report])
            let opened = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .dispatched } }
            let first = try #require(opened.last { $0.status == .dispatched })
            let firstDispatch = try #require(first.currentDispatchId), firstDepartment = try #require(first.department)
            try await world.publish(feedback: Feedback(dispatchId: firstDispatch, department: firstDepartment, status: .returned, note: "不属于我部门", at: Date()))
            let moved = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.department != firstDepartment && $0.status == .dispatched } }
            let second = try #require(moved.last { $0.department != firstDepartment && $0.status == .dispatched })
            // Too late, the first department answers its old dispatch.
            try await world.publish(feedback: Feedback(dispatchId: firstDispatch, department: firstDepartment, status: .resolved, note: "已处理", at: Date()))
            // The new department's answer still applies, in order after it.
            try await world.publish(feedback: Feedback(dispatchId: second.currentDispatchId!, department: second.department!, status: .accepted, note: nil, at: Date()))
            let after = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.status == .accepted } }
            #expect(!after.contains { $0.status == .resolved }, "the old department's answer changed the case")
            #expect(after.last?.department == second.department)
            #expect(try await world.read(Topics.deadLetter, quiet: .seconds(1)).isEmpty)
        }
    }
}
