/// A JSON value read by ``JSONReader``: objects keep their members in document order.
enum JSONTree: Sendable {
    case null
    case bool(Bool)
    /// A number's text, exactly as written (the JSON grammar checked).
    case number(String)
    case string(String)
    case array([JSONTree])
    case object([(key: String, value: JSONTree)])
}

/// A strict JSON reader for the hub's fast decoding paths (RFC 8259: no comments, no trailing commas,
/// no leading zeros, no raw control characters in strings, valid UTF-8, no lone surrogates). It gives
/// nil for anything it would have to guess about, duplicate keys included; the caller then falls back
/// to `JSONDecoder`, which decides and says why.
enum JSONReader {
    /// The value of `bytes`, nil when they are not plainly one JSON value.
    static func read(_ bytes: [UInt8]) -> JSONTree? {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(b: buffer)
            guard let value = parser.value(depth: 0) else { return nil }
            parser.skipSpace()
            return parser.i == buffer.count ? value : nil
        }
    }

    private struct Parser {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0

        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        mutating func literal(_ text: StaticString) -> Bool {
            let n = text.utf8CodeUnitCount
            guard i + n <= b.count else { return false }
            for k in 0..<n where b[i + k] != text.utf8Start[k] { return false }
            i += n
            return true
        }

        mutating func value(depth: Int) -> JSONTree? {
            guard depth < 64 else { return nil }
            skipSpace()
            guard i < b.count else { return nil }
            switch b[i] {
            case UInt8(ascii: "{"): return object(depth: depth)
            case UInt8(ascii: "["): return array(depth: depth)
            case UInt8(ascii: "\""): return string().map(JSONTree.string)
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            default: return number()
            }
        }

        mutating func object(depth: Int) -> JSONTree? {
            i += 1
            var members: [(key: String, value: JSONTree)] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\""), let key = string() else { return nil }
                guard !members.contains(where: { $0.key == key }) else { return nil }
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                guard let v = value(depth: depth + 1) else { return nil }
                members.append((key, v))
                skipSpace()
                guard i < b.count else { return nil }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                guard b[i] == UInt8(ascii: "}") else { return nil }
                i += 1
                return .object(members)
            }
        }

        mutating func array(depth: Int) -> JSONTree? {
            i += 1
            var elements: [JSONTree] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(elements) }
            while true {
                guard let v = value(depth: depth + 1) else { return nil }
                elements.append(v)
                skipSpace()
                guard i < b.count else { return nil }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                guard b[i] == UInt8(ascii: "]") else { return nil }
                i += 1
                return .array(elements)
            }
        }

        /// A string at `i` (which is its opening quote).
        mutating func string() -> String? {
            i += 1
            let start = i
            // The common case: no escapes, taken as is once its UTF-8 is validated.
            while i < b.count, b[i] != UInt8(ascii: "\""), b[i] != UInt8(ascii: "\\"), b[i] >= 0x20 { i += 1 }
            guard i < b.count else { return nil }
            if b[i] == UInt8(ascii: "\"") {
                defer { i += 1 }
                return String(validating: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
            }
            guard b[i] == UInt8(ascii: "\\") else { return nil }
            var out = Array(b[start..<i])
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") {
                    i += 1
                    return String(validating: out, as: UTF8.self)
                }
                guard c >= 0x20 else { return nil }
                guard c == UInt8(ascii: "\\") else { out.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { return nil }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard var scalar = hex4() else { return nil }
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard literal("\\u"), let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        return nil
                    }
                    guard let u = Unicode.Scalar(scalar) else { return nil }
                    out.append(contentsOf: UTF8.encode(u)!)
                default: return nil
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard i + 4 <= b.count else { return nil }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: return nil
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }

        /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
        mutating func number() -> JSONTree? {
            let start = i
            func digits() -> Int {
                let from = i
                while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
                return i - from
            }
            if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count else { return nil }
            if b[i] == UInt8(ascii: "0") { i += 1 } else if digits() == 0 { return nil }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                guard digits() > 0 else { return nil }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard digits() > 0 else { return nil }
            }
            return .number(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
        }
    }
}

/// Reading a ``JSONTree`` object's members by name, each at most once, every member accounted for.
struct JSONFields {
    private let members: [(key: String, value: JSONTree)]

    /// The members of `tree` when it is an object whose keys are all in `known`.
    init?(_ tree: JSONTree?, known: Set<String>) {
        guard case .object(let members)? = tree, members.allSatisfy({ known.contains($0.key) }) else { return nil }
        self.members = members
    }

    /// The member `key`, `.null` when absent.
    subscript(key: String) -> JSONTree { members.first { $0.key == key }?.value ?? .null }

    /// A required string.
    func string(_ key: String) -> String? {
        if case .string(let s) = self[key] { return s }
        return nil
    }

    /// An optional string: `.some(nil)` when absent or null, nil when another type.
    func optionalString(_ key: String) -> String?? {
        switch self[key] {
        case .null: return .some(nil)
        case .string(let s): return .some(s)
        default: return nil
        }
    }

    func bool(_ key: String) -> Bool? {
        if case .bool(let v) = self[key] { return v }
        return nil
    }

    /// An optional finite number: `.some(nil)` when absent or null.
    func optionalDouble(_ key: String) -> Double?? {
        switch self[key] {
        case .null: return .some(nil)
        case .number(let text):
            // Overflow and underflow are left to JSONDecoder.
            guard let v = Double(text), v.isFinite else { return nil }
            if v == 0, text.prefix(while: { $0 != "e" && $0 != "E" }).contains(where: { ("1"..."9").contains($0) }) { return nil }
            return .some(v)
        default: return nil
        }
    }

    /// A required integer written without fraction or exponent.
    func int(_ key: String) -> Int? {
        guard case .number(let text) = self[key], !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else { return nil }
        return Int(text)
    }

    /// An array of strings.
    func strings(_ key: String) -> [String]? {
        guard case .array(let elements) = self[key] else { return nil }
        var out: [String] = []
        out.reserveCapacity(elements.count)
        for e in elements {
            guard case .string(let s) = e else { return nil }
            out.append(s)
        }
        return out
    }
}
