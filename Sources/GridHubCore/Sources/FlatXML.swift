/// A small, strict XML reader for the flat documents the source systems send (12345 `GDXX`, `HFXX`,
/// `FKXX`, `FHXX`): elements, text, the five predefined entities, numeric character references,
/// CDATA sections, comments and the XML declaration. No DTDs, no namespaces, no attributes' meaning
/// (attributes are parsed and kept). Works on already-decoded text.
public struct FlatXMLElement: Sendable, Hashable {
    /// The element name.
    public var name: String
    /// Attributes in document order.
    public var attributes: [(String, String)] { attributeList.map { ($0.name, $0.value) } }
    var attributeList: [Attribute]
    /// Child elements in document order.
    public var children: [FlatXMLElement]
    /// The element's own character data (text and CDATA, concatenated), untrimmed.
    public var text: String

    struct Attribute: Sendable, Hashable {
        var name: String
        var value: String
    }

    /// The first child named `name`.
    public func child(_ name: String) -> FlatXMLElement? { children.first { $0.name == name } }

    /// The trimmed text of the first child named `name`; `nil` when there is no such child.
    public func childText(_ name: String) -> String? { child(name).map { $0.text.trimmingWhitespace() } }

    /// Escapes text for use inside an element.
    public static func escape(_ text: String) -> String {
        text.replacingScalars { c in
            switch c {
            case "&": "&amp;"
            case "<": "&lt;"
            case ">": "&gt;"
            case "\"": "&quot;"
            default: nil
            }
        }
    }
}

/// Why a document is not well-formed XML.
public struct XMLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A readable reason.
    public var message: String
    /// The 0-based character offset where the problem was found.
    public var offset: Int
    public var description: String { "XML not well-formed at character \(offset): \(message)" }
}

/// Parses XML text into its root element.
public enum FlatXML {
    /// The encoding named in the XML declaration (`<?xml version="1.0" encoding="GBK"?>`), read from
    /// the raw bytes (the declaration is ASCII in every encoding the sources use); `nil` when absent.
    public static func declaredEncoding(_ bytes: some Collection<UInt8>) -> String? {
        declaredEncoding(Array(bytes.prefix(200)))
    }

    /// The encoding declared by an array of bytes, as a request body is. (Called from another
    /// module, the generic form runs unspecialised, every byte through witness tables: 1.5 % of the 12345
    /// adapter's samples under load for 200 bytes.)
    public static func declaredEncoding(_ bytes: [UInt8]) -> String? {
        let head = Array(bytes.prefix(200).prefix { $0 < 0x80 })
        guard head.starts(with: "<?xml".utf8), let end = firstIndex(of: "?>", in: head[...]) else { return nil }
        let decl = head[..<end]
        guard let name = firstIndex(of: "encoding", in: decl) else { return nil }
        var k = name + "encoding".utf8.count
        while k < end, decl[k] == UInt8(ascii: " ") || decl[k] == UInt8(ascii: "=") { k += 1 }
        guard k < end, decl[k] == UInt8(ascii: "\"") || decl[k] == UInt8(ascii: "'") else { return nil }
        let quote = decl[k]
        let value = decl[(k + 1)...].prefix { $0 != quote }
        return String(decoding: value, as: UTF8.self)
    }

    /// Where `needle` (ASCII) first occurs in `bytes`.
    private static func firstIndex(of needle: StaticString, in bytes: ArraySlice<UInt8>) -> Int? {
        let n = needle.utf8CodeUnitCount
        guard n <= bytes.count else { return nil }
        let first = needle.utf8Start.pointee
        var k = bytes.startIndex
        while k + n <= bytes.endIndex {
            if bytes[k] == first, (1..<n).allSatisfy({ bytes[k + $0] == needle.utf8Start[$0] }) { return k }
            k += 1
        }
        return nil
    }

    /// Parses `text`; the document must hold exactly one root element.
    public static func parse(_ text: String) throws(XMLError) -> FlatXMLElement {
        var text = text
        // The parser reads UTF-8 bytes: every character with a meaning in XML is ASCII, and names and
        // text are cut out of the bytes whole (a valid string, cut at ASCII characters, stays valid).
        let result: Result<FlatXMLElement, XMLError> = text.withUTF8 { bytes in
            var parser = Parser(bytes)
            do throws(XMLError) { return .success(try parser.document()) } catch {
                // Offsets are told in characters (Unicode scalars), as a reader of the text counts them.
                return .failure(XMLError(message: error.message, offset: bytes.prefix(error.offset).count { $0 & 0xC0 != 0x80 }))
            }
        }
        return try result.get()
    }

