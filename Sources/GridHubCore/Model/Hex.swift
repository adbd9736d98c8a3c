import Crypto

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal, two digits a byte.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// SHA-256 (swift-crypto) of content, for names and keys derived from it: deterministic ids, the
/// once-only key of a dead letter, an outbox file's sequence.
public enum ContentDigest {
    /// The 32-byte SHA-256 digest of the chunks, one after another.
    public static func sha256(_ chunks: [UInt8]...) -> [UInt8] {
        var hasher = SHA256()
        for chunk in chunks { hasher.update(data: chunk) }
        return Array(hasher.finalize())
    }
}
