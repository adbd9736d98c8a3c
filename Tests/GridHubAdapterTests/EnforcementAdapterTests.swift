import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubServices
import GridHubTesting
import Testing

@Suite("Enforcement adapter: export files in, status files out", .timeLimit(.minutes(2)))
struct EnforcementAdapterTests {
    static let header = Enforcement.columns.joined(separator: ",")

    static func write(_ text: String, to dir: URL, name: String, encoding: TextEncoding = .gbk, marker: Bool = true) throws {
        try Data(encoding.encode(text)!).write(to: dir.appendingPathComponent(name))
        if marker { try Data().write(to: dir.appendingPathComponent(name + ".ok")) }
    }

    @Test("GBK files with multi-line fields and broken rows; a file without marker waits; a stray UTF-8 file fails; a re-exported file adds no incident")
    func inbox() async throws {
        let topics = try TestTopics.make()
        let state = Fixtures.tempDir("enforcement")
        let inbox = state.appendingPathComponent("inbox")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        let runtime = try AdapterRuntime(system: .enforcement, kafka: TestKafka.client(), stateDirectory: state, metrics: DaemonMetrics(),
                                         readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest)
        var config = EnforcementInbox.Configuration(inbox: inbox, stateDirectory: state)
        config.pollInterval = .milliseconds(100)
        let reader = EnforcementInbox(configuration: config, pipeline: runtime.pipeline, reference: Fixtures.reference, metrics: runtime.metrics, logger: TestKafka.quietLogger)
        let p = "ZF\(UUID().uuidString.prefix(6))"
        let file1 = [
            Self.header,
            "\(p)-1,1,违章搭建,\"江阴市澄江街道虹桥南路55号,后院\",120.283391,31.902288,王某,2026-11-27 10:02:11,巡查发现,,澄江中队,立案,,2026-11-27 10:02:11",
            "\(p)-2,3,占道经营,江阴市澄江街道人民东路188号,,,个体摊贩,2026-11-26 19:40:00,指挥中心派单,DSP-\(p),澄江中队,结案,\"已责令当事人改正\r\n并清理现场\",2026-11-27 11:20:00",
            "\(p)-3,1,乱堆物料,江阴市澄江街道人民东路188号,,,,2026-11-27 10:00:00,巡查发现,,澄江中队,立案",
            "\(p)-4,1,乱堆物料,江阴市澄江街道人民东路188号,,,,2026-11-27 99:00:00,巡查发现,,澄江中队,立案,,2026-11-27 10:00:00",
            "\(p)-5,1,乱堆物料,江阴市澄江街道人民东路188号,200.5,31.9,,2026-11-27 10:00:00,巡查发现,,澄江中队,立案,,2026-11-27 10:00:00",
            "\(p)-6,2,非法小广告,\"江阴市澄江街道人民东路188号\r\n门口电线杆\",,,,2026-11-27 10:00:00,群众举报,,澄江中队,结案,已清除,2026-11-27 12:00:00",
        ].joined(separator: "\r\n") + "\r\n"
        try Self.write(file1, to: inbox, name: "ZFAJ_20261127120000.csv")
        try Self.write(Self.header + "\r\n\(p)-7,1,违章搭建,江阴市澄江街道人民东路188号,,,,2026-11-27 10:00:00,巡查发现,,澄江中队,立案,,2026-11-27 10:00:00\r\n",
                       to: inbox, name: "ZFAJ_20261127120500.csv", marker: false)
        try Self.write(Self.header + "\r\n\(p)-8,1,违章搭建,江阴市澄江街道人民东路188号,,,,2026-11-27 10:00:00,巡查发现,,澄江中队,立案,,2026-11-27 10:00:00\r\n",
                       to: inbox, name: "ZFAJ_20261127121000.csv", encoding: .utf8)
        try await withServices(runtime.baseServices + [reader]) {
            let processed = state.appendingPathComponent("processed/ZFAJ_20261127120000.csv")
            // Generous: the whole suite runs in parallel on two cores.
            let deadline = ContinuousClock.now + .seconds(60)
            let failed = state.appendingPathComponent("failed/ZFAJ_20261127121000.csv")
            while !(FileManager.default.fileExists(atPath: processed.path) && FileManager.default.fileExists(atPath: failed.path)) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(FileManager.default.fileExists(atPath: processed.path))
            #expect(FileManager.default.fileExists(atPath: failed.path))
            #expect(FileManager.default.fileExists(atPath: inbox.appendingPathComponent("ZFAJ_20261127120500.csv").path))
            // The same cases exported again in a later file: nothing new on Kafka.
            try Self.write(file1, to: inbox, name: "ZFAJ_20261127123000.csv")
            let again = state.appendingPathComponent("processed/ZFAJ_20261127123000.csv")
            while !FileManager.default.fileExists(atPath: again.path) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        }
        let incidents = try await topics.incidents(count: 2)
        #expect(Set(incidents.map(\.source.recordId)) == ["\(p)-1", "\(p)-6"])
        let first = try #require(incidents.first { $0.source.recordId == "\(p)-1" })
        #expect(first.location.positioning.method == .gps && first.location.gridCode != nil && first.parties.first?.revealed == "王某")
        let sixth = try #require(incidents.first { $0.source.recordId == "\(p)-6" })
        #expect(sixth.location.address?.contains("\r\n门口电线杆") == true && sixth.resolvedOnSite && sixth.resolution == "已清除")
        let feedback = try await TestKafka.readAll(topics.ingest.feedback, partitions: 3, count: 1, settle: .seconds(1))
        #expect(feedback.count == 1)
        let event = try CloudEvent(headers: feedback[0].headers.map { (key: $0.key, value: $0.value) }, value: feedback[0].value)
        let fb = try event.decode(Feedback.self)
        #expect(fb.dispatchId == "DSP-\(p)" && fb.status == .resolved && fb.note == "已责令当事人改正\r\n并清理现场" && fb.department == "urban-mgmt")
        #expect(event.source == "/department/urban-mgmt" && feedback[0].keyString == "DSP-\(p)")
        // 3 broken rows of each of the two files (a new export is a new input), the UTF-8 file.
        let letters = try await topics.deadLetters(count: 7)
        #expect(letters.count == 7)
        let firstFile = letters.filter { $0.headers.string("enforcement.file") == "ZFAJ_20261127120000.csv" }
        #expect(Set(firstFile.compactMap { $0.headers.string("enforcement.line") }) == ["5", "6", "7"] && firstFile.count == 3)
        #expect(letters.contains { $0.headers.string("enforcement.file") == "ZFAJ_20261127121000.csv" && ($0.headers.string(DeadLetterHeader.reason) ?? "").contains("UTF-8") })
        #expect(letters.allSatisfy { $0.headers.string("enforcement.file") != nil })
    }

