import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubSimulation
import GridHubTesting
import ServiceLifecycle
import Testing

/// A patrol case of the enforcement system from its export file to what it and a citizen's source hear:
/// the real enforcement adapter (GBK CSV in, status files out), the router, the embedded broker and
/// PostgreSQL.
@Suite("Enforcement patrol case from export file to closing", .timeLimit(.minutes(3)))
struct EnforcementScenarioTests {
    /// Every status line in the outbox's complete files so far (GBK CSV), without taking them away.
    static func statusLines(in outbox: URL) -> [[String]] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: outbox.path)) ?? []).filter { $0.hasSuffix(".csv.ok") }.sorted()
        return names.flatMap { marker -> [[String]] in
            guard let data = FileManager.default.contents(atPath: outbox.appendingPathComponent(String(marker.dropLast(3))).path),
                  let text = TextEncoding.gbk.decode(data), let table = try? CSVTable(parsing: text) else { return [] }
            return table.rows.map(\.fields)
        }
    }

    /// Runs `services` while `body` runs, then shuts them down gracefully.
    static func withServices(_ services: [any Service], _ body: @Sendable () async throws -> Void) async throws {
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: TestKafka.quietLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do { try await body() } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("立案 → recorded as in progress at urban management, not dispatched back, the system told; a citizen's 12345 order there joins it; 结案 in version 2 → resolved and closed with the result, the citizen and the system told")
    func patrolCase() async throws {
        let world = try await RouterWorld()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("scenario-enforcement-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let system = try EnforcementSystem(inbox: root.appendingPathComponent("inbox"), outbox: root.appendingPathComponent("outbox"))
        let runtime = try AdapterRuntime(system: .enforcement, kafka: TestKafka.client(world.cluster), stateDirectory: root.appendingPathComponent("state"),
                                         metrics: DaemonMetrics(), readiness: Readiness(), logger: TestKafka.quietLogger)
        let services = try AdapterDaemons.services(.init(inbox: system.inbox, outbox: system.outbox, adminListen: nil), runtime: runtime,
                                                   reference: Fixtures.reference, logger: TestKafka.quietLogger)
        let place = Fixtures.reference.gazetteer.entries.filter { !$0.gridCode.isEmpty }[12_345]
        let opened = Date()
        let row = EnforcementSystem.patrolCase(id: "ZF2026-SC-000001", cause: "乱堆物料", place: place, at: opened, withPosition: true, squad: "澄江中队")

        try await world.withRouter { _ in
            try await Self.withServices(services) {
                try system.export([row])
                // Recorded as the enforcement system's own work: in progress at urban management, not sent back to it.
                let recorded = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .inProgress } }
                #expect(recorded.last?.department == "urban-mgmt")
                #expect(try await waitUntil(timeout: .seconds(30)) {
                    Self.statusLines(in: system.outbox).contains { $0[1] == "ZF2026-SC-000001" && $0[2] == "处理中" }
                })
                #expect(Self.statusLines(in: system.outbox).allSatisfy { $0[2] != "派单" }, "the patrol case was dispatched back to enforcement")

                // A citizen reports the same heap by phone.
                var citizen = Make.incident(.hotline12345, "JY-SC-1", item: "SR-003", at: place.coordinate.offset(metres: 15, bearing: 30),
                                            method: .addressMatch, text: "\(place.road)路边乱堆物料")
                citizen.reportedAt = opened.addingTimeInterval(600)
                try await world.publish([citizen])
                _ = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.reports.count == 2 } }

                // The squad closes its case (结案, version 2).
                var closing = row
                closing.fields[1] = "2"
                closing.fields[11] = "结案"
                closing.fields[12] = "已责令当事人清理，现场恢复"
                closing.fields[13] = SourceSupport.formatLocalTime(opened.addingTimeInterval(3_600))
                try system.export([closing])
                let closed = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .closed } }
                #expect(closed.last?.history.suffix(2).map(\.event) == [.resolve, .close])
                let heard = try await world.waitFor(SourceSystem.hotline12345.statusTopic, as: StatusUpdate.self) { s in s.contains { $0.status == .closed } }
                #expect(heard.last { $0.status == .closed }?.note == "已责令当事人清理，现场恢复")
                #expect(try await waitUntil(timeout: .seconds(30)) {
                    Self.statusLines(in: system.outbox).contains { $0[1] == "ZF2026-SC-000001" && $0[2] == "已结案" }
                })
                #expect(try await world.read(Topics.dispatch(department: "urban-mgmt"), quiet: .seconds(1)).isEmpty)
                #expect(try await world.read(Topics.deadLetter, quiet: .seconds(1)).isEmpty)
            }
        }
    }
}
