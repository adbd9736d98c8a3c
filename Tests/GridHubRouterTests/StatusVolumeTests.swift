import Foundation
import GridHubCore
import GridHubKafka
import GridHubTesting
import Testing

/// A source hears about its own report when something happens to it, once: status records grow
/// linearly with the reports merged into a case, not with their square.
@Suite("Status volume", .timeLimit(.minutes(3)))
struct StatusVolumeTests {
    @Test("100 hotline orders about one spot make one case; each order hears it was taken up once, then every order hears the department's answer once: at most 3 status records per order")
    func linearStatuses() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(7000).coordinate
        let n = 100
        let orders = (0..<n).map { i in
            Make.incident(.hotline12345, "JY-STORM-\(i)", item: "SR-003", at: spot.offset(metres: Double(i % 5), bearing: 90), method: .addressMatch,
                          minutes: Double(i) * 3, text: "来电反映路边杂物堆放、乱堆物料")
        }
        try await world.withRouter { _ in
            // In several batches, as they would arrive over a morning.
            for chunk in stride(from: 0, to: n, by: 25) { try await world.publish(Array(orders[chunk..<min(n, chunk + 25)])) }
            try await world.waitForReports(n)
            let caseIds = Set(try await world.caseOfIncident().values)
            #expect(caseIds.count == 1, "the orders made \(caseIds.count) cases")
            let cases = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.reports.count == n } }
            let theCase = try #require(cases.last { $0.reports.count == n })
            let dispatchId = try #require(theCase.currentDispatchId), department = try #require(theCase.department)
            try await world.publish(feedback: Feedback(dispatchId: dispatchId, department: department, status: .accepted, note: nil, at: Date()))

            let statuses = try await world.waitFor(SourceSystem.hotline12345.statusTopic, as: StatusUpdate.self) { s in
                Set(s.filter { $0.status == .accepted }.map(\.recordId)).count == n
            }
            // Every order heard the answer...
            #expect(Set(statuses.filter { $0.status == .accepted }.map(\.recordId)).count == n)
            // ...and the records grew with the orders: the first order's case opened and dispatched, each
            // later order's merge told to that order only, the answer to all (2 n + 1 here).
            let settled = try await world.read(SourceSystem.hotline12345.statusTopic)
            #expect(settled.count <= 3 * n, "\(settled.count) status records for \(n) orders")
            #expect(settled.count >= 2 * n)
            var perOrder: [String: Int] = [:]
            for record in settled { perOrder[record.keyString ?? "", default: 0] += 1 }
            #expect(perOrder.values.max() ?? 0 <= 3, "one order heard \(perOrder.values.max() ?? 0) statuses")
        }
    }
}
