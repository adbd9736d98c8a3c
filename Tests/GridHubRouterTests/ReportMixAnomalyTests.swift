import Foundation
import GridHubCore
import Testing
@testable import GridHubSimulation

/// The report-mix detector on the simulated city's grid-worker traffic: honest cities raise no flag at
/// the chosen threshold; a worker padding the count with easy items is found, with the evidence.
@Suite("Report-mix anomalies")
struct ReportMixAnomalyTests {
    /// About a month of 综治e通 reports of the simulated city: every grid's worker reports the problems
    /// of their grid (places weighted by population, items as the city's traffic has them).
    static func honestMonth(seed: UInt64, reports: Int = 40_000) -> [ReportMixAnomaly.Observation] {
        let world = CityModel(reference: Fixtures.reference)
        var rng = SplitMix64(seed: seed)
        return (0..<reports).map { _ in
            let p = world.problem(using: &rng)
            return ReportMixAnomaly.Observation(gridCode: p.place.gridCode, workerId: CityModel.worker(of: p.place.gridCode), itemCode: p.item.code)
        }
    }

    @Test("honest cities: no grid and no worker flagged at the chosen threshold (ten simulated months, every subject with enough reports tested)")
    func honestCity() {
        let detector = ReportMixAnomaly(reference: Fixtures.reference)
        var tested = 0, flagged: [ReportMixAnomaly.Flag] = []
        for seed in UInt64(1)...10 {
            let month = Self.honestMonth(seed: seed)
            var perSubject: [String: Int] = [:]
            for o in month { perSubject["g" + o.gridCode, default: 0] += 1; perSubject["w" + (o.workerId ?? ""), default: 0] += 1 }
            tested += perSubject.values.filter { $0 >= detector.minimumReports }.count
            flagged += detector.flags(month)
        }
        #expect(tested > 5_000, "\(tested) subjects tested")
        #expect(flagged.isEmpty, "false flags: \(flagged.prefix(5))")
        print("report-mix: honest cities: \(flagged.count) flags among \(tested) subjects tested")
    }

    @Test("a worker padding the count with easy items is found, grid and worker, with the evidence; nobody else is")
    func plantedGamer() throws {
        let detector = ReportMixAnomaly(reference: Fixtures.reference)
        let world = CityModel(reference: Fixtures.reference)
        var found = 0
        let plants = 10
        var rng = SplitMix64(seed: 99)
        for seed in UInt64(1)...UInt64(plants) {
            var month = Self.honestMonth(seed: seed + 100)
            // A busy grid's worker adds 30 easy items in the month on top of what they really found.
            let counts = Dictionary(grouping: month, by: \.gridCode).mapValues(\.count)
            let busy = counts.filter { $0.value >= 20 }.keys.sorted()
            let grid = busy[Int(seed) * 7 % busy.count]
            for _ in 0..<30 {
                let easy = try #require(world.easyProblem(in: grid, using: &rng))
                month.append(.init(gridCode: grid, workerId: CityModel.worker(of: grid), itemCode: easy.item.code))
            }
            let flags = detector.flags(month)
            let subjects = Set(flags.map(\.subject))
            if subjects.contains(CityModel.worker(of: grid)) && subjects.contains(grid) { found += 1 }
            #expect(subjects.isSubset(of: [grid, CityModel.worker(of: grid)]), "only the planted worker and their grid are flagged: \(flags)")
            if let flag = flags.first(where: { $0.subjectKind == .worker }) {
                #expect(flag.easyShare > flag.baselineEasyShare + 0.15 && flag.pValue < 1e-5 && flag.reports >= 30)
                #expect(flag.topItems.allSatisfy { detector.easyItems.contains($0) } || flag.topItems.count < 3)
            }
        }
        #expect(found == plants, "found \(found) of \(plants) planted workers")
        print("report-mix: planted workers found: \(found) of \(plants)")
    }

    @Test("the chance of k or more easy reports by chance is the exact binomial tail")
    func binomialTail() {
        #expect(abs(ReportMixAnomaly.binomialUpperTail(atLeast: 1, of: 1, probability: 0.3) - 0.3) < 1e-12)
        #expect(abs(ReportMixAnomaly.binomialUpperTail(atLeast: 2, of: 3, probability: 0.5) - 0.5) < 1e-12)
        // P(X ≥ 13), X ~ B(27, 0.173): 2.1·10⁻⁴ (the normal approximation, z = 4.2, says 1.1·10⁻⁵).
        let tail = ReportMixAnomaly.binomialUpperTail(atLeast: 13, of: 27, probability: 0.173)
        #expect(tail > 1e-4 && tail < 4e-4, "\(tail)")
        #expect(ReportMixAnomaly.binomialUpperTail(atLeast: 0, of: 10, probability: 0.2) == 1)
        #expect(ReportMixAnomaly.binomialUpperTail(atLeast: 11, of: 10, probability: 0.2) == 0)
    }
}
