import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubTesting
import Testing

@Suite("Enforcement adapter: export files in, status files out", .timeLimit(.minutes(2)))
struct EnforcementAdapterTests {
    static let header = Enforcement.columns.joined(separator: ",")

    static func write(_ text: String, to dir: URL, name: String, encoding: TextEncoding = .gbk, marker: Bool = true) throws {
        try Data(encoding.encode(text)!).write(to: dir.appendingPathComponent(name))
        if marker { try Data().write(to: dir.appendingPathComponent(name + ".ok")) }
    }

    /// An inbox reader on the test's topics, scanning every 100 ms: its state folder, inbox, runtime and service.
    static func inboxReader(_ topics: TestTopics, name: String, configure: (inout EnforcementInbox.Configuration) -> Void = { _ in })
        throws -> (state: URL, inbox: URL, runtime: AdapterRuntime, reader: EnforcementInbox) {
        let state = Fixtures.tempDir(name)
        let inbox = state.appendingPathComponent("inbox")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        let runtime = try AdapterRuntime(system: .enforcement, kafka: TestKafka.client(), stateDirectory: state, metrics: DaemonMetrics(),
                                         readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest)
        var config = EnforcementInbox.Configuration(inbox: inbox, stateDirectory: state)
        config.pollInterval = .milliseconds(100)
        configure(&config)
        let reader = EnforcementInbox(configuration: config, pipeline: runtime.pipeline, reference: Fixtures.reference, metrics: runtime.metrics, logger: TestKafka.quietLogger)
        return (state, inbox, runtime, reader)
    }

    @Test("GBK files with multi-line fields and broken rows; a file without marker waits; a stray UTF-8 file fails; a re-exported file adds no incident")
    func inbox() async throws {
        let topics = try await TestTopics.make()
        let (state, inbox, runtime, reader) = try Self.inboxReader(topics, name: "enforcement")
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

    @Test("a note with characters GBK lacks (an emoji, a rare name character) is written with [U+XXXX] in their place, and every row of the batch is written")
    func outboxUnencodable() async throws {
        let outbox = Fixtures.tempDir("outbox-gbk")
        try FileManager.default.createDirectory(at: outbox, withIntermediateDirectories: true)
        let sink = EnforcementOutboxSink(outbox: outbox, reference: Fixtures.reference)
        var items: [OutboundItem] = []
        for (n, note) in ["已处理👍", "已联系𠮷先生", "已拆除"].enumerated() {
            let status = StatusUpdate(system: .enforcement, recordId: "ZF2026-CJ-00\(n)", caseId: "c\(n)", caseVersion: 2, status: .resolved,
                                      department: "urban-mgmt", note: note, at: Date(timeIntervalSince1970: 1_795_800_000))
            let record = try statusRecord(status, topic: "t")
            let consumed = ConsumerRecord(topic: "t", partition: 0, offset: Int64(n), key: record.key, value: record.value, headers: record.headers,
                                          timestampMilliseconds: 1_795_800_000_000)
            items.append(OutboundItem(record: consumed, payload: .status(try CloudEvent(headers: record.headers.map { (key: $0.key, value: $0.value) }, value: record.value).decode(StatusUpdate.self))))
        }
        #expect(try await sink.deliver(items) == [.delivered, .delivered, .delivered])
        let csv = try #require(try FileManager.default.contentsOfDirectory(atPath: outbox.path).first { $0.hasSuffix(".csv") })
        let text = try #require(TextEncoding.gbk.decode(Array(try Data(contentsOf: outbox.appendingPathComponent(csv)))))
        #expect(try CSVTable(parsing: text).rows.map { $0.fields[4] } == ["已处理[U+1F44D]", "已联系[U+20BB7]先生", "已拆除"])
    }
}

@Suite("Enforcement inbox entries that are not what they seem", .timeLimit(.minutes(3)))
struct EnforcementHostileInboxTests {
    static func row(_ id: String) -> String {
        "\(id),1,违章搭建,江阴市澄江街道人民东路188号,,,,2026-11-27 10:00:00,巡查发现,,澄江中队,立案,,2026-11-27 10:00:00"
    }

