import Foundation
import GridHubRuntime
import Logging
import Testing

/// What an operator reading a daemon's log sees: JSON lines, phone numbers masked wherever they appear.
@Suite("Log lines mask personal data")
struct LogMaskingTests {
    @Test("a phone number in the message, in string metadata, in nested metadata and in a described value is written masked; other text and numbers are kept")
    func phonesMasked() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-log-\(UUID().uuidString.prefix(8)).jsonl")
        _ = FileManager.default.createFile(atPath: path.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: path) }
        let handle = try FileHandle(forWritingTo: path)
        var logger = Logger(label: "gridhub.test") { label in
            JSONLogHandler(label: label, level: .info, sink: JSONLogSink(handle: handle), redact: ProcessLogging.redact)
        }
        logger[metadataKey: "adapter"] = "hotline12345"
        struct Caller: CustomStringConvertible { var description: String { "caller 13912345678" } }
        logger.warning("citizen 13812345678 called about 中山路18号", metadata: [
            "reporter.phone": "13700001111",
            "notes": .array(["call back 0510-86861234", "ok"]),
            "caller": .stringConvertible(Caller()),
            "records": .stringConvertible(13800138000 as Int),
        ])
        try handle.close()

        let line = try String(contentsOf: path, encoding: .utf8)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "citizen 138****5678 called about 中山路18号")
        #expect(object["reporter.phone"] as? String == "137****1111")
        #expect((object["notes"] as? [String])?.first?.contains("86861234") == false, "\(line)")
        #expect(object["caller"] as? String == "caller 139****5678")
        #expect(object["adapter"] as? String == "hotline12345")
        #expect(object["level"] as? String == "warning")
        // An integer is a count, not text: kept as the number it is.
        #expect(object["records"] as? Int == 13800138000)
        for phone in ["13812345678", "13700001111", "13912345678"] { #expect(!line.contains(phone)) }
    }
}
