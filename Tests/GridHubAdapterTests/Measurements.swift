import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubServices
import GridHubSimulation
import GridHubTesting
import Testing

/// Throughput measurements of the pull adapters and the way back; opt-in (`GRIDHUB_MEASURE=1`),
/// printed on stdout. Not assertions about speed: the machine is shared with the embedded broker.
@Suite("Measurements", .serialized, .enabled(if: ProcessInfo.processInfo.environment["GRIDHUB_MEASURE"] == "1"), .timeLimit(.minutes(10)))
struct Measurements {
    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    @Test("drain a backlog of 100 000 status records to the hotline double")
    func statusBacklog() async throws {
        let n = 100_000
        let status = try TestKafka.makeTopic(partitions: 16, prefix: "status-backlog")
        let topics = try TestTopics.make()
        let producer = try TestKafka.producer()
        let at = Date()
        var batch: [ProducerRecord] = []
        for i in 0..<n {
            batch.append(try statusRecord(StatusUpdate(system: .hotline12345, recordId: "JY-BL-\(i)", caseId: "c-\(i)", caseVersion: 1, status: .dispatched,
                                                       department: "urban-mgmt", note: nil, at: at), topic: status))
            if batch.count == 5_000 { for r in await producer.send(batch) { _ = try r.get() }; batch = [] }
        }
        await producer.shutdown()
        let state = Fixtures.tempDir("backlog")
        let runtime = try AdapterRuntime(system: .hotline12345, kafka: TestKafka.client(), stateDirectory: state, metrics: DaemonMetrics(),
                                         readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest)
        let platform = HotlinePlatform(hubURL: "http://unused", secret: Fixtures.secret)
        let port = PortBox()
        try await withServices([platform.server(logger: TestKafka.quietLogger, onListening: port.callback)]) {
            let url = "http://127.0.0.1:\(await port.port())"
            var sink = HotlineResultSink(hotlineURL: url, secret: Fixtures.secret, reference: Fixtures.reference, logger: TestKafka.quietLogger)
            sink.concurrency = 64
            let delivery = try StatusDelivery(configuration: .init(topics: [status], groupID: "backlog-\(UUID().uuidString.prefix(6))", stage: "x"),
                                              kafka: TestKafka.client(), sink: sink, stateDirectory: state, pipeline: runtime.pipeline,
                                              metrics: DaemonMetrics(), logger: TestKafka.quietLogger)
            let start = ContinuousClock.now
            try await withServices(runtime.baseServices + [delivery]) {
                while platform.received.count < n && ContinuousClock.now - start < .seconds(500) { try await Task.sleep(for: .milliseconds(200)) }
            }
            let elapsed = Self.seconds(ContinuousClock.now - start)
            print("MEASURE status backlog: \(platform.received.count) of \(n) delivered in \(String(format: "%.1f", elapsed)) s (\(Int(Double(platform.received.count) / elapsed)) /s, incl. ≈3 s group join)")
        }
    }

    @Test("enforcement export files: rows per second")
    func enforcementFiles() async throws {
        let topics = try TestTopics.make()
        let state = Fixtures.tempDir("enf-measure")
        let inbox = state.appendingPathComponent("inbox")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        let files = 20, rows = 1_000
        for f in 0..<files {
            var text = Enforcement.columns.joined(separator: ",") + "\r\n"
            for r in 0..<rows {
                text += "ZF-M-\(f)-\(r),1,违章搭建,\"江阴市澄江街道人民东路188号,\r\n后院\",,,王某,2026-11-27 10:02:11,巡查发现,,澄江中队,立案,,2026-11-27 10:02:11\r\n"
            }
            try EnforcementAdapterTests.write(text, to: inbox, name: String(format: "ZFAJ_202611271%05d.csv", f))
        }
        let runtime = try AdapterRuntime(system: .enforcement, kafka: TestKafka.client(), stateDirectory: state, metrics: DaemonMetrics(),
                                         readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest)
        var config = EnforcementInbox.Configuration(inbox: inbox, stateDirectory: state)
        config.pollInterval = .milliseconds(50)
        let reader = EnforcementInbox(configuration: config, pipeline: runtime.pipeline, reference: Fixtures.reference, metrics: runtime.metrics, logger: TestKafka.quietLogger)
        let start = ContinuousClock.now
        try await withServices(runtime.baseServices + [reader]) {
            while ((try? FileManager.default.contentsOfDirectory(atPath: state.appendingPathComponent("processed").path))?.count ?? 0) < files * 2
                && ContinuousClock.now - start < .seconds(300) { try await Task.sleep(for: .milliseconds(50)) }
        }
        let elapsed = Self.seconds(ContinuousClock.now - start)
        print("MEASURE enforcement: \(files) files × \(rows) rows in \(String(format: "%.1f", elapsed)) s: \(String(format: "%.1f", Double(files) / elapsed)) files/s, \(Int(Double(files * rows) / elapsed)) rows/s")
    }

    @Test("woodpecker polling: reports per second")
    func woodpeckerPolling() async throws {
        let topics = try TestTopics.make()
        let api = WoodpeckerAPI(token: "t")
        let n = 20_000
        for (r, _) in WoodpeckerAdapterTests.reports("WP-M-", count: n) { api.publish(r) }
        let port = PortBox()
        let state = Fixtures.tempDir("wp-measure")
        try await withServices([api.server(logger: TestKafka.quietLogger, onListening: port.callback)]) {
            let url = "http://127.0.0.1:\(await port.port())"
            let runtime = try AdapterRuntime(system: .woodpecker, kafka: TestKafka.client(), stateDirectory: state, metrics: DaemonMetrics(),
                                             readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest)
            let poller = WoodpeckerPoller(configuration: .init(apiURL: url, token: "t"), pipeline: runtime.pipeline, reference: Fixtures.reference,
                                          stateDirectory: state, readiness: runtime.readiness, metrics: runtime.metrics, logger: TestKafka.quietLogger)
            let start = ContinuousClock.now
            try await withServices(runtime.baseServices + [poller]) {
                while poller.storedCursor != WoodpeckerAPI.cursorText(n) && ContinuousClock.now - start < .seconds(300) { try await Task.sleep(for: .milliseconds(50)) }
            }
            let elapsed = Self.seconds(ContinuousClock.now - start)
            print("MEASURE woodpecker: \(n) reports polled and stored in \(String(format: "%.1f", elapsed)) s: \(Int(Double(n) / elapsed)) reports/s (pages of 200)")
        }
    }
}
