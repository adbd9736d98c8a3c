import Foundation
import GridHubCore
import GridHubSimulation

/// How well GridHub places and merges: grid accuracy per address kind (``AddressCorpus``) and merge
/// precision and recall per pair of source systems (``IncidentCorpus``, whose 12345 orders are placed
/// from their address text alone). `gridhub bench quality`; `AddressQualityTests` guards the figures.
///
/// The merges are replayed with the router's own decision (``DuplicateMatcher``, candidates from the
/// report's grid and the grids around it, in report order); `CorpusTests` runs the same corpus through
/// Kafka and a router with PostgreSQL.
public enum QualityBenchmark {
    /// Grid accuracy of one kind of address.
    public struct KindScore: Sendable, Codable {
        public var kind: String
        public var samples: Int
        /// Placed in the right grid.
        public var right: Int
        /// Placed in a grid, but the wrong one.
        public var wrong: Int
        /// Not placed in any grid (town level or nothing).
        public var unplaced: Int
        /// Mean confidence of the right and of the wrong placements: a wrong one should be less sure.
        public var confidenceRight: Double
        public var confidenceWrong: Double
        /// A few texts that missed: the text, the grid it is in, the grid it was placed in (or none) and how.
        public var misses: [String] = []
        public var accuracy: Double { samples == 0 ? 0 : Double(right) / Double(samples) }
    }

    /// Merge precision and recall over the pairs of reports from two systems.
    public struct PairScore: Sendable, Codable {
        public var systems: String
        public var truePairs: Int
        public var mergedPairs: Int
        public var rightMerges: Int
        public var precision: Double { mergedPairs == 0 ? 1 : Double(rightMerges) / Double(mergedPairs) }
        public var recall: Double { truePairs == 0 ? 1 : Double(rightMerges) / Double(truePairs) }
    }

    public struct Report: Sendable, Codable {
        public var kinds: [KindScore]
        /// All address samples together.
        public var addressAccuracy: Double
        /// 12345 orders of the incident corpus (address text only, written the ways operators write).
        public var hotlineGridAccuracy: Double
        public var hotlineOrders: Int
        public var pairs: [PairScore]
        public var mergePrecision: Double
        public var mergeRecall: Double
        /// Recall over the pairs whose reports both name their problem (text or source category): the
        /// rest can merge only on words in common.
        public var namedMergeRecall: Double
        /// The department of each report's case (the routing of its first report's item) against the problem's.
        public var departmentAccuracy: Double
        public var incidents: Int
        /// Why reports that opened a case of their own were not merged into their problem's case.
        public var missedMerges: [String: Int]
        /// With `showMisses`, a few wrong and missed merges: both reports' texts, items and positions.
        public var mergeExamples: [String] = []

        public var rendered: String {
            var lines = ["Address → grid, per way of writing the address (gazetteer)", ""]
            lines.append("kind              samples   right   wrong  unplaced  accuracy  conf(right)  conf(wrong)")
            for k in kinds {
                lines.append(pad(k.kind, 16) + pad("\(k.samples)", 9, true) + pad("\(k.right)", 8, true) + pad("\(k.wrong)", 8, true)
                             + pad("\(k.unplaced)", 10, true) + pad(String(format: "%.3f", k.accuracy), 10, true)
                             + pad(String(format: "%.2f", k.confidenceRight), 13, true) + pad(String(format: "%.2f", k.confidenceWrong), 13, true))
            }
            for k in kinds where !k.misses.isEmpty {
                lines.append("  missed, \(k.kind):")
                lines += k.misses.map { "    " + $0 }
            }
            lines.append(pad("all", 16) + pad("\(kinds.map(\.samples).reduce(0, +))", 9, true) + pad("", 26) + pad(String(format: "%.3f", addressAccuracy), 10, true))
            lines += ["", "Merging, per pair of source systems (\(incidents) reports of the incident corpus)", ""]
            lines.append("systems                      true pairs  merged pairs  precision  recall")
            for p in pairs {
                lines.append(pad(p.systems, 28) + pad("\(p.truePairs)", 11, true) + pad("\(p.mergedPairs)", 14, true)
                             + pad(String(format: "%.3f", p.precision), 11, true)
                             // No two reports of one problem came from this pair: nothing to recall, only wrong merges to count.
                             + pad(p.truePairs == 0 ? "-" : String(format: "%.3f", p.recall), 8, true))
            }
            lines.append(pad("all", 28) + pad("", 25) + pad(String(format: "%.3f", mergePrecision), 11, true) + pad(String(format: "%.3f", mergeRecall), 8, true))
            lines.append(String(format: "recall over pairs of reports that both name their problem: %.3f", namedMergeRecall))
            if !missedMerges.isEmpty {
                lines += ["", "Reports kept apart from their problem's case, by reason:"]
                lines += missedMerges.sorted { $0.value > $1.value }.map { "  \($0.key): \($0.value)" }
            }
            if !mergeExamples.isEmpty {
                lines += ["", "Examples (the report, then the first report of the case it was or should have been merged into):"]
                lines += mergeExamples.map { "  " + $0 }
            }
            lines += ["", String(format: "12345 orders placed in the right grid: %.3f of %d; department accuracy %.3f", hotlineGridAccuracy, hotlineOrders, departmentAccuracy)]
            return lines.joined(separator: "\n")
        }

