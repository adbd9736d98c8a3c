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
        // Department of each incident's case (its first dispatch).
        var departmentOfCase: [String: String] = [:]
        for row in try await TestPostgres.query(world.databaseURL, "SELECT case_id, department FROM dispatches WHERE attempt = 1") where row.count == 2 {
            departmentOfCase[row[0]] = row[1]
        }
        let right = corpus.entries.filter { departmentOfCase[clusters[$0.incident.incidentId] ?? ""] == $0.department }.count
        let accuracy = Double(right) / Double(corpus.entries.count)
        print("corpus: \(corpus.entries.count) incidents, \(Set(corpus.entries.map(\.label)).count) problems, \(Set(clusters.values).count) cases; pairwise precision \(scores.precision), recall \(scores.recall) (\(scores.truePairs) true pairs, \(scores.predictedPairs) merged pairs); department accuracy \(accuracy)")
        #expect(scores.precision >= 0.97)
        #expect(scores.recall >= 0.85)
        #expect(accuracy >= 0.88)
    }
}
