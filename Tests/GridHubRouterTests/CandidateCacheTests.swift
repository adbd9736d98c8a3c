import Foundation
import GridHubCore
import GridHubKafka
import GridHubRouter
import GridHubTesting
import Testing

/// The router keeps duplicate candidates in memory between transactions; another instance's changes
/// must still be seen. Another instance's transaction is played here by hand in SQL: it writes a case
/// and bumps the grid's version, as `CaseWork.flush()` does.
@Suite("Duplicate candidates cached between transactions", .timeLimit(.minutes(3)))
struct CandidateCacheTests {
    /// A stored one-report case opened by `incident`, as another router instance would have written it.
    static func insertCase(_ incident: Incident, bumpVersion: Bool, in world: RouterWorld) async throws -> String {
        let caseId = DeterministicID(namespace: .case, parts: [incident.incidentId]).uuidString
        let value = Case(caseId: caseId, openedBy: incident, at: incident.receivedAt)
        let doc = String(decoding: try GridHubJSON.encoder().encode(value), as: UTF8.self).replacingOccurrences(of: "'", with: "''")
        let grid = try #require(incident.location.gridCode)
        let ms = incident.reportedAt.millisecondsSince1970
        var sql = """
            BEGIN;
            INSERT INTO cases (case_id, status, item_code, grid_code, lat, lon, radius_m, text, first_ms, last_ms, closed_ms, on_site, department, level, due_ms, doc)
            VALUES ('\(caseId)', 'open', '\(incident.itemCode ?? "")', '\(grid)', \(incident.location.lat!), \(incident.location.lon!), 40,
                    '\(incident.description)', \(ms), \(ms), NULL, false, NULL, NULL, NULL, convert_to('\(doc)', 'UTF8'));
            INSERT INTO reports (incident_id, case_id, system, record_id, version)
            VALUES ('\(incident.incidentId)', '\(caseId)', '\(incident.source.system.rawValue)', '\(incident.source.recordId)', 1);
            """
        if bumpVersion {
            sql += "INSERT INTO grid_state VALUES ('\(grid)', 1) ON CONFLICT (grid_code) DO UPDATE SET version = grid_state.version + 1;"
        }
        _ = try await TestPostgres.query(world.databaseURL, sql + "COMMIT;")
        return caseId
    }

    @Test("a case another instance opened (and announced by the grid's version) takes the duplicate; one written behind the protocol's back is not seen")
    func otherWritersAreSeen() async throws {
        let world = try await RouterWorld()
        let spot = Make.place(4100).coordinate
        // Something else in the same grid first, so the router holds the grid in memory.
        let warm = Make.incident(.elink, "ZZ-500", item: "SR-060", at: spot.offset(metres: 150, bearing: 270), text: "楼道里电动车飞线充电")
        // Another instance opened a case for a pothole here, then another for a broken lamp, the second
        // without bumping the grid's version.
        let theirs = Make.incident(.woodpecker, "WP-500", item: "SR-001", at: spot, minutes: 5, text: "路口垃圾成堆没人清理")
        let hidden = Make.incident(.woodpecker, "WP-501", item: "SR-002", at: spot.offset(metres: 40, bearing: 90), minutes: 5, text: "垃圾桶满了没人倒")
        let duplicate = Make.incident(.hotline12345, "JY-500", item: "SR-001", at: spot.offset(metres: 20, bearing: 10), minutes: 30, text: "市民反映路口垃圾成堆")
        let unseen = Make.incident(.hotline12345, "JY-501", item: "SR-002", at: spot.offset(metres: 45, bearing: 80), minutes: 30, text: "垃圾桶满了，垃圾没倒")
        #expect(Set([warm, theirs, hidden, duplicate, unseen].map(\.location.gridCode)).count == 1, "the test needs one grid")
        try await world.withRouter { _ in
            try await world.publish([warm])
            try await world.waitForReports(1)
            // Written behind the protocol's back: the router keeps using the grid it holds.
            let hiddenCase = try await Self.insertCase(hidden, bumpVersion: false, in: world)
            try await world.publish([unseen])
            try await world.waitForReports(3)
            // Written as an instance writes: the grid's new version makes the router read it again.
            let theirCase = try await Self.insertCase(theirs, bumpVersion: true, in: world)
            try await world.publish([duplicate])
            try await world.waitForReports(5)
            let map = try await world.caseOfIncident()
            // Proof that candidates did come from memory: the case written without a version bump was not seen.
            #expect(map[unseen.incidentId] != hiddenCase)
            #expect(map[duplicate.incidentId] == theirCase, "the duplicate went to \(map[duplicate.incidentId] ?? "nothing"), not the other instance's case")
        }
    }
}
