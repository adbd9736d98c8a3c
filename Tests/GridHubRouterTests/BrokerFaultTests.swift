import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubSimulation
import GridHubTesting
import ServiceLifecycle
import Testing

/// Broker faults while 12345 orders flow through the real adapter (HTTP in) and the router: rounds of
/// retriable request errors on every kind of request both use, and slow round trips.
@Suite("Broker faults under load", .serialized, .timeLimit(.minutes(4)))
struct BrokerFaultTests {
    static let secret = Array("fault-secret".utf8)

    /// One fault per round, and what it does to which requests.
    static let rounds: [(name: String, apply: @Sendable (EmbeddedKafkaCluster) async -> Void)] = [
        ("produce: not leader, timed out", { $0.injectErrors([.notLeaderForPartition, .notLeaderForPartition, .requestTimedOut, .notEnoughReplicas], on: .produce) }),
        ("fetch: not leader, network", { $0.injectErrors([.notLeaderForPartition, .networkException, .notLeaderForPartition], on: .fetch) }),
        ("offset commit: timed out, not coordinator", { $0.injectErrors([.requestTimedOut, .notCoordinator, .requestTimedOut], on: .offsetCommit) }),
        ("metadata and coordinator lookups: leader not available", {
            $0.injectErrors([.leaderNotAvailable, .leaderNotAvailable], on: .metadata)
            $0.injectErrors([.notCoordinator], on: .findCoordinator)
        }),
        ("heartbeat: rebalance in progress", { $0.injectErrors([.rebalanceInProgress, .rebalanceInProgress], on: .heartbeat) }),
        ("round trips of 700 ms", { await $0.setRoundTripTime(.milliseconds(700)) }),
        ("produce: disconnects", { $0.injectErrors([.disconnect, .disconnect], on: .produce) }),
        // Beyond the adapter's delivery timeout (3 s here) for 8 s: answered busy, retried by the platform.
        ("round trips of 5 s for 8 s", { cluster in
            await cluster.setRoundTripTime(.seconds(5))
            Task {
                try? await Task.sleep(for: .seconds(8))
                await cluster.setRoundTripTime(.zero)
            }
        }),
    ]

    @Test("every accepted order is on Kafka (an extra copy only as the same event) and in exactly one case; every case is dispatched once; nothing lost, no duplicate dispatch")
    func rounds() async throws {
        let world = try await RouterWorld()
        let entries = Fixtures.reference.gazetteer.entries.filter { !$0.gridCode.isEmpty }
        let runtime = try AdapterRuntime(system: .hotline12345, kafka: TestKafka.client(world.cluster),
                                         stateDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("fault-hotline-\(UUID().uuidString.prefix(8))"),
                                         metrics: DaemonMetrics(), readiness: Readiness(), logger: TestKafka.quietLogger, deliveryTimeout: .seconds(3))
        let ingest = HotlineIngest(configuration: .init(secret: Self.secret), pipeline: runtime.pipeline, reference: Fixtures.reference, logger: TestKafka.quietLogger)
        let (ports, portsIn) = AsyncStream<Int>.makeStream()
        let server = try AdapterServer.application(address: ListenAddress(host: "127.0.0.1", port: 0), runtime: runtime, logger: TestKafka.quietLogger,
                                               routes: { ingest.addRoutes(to: $0) }, onListening: { portsIn.yield($0) })
        let adapter = ServiceGroup(configuration: .init(services: (runtime.baseServices + [server]).map { .init(service: $0) }, logger: TestKafka.quietLogger))
        let prefix = "JY-F-\(UUID().uuidString.prefix(6))"
        let accepted = Locked<[String]>([])
        let attempts = Locked(0)
        try await world.withRouter { _ in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await adapter.run() }
                var port = 0
                for await p in ports { port = p; break }
                let hotline = HotlinePlatform(hubURL: "http://127.0.0.1:\(port)", secret: Self.secret)
                var n = 0
                for (round, fault) in Self.rounds.enumerated() {
                    await fault.apply(world.cluster)
                    // Ten orders at places far apart (one case each), sent as the platform does: one signed
                    // request, repeated until it is answered 0.
                    for _ in 0..<10 {
                        let id = "\(prefix)-\(n)"
                        let place = entries[(n * 7_919 + round) % entries.count]
                        n += 1
                        let order = Hotline12345.WorkOrder(
                            id: id, version: 1, calledAt: Date(), callerName: "李先生", callerPhone: "13912345678", anonymous: false, orderType: "投诉",
                            category: "城乡建设/市容环境/占道经营", title: "占道经营", content: "\(place.road)\(place.number)号门口有摊贩占道经营", address: place.fullAddress,
                            urgent: false, timeLimitDays: nil)
                        let body = HotlinePlatform.body(order, encoding: .gbk)
                        let ts = Int64(Date().timeIntervalSince1970)
                        let signature = Hotline12345.signature(secret: Self.secret, timestamp: String(ts), body: body)
                        var code: Int? = nil
                        for _ in 0..<120 where code != 0 {
                            attempts.withLock { $0 += 1 }
                            code = (try? await hotline.push(path: "/hotline12345/workorders", body: body, contentType: "application/xml; charset=GBK",
                                                            timestamp: ts, signature: signature))?.code
                            if code != 0 { try await Task.sleep(for: .milliseconds(250)) }
                        }
                        #expect(code == 0, "\(id) not accepted in round '\(fault.name)'")
                        if code == 0 { accepted.withLock { $0.append(id) } }
                    }
                    await world.cluster.setRoundTripTime(.zero)
                }
                await adapter.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            try await world.waitForReports(accepted.value.count, timeout: .seconds(120))
            try await Task.sleep(for: .seconds(2))
        }
        let ids = accepted.value
        #expect(ids.count == Self.rounds.count * 10)
        print("broker faults: \(Self.rounds.count) rounds, \(ids.count) orders accepted after \(attempts.value) requests")

