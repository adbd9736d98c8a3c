import Foundation
import GridHubCore
import GridHubKafka
import GridHubSimulation
import GridHubTesting
import Synchronization
import Testing

/// The broker goes down and comes back while 12345 orders flow through the adapter and the router,
/// each a process of its own, as ops run them. The broker is `gridhub broker` in a process of its own
/// too: SIGUSR1 takes it down (connections dropped, new ones refused, records kept), SIGUSR2 brings it
/// back. (In a test process full of other clusters the mock's re-listening on its port could race.)
@Suite("Broker down and back", .timeLimit(.minutes(4)))
struct BrokerOutageTests {
    static let secret = "outage-secret"

    @Test("the broker is down for 10 s under load: every accepted order on Kafka (a second copy only as the same event) and in one case, every case dispatched once")
    func downAndBack() async throws {
        let broker = try ChildProcess(GridHubPaths.executable, ["broker", "--brokers", "1", "--partitions", "3"], environment: ["GRIDHUB_LOG_LEVEL": "warning"])
        defer { broker.signal(SIGKILL) }
        let first = try await broker.firstLine()
        #expect(first.hasPrefix("GRIDHUB_BOOTSTRAP="), "\(first)")
        let bootstrap = String(first.dropFirst("GRIDHUB_BOOTSTRAP=".count))
        let databaseURL = try await TestPostgres.makeDatabase(prefix: "outage")
        let reference = GridHubPaths.packageRoot.appendingPathComponent("Deploy/reference").path
        let common = ["GRIDHUB_BOOTSTRAP": bootstrap, "GRIDHUB_REFERENCE_DIR": reference, "GRIDHUB_LOG_LEVEL": "warning"]
        let router = try ChildProcess(GridHubPaths.executable, ["router", "--group", "outage"],
                                      environment: common.merging(["GRIDHUB_DATABASE_URL": databaseURL]) { $1 })
        defer { router.signal(SIGKILL) }
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-outage-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: state) }
        let adapter = try ChildProcess(GridHubPaths.executable, ["adapter", "hotline12345", "--listen", "127.0.0.1:0", "--hotline-url", "http://127.0.0.1:9",
                                                                 "--state-dir", state.path],
                                       environment: common.merging(["GRIDHUB_HOTLINE_SECRET": Self.secret]) { $1 })
        defer { adapter.signal(SIGKILL) }
        let listening = try await adapter.firstLine()
        #expect(listening.hasPrefix("GRIDHUB_LISTEN="), "\(listening)")
        let url = "http://" + listening.dropFirst("GRIDHUB_LISTEN=".count)
        #expect(try await waitUntil(timeout: .seconds(30)) { (try? await httpGet(url + "/readyz").0) == 200 })

        // Orders at places far apart (one case each), sent as the platform does: one signed request,
        // repeated until it is answered 0.
        let hotline = HotlinePlatform(hubURL: url, secret: Array(Self.secret.utf8))
        let entries = Fixtures.reference.gazetteer.entries.filter { !$0.gridCode.isEmpty }
        let prefix = "JY-O-\(UUID().uuidString.prefix(6))"
        let accepted = Locked<[String]>([]), busy = Locked(0), longest = Locked(Duration.zero)
        @Sendable func send(_ n: Int) async throws {
            let id = "\(prefix)-\(n)"
            let place = entries[(n * 7_919) % entries.count]
            let order = Hotline12345.WorkOrder(
                id: id, version: 1, calledAt: Date(), callerName: "王女士", callerPhone: "13912345678", anonymous: false, orderType: "投诉",
                category: "城乡建设/市容环境/占道经营", title: "占道经营", content: "\(place.road)\(place.number)号门口有摊贩占道经营", address: place.fullAddress,
                urgent: false, timeLimitDays: nil)
            let body = HotlinePlatform.body(order, encoding: .gbk)
            let ts = Int64(Date().timeIntervalSince1970)
            let signature = Hotline12345.signature(secret: Array(Self.secret.utf8), timestamp: String(ts), body: body)
            let started = ContinuousClock.now
            defer { longest.withLock { $0 = max($0, ContinuousClock.now - started) } }
            for _ in 0..<240 {
                let code = (try? await hotline.push(path: "/hotline12345/workorders", body: body, contentType: "application/xml; charset=GBK",
                                                    timestamp: ts, signature: signature))?.code
                if code == 0 { accepted.withLock { $0.append(id) }; return }
                busy.withLock { $0 += 1 }
                try await Task.sleep(for: .milliseconds(250))
            }
            Issue.record("\(id) was never accepted")
        }

        for n in 0..<20 { try await send(n) }
        broker.signal(SIGUSR1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Twenty more arrive during the outage and after it, four at a time.
            for lane in 0..<4 {
                group.addTask { for n in stride(from: 20 + lane, to: 40, by: 4) { try await send(n) } }
            }
            try await Task.sleep(for: .seconds(10))
            broker.signal(SIGUSR2)
            try await group.waitForAll()
        }
        for n in 40..<60 { try await send(n) }
        let ids = Set(accepted.value)
        #expect(ids.count == 60)
        // The outage was felt: orders waited for the broker (held until delivered, or answered busy and retried).
        #expect(longest.value >= .seconds(5), "no order waited: the broker was never down")
        #expect(broker.standardError.contains("embedded broker down") && broker.standardError.contains("embedded broker up again"))
        print("broker outage: \(ids.count) orders accepted, \(busy.value) requests answered busy, the longest order accepted after \(longest.value)")

        // The router applies every one and drains its outbox.
        #expect(try await waitUntil(timeout: .seconds(90)) {
            let reports = Int((try? await TestPostgres.query(databaseURL, "SELECT count(*) FROM reports"))?.first?.first ?? "0") ?? 0
            let outbox = Int((try? await TestPostgres.query(databaseURL, "SELECT count(*) FROM outbox"))?.first?.first ?? "1") ?? 1
            return reports >= ids.count && outbox == 0
        }, "the router did not apply every order; its log: \(router.standardError.suffix(2_000))")

        // On Kafka: each accepted order, any second copy the same event.
        let incidents = try await TestKafka.readUntilQuiet([Topics.incidents], client: KafkaClientConfiguration(bootstrapServers: bootstrap))
        let copies = Dictionary(grouping: incidents) { (try? GridHubJSON.decoder().decode(Incident.self, from: Data($0.value)))?.source.recordId ?? "?" }
        #expect(Set(copies.keys) == ids, "lost: \(ids.subtracting(copies.keys).sorted().prefix(5))")
        #expect(copies.values.allSatisfy { Set($0.map { $0.headers.string(CloudEventHeader.id) ?? "" }).count == 1 }, "two different events for one order")

        // One case each, dispatched once.
        let departments = Fixtures.reference.departments.map { Topics.dispatch(department: $0.code) }
        let out = try await TestKafka.readUntilQuiet([Topics.cases] + departments, client: KafkaClientConfiguration(bootstrapServers: bootstrap))
        var latest: [String: Case] = [:]
        var dispatches: [String: [String]] = [:]
        for record in out {
            if record.topic == Topics.cases {
                let c = try GridHubJSON.decoder().decode(Case.self, from: Data(record.value))
                if (latest[c.caseId]?.version ?? 0) < c.version { latest[c.caseId] = c }
            } else {
                let d = try GridHubJSON.decoder().decode(Dispatch.self, from: Data(record.value))
                dispatches[d.caseId, default: []].append(d.dispatchId)
            }
        }
        let caseOf = latest.values.flatMap { c in c.reports.map { ($0.recordId, c.caseId) } }
        #expect(Set(caseOf.map(\.0)) == ids)
        #expect(Dictionary(grouping: caseOf, by: \.0).values.allSatisfy { $0.count == 1 }, "an order in two cases")
        #expect(Set(dispatches.keys) == Set(latest.keys), "every case dispatched")
        let doubled = dispatches.filter { $0.value.count > 1 }
        #expect(doubled.isEmpty, "duplicate dispatches: \(doubled.prefix(3))")

        for process in [adapter, router] { process.signal(SIGTERM) }
        #expect(try await adapter.waitForExit(timeout: .seconds(30)) == 0)
        #expect(try await router.waitForExit(timeout: .seconds(30)) == 0)
        broker.signal(SIGTERM)
        #expect(try await broker.waitForExit(timeout: .seconds(20)) == 0)
    }
}
