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
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
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
        let head = Array(bytes.prefix(200))
        guard let text = String(validating: head.prefix(while: { $0 < 0x80 }), as: UTF8.self),
              text.hasPrefix("<?xml"), let end = text.range(of: "?>") else { return nil }
        let decl = text[..<end.lowerBound]
        guard let r = decl.range(of: "encoding") else { return nil }
        var rest = decl[r.upperBound...].drop { $0 == " " || $0 == "=" }
        guard let quote = rest.first, quote == "\"" || quote == "'" else { return nil }
        rest = rest.dropFirst()
        return String(rest.prefix { $0 != quote })
    }

    /// Parses `text`; the document must hold exactly one root element.
    public static func parse(_ text: String) throws(XMLError) -> FlatXMLElement {
        var parser = Parser(Array(text.unicodeScalars))
        return try parser.document()
    }

    private struct Parser {
        let s: [Unicode.Scalar]
        var i = 0
        init(_ s: [Unicode.Scalar]) { self.s = s }

        func fail(_ message: String) -> XMLError { XMLError(message: message, offset: i) }

        func peek(_ literal: String) -> Bool {
            var j = i
            for c in literal.unicodeScalars {
                guard j < s.count, s[j] == c else { return false }
                j += 1
            }
            return true
        }

        mutating func expect(_ literal: String) throws(XMLError) {
            guard peek(literal) else { throw fail("expected \(literal)") }
            i += literal.unicodeScalars.count
        }

        mutating func skipSpace() {
            while i < s.count, s[i] == " " || s[i] == "\n" || s[i] == "\r" || s[i] == "\t" { i += 1 }
        }

        /// Skips `<?…?>` and `<!--…-->` at the document level.
        mutating func skipMisc() throws(XMLError) {
            while true {
                skipSpace()
                if peek("<?") { try skip(until: "?>") } else if peek("<!--") { try skip(until: "-->") } else if peek("<!DOCTYPE") {
                    throw fail("document type declarations are not accepted")
                } else { return }
            }
        }

        mutating func skip(until end: String) throws(XMLError) {
            while i < s.count {
                if peek(end) { i += end.unicodeScalars.count; return }
                i += 1
            }
            throw fail("unterminated \(end)")
        }

        mutating func document() throws(XMLError) -> FlatXMLElement {
            // A byte-order mark may precede the declaration.
            if i < s.count, s[i] == "\u{FEFF}" { i += 1 }
            // XML 1.0 § 2.2: no control characters but tab, line feed and carriage return (a NUL inside
            // a field is not XML, whatever the parser would make of it), and no U+FFFE/U+FFFF.
            if let bad = s.firstIndex(where: { !Self.isXMLChar($0) }) {
                i = bad
                throw fail("character U+\(String(s[bad].value, radix: 16, uppercase: true).leftPadded(to: 4)) is not allowed in XML")
            }
            try skipMisc()
            guard peek("<") else { throw fail("no root element") }
            let root = try element(depth: 0)
            try skipMisc()
            guard i == s.count else { throw fail("content after the root element") }
            return root
        }

        /// XML 1.0's `Char` production.
        static func isXMLChar(_ c: Unicode.Scalar) -> Bool {
            switch c.value {
            case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
            default: return false
            }
        }

        static func isNameStart(_ c: Unicode.Scalar) -> Bool {
            c == "_" || c == ":" || (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || c.value >= 0xC0
        }
        static func isName(_ c: Unicode.Scalar) -> Bool {
            isNameStart(c) || c == "-" || c == "." || (c >= "0" && c <= "9")
        }

        mutating func name() throws(XMLError) -> String {
            guard i < s.count, Parser.isNameStart(s[i]) else { throw fail("expected a name") }
            var out = String.UnicodeScalarView()
            while i < s.count, Parser.isName(s[i]) { out.append(s[i]); i += 1 }
            return String(out)
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
                guard i < s.count, s[i] == "\"" || s[i] == "'" else { throw fail("expected a quoted attribute value") }
                let quote = s[i]
                i += 1
                let value = try characters(until: quote)
                i += 1
                attributes.append(.init(name: attribute, value: value))
            }
            var children: [FlatXMLElement] = []
            var text = String.UnicodeScalarView()
            while true {
                guard i < s.count else { throw fail("element <\(tag)> is not closed") }
                if peek("</") {
                    i += 2
                    let closing = try name()
                    guard closing == tag else { throw fail("</\(closing)> closes <\(tag)>") }
                    skipSpace()
                    try expect(">")
                    return FlatXMLElement(name: tag, attributeList: attributes, children: children, text: String(text))
                } else if peek("<![CDATA[") {
                    i += 9
                    while true {
                        guard i < s.count else { throw fail("unterminated CDATA section") }
                        if peek("]]>") { i += 3; break }
                        text.append(s[i]); i += 1
                    }
                } else if peek("<!--") {
                    try skip(until: "-->")
                } else if peek("<?") {
                    try skip(until: "?>")
                } else if peek("<") {
                    children.append(try element(depth: depth + 1))
                } else {
                    text.append(contentsOf: try characters(until: "<").unicodeScalars)
                }
            }
        }

        /// Character data up to (not including) `end`, with references resolved.
        mutating func characters(until end: Unicode.Scalar) throws(XMLError) -> String {
            var out = String.UnicodeScalarView()
            while i < s.count, s[i] != end {
                let c = s[i]
                if c == "&" {
                    out.append(try reference())
                } else if c == "<" {
                    throw fail("'<' inside an attribute value")
                } else {
                    out.append(c); i += 1
                }
            }
            if end != "<" && i >= s.count { throw fail("unterminated attribute value") }
            return String(out)
        }

        mutating func reference() throws(XMLError) -> Unicode.Scalar {
            i += 1
            var body = ""
            while i < s.count, s[i] != ";" {
                body.unicodeScalars.append(s[i]); i += 1
                guard body.unicodeScalars.count <= 10 else { throw fail("unterminated entity reference") }
            }
            guard i < s.count else { throw fail("unterminated entity reference") }
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
