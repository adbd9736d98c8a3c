import Foundation
import Testing
@testable import GridHubCore

@Suite("Model: case status transitions")
struct ModelCaseTransitionTests {
    /// A case driven into `status` by a legal path, its current dispatch being `D1` when it has one.
    func caseIn(_ status: CaseStatus) throws -> Case {
        let incident = try #require(ModelFixtures.incidents(count: 1).first)
        var value = Case(caseId: "C-1", openedBy: incident, at: ModelFixtures.time())
        let paths: [CaseStatus: [CaseEvent]] = [
            .open: [],
            .dispatched: [ModelFixtures.dispatch(1)],
            .accepted: [ModelFixtures.dispatch(1), .accept(dispatchId: "D1")],
            .inProgress: [ModelFixtures.dispatch(1), .start(dispatchId: "D1")],
            .resolved: [ModelFixtures.dispatch(1), .resolve(dispatchId: "D1", note: nil)],
            .closed: [.closeOnArrival(note: nil)],
            .reopened: [ModelFixtures.dispatch(1), .resolve(dispatchId: "D1", note: nil), .reopen(note: nil)],
            .returned: [ModelFixtures.dispatch(1), .return(dispatchId: "D1", note: "not ours")],
        ]
        for event in try #require(paths[status]) { try value.apply(event, at: ModelFixtures.time(10)) }
        #expect(value.status == status)
        return value
    }

    /// One event of each kind, feedback naming the current dispatch `D1`.
    func sample(_ kind: CaseEventKind) -> CaseEvent? {
        switch kind {
        case .open: nil
        case .dispatch: .dispatch(department: "fire", level: .town, dispatchId: "D9", dueAt: ModelFixtures.time(99))
        case .accept: .accept(dispatchId: "D1")
        case .start: .start(dispatchId: "D1")
        case .resolve: .resolve(dispatchId: "D1", note: "ok")
        case .return: .return(dispatchId: "D1", note: "not ours")
        case .escalate: .escalate(department: "urban-mgmt", level: .city, dispatchId: "D9", dueAt: ModelFixtures.time(99))
        case .reroute: .reroute(department: "env", level: .town, dispatchId: "D9", dueAt: ModelFixtures.time(99))
        case .due: .due(dueAt: ModelFixtures.time(50))
        case .supervise: .supervise(note: "请今日办结")
        case .warn: .warn(note: "已用时限80%")
        case .closeByCommand: .closeByCommand(note: "重复工单")
        case .closeOnArrival: .closeOnArrival(note: nil)
        case .close: .close(note: nil)
        case .reopen: .reopen(note: "不满意")
        case .withdraw: .withdraw(note: nil)
        case .rate: .rate(note: "满意")
        }
    }

    @Test("every (status, event) pair: allowed ones move to the table's status, forbidden ones throw and change nothing")
    func fullTable() throws {
        var allowed = 0
        for status in CaseStatus.allCases {
            for kind in CaseEventKind.allCases {
                guard let event = sample(kind) else { continue }
                var value = try caseIn(status)
                let before = value
                if let next = CaseTransitions.next(after: status, on: kind) {
                    try value.apply(event, at: ModelFixtures.time(20))
                    #expect(value.status == next, "\(status) --\(kind)--> \(next)")
                    #expect(value.version == before.version + 1)
                    #expect(value.history.last?.from == status)
                    #expect(value.history.last?.to == next)
                    allowed += 1
                } else {
                    let error = #expect(throws: CaseTransitionError.self) { try value.apply(event, at: ModelFixtures.time(20)) }
                    #expect(error?.code == .forbiddenTransition)
                    #expect(value == before, "a refused event changes nothing")
                }
            }
        }
        #expect(allowed == CaseTransitions.table.values.map(\.count).reduce(0, +))
    }

