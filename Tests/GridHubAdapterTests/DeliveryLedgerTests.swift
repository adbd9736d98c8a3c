import Foundation
import GridHubAdapters
import GridHubRuntime
import Testing

@Suite("Delivery ledger")
struct DeliveryLedgerTests {
    @Test("versions recorded survive a reopen; a torn last line is ignored")
    func durable() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let ledger = try DeliveryLedger(directory: dir)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<200 { group.addTask { try await ledger.record([("hotline12345/GD-\(i)", 1)]) } }
                try await group.waitForAll()
            }
            try await ledger.record([("hotline12345/GD-7", 3)])
            #expect(ledger.contains("hotline12345/GD-7", version: 2))
        }
        // A crash in the middle of a write leaves a partial line.
        let handle = try FileHandle(forWritingTo: dir.appendingPathComponent("ledger.log"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("hotline12345/GD-9".utf8))
        try handle.close()
        let reopened = try DeliveryLedger(directory: dir)
        #expect(reopened.count == 200)
        #expect(reopened.version(of: "hotline12345/GD-7") == 3)
        #expect(reopened.contains("hotline12345/GD-199", version: 1))
        #expect(!reopened.contains("hotline12345/GD-199", version: 2))
        #expect(reopened.version(of: "hotline12345/GD-200") == nil)
        // The next entry after the torn line is read back intact.
        try await reopened.record([("hotline12345/GD-500", 2)])
        #expect(try DeliveryLedger(directory: dir).version(of: "hotline12345/GD-500") == 2)
    }
}

@Suite("Delivery ledger compaction")
struct DeliveryLedgerCompactionTests {
    final class Clock: @unchecked Sendable {
        var now = Date(timeIntervalSince1970: 1_795_000_000)
    }

    @Test("new versions of the same records keep the file near one line per record; keys unwritten for the retention are forgotten; what is kept survives a reopen")
    func bounded() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-compact-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clock = Clock()
        let ledger = try DeliveryLedger(directory: dir, now: { clock.now }, compactionMinimumLines: 100)
        try await ledger.record((0..<50).map { ("old/\($0)", 1) })
        clock.now += DeliveryLedger.defaultRetention + 3_600
        // 20 records, 200 versions each: 4 000 lines written, one by one.
        for version in 1...200 {
            try await ledger.record((0..<20).map { ("woodpecker/WP-\($0)", version) })
        }
        await ledger.settled()
        let fileLines = try String(contentsOfFile: ledger.path, encoding: .utf8).split(separator: "\n").count
        // 4 050 lines were written; the file stays below the compaction threshold (100 lines here).
        #expect(fileLines <= 100, "\(fileLines) lines for 20 records")
        #expect(ledger.lineCount == fileLines)
        #expect(ledger.version(of: "old/3") == nil, "a key unwritten for the retention is forgotten")
        #expect(ledger.version(of: "woodpecker/WP-7") == 200)
        let reopened = try DeliveryLedger(directory: dir, now: { clock.now })
        #expect(reopened.count == 20 && reopened.version(of: "woodpecker/WP-19") == 200)
        // Writing goes on after a compaction (the file was replaced and reopened).
        try await reopened.record([("woodpecker/WP-0", 201)])
        #expect(try DeliveryLedger(directory: dir).version(of: "woodpecker/WP-0") == 201)
    }

    @Test("records each written once (most are) are forgotten after the retention: memory and file follow the retention, not the run's length")
    func writeOnceKeysExpire() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-expire-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clock = Clock()
        let day: TimeInterval = 24 * 3600
        let ledger = try DeliveryLedger(directory: dir, retention: 3 * day, now: { clock.now }, compactionMinimumLines: 100)
        // Thirty days, 100 new records a day, one version each: 3 000 keys written once.
        var highest = 0
        for dayNumber in 0..<30 {
            try await ledger.record((0..<100).map { ("elink/E-\(dayNumber)-\($0)", 1) })
            highest = max(highest, ledger.count)
            clock.now += day
        }
        // (A compaction runs after the write it follows has been acknowledged.)
        await ledger.settled()
        // At most the retention plus the eighth it may run over, plus the day being written.
        #expect(highest <= 500, "\(highest) records remembered with a three-day retention")
        #expect(ledger.count <= 500 && ledger.lineCount == ledger.count)
        #expect(ledger.version(of: "elink/E-29-7") == 1, "a recent record is remembered")
        #expect(ledger.version(of: "elink/E-2-7") == nil, "a record past the retention is forgotten")
        let fileLines = try String(contentsOfFile: ledger.path, encoding: .utf8).split(separator: "\n").count
        #expect(fileLines == ledger.lineCount)
    }
}
