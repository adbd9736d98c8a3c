import Foundation

/// A parsed JSON value; the small reader behind `grids.geojson` (faster than `JSONSerialization`
/// on Linux and gives line numbers in errors).
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var number: Double? { if case .number(let n) = self { return n }; return nil }
    var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
}

/// A JSON syntax error at a 1-based line.
struct JSONSyntaxError: Error, Sendable {
    var line: Int
    var message: String
}

/// A strict RFC 8259 reader over UTF-8 bytes.
struct MiniJSONReader {
    private let bytes: [UInt8]
    private var i = 0

    init(_ data: Data) { bytes = [UInt8](data) }

    /// The 1-based line of byte offset `offset`.
    func line(at offset: Int) -> Int {
        var n = 1
        var k = 0
        let end = min(offset, bytes.count)
        while k < end { if bytes[k] == 0x0A { n += 1 }; k += 1 }
        return n
    }

    mutating func parseDocument() throws(JSONSyntaxError) -> JSONValue {
        let v = try value()
        skipSpace()
        guard i == bytes.count else { throw fail("unexpected text after the JSON value") }
        return v
    }

    private func fail(_ message: String) -> JSONSyntaxError { JSONSyntaxError(line: line(at: i), message: message) }

    private mutating func skipSpace() {
        while i < bytes.count {
            let c = bytes[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { break }
        }
    }

    private mutating func value() throws(JSONSyntaxError) -> JSONValue {
        skipSpace()
        guard i < bytes.count else { throw fail("unexpected end of the file") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return .number(try number())
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("unexpected end of the file") }
        let p = word.utf8Start
        for k in 0..<n where bytes[i + k] != p[k] { throw fail("invalid literal") }
        i += n
    }

    private mutating func object() throws(JSONSyntaxError) -> JSONValue {
        i += 1
        var result: [String: JSONValue] = [:]
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return .object(result) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            result[key] = try value()
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of the file in an object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(result) }
            throw fail("expected ',' or '}'")
        }
    }

    private mutating func array() throws(JSONSyntaxError) -> JSONValue {
        i += 1
        var result: [JSONValue] = []
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return .array(result) }
        while true {
            result.append(try value())
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end of the file in an array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(result) }
            throw fail("expected ',' or ']'")
        }
    }

    private mutating func string() throws(JSONSyntaxError) -> String {
        i += 1
        let start = i
        var simple = true
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { break }
            if c == UInt8(ascii: "\\") { simple = false; i += 2; continue }
            if c < 0x20 { throw fail("control character in a string") }
            i += 1
        }
        guard i < bytes.count else { throw fail("a string is not closed") }
        let end = i
        i += 1
        if simple {
            guard let s = String(validating: bytes[start..<end], as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
            return s
        }
        var out: [UInt8] = []
        out.reserveCapacity(end - start)
        var k = start
        while k < end {
            let c = bytes[k]
            if c != UInt8(ascii: "\\") { out.append(c); k += 1; continue }
            k += 1
            switch bytes[k] {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard k + 4 < end, var code = hex4(k + 1) else { throw fail("invalid \\u escape") }
                k += 4
                if code >= 0xD800 && code < 0xDC00, k + 6 < end, bytes[k + 1] == UInt8(ascii: "\\"), bytes[k + 2] == UInt8(ascii: "u"), let low = hex4(k + 3) {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    k += 6
                }
                guard let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: out.append(bytes[k])
            }
            k += 1
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
        return s
    }

    private func hex4(_ at: Int) -> UInt32? {
        var v: UInt32 = 0
        for k in at..<(at + 4) {
            let c = bytes[k]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: return nil
            }
            v = v * 16 + d
        }
        return v
    }

    private mutating func number() throws(JSONSyntaxError) -> Double {
        let start = i
        while i < bytes.count {
            let c = bytes[i]
            if (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                i += 1
            } else { break }
        }
        guard i > start, let v = fastDouble(start, i) else { throw fail("invalid number") }
        return v
    }

    /// Plain decimals (`-120.123456`) are parsed directly; anything else goes through `Double(_:)`.
    private func fastDouble(_ start: Int, _ end: Int) -> Double? {
        var k = start
        var negative = false
        if bytes[k] == UInt8(ascii: "-") { negative = true; k += 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var fraction = 0
        var seenDot = false
        while k < end {
            let c = bytes[k]
            if c >= 0x30 && c <= 0x39 {
                mantissa = mantissa &* 10 &+ UInt64(c - 0x30)
                digits += 1
                if seenDot { fraction += 1 }
            } else if c == UInt8(ascii: ".") && !seenDot {
                seenDot = true
            } else {
                return Double(String(decoding: bytes[start..<end], as: UTF8.self))
            }
            k += 1
        }
        guard digits > 0, digits <= 15, fraction <= 15 else {
            return Double(String(decoding: bytes[start..<end], as: UTF8.self))
        }
        let powers: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]
        // Exact: an integer below 2^53 divided by an exact power of ten is correctly rounded.
        let v = Double(mantissa) / powers[fraction]
        return negative ? -v : v
    }
}
