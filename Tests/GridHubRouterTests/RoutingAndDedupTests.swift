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

    @Test("a text holds a word when it holds every bigram of the word, as sets of bigrams say, for 20 000 random pairs")
    func textHoldsWord() {
        var rng = SplitMix64(seed: 1_207)
        let characters = Array("垃圾堆放路灯不亮井盖破损占道经营噪音扰民积水") + ["1", "2", "a", "，", " "]
        func text(_ length: UInt64) -> [Character] { (0..<Int(rng.next() % length)).map { _ in characters[Int(rng.next() % UInt64(characters.count))] } }
        var held = 0
        for _ in 0..<20_000 {
            let long = text(40)
            // Half the words are a piece of the text (held), half are random (mostly not).
            let start = long.isEmpty ? 0 : Int(rng.next() % UInt64(long.count))
            let word = rng.next() % 2 == 0 ? Array(long[start..<min(long.count, start + 2 + Int(rng.next() % 4))]) : text(6)
            let a = TextFeatures(String(long)), b = TextFeatures(String(word))
            let expected = Set(b.bigrams).isSubset(of: Set(a.bigrams))
            #expect(a.contains(b) == expected, "\(a.bigrams) \(b.bigrams)")
            if expected, !b.bigrams.isEmpty { held += 1 }
        }
        #expect(held > 5_000, "many words should be held: \(held)")
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

    @Test("item words decide between problems at one address: a report naming the case's item joins it, a neighbouring problem phrased alike does not")
    func namedItems() {
        let matcher = DuplicateMatcher(items: Fixtures.reference.items)
        let p = Make.place(3000).coordinate
        func candidate(_ item: String?, _ text: String) -> DedupCandidate {
            DedupCandidate(caseId: "c1", itemCode: item, position: p.offset(metres: 20, bearing: 80), uncertaintyMeters: 40, text: text,
                           firstReportedAt: Make.base, lastReportedAt: Make.base.addingTimeInterval(600), closedAt: nil)
        }
        // Unclassified, few words in common, but it names the case's item (散坟乱葬: 乱埋乱葬).
        let unclassified = Make.incident(.elink, "EL-1", item: nil, at: p, text: "乱埋乱葬！！在华士路这边，希望有关部门来看看")
        let grave = candidate("SR-128", "反映华士路附近散坟的问题，请尽快处理")
        #expect(DuplicateMatcher.textSimilarity(unclassified.description, "反映华士路附近散坟的问题，请尽快处理") < 0.3)
        #expect(matcher.decide(unclassified, position: p, uncertaintyMeters: 40, candidates: [grave])?.evidence.itemRelation == .namedItem)
        // The same when the case is the unclassified one and the report names the case's words' item.
        let classified = Make.incident(.hotline12345, "HL-1", item: "SR-128", at: p, text: "市民来电：华士路一带私建坟墓")
        #expect(matcher.decide(classified, position: p, uncertaintyMeters: 40, candidates: [candidate(nil, "乱埋乱葬！！在华士路这边")])?.evidence.itemRelation == .namedItem)
        #expect(matcher.decide(classified, position: p, uncertaintyMeters: 40, candidates: [candidate(nil, "华士路这边有人吵架")]) == nil)

        // A related item whose text names the case's item: classified next to it, the same problem.
        let misfiled = Make.incident(.woodpecker, "WP-1", item: "SR-005", at: p, text: "乱堆物料，地点在黄家庄路27号门口")
        #expect(matcher.decide(misfiled, position: p, uncertaintyMeters: 40, candidates: [candidate("SR-003", "巡查发现黄家庄路杂物堆放")])?.evidence.itemRelation == .sameGroup)
        // Another item of the group at the same door, phrased alike: the words that differ name two problems.
        let bikes = Make.incident(.woodpecker, "WP-2", item: "SR-016", at: p, text: "共享单车！！在新郁四巷这边，希望有关部门来看看")
        let stalls = candidate("SR-013", "占道经营！！在新郁四巷这边，希望有关部门来看看")
        #expect(DuplicateMatcher.textSimilarity(bikes.description, "占道经营！！在新郁四巷这边，希望有关部门来看看") > 0.5)
        #expect(matcher.decide(bikes, position: p, uncertaintyMeters: 40, candidates: [stalls]) == nil)
    }

    @Test("a source category that names only a group (a 12345 first level) decides for a report whose words name no problem: an item of that group joins within a day, another group's item stays apart however alike the words; either side may be the unclassified one")
    func categoryGroups() {
        let matcher = DuplicateMatcher(items: Fixtures.reference.items, classifier: Fixtures.reference.classifier)
        let p = Make.place(3000).coordinate
        func candidate(_ item: String?, _ text: String, groups: [String] = []) -> DedupCandidate {
            DedupCandidate(caseId: "c1", itemCode: item, position: p.offset(metres: 20, bearing: 80), uncertaintyMeters: 40, text: text,
                           firstReportedAt: Make.base, lastReportedAt: Make.base.addingTimeInterval(600), closedAt: nil, groups: groups)
        }
        var order = Make.incident(.hotline12345, "HL-2", item: nil, at: p, method: .addressMatch, text: "黄家庄路27号这里有问题，请尽快派人来处理")
        order.source.category = "城乡建设"
        #expect(matcher.categoryGroups(of: order).contains("市容环境"))
        // 暴露垃圾 is 市容环境, one of 城乡建设's groups: the same problem, though the words share only the address.
        let garbage = candidate("SR-001", "黄家庄路27号垃圾成堆")
        #expect(DuplicateMatcher.textSimilarity(order.description, "黄家庄路27号垃圾成堆") < 0.3)
        #expect(matcher.decide(order, position: p, uncertaintyMeters: 50, candidates: [garbage])?.evidence.itemRelation == .categoryGroup)
        // 消防栓损坏 is 消防安全, not 城乡建设's: another problem, however many words the two share.
        let hydrant = candidate("SR-060", "黄家庄路27号消防栓这里有问题，请尽快派人来处理")
        #expect(DuplicateMatcher.textSimilarity(order.description, "黄家庄路27号消防栓这里有问题，请尽快派人来处理") >= 0.3)
        #expect(matcher.decide(order, position: p, uncertaintyMeters: 50, candidates: [hydrant]) == nil)
        guard case .keptApart(let miss) = matcher.evaluate(order, position: p, uncertaintyMeters: 50, against: hydrant) else {
            Issue.record("the hydrant's case took the order")
            return
        }
        #expect(miss.reason == .otherItem && miss.itemRelation == .otherGroup)
        // Without a category (or with 其他) only the words count, as before: the hydrant's words win.
        var plain = order
        plain.source.category = "其他"
        #expect(matcher.categoryGroups(of: plain).isEmpty)
        #expect(matcher.decide(plain, position: p, uncertaintyMeters: 50, candidates: [hydrant])?.evidence.itemRelation == .unclassified)
        #expect(matcher.decide(plain, position: p, uncertaintyMeters: 50, candidates: [garbage]) == nil)

        // The case is the unclassified one: its groups were stored with it.
        let app = Make.incident(.woodpecker, "WP-3", item: "SR-001", at: p, text: "垃圾成堆没人清理")
        let groups = matcher.categoryGroups(of: order)
        #expect(matcher.decide(app, position: p, uncertaintyMeters: 25, candidates: [candidate(nil, order.description, groups: groups)])?.evidence.itemRelation == .categoryGroup)
        let fire = Make.incident(.woodpecker, "WP-4", item: "SR-060", at: p, text: "黄家庄路27号消防栓这里有问题，请尽快派人来处理")
        #expect(matcher.decide(fire, position: p, uncertaintyMeters: 25, candidates: [candidate(nil, order.description, groups: groups)]) == nil)
        #expect(matcher.decide(fire, position: p, uncertaintyMeters: 25, candidates: [candidate(nil, order.description)])?.evidence.itemRelation == .unclassified)
        // Evidence that rests on a category (or on words in common) holds within a day only.
        var late = garbage
        late.firstReportedAt = Make.base.addingTimeInterval(-30 * 3600)
        late.lastReportedAt = late.firstReportedAt
        #expect(matcher.decide(order, position: p, uncertaintyMeters: 50, candidates: [late]) == nil)
        if case .keptApart(let miss) = matcher.evaluate(order, position: p, uncertaintyMeters: 50, against: late) { #expect(miss.reason == .tooLongApart) }
        else { Issue.record("a case 30 h before took the order on its category alone") }
        // Two unclassified reports whose categories name no group in common: two problems, even word for word.
        var police = order
        police.source.category = "公共安全"
        #expect(matcher.decide(police, position: p, uncertaintyMeters: 50, candidates: [candidate(nil, order.description, groups: groups)]) == nil)
        #expect(matcher.decide(plain, position: p, uncertaintyMeters: 50, candidates: [candidate(nil, order.description, groups: groups)]) != nil)
    }

    @Test("near misses say which cases nearly took a report and why; a grid worker's coarse report of the same item joins a case of its own grid the same day")
    func nearMissesAndGrids() {
        let matcher = DuplicateMatcher(items: Fixtures.reference.items)
        let p = Make.place(3000).coordinate
        let incident = Make.incident(.woodpecker, "WP-5", item: "SR-001", at: p, text: "垃圾成堆没人管")
        func candidate(_ id: String, _ item: String?, metres: Double, hours: Double = 0, uncertainty: Double = 40, text: String = "垃圾成堆") -> DedupCandidate {
            let t = incident.reportedAt.addingTimeInterval(-hours * 3600)
            return DedupCandidate(caseId: id, itemCode: item, position: p.offset(metres: metres, bearing: 120), uncertaintyMeters: uncertainty, text: text,
                                  firstReportedAt: t, lastReportedAt: t, closedAt: nil)
        }
        let misses = matcher.nearMisses(incident, text: TextFeatures(incident.description), position: p, uncertaintyMeters: 40, candidates: [
            candidate("far", "SR-001", metres: 300), candidate("other", "SR-060", metres: 10), candidate("late", "SR-001", metres: 20, hours: 100),
            candidate("very-far", "SR-001", metres: 2_000),
        ])
        #expect(misses.map(\.caseId) == ["other", "late", "far"])
        #expect(misses.map(\.reason) == [.otherItem, .tooLongApart, .tooFar])
        #expect(misses[2].limitMeters == 180 && misses[2].distanceMeters.map { abs($0 - 300) < 1 } == true)

        // A worker's report placed only by its grid (the grid's centre, 450 m), other words: not on place alone…
        let worker = Make.incident(.elink, "ZZ-5", item: "SR-001", at: p, method: .workerGrid, text: "巡查发现暴露垃圾")
        let gridCase = candidate("mine", "SR-001", metres: 250, hours: 5, text: "反映这里很脏")
        #expect(matcher.decide(worker, text: TextFeatures(worker.description), position: p, uncertaintyMeters: 450, candidates: [gridCase]) == nil)
        // …but in its own grid the same day it is the same problem; a day and a half later it is not.
        #expect(matcher.decide(worker, text: TextFeatures(worker.description), position: p, uncertaintyMeters: 450, candidates: [gridCase], sameGrid: true)?.caseId == "mine")
        let older = candidate("old", "SR-001", metres: 250, hours: 36, text: "反映这里很脏")
        #expect(matcher.decide(worker, text: TextFeatures(worker.description), position: p, uncertaintyMeters: 450, candidates: [older], sameGrid: true) == nil)
    }
}
