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

    @Test("bytes of unknown encoding read for a person: UTF-8, GBK, a body cut inside a character up to the cut, anything else with replacement characters")
    func readable() throws {
        let text = "江阴市澄江街道人民东路188号，占道经营"
        let gbk = try #require(TextEncoding.gbk.encode(text))
        #expect(TextEncoding.readable(Array(text.utf8)) == text)
        #expect(TextEncoding.readable(gbk) == text)
        // Cut inside the last character (经营 are two bytes each in GBK, three in UTF-8).
        #expect(TextEncoding.readable(Array(gbk.dropLast(1))) == "江阴市澄江街道人民东路188号，占道经…[a byte cut inside a character]")
        #expect(TextEncoding.readable(Array(Array(text.utf8).dropLast(1))) == "江阴市澄江街道人民东路188号，占道经…[2 bytes cut inside a character]")
        #expect(TextEncoding.readable([0x41, 0xFF, 0xFF, 0xFF, 0xFF, 0x42]) == "A\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}B")
        #expect(TextEncoding.readable([]) == "")
    }

    @Test("terminal columns: two for 汉字 and full-width forms, none for a combining mark, one for the rest")
    func terminalColumns() {
        #expect("市农业农村局".terminalColumns == 12)
        #expect("urban-mgmt".terminalColumns == 10)
        #expect("１８８号".terminalColumns == 8)
        #expect("e\u{301}".terminalColumns == 1)
        #expect("澄江".padded(toColumns: 6) == "澄江  ")
        #expect("澄江街道".padded(toColumns: 6) == "澄江街道")
    }

    @Test("converters are reused: a refused text (cut off mid-character, or unrepresentable) leaves nothing behind for the next, on many tasks at once")
    func reusedConverters() async throws {
        let text = "江阴市澄江街道人民东路１８８号，占道经营"
        let bytes = try #require(TextEncoding.gbk.encode(text))
        let wrong = await withTaskGroup(of: Int.self) { group in
            for i in 0..<32 {
                group.addTask {
                    var wrong = 0
                    for j in 0..<50 {
                        // Cut off inside a double-byte character: refused; the next decode starts clean.
                        if TextEncoding.gbk.decode(Array(bytes.prefix(2 * (j % 5) + 1))) != nil { wrong += 1 }
                        if TextEncoding.gbk.decode(bytes) != text { wrong += 1 }
                        // Not in GBK: refused whole; the next encode starts clean.
                        if TextEncoding.gbk.encode("占道😀\(i)") != nil { wrong += 1 }
                        if TextEncoding.gbk.encode(text) != bytes { wrong += 1 }
                    }
                    return wrong
                }
            }
            return await group.reduce(0, +)
        }
        #expect(wrong == 0)
        #expect(TextEncoding.gbk.decode([UInt8]()) == "")
        #expect(TextEncoding.gbk.encodeReplacing("占道😀") == (TextEncoding.gbk.encode("占道")! + Array("[U+1F600]".utf8), 1))
    }
}
