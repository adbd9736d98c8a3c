import GridHubRuntime
import Testing

@Suite("Text encodings")
struct TextEncodingTests {
    @Test("GBK round-trips Chinese text and rejects bytes that are not GBK")
    func gbk() throws {
        let text = "江阴市澄江街道人民东路１８８号，占道经营"
        let bytes = try #require(TextEncoding.gbk.encode(text))
        #expect(bytes.count < Array(text.utf8).count, "GBK uses two bytes per Chinese character")
        #expect(Array(bytes.prefix(2)) == [0xBD, 0xAD])  // 江
        #expect(TextEncoding.gbk.decode(bytes) == text)
        #expect(TextEncoding.gbk.decode([0xBD]) == nil, "a truncated double-byte character is refused")
        #expect(TextEncoding.utf8.decode(bytes) == nil, "GBK bytes are not UTF-8")
        #expect(TextEncoding(label: "gb2312") == .gbk)
        #expect(TextEncoding(label: "\"UTF-8\"") == .utf8)
        #expect(TextEncoding(label: "latin1") == nil)
    }
}