        private func pad(_ s: String, _ width: Int, _ left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, width - s.count))
            return left ? fill + s : s + fill
        }
    }

    /// Measures on `perKind` addresses of every kind and an incident corpus of `problems` problems.
    public static func run(reference: ReferenceData, rules: RoutingRules, perKind: Int = 400, problems: Int = 1_500, seed: UInt64 = 20_261_205, showMisses: Int = 0) -> Report {
        // Addresses.
        let corpus = AddressCorpus(reference: reference, perKind: perKind, seed: seed)
        var kinds: [KindScore] = []
        for kind in AddressCorpus.Kind.allCases {
            let samples = corpus.samples.filter { $0.kind == kind }
            guard !samples.isEmpty else { continue }
            var score = KindScore(kind: kind.rawValue, samples: samples.count, right: 0, wrong: 0, unplaced: 0, confidenceRight: 0, confidenceWrong: 0)
            for s in samples {
                let m = reference.resolve(address: s.text)
                if m.gridCode == s.gridCode {
                    score.right += 1
                    score.confidenceRight += m.confidence
                } else if m.gridCode != nil {
                    score.wrong += 1
                    score.confidenceWrong += m.confidence
                } else { score.unplaced += 1 }
                if m.gridCode != s.gridCode, score.misses.count < showMisses {
                    score.misses.append("\(s.text)  (in \(s.gridCode), placed \(m.gridCode ?? "nowhere") by \(m.method.rawValue), confidence \(String(format: "%.2f", m.confidence)))")
                }
            }
            if score.right > 0 { score.confidenceRight /= Double(score.right) }
            if score.wrong > 0 { score.confidenceWrong /= Double(score.wrong) }
            kinds.append(score)
        }
        let addressAccuracy = Double(kinds.map(\.right).reduce(0, +)) / Double(max(1, kinds.map(\.samples).reduce(0, +)))

        // Incidents.
        let incidents = IncidentCorpus(reference: reference, problems: problems, seed: seed)
        let hotline = incidents.entries.filter { $0.incident.source.system == .hotline12345 }
        let hotlineRight = hotline.filter { $0.incident.location.gridCode == $0.gridCode }.count
        let (clusters, missed, itemOfCase, examples) = replay(incidents.entries.map(\.incident), labels: incidents.entries.map(\.label), reference: reference,
                                                               examples: showMisses)
        var pairs: [String: PairScore] = [:]
        var namedTrue = 0, namedRight = 0
        let e = incidents.entries
        for i in 0..<e.count {
            for j in (i + 1)..<e.count {
                let same = e[i].label == e[j].label
                let merged = clusters[i] == clusters[j]
                guard same || merged else { continue }
                if same && e[i].named && e[j].named {
                    namedTrue += 1
                    if merged { namedRight += 1 }
                }
                let names = [e[i].incident.source.system.rawValue, e[j].incident.source.system.rawValue].sorted().joined(separator: " + ")
                var p = pairs[names] ?? PairScore(systems: names, truePairs: 0, mergedPairs: 0, rightMerges: 0)
                if same { p.truePairs += 1 }
                if merged { p.mergedPairs += 1 }
                if same && merged { p.rightMerges += 1 }
                pairs[names] = p
            }
        }
        let all = pairs.values
        let tp = all.map(\.rightMerges).reduce(0, +), merged = all.map(\.mergedPairs).reduce(0, +), truth = all.map(\.truePairs).reduce(0, +)
        // Department: the routing of each case's item (its first report's, or the first item a merged report brought).
        var firstOfCluster: [Int: Incident] = [:]
        for (i, incident) in incidents.entries.map(\.incident).enumerated() where firstOfCluster[clusters[i]] == nil { firstOfCluster[clusters[i]] = incident }
        // The right department is the catalogue's for a problem one of the case's reports names (in its
        // text or its source's category), the triage department (the command centre) for one none names.
        var namedCases = Set<Int>()
        for (i, entry) in incidents.entries.enumerated() where entry.named { namedCases.insert(clusters[i]) }
        var rightDepartment = 0
        for (i, entry) in incidents.entries.enumerated() {
            let expected = namedCases.contains(clusters[i]) ? entry.department : rules.triageDepartment
            if let first = firstOfCluster[clusters[i]],
               rules.route(itemCode: itemOfCase[clusters[i]], gridCode: first.location.gridCode, urgent: first.urgent).department == expected { rightDepartment += 1 }
        }
        return Report(kinds: kinds, addressAccuracy: addressAccuracy,
                      hotlineGridAccuracy: Double(hotlineRight) / Double(max(1, hotline.count)), hotlineOrders: hotline.count,
                      pairs: pairs.values.sorted { $0.systems < $1.systems },
                      mergePrecision: merged == 0 ? 1 : Double(tp) / Double(merged), mergeRecall: truth == 0 ? 1 : Double(tp) / Double(truth),
                      namedMergeRecall: namedTrue == 0 ? 1 : Double(namedRight) / Double(namedTrue),
                      departmentAccuracy: Double(rightDepartment) / Double(max(1, e.count)), incidents: e.count, missedMerges: missed,
                      mergeExamples: examples)
    }

    /// The case (an index) of each incident, decided as the router decides: in order of report, against
    /// the cases of the report's grid and of the grids around it.
    static func replay(_ incidents: [Incident], reference: ReferenceData) -> [Int] {
        replay(incidents, labels: nil, reference: reference, examples: 0).cases
    }

    /// One report as an example line shows it.
    static func describe(_ i: Incident) -> String {
        let p = i.location.positioning
        let address = i.location.address.map { " «\($0)» \(String(format: "%.2f", p.confidence ?? 0))" } ?? ""
        return "[\(i.source.system.rawValue) \(i.itemCode ?? "no item") \(p.method.rawValue)\(p.precision.map { "/" + $0.rawValue } ?? "")\(address)] \(i.description)"
    }

    /// ``replay(_:reference:)``, and with `labels`, why each report that opened a case of its own was kept
    /// apart from the case of the first earlier report of its problem (`notSearched`: that case is not in
    /// the grids searched).
    static func replay(_ incidents: [Incident], labels: [Int]?, reference: ReferenceData, examples: Int)
        -> (cases: [Int], missed: [String: Int], items: [Int: String], examples: [String]) {
        var missed: [String: Int] = [:]
        var shown: [String] = []
        var wrongShown = 0, missedShown = 0
        var caseOfLabel: [Int: (id: String, grid: String)] = [:]
        var itemOfCase: [Int: String] = [:]
        let matcher = DuplicateMatcher(items: reference.items, classifier: reference.classifier)
        var byGrid: [String: [DedupCandidate]] = [:]
        var caseOf: [Int] = []
        var caseIndex: [String: Int] = [:]
        var neighbours: [String: [String]] = [:]
        for incident in incidents {
            let placed = DuplicateMatcher.position(of: incident.location, reference: reference)
            let grid = incident.location.gridCode ?? placed.flatMap { reference.gridCode(at: $0.0) }
            if let grid, let (position, radius) = placed, !incident.resolvedOnSite {
                if neighbours[grid] == nil { neighbours[grid] = [grid] + reference.neighbours(of: grid).map(\.gridCode) }
                var best: DedupDecision? = nil
                for g in neighbours[grid]! {
                    best = matcher.decide(incident, text: TextFeatures(incident.description), position: position, uncertaintyMeters: radius,
                                          candidates: byGrid[g] ?? [], sameGrid: g == grid, better: best)
                }
                if let best, let index = caseIndex[best.caseId] {
                    if let labels, let first = caseOf.firstIndex(of: index), labels[first] != labels[caseOf.count] {
                        let d = best.evidence.distanceMeters.map { Int($0) } ?? -1
                        missed["wrong merge: \(best.evidence.itemRelation.rawValue), \(incident.location.positioning.method.rawValue)/\(incidents[first].location.positioning.method.rawValue), \(d / 50 * 50) m", default: 0] += 1
                        if wrongShown < examples {
                            wrongShown += 1
                            shown.append("wrong merge (\(best.evidence.itemRelation.rawValue), \(d) m, \(String(format: "%.1f h", best.evidence.timeGapSeconds / 3600)), text \(best.evidence.textScore)): \(describe(incident))  ⇄  \(describe(incidents[first]))")
                        }
                    }
                    for g in neighbours[grid]! {
                        guard let k = byGrid[g]?.firstIndex(where: { $0.caseId == best.caseId }) else { continue }
                        // An unclassified case takes the item of a report that has one (CasePolicy.merged).
                        if byGrid[g]![k].itemCode == nil, let item = incident.itemCode {
                            byGrid[g]![k].itemCode = item
                            itemOfCase[index] = item
                        }
                        byGrid[g]![k].firstReportedAt = min(byGrid[g]![k].firstReportedAt, incident.reportedAt)
                        byGrid[g]![k].lastReportedAt = max(byGrid[g]![k].lastReportedAt, incident.reportedAt)
                    }
                    caseOf.append(index)
                    continue
                }
                if let labels, let earlier = caseOfLabel[labels[caseOf.count]] {
                    if let c = byGrid[earlier.grid]?.first(where: { $0.caseId == earlier.id }), neighbours[grid]!.contains(earlier.grid) {
                        if case .keptApart(let miss) = matcher.evaluate(incident, position: position, uncertaintyMeters: radius, against: c, sameGrid: earlier.grid == grid) {
                            missed[miss.reason.rawValue + " (" + miss.itemRelation.rawValue + ")", default: 0] += 1
                            if missedShown < examples, let first = labels.firstIndex(of: labels[caseOf.count]) {
                                missedShown += 1
                                shown.append("missed, \(miss.reason.rawValue) (\(Int(miss.distanceMeters ?? -1)) m, \(String(format: "%.1f h", miss.timeGapSeconds / 3600)), text \(miss.textScore)): \(describe(incident))  ⇄  \(describe(incidents[first]))")
                            }
                        } else { missed["lostToAnotherCase", default: 0] += 1 }
                    } else { missed["notSearched", default: 0] += 1 }
                }
                let id = "case-\(caseIndex.count)"
                if let labels, caseOfLabel[labels[caseOf.count]] == nil { caseOfLabel[labels[caseOf.count]] = (id, grid) }
                caseIndex[id] = caseIndex.count
                if let item = incident.itemCode { itemOfCase[caseIndex[id]!] = item }
                byGrid[grid, default: []].append(DedupCandidate(caseId: id, itemCode: incident.itemCode, position: position, uncertaintyMeters: radius,
                                                                text: incident.description, firstReportedAt: incident.reportedAt,
                                                                lastReportedAt: incident.reportedAt, closedAt: nil, groups: incident.itemCode == nil ? matcher.categoryGroups(of: incident) : []))
                caseOf.append(caseIndex[id]!)
            } else {
                if let labels, caseOfLabel[labels[caseOf.count]] != nil { missed["notPlaced", default: 0] += 1 }
                let id = "case-\(caseIndex.count)"
                caseIndex[id] = caseIndex.count
                caseOf.append(caseIndex[id]!)
            }
        }
        return (caseOf, missed, itemOfCase, shown)
    }
}