        // On Kafka, each. A delivery that timed out at the adapter (answered busy) may still have reached
        // the broker, and the platform's retry then writes a second copy: the same event (same ce_id, the
        // same incident but for the time it was received), which the router recognises (below: one
        // report, one dispatch).
        let records = try await world.read(Topics.incidents)
        func incident(_ r: ConsumerRecord) -> Incident {
            var i = try! GridHubJSON.decoder().decode(Incident.self, from: Data(r.value))
            i.receivedAt = Date(timeIntervalSince1970: 0)
            return i
        }
        let perOrder = Dictionary(grouping: records) { incident($0).source.recordId }
        #expect(Set(perOrder.keys) == Set(ids), "lost: \(Set(ids).subtracting(perOrder.keys).sorted().prefix(5))")
        #expect(perOrder.values.allSatisfy { copies in copies.allSatisfy { incident($0) == incident(copies[0]) && $0.headers.string("ce_id") == copies[0].headers.string("ce_id") } },
                "copies of one version that differ")
        let extra = records.count - perOrder.count
        print("broker faults: \(extra) extra copies of an event on the incidents topic (deliveries that timed out at the adapter, then arrived)")
        // In exactly one case each (the latest version of every case).
        var latest: [String: Case] = [:]
        for record in try await world.read(Topics.cases) {
            let c = try GridHubJSON.decoder().decode(Case.self, from: Data(record.value))
            if (latest[c.caseId]?.version ?? 0) < c.version { latest[c.caseId] = c }
        }
        let caseOf = latest.values.flatMap { c in c.reports.map { ($0.recordId, c.caseId) } }
        #expect(Dictionary(grouping: caseOf, by: \.0).values.allSatisfy { $0.count == 1 })
        #expect(Set(caseOf.map(\.0)) == Set(ids))
        // Dispatched once per case: one dispatch id, one record.
        let routed = latest.values.filter { $0.currentDispatchId != nil }
        var dispatches: [Dispatch] = []
        for department in Set(routed.compactMap(\.department)) {
            dispatches += try await world.read(Topics.dispatch(department: department))
                .map { try GridHubJSON.decoder().decode(Dispatch.self, from: Data($0.value)) }
        }
        #expect(routed.count == latest.count, "every case routed")
        let perCase = Dictionary(grouping: dispatches, by: \.caseId)
        #expect(Set(perCase.keys) == Set(routed.map(\.caseId)))
        let doubled = perCase.filter { $0.value.count > 1 }.sorted { $0.key < $1.key }.prefix(5)
            .map { "\($0.key): " + $0.value.map { "\($0.dispatchId) \($0.reason.rawValue) r\($0.revision) \($0.reports.count) reports" }.joined(separator: ", ") }
        #expect(perCase.values.allSatisfy { $0.count == 1 }, "duplicate dispatches: \(doubled)")
    }
}
