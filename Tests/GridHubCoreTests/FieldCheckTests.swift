@testable import GridHubCore
import Testing

@Suite("Field checks")
struct FieldCheckTests {
    @Test("a source record id is 1–128 characters of any script, without white space (ASCII or Unicode) or control characters")
    func recordIds() {
        for good in ["JY12345-20261127-000123", "A", "江阴12345-第123号", "ZF-2026-①", String(repeating: "号", count: 128), String(repeating: "A", count: 128)] {
            #expect(FieldCheck.isRecordId(good), "\(good)")
        }
        let bad = ["", "JY 123", "JY\t123", "JY\n123", "JY\u{7F}123", "JY\u{1}123", "JY\u{3000}123", "JY\u{A0}123", "JY\u{2003}123", "JY\u{85}123",
                   "JY\u{2028}123", String(repeating: "A", count: 129), String(repeating: "号", count: 129)]
        for id in bad {
            #expect(!FieldCheck.isRecordId(id), "\(id.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }
}