    @Test("a symlink to /etc/passwd, a directory, a FIFO and a name that is not UTF-8 are dead-lettered unread and set aside; an overlong row and a large UTF-8 export do not stop the files after them")
    func hostileEntries() async throws {
        let topics = try await TestTopics.make()
        let (state, inbox, runtime, reader) = try EnforcementAdapterTests.inboxReader(topics, name: "enforcement-hostile") { $0.maxRowBytes = 4_096 }
        let p = "ZF\(UUID().uuidString.prefix(6))"
        func marker(_ name: String) throws { try Data().write(to: inbox.appendingPathComponent(name + ".ok")) }
        // Named like exports, sorted before the good file, each with its marker.
        try FileManager.default.createSymbolicLink(atPath: inbox.appendingPathComponent("ZFAJ_20261127130000.csv").path, withDestinationPath: "/etc/passwd")
        try marker("ZFAJ_20261127130000.csv")
        try FileManager.default.createDirectory(at: inbox.appendingPathComponent("ZFAJ_20261127130100.csv"), withIntermediateDirectories: false)
        try marker("ZFAJ_20261127130100.csv")
        #expect(mkfifo(inbox.appendingPathComponent("ZFAJ_20261127130200.csv").path, 0o644) == 0)
        try marker("ZFAJ_20261127130200.csv")
        let oddName = Array(inbox.path.utf8) + Array("/ZFAJ_".utf8) + [0xFF, 0xFE] + Array(".csv".utf8)
        let fd = (oddName + [0]).withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_WRONLY | O_CREAT, 0o644) }
        #expect(fd >= 0)
        close(fd)
        // A 2.2 MB export in UTF-8 (its dead letter keeps the start), and a file with one overlong row among good ones.
        let big = EnforcementAdapterTests.header + "\r\n" + String(repeating: Self.row("\(p)-u") + "\r\n", count: 20_000)
        try EnforcementAdapterTests.write(big, to: inbox, name: "ZFAJ_20261127130300.csv", encoding: .utf8)
        let long = Self.row("\(p)-long").replacingOccurrences(of: "违章搭建", with: String(repeating: "很", count: 5_000))
        try EnforcementAdapterTests.write([EnforcementAdapterTests.header, Self.row("\(p)-1"), long, Self.row("\(p)-2")].joined(separator: "\r\n") + "\r\n",
                                          to: inbox, name: "ZFAJ_20261127140000.csv")
        let setAside = ["ZFAJ_20261127130000.csv", "ZFAJ_20261127130100.csv", "ZFAJ_20261127130200.csv", "ZFAJ_20261127130300.csv"]
        try await withServices(runtime.baseServices + [reader]) {
            // An entry met while Kafka was not yet reachable (or busy) is tried again on a later scan,
            // so the good file can be done before an earlier bad entry: wait for all of them.
            let processed = state.appendingPathComponent("processed/ZFAJ_20261127140000.csv")
            func settled() -> Bool {
                let failed = (try? FileManager.default.contentsOfDirectory(atPath: state.appendingPathComponent("failed").path)) ?? []
                return FileManager.default.fileExists(atPath: processed.path) && setAside.allSatisfy(failed.contains)
            }
            let deadline = ContinuousClock.now + .seconds(90)
            while !settled() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            #expect(FileManager.default.fileExists(atPath: processed.path), "the good file after the bad entries was not handled")
            try await Task.sleep(for: .seconds(1))
        }
        let failed = try FileManager.default.contentsOfDirectory(atPath: state.appendingPathComponent("failed").path)
        for name in setAside {
            #expect(failed.contains(name), "\(name) not set aside: \(failed)")
        }
        let incidents = try await topics.incidents(count: 2)
        #expect(Set(incidents.map(\.source.recordId)) == ["\(p)-1", "\(p)-2"])
        // Exactly one dead letter each (the scan runs every 100 ms: nothing is reported twice).
        let letters = try await topics.deadLetters(count: 6, settle: .seconds(2))
        let reasons = letters.map { $0.headers.string(DeadLetterHeader.reason) ?? "" }
        #expect(letters.count == 6, "\(reasons)")
        #expect(reasons.contains { $0.contains("ZFAJ_20261127130000.csv is a symbolic link") })
        #expect(reasons.contains { $0.contains("ZFAJ_20261127130100.csv is a directory") })
        #expect(reasons.contains { $0.contains("ZFAJ_20261127130200.csv is a FIFO") })
        #expect(reasons.contains { $0.contains("is not UTF-8") && $0.contains("fffe") })
        #expect(reasons.contains { $0.contains("the file is UTF-8, not GBK") })
        #expect(reasons.contains { $0.contains("line 3") && $0.contains("longer than 4096 bytes") })
        // Nothing of /etc/passwd left the machine; the big export's letter is its start, not all 2.2 MB.
        let passwd = Array(try Data(contentsOf: URL(fileURLWithPath: "/etc/passwd")).prefix(16))
        #expect(!letters.contains { $0.value.count >= 16 && Array($0.value.prefix(16)) == passwd })
        #expect(letters.allSatisfy { $0.value.count <= 4_096 }, "\(letters.map(\.value.count))")
    }
}
