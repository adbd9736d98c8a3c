import Foundation
import GridHubBenchmarks
import GridHubCore
import GridHubRouter
import GridHubSimulation
import GridHubTesting
import Testing

@Suite("Placing and merging quality (gridhub bench quality)")
struct QualityTests {
    @Test("grid accuracy per way of writing an address, 12345 orders placed, merges and departments: above their floors on a corpus not used to tune")
    func quality() {
        let reference = Fixtures.reference
        let rules = Fixtures.rules
        // A seed of its own: the figures in docs/quality.md were tuned on 20261205.
        let report = QualityBenchmark.run(reference: reference, rules: rules, perKind: 120, problems: 700, seed: 31)
        print(report.rendered)
        for k in report.kinds {
            // Shop and company names are shared by several places: a name alone is often ambiguous.
            #expect(k.accuracy >= (k.kind == "placeName" ? 0.8 : 0.93), "\(k.kind): \(k.accuracy)")
        }
        #expect(report.addressAccuracy >= 0.97)
        #expect(report.hotlineGridAccuracy >= 0.96)
        #expect(report.mergePrecision >= 0.985)
        #expect(report.mergeRecall >= 0.94)
        #expect(report.departmentAccuracy >= 0.97)
        // The figures the table prints are the ones it measured.
        #expect(report.kinds.map(\.samples).reduce(0, +) > 1_500)
        #expect(report.pairs.contains { $0.systems == "hotline12345 + woodpecker" && $0.truePairs > 100 })
    }
}
