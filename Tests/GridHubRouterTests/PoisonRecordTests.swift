import Foundation
import GridHubCore
import GridHubKafka
import GridHubTesting
import Testing

/// A record the router can decode but never store must not stop it.
@Suite("Poison records", .timeLimit(.minutes(5)))
struct PoisonRecordTests {
    @Test("an incident whose text PostgreSQL refuses (a NUL character) is dead-lettered with the reason after its retries; the reports before and after it in the same batch, and later ones, become cases")
    func poisonIncident() async throws {
        let world = try await RouterWorld(partitions: 1)
        let before = Make.incident(.elink, "ZZ-P-1", item: "SR-001", at: Make.place(1200).coordinate, text: "垃圾成堆")
        let poison = Make.incident(.elink, "ZZ-P-2", item: "SR-003", at: Make.place(3400).coordinate, text: "路边\u{0}杂物堆放")
        let after = Make.incident(.elink, "ZZ-P-3", item: "SR-001", at: Make.place(5600).coordinate, text: "垃圾桶满溢")
        let later = Make.incident(.elink, "ZZ-P-4", item: "SR-001", at: Make.place(7800).coordinate, text: "垃圾未清运")
        try await world.withRouter { _ in
            try await world.publish([before, poison, after])
            try await world.waitForReports(2, timeout: .seconds(150))  // after the poison record's retries, slow on a loaded machine
            try await world.publish([later])
            try await world.waitForReports(3)
            let dead = try await world.waitFor(Topics.deadLetter, as: Incident.self) { $0.contains { $0.source.recordId == "ZZ-P-2" } }
            #expect(dead.map(\.source.recordId) == ["ZZ-P-2"])
            let records = try await world.read(Topics.deadLetter)
            let reason = records.first?.headers.string(DeadLetterHeader.reason) ?? ""
            #expect(reason.contains("processing failed 5 times while the database answered"), "\(reason)")
            #expect(records.first?.headers.string(DeadLetterHeader.stage) == "router")
        }
        let reported = try await world.caseOfIncident()
        #expect(Set(reported.keys) == [before.incidentId, after.incidentId, later.incidentId])
    }
}