    /// Reads UTF-8 bytes; an error's offset is a byte offset until ``parse(_:)`` tells it in characters.
    private struct Parser {
        let s: UnsafeBufferPointer<UInt8>
        var i = 0
        init(_ s: UnsafeBufferPointer<UInt8>) { self.s = s }

        func fail(_ message: String) -> XMLError { XMLError(message: message, offset: i) }

        func peek(_ literal: StaticString) -> Bool {
            let n = literal.utf8CodeUnitCount
            guard i + n <= s.count else { return false }
            let l = literal.utf8Start
            for k in 0..<n where s[i + k] != l[k] { return false }
            return true
        }

        func peek(_ byte: UInt8) -> Bool { i < s.count && s[i] == byte }

        mutating func expect(_ literal: StaticString) throws(XMLError) {
            guard peek(literal) else { throw fail("expected \(literal)") }
            i += literal.utf8CodeUnitCount
        }

        mutating func skipSpace() {
            while i < s.count, s[i] == 0x20 || s[i] == 0x0A || s[i] == 0x0D || s[i] == 0x09 { i += 1 }
        }

        /// The text of bytes `from..<to` (cut at ASCII characters of valid UTF-8, so valid itself).
        func text(_ from: Int, _ to: Int) -> String { String(decoding: UnsafeBufferPointer(rebasing: s[from..<to]), as: UTF8.self) }

        /// Skips `<?…?>` and `<!--…-->` at the document level.
        mutating func skipMisc() throws(XMLError) {
            while true {
                skipSpace()
                if peek("<?") { try skip(until: "?>") } else if peek("<!--") { try skip(until: "-->") } else if peek("<!DOCTYPE") {
                    throw fail("document type declarations are not accepted")
                } else { return }
            }
        }

        mutating func skip(until end: StaticString) throws(XMLError) {
            while i < s.count {
                if peek(end) { i += end.utf8CodeUnitCount; return }
                i += 1
            }
            throw fail("unterminated \(end)")
        }

        mutating func document() throws(XMLError) -> FlatXMLElement {
            // A byte-order mark may precede the declaration.
            if peek("\u{FEFF}") { i += 3 }
            // XML 1.0 § 2.2: no control characters but tab, line feed and carriage return (a NUL inside
            // a field is not XML, whatever the parser would make of it), and no U+FFFE/U+FFFF. (A valid
            // string holds no surrogates, and every other character is allowed.)
            if let bad = Self.firstNonXMLChar(s) {
                i = bad.offset
                throw fail("character U+\(String(bad.scalar, radix: 16, uppercase: true).leftPadded(to: 4)) is not allowed in XML")
            }
            try skipMisc()
            guard peek(UInt8(ascii: "<")) else { throw fail("no root element") }
            let root = try element(depth: 0)
            try skipMisc()
            guard i == s.count else { throw fail("content after the root element") }
            return root
        }

        /// The first character that XML 1.0's `Char` production leaves out, and its byte offset.
        static func firstNonXMLChar(_ s: UnsafeBufferPointer<UInt8>) -> (offset: Int, scalar: UInt32)? {
            var k = 0
            while k < s.count {
                let b = s[k]
                if b < 0x20, b != 0x09, b != 0x0A, b != 0x0D { return (k, UInt32(b)) }
                // U+FFFE and U+FFFF: EF BF BE and EF BF BF.
                if b == 0xEF, k + 2 < s.count, s[k + 1] == 0xBF, s[k + 2] >= 0xBE { return (k, 0xFFFE + UInt32(s[k + 2] - 0xBE)) }
                k += 1
            }
            return nil
        }

        /// XML 1.0's `Char` production.
        static func isXMLChar(_ c: Unicode.Scalar) -> Bool {
            switch c.value {
            case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
            default: return false
            }
        }

