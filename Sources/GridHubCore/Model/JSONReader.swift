/// A JSON value read by ``JSONReader``: objects keep their members in document order.
enum JSONTree: Sendable {
    case null
    case bool(Bool)
    /// A number's text, exactly as written (the JSON grammar checked).
    case number(String)
    case string(String)
    case array([JSONTree])
    case object([(key: String, value: JSONTree)])

    /// The member `key` of an object.
    subscript(key: String) -> JSONTree? {
        if case .object(let members) = self { return members.first { $0.key == key }?.value }
        return nil
    }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var bool: Bool? { if case .bool(let v) = self { return v }; return nil }
    var array: [JSONTree]? { if case .array(let a) = self { return a }; return nil }
    /// A number as the nearest double (as `Double(_:)` reads it); nil for anything else.
    var number: Double? { if case .number(let text) = self { return JSONReader.double(text) }; return nil }
}

/// A JSON syntax error at a 1-based line.
struct JSONSyntaxError: Error, Sendable {
    var line: Int
    var message: String
}

/// The one JSON reader of the core, strict RFC 8259: no comments, no trailing commas, no leading zeros,
/// no raw control characters in strings, valid UTF-8, no lone surrogates, no duplicate keys. It reads
/// the grids' GeoJSON (errors name the line) and incidents on the router's fast path (where anything
/// it refuses is left to `JSONDecoder`, which decides and says why).
enum JSONReader {
    /// The value of `bytes`.
    static func read(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONTree {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) -> JSONTree in
            var parser = Parser(b: buffer)
            let value = try parser.value(depth: 0)
            parser.skipSpace()
            guard parser.i == buffer.count else { throw parser.fail("unexpected text after the JSON value") }
            return value
        }
    }

    /// `text` (a number in JSON's grammar) as the nearest double: plain decimals of up to 15 digits
    /// directly (an integer below 2^53 divided by an exact power of ten is correctly rounded, as
    /// `Double(_:)` rounds), anything else through `Double(_:)`.
    static func double(_ text: String) -> Double? {
        var mantissa: UInt64 = 0
        var digits = 0, fraction = 0
        var seenDot = false, negative = false
        for (k, c) in text.utf8.enumerated() {
            if c >= 0x30 && c <= 0x39 {
                mantissa = mantissa &* 10 &+ UInt64(c - 0x30)
                digits += 1
                if seenDot { fraction += 1 }
            } else if c == UInt8(ascii: "."), !seenDot {
                seenDot = true
            } else if c == UInt8(ascii: "-"), k == 0 {
                negative = true
            } else {
                return Double(text)
            }
        }
        guard digits > 0, digits <= 15 else { return Double(text) }
        let v = Double(mantissa) / powersOfTen[fraction]
        return negative ? -v : v
    }

    private static let powersOfTen: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]

    private struct Parser {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0

        func fail(_ message: String) -> JSONSyntaxError {
            var line = 1
            for k in 0..<min(i, b.count) where b[k] == 0x0A { line += 1 }
            return JSONSyntaxError(line: line, message: message)
        }

        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        mutating func literal(_ text: StaticString) throws(JSONSyntaxError) {
            let n = text.utf8CodeUnitCount
            guard i + n <= b.count else { throw fail("unexpected end of the text") }
            for k in 0..<n where b[i + k] != text.utf8Start[k] { throw fail("invalid literal") }
            i += n
        }

        mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONTree {
            guard depth < 64 else { throw fail("nested more than 64 deep") }
            skipSpace()
            guard i < b.count else { throw fail("unexpected end of the text") }
            switch b[i] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default: return try number()
            }
        }

        mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONTree {
            i += 1
            var members: [(key: String, value: JSONTree)] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                guard !members.contains(where: { $0.key == key }) else { throw fail("key '\(key)' appears twice") }
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard i < b.count else { throw fail("unexpected end of the text in an object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                guard b[i] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
                i += 1
                return .object(members)
            }
        }

        mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONTree {
            i += 1
            var elements: [JSONTree] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(elements) }
            while true {
                elements.append(try value(depth: depth + 1))
                skipSpace()
                guard i < b.count else { throw fail("unexpected end of the text in an array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                guard b[i] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
                i += 1
                return .array(elements)
            }
        }

        /// A string at `i` (which is its opening quote).
        mutating func string() throws(JSONSyntaxError) -> String {
            i += 1
            let start = i
            // The common case: no escapes, taken as is once its UTF-8 is validated.
            while i < b.count, b[i] != UInt8(ascii: "\""), b[i] != UInt8(ascii: "\\"), b[i] >= 0x20 { i += 1 }
            guard i < b.count else { throw fail("a string is not closed") }
            if b[i] == UInt8(ascii: "\"") {
                guard let s = String(validating: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
                i += 1
                return s
            }
            var out = Array(b[start..<i])
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") {
                    guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
                    i += 1
                    return s
                }
                guard c >= 0x20 else { throw fail("control character in a string") }
                guard c == UInt8(ascii: "\\") else { out.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { break }
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
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard i + 2 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else { throw fail("a lone surrogate in a \\u escape") }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("a lone surrogate in a \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("a lone surrogate in a \\u escape") }
                    out.append(contentsOf: UTF8.encode(u)!)
                default: throw fail("invalid escape in a string")
                }
            }
            throw fail("a string is not closed")
        }

        mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
            guard i + 4 <= b.count else { throw fail("invalid \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: throw fail("invalid \\u escape")
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }

        /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
        mutating func number() throws(JSONSyntaxError) -> JSONTree {
            let start = i
            func digits() -> Int {
                let from = i
                while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
                return i - from
            }
            if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count else { throw fail("invalid number") }
            if b[i] == UInt8(ascii: "0") { i += 1 } else if digits() == 0 { throw fail("invalid value") }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                guard digits() > 0 else { throw fail("invalid number") }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard digits() > 0 else { throw fail("invalid number") }
            }
            return .number(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
        }
    }
}

/// Reading a ``JSONTree`` object's members by name, each at most once, every member accounted for.
struct JSONFields {
    private let members: [(key: String, value: JSONTree)]

    /// The members of `tree` when it is an object whose keys are all among `keys` (the type's own
    /// `CodingKeys`, as strict decoding checks them: the closed schema is written once).
    init?<Keys: CodingKey>(_ tree: JSONTree?, keys: Keys.Type) {
        guard case .object(let members)? = tree, members.allSatisfy({ Keys(stringValue: $0.key) != nil }) else { return nil }
        self.members = members
    }

    /// The member `key`, `.null` when absent.
    subscript(key: String) -> JSONTree { members.first { $0.key == key }?.value ?? .null }

    /// A required string.
    func string(_ key: String) -> String? { self[key].string }

    /// An optional string: `.some(nil)` when absent or null, nil when another type.
    func optionalString(_ key: String) -> String?? {
        switch self[key] {
        case .null: return .some(nil)
        case .string(let s): return .some(s)
        default: return nil
        }
    }

    func bool(_ key: String) -> Bool? { self[key].bool }

    /// An optional finite number: `.some(nil)` when absent or null.
    func optionalDouble(_ key: String) -> Double?? {
        switch self[key] {
        case .null: return .some(nil)
        case .number(let text):
            // Overflow and underflow are left to JSONDecoder.
            guard let v = JSONReader.double(text), v.isFinite else { return nil }
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
