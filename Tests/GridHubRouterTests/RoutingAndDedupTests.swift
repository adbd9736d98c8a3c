import Foundation
import GridHubCore
import GridHubRouter
import GridHubSimulation
import GridHubTesting
import Testing

@Suite("Routing rules and duplicate scoring (pure)")
struct RoutingAndDedupTests {
    @Test("Deploy/routing.json: item → department and level, place raises the level, triage, re-routing")
    func routing() throws {
        let rules = Fixtures.rules
        let grid = Fixtures.reference.grids.first { $0.townCode == "320281104" }!.gridCode
        let r = rules.route(itemCode: "SR-001", gridCode: grid, urgent: false)
        #expect(r.department == "urban-mgmt" && r.level == .village && r.timeLimit == 24 * 3600 && !r.triage)
        let urgent = rules.route(itemCode: "SR-001", gridCode: grid, urgent: true)
        #expect(urgent.timeLimit == 6 * 3600)
        let centre = Fixtures.reference.grids.first { $0.townCode == "320281001" }!.gridCode
        #expect(rules.route(itemCode: "SR-001", gridCode: centre, urgent: false).level == .town)
        #expect(rules.route(itemCode: nil, gridCode: grid, urgent: false).department == "command-center")
        #expect(rules.route(itemCode: "SR-001", gridCode: nil, urgent: false).triage)
        let back = rules.reroute(returnedBy: "urban-mgmt", tried: ["urban-mgmt"], itemCode: "SR-001", gridCode: grid, urgent: false)
        #expect(back.department == "env")
        let exhausted = rules.reroute(returnedBy: "urban-mgmt", tried: ["urban-mgmt", "env", "housing", "natural-resources"], itemCode: "SR-001", gridCode: grid, urgent: false)
        #expect(exhausted.department == "command-center")
    }

    @Test("a broken rules file is refused with the line of the problem")
    func validation() throws {
        var text = Fixtures.rulesText.replacingOccurrences(of: "\"items\": {}", with: "\"items\": {\n    \"SR-999\": {\"department\": \"urban-mgmt\"}\n  }")
        var error = #expect(throws: RoutingRulesError.self) { try RoutingRules(text: text, reference: Fixtures.reference) }
        #expect(error?.message.contains("SR-999") == true)
        let expected = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("SR-999") }.map { $0 + 1 }
        #expect(error?.line == expected)
        text = Fixtures.rulesText.replacingOccurrences(of: "\"env\",", with: "\"environment\",")
        error = #expect(throws: RoutingRulesError.self) { try RoutingRules(text: text, reference: Fixtures.reference) }
        #expect(error?.message.contains("'environment' is not a department") == true)
        #expect((error?.line ?? 0) > 1)
        error = #expect(throws: RoutingRulesError.self) { try RoutingRules(text: "{\"triageDepartment\": 1}", reference: Fixtures.reference) }
        #expect(error?.line == 1)
        text = Fixtures.rulesText.replacingOccurrences(of: "\"civil-affairs\"\n  ]", with: "\"civil-affairs\",\n    \"tax-office\"\n  ]")
        error = #expect(throws: RoutingRulesError.self) { try RoutingRules(text: text, reference: Fixtures.reference) }
        #expect(error?.message == "personalDataFor: 'tax-office' is not a department of departments.csv")
        #expect(error?.line == text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("tax-office") }.map { $0 + 1 })
        let rules = try RoutingRules(text: Fixtures.rulesText, reference: Fixtures.reference)
        #expect(rules.disclosesPersonalData(to: "police") && !rules.disclosesPersonalData(to: "urban-mgmt"))
    }

    @Test("text similarity tells paraphrases from other complaints")
    func text() {
        let same = DuplicateMatcher.textSimilarity("小区门口垃圾成堆没人清理", "门口垃圾成堆，发臭")
        let other = DuplicateMatcher.textSimilarity("小区门口垃圾成堆没人清理", "楼道里电动车飞线充电")
        #expect(same > 0.2)
        #expect(other < 0.1)
    }

    @Test("place outweighs text: same text far apart is not a duplicate")
    func placeFirst() {
        let matcher = DuplicateMatcher(items: Fixtures.reference.items)
        let p = Make.place(3000).coordinate
        let incident = Make.incident(.woodpecker, "WP-9", item: "SR-001", at: p, text: "垃圾成堆")
        let near = DedupCandidate(caseId: "c1", itemCode: "SR-001", position: p.offset(metres: 60, bearing: 10), uncertaintyMeters: 40, text: "完全不同的描述",
                                  firstReportedAt: incident.reportedAt, lastReportedAt: incident.reportedAt, closedAt: nil)
        var far = near
        far.caseId = "c2"
        far.position = p.offset(metres: 600, bearing: 10)
        far.text = TextFeatures("垃圾成堆")
        let decision = matcher.decide(incident, position: p, uncertaintyMeters: 40, candidates: [far, near])
        #expect(decision?.caseId == "c1")
        var closedLongAgo = near
        closedLongAgo.closedAt = incident.reportedAt.addingTimeInterval(-2 * 86_400)
        #expect(matcher.decide(incident, position: p, uncertaintyMeters: 40, candidates: [closedLongAgo]) == nil)
    }
}