    @Test("the contract's stories")
    func stories() throws {
        // A report solved on the spot closes on arrival, never dispatched.
        var onSite = try caseIn(.open)
        try onSite.apply(.closeOnArrival(note: "自行处置"), at: ModelFixtures.time(1))
        #expect(onSite.status == .closed && onSite.dispatchCount == 0)

        // "returned" sends the case back to be dispatched again, to another department.
        var returned = try caseIn(.accepted)
        try returned.apply(.feedback(.returned, dispatchId: "D1", note: "不属于本单位"), at: ModelFixtures.time(1))
        #expect(returned.status == .returned && returned.dueAt == nil)
        try returned.apply(.dispatch(department: "fire", level: .village, dispatchId: "D2", dueAt: ModelFixtures.time(50)), at: ModelFixtures.time(2))
        #expect(returned.status == .dispatched && returned.department == "fire" && returned.dispatchCount == 2)

        // Escalation re-dispatches at a higher level, never the same or lower.
        var escalated = try caseIn(.inProgress)
        try escalated.apply(.escalate(department: "urban-mgmt", level: .town, dispatchId: "D2", dueAt: ModelFixtures.time(60)), at: ModelFixtures.time(1))
        #expect(escalated.status == .dispatched && escalated.level == .town && escalated.currentDispatchId == "D2")
        let sameLevel = #expect(throws: CaseTransitionError.self) {
            try escalated.apply(.escalate(department: "urban-mgmt", level: .town, dispatchId: "D3", dueAt: ModelFixtures.time(60)), at: ModelFixtures.time(2))
        }
        #expect(sameLevel?.code == .levelNotHigher)

        // A dissatisfied survey reopens a resolved or closed case; a satisfied one closes a resolved case.
        for status in [CaseStatus.resolved, .closed] {
            var value = try caseIn(status)
            try value.apply(.survey(.dissatisfied, note: "没处理好"), at: ModelFixtures.time(1))
            #expect(value.status == .reopened)
        }
        var satisfied = try caseIn(.resolved)
        try satisfied.apply(.survey(.basicallySatisfied, note: nil), at: ModelFixtures.time(1))
        #expect(satisfied.status == .closed)
    }

    @Test("feedback for an older dispatch is refused as stale; a repeated feedback is recognisable")
    func staleAndRepeat() throws {
        var value = try caseIn(.dispatched)
        let stale = #expect(throws: CaseTransitionError.self) { try value.apply(.accept(dispatchId: "D0"), at: ModelFixtures.time(1)) }
        #expect(stale?.code == .staleDispatch)
        try value.apply(.accept(dispatchId: "D1"), at: ModelFixtures.time(2))
        let repeated = #expect(throws: CaseTransitionError.self) { try value.apply(.accept(dispatchId: "D1"), at: ModelFixtures.time(3)) }
        #expect(repeated?.isRepeat == true)
        #expect(repeated.map { "\($0)" }?.contains("accept") == true)
        let backwards = #expect(throws: CaseTransitionError.self) {
            var started = try caseIn(.inProgress)
            try started.apply(.accept(dispatchId: "D1"), at: ModelFixtures.time(3))
        }
        #expect(backwards?.isRepeat == false)
    }

    @Test("merging reports keeps the opener first and updates versions in place")
    func merging() throws {
        let incidents = ModelFixtures.incidents(count: 8)
        var value = Case(caseId: "C-1", openedBy: incidents[0], at: ModelFixtures.time())
        let evidence = MergeEvidence(distanceMeters: 20, timeGapSeconds: 300, itemRelation: .sameItem, textScore: 0.8)
        value.merge(incidents[1], match: evidence, at: ModelFixtures.time(1))
        value.merge(incidents[1], match: evidence, at: ModelFixtures.time(2))
        #expect(value.reports.count == 2)
        #expect(value.reports[0].incidentId == incidents[0].incidentId && value.reports[0].match == nil)
        #expect(value.reports[1].match == evidence)
        #expect(value.status == .open && value.version == 3)
    }
}
