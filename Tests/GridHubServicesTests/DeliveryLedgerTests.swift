import Foundation
import GridHubServices
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
