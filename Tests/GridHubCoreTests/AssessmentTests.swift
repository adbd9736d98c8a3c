import Foundation
import Testing
@testable import GridHubCore

/// The command centre's assessment figures (Assessment), from cases built event by event.
@Suite("Assessment: 响应率, 办结率, 满意率 and the rest")
struct AssessmentTests {
    let hour: TimeInterval = 3_600

    /// A case opened at hour 0 in `grid`, then through `events`, each at its hour.
    func makeCase(_ id: String, grid: String = "320281001006002", _ events: [(Double, CaseEvent)], satisfaction: [Int: Satisfaction] = [:]) throws -> Case {
        var incident = try #require(ModelFixtures.incidents(count: 1).first)
        incident.location.gridCode = grid
        var c = Case(caseId: id, openedBy: incident, at: ModelFixtures.time())
        for (n, (at, event)) in events.enumerated() {
            let before = c.history.count
            try c.apply(event, at: ModelFixtures.time(at * hour))
            if let s = satisfaction[n] { c.attribute(historyFrom: before, toSurvey: s) }
        }
        return c
    }

    func dispatch(_ id: String, to department: String = "urban-mgmt", dueHour: Double) -> CaseEvent {
        .dispatch(department: department, level: .village, dispatchId: id, dueAt: ModelFixtures.time(dueHour * 3_600))
    }

    @Test("each figure counted from the cases' histories, by department and by town; rates, median and p90 hours to resolve")
    func figures() throws {
        // Answered within the hour, resolved at 5 h of 24, citizen satisfied.
        let good = try makeCase("C-1", [(0, dispatch("D1", dueHour: 24)), (0.5, .accept(dispatchId: "D1")), (5, .resolve(dispatchId: "D1", note: "ok")),
                                        (6, .close(note: "满意"))], satisfaction: [3: .satisfied])
        // Never answered; its deadline passed (now is hour 48).
        let silent = try makeCase("C-2", [(0, dispatch("D1", dueHour: 24))])
        // Returned at 1 h (an answer in time), sent to env, resolved at 30 h after a due of 25 h (late),
        // the citizen dissatisfied: reopened.
        let late = try makeCase("C-3", [(0, dispatch("D1", dueHour: 24)), (1, .return(dispatchId: "D1", note: "not ours")),
                                        (1, dispatch("D2", to: "env", dueHour: 25)), (30, .resolve(dispatchId: "D2", note: nil)),
                                        (31, .reopen(note: "不满意"))], satisfaction: [4: .dissatisfied])
        // Never dispatched, in another town.
        let open = try makeCase("C-4", grid: "320281104012003", [])
        let assessment = Assessment(reference: ReferenceTestData.data)
        let now = ModelFixtures.time(48 * hour)
        let byDepartment = Dictionary(uniqueKeysWithValues: assessment.rows([good, silent, late, open], by: .department, now: now).map { ($0.group, $0) })
        let urban = try #require(byDepartment["urban-mgmt"])
        #expect(urban.cases == 2 && urban.dispatched == 2 && urban.respondedInTime == 1 && urban.resolvedInTime == 1 && urban.overdue == 1)
        #expect(urban.responseRate == 0.5 && urban.resolutionRate == 0.5 && urban.surveys == 1 && urban.satisfactionRate == 1)
        #expect(urban.name == ReferenceTestData.data.department(code: "urban-mgmt")?.nameZh)
        let env = try #require(byDepartment["env"])
        #expect(env.cases == 1 && env.dispatched == 1 && env.respondedInTime == 1 && env.resolvedInTime == 0 && env.overdue == 1)
        #expect(env.returned == 1 && env.reopened == 1 && env.surveys == 1 && env.satisfied == 0 && env.medianHoursToResolve == 30)
        #expect(byDepartment["(none)"]?.cases == 1 && byDepartment["(none)"]?.dispatched == 0 && byDepartment["(none)"]?.responseRate == nil)
        #expect(byDepartment["(none)"]?.name.hasPrefix("未派遣") == true, "a case no department holds is named for the operator")
        let byTown = assessment.rows([good, silent, late, open], by: .town, now: now)
        #expect(byTown.map(\.group) == ["320281001", "320281104"] && byTown.map(\.cases) == [3, 1])
        let centre = try #require(byTown.first)
        #expect(centre.resolved == 2 && centre.medianHoursToResolve == 5 && centre.p90HoursToResolve == 30)
        // JSON keeps the counts and the rates.
        let json = String(decoding: try GridHubJSON.encoder().encode(urban), as: UTF8.self)
        #expect(json.contains("\"responseRate\":0.5") && json.contains("\"cases\":2"))
        #expect(try GridHubJSON.decoder().decode(Assessment.Row.self, from: Data(json.utf8)) == urban)
    }
}
