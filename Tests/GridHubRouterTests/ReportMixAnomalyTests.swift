import Foundation
import GridHubCore
import GridHubKafka
import GridHubTesting
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

    @Test("the router raises a reportMix alert for a worker padding the count, with the evidence, once; gridhub tail shows it")
    func routerAlert() async throws {
        let world = try await RouterWorld()
        let reference = Fixtures.reference
        let detector = ReportMixAnomaly(reference: reference)
        // One town: the gaming worker's grid and its peers' grids.
        let town = try #require(reference.towns.first { t in reference.grids.filter { $0.townCode == t.code }.count >= 8 })
        let grids = reference.gazetteer.entries.filter { $0.gridCode.hasPrefix(town.code) }
        let byGrid = Dictionary(grouping: grids, by: \.gridCode)
        let gridCodes = byGrid.keys.sorted()
        let gamer = gridCodes[0]
        let easy = reference.items.filter { detector.easyItems.contains($0.code) }
        let hard = reference.items.filter { !detector.easyItems.contains($0.code) && !$0.urgent }
        var incidents: [Incident] = []
        func report(_ n: Int, grid: String, item: CatalogueItem) -> Incident {
            let place = byGrid[grid]![n % byGrid[grid]!.count]
            var i = Make.incident(.elink, "ZZ-MIX-\(grid)-\(n)", item: item.code, at: place.coordinate, minutes: Double(n) * 37, text: item.nameZh + "，网格员巡查发现")
            // Far apart in time (37 min) and each a different record: no two merge into one case.
            i.reportedAt = Date().addingTimeInterval(-Double(n) * 37 * 60)
            i.receivedAt = i.reportedAt
            i.reporter = Reporter(kind: .gridWorker, id: "WGY-\(grid)")
            return i
        }
        var n = 0
        for k in 0..<25 { n += 1; incidents.append(report(n, grid: gamer, item: easy[k % easy.count])) }
        for (g, grid) in gridCodes.dropFirst().prefix(6).enumerated() {
            for k in 0..<12 { n += 1; incidents.append(report(n, grid: grid, item: k % 6 == 0 ? easy[(g + k) % easy.count] : hard[(g * 12 + k) % hard.count])) }
        }
        let published = incidents
        try await world.withRouter { daemon in
            try await world.publish(published)
            try await world.waitForReports(published.count)
            // The look the router takes every hour, taken now.
            #expect(try await daemon.reportMix.check() == 2, "the worker and their grid")
            let alerts = try await world.waitFor(Topics.alerts, as: Alert.self, timeout: .seconds(90)) { a in
                a.contains { $0.kind == .reportMix && $0.reportMix?.subjectKind == .worker }
            }
            let mix = alerts.filter { $0.kind == .reportMix }
            let worker = try #require(mix.first { $0.reportMix?.subjectKind == .worker })
            let evidence = try #require(worker.reportMix)
            #expect(evidence.subject == "WGY-\(gamer)" && evidence.townCode == town.code && evidence.reports == 25 && evidence.easyReports == 25)
            #expect(evidence.easyShare == 1 && evidence.baselineEasyShare < 0.3 && evidence.pValue < 1e-10)
            #expect(worker.message.contains("WGY-\(gamer)") && worker.department == nil)
            #expect(Set(mix.map { $0.reportMix!.subject }) == [gamer, "WGY-\(gamer)"], "only the gamer and their grid: \(mix.map { $0.reportMix!.subject })")
            // Looked at again: still flagged, but not alerted again within the week.
            #expect(try await daemon.reportMix.check() == 0)
            let again = try await world.read(Topics.alerts, quiet: .seconds(1))
            #expect(again.count == alerts.count, "\(again.count) alerts after more looks, \(alerts.count) before")
            let tail = try await runCommand(GridHubPaths.executable, ["tail", Topics.alerts, "--from-beginning", "--no-follow"],
                                            environment: ["GRIDHUB_BOOTSTRAP": world.cluster.bootstrapServers])
            #expect(tail.stdout.contains("ALERT reportMix worker=WGY-\(gamer) easy=100%"), "\(tail.stdout)")
        }
    }
}
