import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubSimulation
import GridHubTesting
import ServiceLifecycle
import Testing

/// A City Woodpecker report the citizen edits and then withdraws, from the app's API to what the
/// department and the citizen receive: the real Woodpecker adapter (polling the API double, posting
/// replies to it), the router, the embedded broker and PostgreSQL.
@Suite("Woodpecker report edited and withdrawn by its citizen", .timeLimit(.minutes(3)))
struct WoodpeckerScenarioTests {
    @Test("submitted → dispatched (citizen told it was passed on) → edited (the department gets its dispatch again with the new text and photo) → withdrawn (the case closes, the citizen told once more)")
    func editedThenWithdrawn() async throws {
        let world = try await RouterWorld()
        let api = WoodpeckerAPI(token: "scenario-token")
        let (ports, port) = AsyncStream<Int>.makeStream()
        let apiServer = api.server(logger: TestKafka.quietLogger) { port.yield($0) }
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("scenario-woodpecker-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: state) }
        let runtime = try AdapterRuntime(system: .woodpecker, kafka: TestKafka.client(world.cluster), stateDirectory: state,
                                         metrics: DaemonMetrics(), readiness: Readiness(), logger: TestKafka.quietLogger)
        let place = Fixtures.reference.gazetteer.entries.filter { !$0.gridCode.isEmpty }[3_137]
        let shown = ChinaCoordinates.fromWGS84(place.coordinate, to: .gcj02)
        let created = Date()
        let report = Woodpecker.Report(
            id: "WP20261205SC00001", revision: 1, createdAt: created, updatedAt: created, userId: "u_sc", nickname: "市民甲", mobile: "13912345678",
            typeName: "垃圾堆放", content: "\(place.road)\(place.number)号旁垃圾堆放", images: ["https://woodpecker.example/img/sc-1.jpg"],
            lng: shown.lon, lat: shown.lat, coordType: "gcj02", address: "江苏省无锡市江阴市\(place.road)附近", state: "submitted")

        try await world.withRouter { _ in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await apiServer.run() }
                var apiPort = 0
                for await p in ports { apiPort = p; break }
                var settings = AdapterDaemons.WoodpeckerSettings(apiURL: "http://127.0.0.1:\(apiPort)", token: "scenario-token", adminListen: nil)
                settings.idleInterval = .milliseconds(200)
                let services = try AdapterDaemons.services(settings, runtime: runtime, reference: Fixtures.reference, logger: TestKafka.quietLogger)
                let adapter = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: TestKafka.quietLogger))
                tasks.addTask { try await adapter.run() }

                // Submitted: dispatched to urban management; the citizen hears it was passed on.
                api.publish(report)
                let first = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { !$0.isEmpty }
                let dispatch = try #require(first.first)
                #expect(try await waitUntil(timeout: .seconds(30)) { api.replies.contains { $0.reportId == report.id && $0.body["state"] == "accepted" } })

                // Edited by the citizen: the department gets its dispatch again, same id, the new text and photo.
                var edited = report
                edited.revision = 2
                edited.updatedAt = created.addingTimeInterval(300)
                edited.content += "，已经堆到路中间了"
                edited.images.append("https://woodpecker.example/img/sc-2.jpg")
                api.publish(edited)
                let revised = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { $0.count >= 2 }
                let last = try #require(revised.last)
                #expect(last.dispatchId == dispatch.dispatchId && last.revision > dispatch.revision)
                #expect(last.description.contains("路中间") && last.attachments.contains("https://woodpecker.example/img/sc-2.jpg"))

                // Withdrawn by the citizen: the case (its only report) closes; the citizen hears it once more.
                var withdrawn = edited
                withdrawn.revision = 3
                withdrawn.updatedAt = created.addingTimeInterval(600)
                withdrawn.state = "withdrawn"
                api.publish(withdrawn)
                let cases = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .closed } }
                #expect(cases.last?.reports.first?.withdrawnAt != nil)
                #expect(try await waitUntil(timeout: .seconds(30)) { api.replies.filter { $0.reportId == report.id }.count >= 3 })
                let replies = api.replies.filter { $0.reportId == report.id }
                #expect(replies.first?.body["state"] == "accepted")
                #expect(replies.last?.body["state"] == "resolved", "\(replies.map(\.body))")
                #expect(replies.allSatisfy { !($0.body["message"] ?? "").contains("13912345678") })
                #expect(try await world.read(Topics.deadLetter, quiet: .seconds(1)).isEmpty)

                await adapter.triggerGracefulShutdown()
                tasks.cancelAll()
            }
        }
    }
}
