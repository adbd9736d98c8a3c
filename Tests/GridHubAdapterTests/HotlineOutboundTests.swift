import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubSimulation
import GridHubTesting
import ServiceLifecycle
import Testing

/// Status records as the router writes them: CloudEvents binary mode, keyed by the source's record id.
func statusRecord(_ s: StatusUpdate, topic: String) throws -> ProducerRecord {
    let event = try CloudEvent(id: DeterministicID(namespace: .event, parts: ["status", s.recordId, String(s.caseVersion)]).uuidString,
                               source: CloudEvent.routerSource, type: .status, time: s.at, subject: s.caseId, payload: s)
    return ProducerRecord(topic: topic, key: s.recordId, value: event.data, headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) })
}

@Suite("Status back to the 12345 hotline", .timeLimit(.minutes(4)))
struct HotlineOutboundTests {
    @Test("hotline down for a while: results arrive after it is back, in order per work order, signed; nothing twice after a restart")
    func deliveryThroughOutage() async throws {
        let topics = try await TestTopics.make()
        let state = Fixtures.tempDir("outbound")
        let runtime = try AdapterRuntime(system: .hotline12345, kafka: TestKafka.client(), stateDirectory: state, metrics: DaemonMetrics(),
                                         readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest)
        let platform = HotlinePlatform(hubURL: "http://unused", secret: Fixtures.secret)
        platform.setDown(true)
        let port = PortBox()
        let hotlineServer = platform.server(logger: TestKafka.quietLogger, onListening: port.callback)
        let group = "hotline-test-\(UUID().uuidString.prefix(8))"
        @Sendable func delivery(_ url: String, group: String, metrics: DaemonMetrics = DaemonMetrics()) throws -> StatusDelivery {
            var sink = HotlineResultSink(hotlineURL: url, secret: Fixtures.secret, reference: Fixtures.reference, logger: TestKafka.quietLogger)
            sink.backoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(400))
            return try StatusDelivery(configuration: .init(topics: [topics.status], groupID: group, stage: "adapter.hotline12345.status"),
                                      kafka: TestKafka.client(), sink: sink, stateDirectory: state, pipeline: runtime.pipeline,
                                      metrics: metrics, logger: TestKafka.quietLogger)
        }
        let ids = (0..<3).map { "JY-O-\(UUID().uuidString.prefix(6))-\($0)" }
        let at = Date(timeIntervalSince1970: 1_795_800_000)
        var records: [ProducerRecord] = []
        for id in ids {
            for (v, s) in [(1, CaseStatus.open), (2, .dispatched), (3, .inProgress), (4, .resolved)] {
                let note = s == .resolved ? "已劝离摊贩并设置提示牌" : nil
                records.append(try statusRecord(StatusUpdate(system: .hotline12345, recordId: id, caseId: "case-\(id)", caseVersion: v, status: s,
                                                             department: "urban-mgmt", note: note, at: at + Double(v)), topic: topics.status))
            }
            // A stale re-send of an older version.
            records.append(try statusRecord(StatusUpdate(system: .hotline12345, recordId: id, caseId: "case-\(id)", caseVersion: 2, status: .dispatched,
                                                         department: "urban-mgmt", note: nil, at: at), topic: topics.status))
        }
        let producer = try TestKafka.producer()
        for r in await producer.send(records) { _ = try r.get() }
        await producer.shutdown()

        try await withServices([hotlineServer]) {
            let url = "http://127.0.0.1:\(await port.port())"
            let first = DaemonMetrics()
            try await withServices(runtime.baseServices + [try delivery(url, group: group, metrics: first)]) {
                // The consumer group joins (≈3 s on the embedded broker, far longer when the whole suite
                // starts at once on two cores), then the hotline refuses for a while.
                let downUntil = ContinuousClock.now + .seconds(60)
                while platform.refusedWhileDown < 5 && ContinuousClock.now < downUntil { try await Task.sleep(for: .milliseconds(100)) }
                try await Task.sleep(for: .seconds(1))
                #expect(platform.received.isEmpty)
                #expect(platform.refusedWhileDown > 0)
                platform.setDown(false)
                // Every one of the 15 records is delivered or skipped (open: nothing to tell; the stale re-sends).
                let settled = try await waitUntil(timeout: .seconds(60)) {
                    first.value(of: "gridhub_outbound_delivered_total") + first.value(of: "gridhub_outbound_skipped_total") >= 15
                }
                #expect(settled, "\(first.render())")
            }
            let received = platform.received
            #expect(received.count == 9)
            let allSigned = received.allSatisfy { $0.signatureValid }
            #expect(allSigned)
            for id in ids {
                let states = received.filter { $0.report.id == id }.map(\.report.state)
                #expect(states == ["已签收", "处理中", "办结"], "\(id): \(states)")
                let done = received.first { $0.report.id == id && $0.report.state == "办结" }
                #expect(done?.report.result == "已劝离摊贩并设置提示牌")
                let firstReport = received.first { $0.report.id == id }
                #expect(firstReport?.report.department == "市城市综合管理局")
            }
            // Restart with the same state, in a new consumer group (as if offsets were lost in a crash):
            // the delivered-ledger keeps the hotline from seeing anything twice.
            let restarted = DaemonMetrics()
            try await withServices(runtime.baseServices + [try delivery(url, group: group + "-2", metrics: restarted)]) {
                let reread = try await waitUntil(timeout: .seconds(60)) { restarted.value(of: "gridhub_outbound_skipped_total") >= 15 }
                #expect(reread, "the restarted delivery read all 15 records again and skipped them: \(restarted.render())")
            }
            #expect(platform.received.count == 9)
            #expect(restarted.value(of: "gridhub_outbound_delivered_total") == 0)
        }
    }
}
