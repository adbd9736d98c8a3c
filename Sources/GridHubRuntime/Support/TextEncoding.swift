import Glibc

/// Text encodings the source systems use, converted with glibc's iconv: GBK (in practice its
/// superset GB18030, which decodes every GBK byte sequence) and UTF-8.
public enum TextEncoding: String, Sendable, CaseIterable {
    case utf8 = "UTF-8"
    case gbk = "GBK"

    /// The encoding named in a `charset=` parameter or an XML declaration (`GBK`, `gb2312`, `GB18030`, `utf-8`…).
    public init?(label: String) {
        switch label.trimmingCharacters(in: " \"'").lowercased() {
        case "utf-8", "utf8": self = .utf8
        case "gbk", "gb2312", "gb18030", "cp936", "x-gbk": self = .gbk
        default: return nil
        }
    }

    /// Decodes `bytes`; nil when they are not valid in this encoding (no replacement characters).
    public func decode(_ bytes: some Collection<UInt8>) -> String? { decode(Array(bytes)) }

    /// Decodes an array of bytes without copying it through the generic form (which
    /// runs unspecialised when called from another module).
    public func decode(_ bytes: [UInt8]) -> String? {
        switch self {
        case .utf8: return String(validating: bytes, as: UTF8.self)
        case .gbk: return Iconv.convert(bytes, from: "GB18030", to: "UTF-8").map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// Encodes `text`, writing each character that has no representation in this encoding as
    /// `[U+XXXX]` (its code point in ASCII: an emoji or a rare name character in a department's note
    /// stays legible and can be looked up, and the rest of the text is kept). Returns the bytes and
    /// how many characters were replaced.
    public func encodeReplacing(_ text: String) -> (bytes: [UInt8], replaced: Int) {
        if let bytes = encode(text) { return (bytes, 0) }
        var out: [UInt8] = []
        var replaced = 0
        for character in text {
            if let bytes = encode(String(character)) {
                out += bytes
            } else {
                for scalar in character.unicodeScalars {
                    if let bytes = encode(String(scalar)) { out += bytes; continue }
                    out += Array("[U+\(String(scalar.value, radix: 16, uppercase: true))]".utf8)
                    replaced += 1
                }
            }
        }
        return (out, replaced)
    }

    /// Encodes `text`; nil when a character has no representation in this encoding.
    public func encode(_ text: String) -> [UInt8]? {
        switch self {
        case .utf8: return Array(text.utf8)
        case .gbk: return Iconv.convert(Array(text.utf8), from: "UTF-8", to: "GBK")
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

/// A strict one-shot iconv conversion: any invalid or unrepresentable sequence fails the whole conversion.
enum Iconv {
    static func convert(_ input: [UInt8], from: String, to: String) -> [UInt8]? {
        let cd = iconv_open(to, from)
        guard let cd, Int(bitPattern: cd) != -1 else { return nil }
        defer { iconv_close(cd) }
        if input.isEmpty { return [] }
        var output = [UInt8](repeating: 0, count: input.count * 4 + 16)
        var inBuffer = input
        let result: Int = inBuffer.withUnsafeMutableBytes { inRaw in
            output.withUnsafeMutableBytes { outRaw in
                var inPtr: UnsafeMutablePointer<CChar>? = inRaw.baseAddress?.assumingMemoryBound(to: CChar.self)
                var inLeft = inRaw.count
                var outPtr: UnsafeMutablePointer<CChar>? = outRaw.baseAddress?.assumingMemoryBound(to: CChar.self)
                var outLeft = outRaw.count
                let r = iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft)
                if r == -1 || inLeft != 0 { return -1 }
                // Flush any shift state.
                _ = iconv(cd, nil, nil, &outPtr, &outLeft)
                return outRaw.count - outLeft
            }
        }
        guard result >= 0 else { return nil }
        return Array(output.prefix(result))
    }
}
