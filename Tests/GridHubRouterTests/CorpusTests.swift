import Foundation
import GridHubCore
import GridHubKafka
import GridHubRouter
import GridHubSimulation
import GridHubTesting
import Testing

@Suite("Labelled corpus through Kafka and PostgreSQL", .timeLimit(.minutes(3)))
struct CorpusTests {
    @Test("pairwise precision and recall of merging, department accuracy")
    func corpus() async throws {
        let corpus = IncidentCorpus(reference: Fixtures.reference, problems: 400, seed: 20_261_127)
        let world = try await RouterWorld()
        try await world.withRouter { _ in
            try await world.publish(corpus.entries.map(\.incident))
            try await world.waitForReports(corpus.entries.count, timeout: .seconds(90))
        }
        let clusters = try await world.caseOfIncident()
        #expect(clusters.count == corpus.entries.count)
        let scores = corpus.pairwiseScores(clusterOf: clusters)
        // Department of each incident's case: its latest dispatch (a case nobody could classify is sent on
        // once a merged report names its item). The right one is the catalogue's for a problem one of the
        // case's reports names, the command centre's triage for one none names (QualityBenchmark).
        var departmentOfCase: [String: String] = [:]
        for row in try await TestPostgres.query(world.databaseURL, "SELECT case_id, department FROM dispatches ORDER BY attempt") where row.count == 2 {
            departmentOfCase[row[0]] = row[1]
        }
        let named = Set(corpus.entries.filter(\.named).compactMap { clusters[$0.incident.incidentId] })
        let right = corpus.entries.filter { e in
            let caseId = clusters[e.incident.incidentId] ?? ""
            return departmentOfCase[caseId] == (named.contains(caseId) ? e.department : Fixtures.rules.triageDepartment)
        }.count
        let accuracy = Double(right) / Double(corpus.entries.count)
        print("corpus: \(corpus.entries.count) incidents, \(Set(corpus.entries.map(\.label)).count) problems, \(Set(clusters.values).count) cases; pairwise precision \(scores.precision), recall \(scores.recall) (\(scores.truePairs) true pairs, \(scores.predictedPairs) merged pairs); department accuracy \(accuracy)")
        #expect(scores.precision >= 0.98)
        #expect(scores.recall >= 0.93)
        #expect(accuracy >= 0.96)
    }
}