        /// A name starts with a letter, `_`, `:` or a character from U+00C0 on (whose UTF-8 lead byte is
        /// C3 or more).
        static func isNameStart(_ b: UInt8) -> Bool {
            b == UInt8(ascii: "_") || b == UInt8(ascii: ":") || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b >= 0xC3
        }
        /// Within a name, also digits, `-`, `.`, and the rest of a character begun by a name byte.
        static func isName(_ b: UInt8) -> Bool {
            isNameStart(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || (b >= 0x30 && b <= 0x39) || (b >= 0x80 && b <= 0xBF)
        }

        mutating func name() throws(XMLError) -> String {
            guard i < s.count, Parser.isNameStart(s[i]) else { throw fail("expected a name") }
            let start = i
            i += 1
            // A character U+0080…U+00BF (lead byte C2) ends the name, as it is not a name character.
            while i < s.count, Parser.isName(s[i]) { i += 1 }
            return text(start, i)
        }

        mutating func element(depth: Int) throws(XMLError) -> FlatXMLElement {
            guard depth < 32 else { throw fail("elements nested too deeply") }
            try expect("<")
            let tag = try name()
            var attributes: [FlatXMLElement.Attribute] = []
            while true {
                skipSpace()
                if peek("/>") { i += 2; return FlatXMLElement(name: tag, attributeList: attributes, children: [], text: "") }
                if peek(">") { i += 1; break }
                let attribute = try name()
                skipSpace()
                try expect("=")
                skipSpace()
                guard i < s.count, s[i] == UInt8(ascii: "\"") || s[i] == UInt8(ascii: "'") else { throw fail("expected a quoted attribute value") }
                let quote = s[i]
                i += 1
                let value = try characters(until: quote)
                i += 1
                attributes.append(.init(name: attribute, value: value))
            }
            var children: [FlatXMLElement] = []
            var text = ""
            while true {
                guard i < s.count else { throw fail("element <\(tag)> is not closed") }
                if peek("</") {
                    i += 2
                    let closing = try name()
                    guard closing == tag else { throw fail("</\(closing)> closes <\(tag)>") }
                    skipSpace()
                    try expect(">")
                    return FlatXMLElement(name: tag, attributeList: attributes, children: children, text: text)
                } else if peek("<![CDATA[") {
                    i += 9
                    let start = i
                    while true {
                        guard i < s.count else { throw fail("unterminated CDATA section") }
                        if peek("]]>") { break }
                        i += 1
                    }
                    text += self.text(start, i)
                    i += 3
                } else if peek("<!--") {
                    try skip(until: "-->")
                } else if peek("<?") {
                    try skip(until: "?>")
                } else if peek("<") {
                    children.append(try element(depth: depth + 1))
                } else {
                    text += try characters(until: UInt8(ascii: "<"))
                }
            }
        }

        /// Character data up to (not including) `end`, with references resolved.
        mutating func characters(until end: UInt8) throws(XMLError) -> String {
            var out = ""
            var start = i
            while i < s.count, s[i] != end {
                let c = s[i]
                if c == UInt8(ascii: "&") {
                    out += text(start, i)
                    out.unicodeScalars.append(try reference())
                    start = i
                } else if c == UInt8(ascii: "<") {
                    throw fail("'<' inside an attribute value")
                } else {
                    i += 1
                }
            }
            if end != UInt8(ascii: "<") && i >= s.count { throw fail("unterminated attribute value") }
            out += text(start, i)
            return out
        }

        mutating func reference() throws(XMLError) -> Unicode.Scalar {
            i += 1
            let start = i
            var scalars = 0
            while i < s.count, s[i] != UInt8(ascii: ";") {
                if s[i] & 0xC0 != 0x80 { scalars += 1 }
                i += 1
                guard scalars <= 10 else { throw fail("unterminated entity reference") }
            }
            guard i < s.count else { throw fail("unterminated entity reference") }
            let body = text(start, i)
            i += 1
            switch body {
            case "lt": return "<"
            case "gt": return ">"
            case "amp": return "&"
            case "quot": return "\""
            case "apos": return "'"
            default:
                var value: UInt32?
                if body.hasPrefix("#x") || body.hasPrefix("#X") { value = UInt32(body.dropFirst(2), radix: 16) } else if body.hasPrefix("#") { value = UInt32(body.dropFirst(), radix: 10) }
                guard let value, let scalar = Unicode.Scalar(value), Self.isXMLChar(scalar) else { throw fail("unknown entity &\(body);") }
                return scalar
            }
        }
    }
}

extension String {
    /// The string with leading zeros up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
