import Glibc
import Synchronization

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
        case .gbk: return Iconv.convert(bytes, with: Iconv.gb18030ToUTF8) { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// Bytes whose encoding is not known (a dead letter's body), as text for a person: UTF-8, else GBK
    /// (the other encoding the sources write), else the longest start that one of them reads (a body cut
    /// inside a character), with the bytes left over counted; else UTF-8 with each undecodable byte
    /// replaced (`U+FFFD`).
    public static func readable(_ bytes: [UInt8]) -> String {
        for encoding in [TextEncoding.utf8, .gbk] { if let text = encoding.decode(bytes) { return text } }
        // UTF-8 with any cut before GBK: GB18030 reads many byte pairs of UTF-8 text as other characters.
        for encoding in [TextEncoding.utf8, .gbk] {
            for cut in 1...3 where bytes.count > cut {
                if let text = encoding.decode(Array(bytes.dropLast(cut))) { return text + "…[\(cut == 1 ? "a byte" : "\(cut) bytes") cut inside a character]" }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
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
        case .gbk: return Iconv.convert(Array(text.utf8), with: Iconv.utf8ToGBK) { Array($0) }
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

/// Strict iconv conversions: any invalid or unrepresentable sequence fails the whole conversion.
///
/// Converters are opened once and reused. `iconv_open` sets up glibc's converter (and reads its
/// module on the first call), which cost more than converting a work order: 1.6 % of the 12345
/// adapter's CPU under load against 0.6 % for the conversion itself (docs/performance.md, stop 39).
/// A converter keeps state between calls, so each call takes one of its own from ``Pool`` and gives it
/// back reset.
enum Iconv {
    /// The open converters of one direction that no call is using.
    final class Pool: Sendable {
        let from: String
        let to: String
        private let idle = Mutex<[Converter]>([])
        /// Converters kept for later calls; more calls at once open more, and close them after.
        private static let keep = 8

        /// An `iconv_t`, used by one call at a time.
        struct Converter: @unchecked Sendable {
            let cd: iconv_t
        }

        init(from: String, to: String) {
            self.from = from
            self.to = to
        }

        /// A converter for this call: an idle one, or a new one; nil if iconv cannot convert so.
        func take() -> Converter? {
            if let converter = idle.withLock({ $0.popLast() }) { return converter }
            guard let cd = iconv_open(to, from), Int(bitPattern: cd) != -1 else { return nil }
            return Converter(cd: cd)
        }

        /// Gives `converter` back in its initial state, or closes it when enough are idle.
        func give(_ converter: Converter) {
            _ = iconv(converter.cd, nil, nil, nil, nil)
            let kept = idle.withLock { idle -> Bool in
                guard idle.count < Self.keep else { return false }
                idle.append(converter)
                return true
            }
            if !kept { iconv_close(converter.cd) }
        }
    }

    static let gb18030ToUTF8 = Pool(from: "GB18030", to: "UTF-8")
    static let utf8ToGBK = Pool(from: "UTF-8", to: "GBK")

    /// Converts `input` and hands the converted bytes to `body`; nil when the input is not valid in
    /// the pool's source encoding or has a character the target cannot represent.
    static func convert<R>(_ input: [UInt8], with pool: Pool, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        guard let converter = pool.take() else { return nil }
        defer { pool.give(converter) }
        if input.isEmpty { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        // Four bytes out for each byte in is more than any of these conversions writes; iconv writes
        // what is read back, so the buffer is not zeroed first.
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: input.count * 4 + 16, alignment: 1)
        defer { output.deallocate() }
        return input.withUnsafeBytes { inRaw -> R? in
            // iconv does not write through its input pointer; its C type is not const.
            var inPtr: UnsafeMutablePointer<CChar>? = UnsafeMutablePointer(mutating: inRaw.baseAddress?.assumingMemoryBound(to: CChar.self))
            var inLeft = inRaw.count
            var outPtr: UnsafeMutablePointer<CChar>? = output.baseAddress?.assumingMemoryBound(to: CChar.self)
            var outLeft = output.count
            let r = iconv(converter.cd, &inPtr, &inLeft, &outPtr, &outLeft)
            if r == -1 || inLeft != 0 { return nil }
            // Flush any shift state.
            _ = iconv(converter.cd, nil, nil, &outPtr, &outLeft)
            return body(UnsafeRawBufferPointer(rebasing: output[..<(output.count - outLeft)]))
        }
    }
}