    @Test("status changes and dispatches become GBK status files that appear complete with their marker")
    func outbox() async throws {
        let outbox = Fixtures.tempDir("outbox")
        try FileManager.default.createDirectory(at: outbox, withIntermediateDirectories: true)
        let sink = EnforcementOutboxSink(outbox: outbox, reference: Fixtures.reference)
        let status = StatusUpdate(system: .enforcement, recordId: "ZF2026-CJ-004512", caseId: "c1", caseVersion: 2, status: .resolved,
                                  department: "urban-mgmt", note: "已拆除, \"违建\"", at: Date(timeIntervalSince1970: 1_795_800_000))
        let record = try statusRecord(status, topic: "t")
        let consumed = ConsumerRecord(topic: "t", partition: 0, offset: 7, key: record.key, value: record.value, headers: record.headers, timestampMilliseconds: 1_795_800_000_000)
        let decoded = try CloudEvent(headers: record.headers.map { (key: $0.key, value: $0.value) }, value: record.value).decode(StatusUpdate.self)
        let item = OutboundItem(record: consumed, payload: .status(decoded))
        #expect(try await sink.deliver([item]) == [.delivered])
        #expect(try await sink.deliver([item]) == [.delivered])
        let names = try FileManager.default.contentsOfDirectory(atPath: outbox.path).sorted()
        #expect(names.count == 2, "one CSV and its marker, no temporary file: \(names)")
        let csv = try #require(names.first { $0.hasSuffix(".csv") })
        #expect(csv.hasPrefix("GRIDHUB_20261128") && names.contains(csv + ".ok"))
        let text = try #require(TextEncoding.gbk.decode(Array(try Data(contentsOf: outbox.appendingPathComponent(csv)))))
        let table = try CSVTable(parsing: text)
        #expect(table.header == Enforcement.statusColumns)
        #expect(table.rows.first?.fields == ["", "ZF2026-CJ-004512", "已办结", "市城市综合管理局", "已拆除, \"违建\"", "2026-11-28 01:20:00"])
    }
}
