/// Whether an encoder writes personal data in clear or masked. Masked is the default everywhere.
///
/// Set it with ``GridHubJSON/encoder(disclosingPersonalData:)`` (or `userInfo[.personalDataDisclosure]`)
/// only for a record that goes to a department that needs the data to do its work.
public enum PersonalDataDisclosure: Sendable, Hashable {
    /// Write masked forms (`138****5678`, `张**`). The default.
    case mask
    /// Write personal data in clear.
    case reveal
}

extension CodingUserInfoKey {
    /// The `userInfo` key holding a ``PersonalDataDisclosure``; absent means ``PersonalDataDisclosure/mask``.
    public static let personalDataDisclosure: CodingUserInfoKey = {
        guard let key = CodingUserInfoKey(rawValue: "gov.gridhub.personalDataDisclosure") else {
            preconditionFailure("a constant non-empty raw value is a valid CodingUserInfoKey")
        }
        return key
    }()
}

extension Encoder {
    /// True only when the encoder was explicitly told to reveal personal data.
    var revealsPersonalData: Bool {
        (userInfo[.personalDataDisclosure] as? PersonalDataDisclosure) == .reveal
    }
}

/// What kind of personal data a ``PersonalDatum`` holds: how its raw text is normalised and masked.
public protocol PersonalDataKind: Sendable {
    /// The type's name in debug output.
    static var typeName: String { get }
    /// The raw value as stored (e.g. digits made ASCII, spaces dropped).
    static func normalize(_ raw: String) -> String
    /// The masked form of a normalised clear value.
    static func mask(_ value: String) -> String
}

/// A piece of personal data. Encodes, prints, interpolates and mirrors masked unless an encoder
/// explicitly asks for ``PersonalDataDisclosure/reveal``. A value decoded from a masked form (it holds
/// `*`) stays masked: the clear text is unknown.
public struct PersonalDatum<Kind: PersonalDataKind>: Sendable, Hashable, Codable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private enum Storage: Sendable, Hashable {
        case clear(String)
        case maskedOnly(String)
    }

    private let storage: Storage

    /// The value as the source gave it.
    public init(_ raw: String) {
        let normalized = Kind.normalize(raw)
        storage = normalized.hasMaskMark ? .maskedOnly(normalized) : .clear(normalized)
    }

    private init(storage: Storage) { self.storage = storage }

    /// The clear value, or `nil` when only the masked form is known. Use it only to do the work the
    /// data was collected for (calling the citizen back); never log it.
    public var revealed: String? {
        if case .clear(let value) = storage { return value }
        return nil
    }

    /// The masked form, e.g. `138****5678`, `张**`.
    public var masked: String {
        switch storage {
        case .clear(let value): Kind.mask(value)
        case .maskedOnly(let value): value
        }
    }

    /// Whether the clear value is known.
    public var isRevealable: Bool { revealed != nil }

    /// The same value with the clear text forgotten: only the masked form remains.
    public var maskedOnly: PersonalDatum { PersonalDatum(storage: .maskedOnly(masked)) }

    /// The masked form: logs never see the value.
    public var description: String { masked }
    /// The masked form: debug output never sees the value.
    public var debugDescription: String { "\(Kind.typeName)(\(masked))" }
    /// Only the masked form: `dump` and debuggers never see the value.
    public var customMirror: Mirror { Mirror(self, children: ["masked": masked]) }

    /// Decodes a string, clear or masked.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self.init(try container.decode(String.self))
    }

    /// Encodes the masked form unless the encoder reveals personal data.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(encoder.revealsPersonalData ? (revealed ?? masked) : masked)
    }
}

/// Phone numbers: spaces dropped, full-width digits made ASCII; masked `138****5678`.
public enum PhoneKind: PersonalDataKind {
    public static let typeName = "PhoneNumber"
    public static func normalize(_ raw: String) -> String { PersonalDataMasking.normalizePhone(raw) }
    public static func mask(_ value: String) -> String { PersonalDataMasking.maskPhone(value) }
}

/// Names of people or parties: surrounding white space dropped; masked `张**`.
public enum NameKind: PersonalDataKind {
    public static let typeName = "PersonName"
    public static func normalize(_ raw: String) -> String { raw.trimmingWhitespace() }
    public static func mask(_ value: String) -> String { PersonalDataMasking.maskName(value) }
}

/// A phone number: personal data, masked by default.
public typealias PhoneNumber = PersonalDatum<PhoneKind>
/// A person's (or a party's) name: personal data, masked by default.
public typealias PersonName = PersonalDatum<NameKind>

/// Masking of personal data, including phone numbers inside free text (for logs and descriptions).
public enum PersonalDataMasking {
    /// Masks a phone number: mobiles keep the first 3 and last 4 digits (`138****5678`, `+86 138****5678`),
    /// landlines keep the area code and last 4 digits (`0510-****3456`), anything else keeps only its
    /// last 2 digits. Separators are kept where they are.
    public static func maskPhone(_ phone: String) -> String {
        let characters = Array(phone)
        let digitPositions = characters.indices.filter { asciiDigit(characters[$0]) != nil }
        let digits = digitPositions.compactMap { asciiDigit(characters[$0]) }
        guard let (keepFront, keepBack) = phoneShape(digits) ?? fallbackShape(digits.count) else { return phone }
        var out = characters
        for (n, position) in digitPositions.enumerated() where n >= keepFront && n < digits.count - keepBack {
            out[position] = "*"
        }
        return String(out)
    }

    /// Masks a name: the first character stays, every further character becomes `*`; a one-character
    /// name becomes `*`. Names already holding `*` are returned unchanged.
    public static func maskName(_ name: String) -> String {
        guard !name.hasMaskMark, let first = name.first else { return name }
        if name.count == 1 { return "*" }
        return String(first) + String(repeating: "*", count: name.count - 1)
    }

    /// Masks every phone number found in free text, leaving other digit runs (record ids, grid codes,
    /// dates, amounts) alone. Mobile numbers: 11 digits starting `1[3-9]`, optionally after `+86`/`86`,
    /// possibly split `138-1234-5678` or `138 1234 5678`; landlines: `0` + 2-3 digit area code + 7-8
    /// digits, optionally split by `-` or a space. Full-width digits count as digits.
    public static func maskPhoneNumbers(in text: String) -> String {
        let characters = Array(text)
        var out = characters
        // Units: maximal runs of digits joined by single hyphens (ids like 20261127-000123 stay one unit).
        var units: [(range: Range<Int>, digitPositions: [Int])] = []
        var i = 0
        while i < characters.count {
            guard asciiDigit(characters[i]) != nil else { i += 1; continue }
            let start = i
            var positions: [Int] = []
            while i < characters.count {
                if asciiDigit(characters[i]) != nil {
                    positions.append(i); i += 1
                } else if characters[i] == "-" || characters[i] == "－", i + 1 < characters.count,
                          asciiDigit(characters[i + 1]) != nil {
                    i += 1
                } else {
                    break
                }
            }
            units.append((start..<i, positions))
        }
        var u = 0
        while u < units.count {
            // A unit glued to a letter (e.g. WGY0012345, order ids) is an identifier, not a phone.
            let before = units[u].range.lowerBound - 1
            let gluedBefore = before >= 0 && isIdentifierCharacter(characters[before])
            var matched = 0
            if !gluedBefore {
                // Try this unit alone, then joined with the next one or two units across single spaces.
                for count in stride(from: min(3, units.count - u), through: 1, by: -1) {
                    let group = units[u..<(u + count)]
                    let joinedBySpace = zip(group, group.dropFirst()).allSatisfy { pair in
                        pair.1.range.lowerBound - pair.0.range.upperBound == 1
                            && (characters[pair.0.range.upperBound] == " " || characters[pair.0.range.upperBound] == "\u{3000}")
                    }
                    guard joinedBySpace else { continue }
                    let after = group.last.map { $0.range.upperBound } ?? 0
                    if after < characters.count, isIdentifierCharacter(characters[after]) { continue }
                    let positions = group.flatMap(\.digitPositions)
                    let digits = positions.compactMap { asciiDigit(characters[$0]) }
                    guard let (keepFront, keepBack) = phoneShape(digits) else { continue }
                    for (n, position) in positions.enumerated() where n >= keepFront && n < digits.count - keepBack {
                        out[position] = "*"
                    }
                    matched = count
                    break
                }
            }
            u += max(matched, 1)
        }
        return String(out)
    }

    /// How many leading and trailing digits stay visible, if `digits` look like a phone number.
    static func phoneShape(_ digits: [Int]) -> (Int, Int)? {
        var d = digits
        var prefix = 0
        if d.count == 13, d[0] == 8, d[1] == 6 { d.removeFirst(2); prefix = 2 }
        if d.count == 11, d[0] == 1, (3...9).contains(d[1]) { return (prefix + 3, 4) }
        guard prefix == 0, d.count >= 10, d.count <= 12, d[0] == 0 else { return nil }
        let areaLength = d[1] == 1 || d[1] == 2 ? 3 : 4
        return d.count - areaLength >= 7 ? (areaLength, 4) : nil
    }

    private static func fallbackShape(_ count: Int) -> (Int, Int)? {
        switch count {
        case 0: nil
        case 1...2: (0, 0)
        case 3...6: (0, 2)
        default: (3, 4)
        }
    }

    /// Keeps `+`, digits and `*`; full-width digits become ASCII; spaces dropped.
    static func normalizePhone(_ raw: String) -> String {
        var out = ""
        for character in raw {
            if let digit = asciiDigit(character) {
                out.append(Character(Unicode.Scalar(UInt8(48 + digit))))
            } else if character == "*" || character == "＊" {
                out.append("*")
            } else if character == "+" || character == "-" {
                out.append(character)
            }
        }
        return out
    }

    private static func isIdentifierCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c == "_") || asciiDigit(c) != nil
    }

    /// The value of an ASCII or full-width decimal digit.
    static func asciiDigit(_ c: Character) -> Int? {
        guard let scalar = c.unicodeScalars.first, c.unicodeScalars.count == 1 else { return nil }
        switch scalar.value {
        case 0x30...0x39: return Int(scalar.value - 0x30)
        case 0xFF10...0xFF19: return Int(scalar.value - 0xFF10)
        default: return nil
        }
    }
}

extension String {
    /// The string with leading and trailing white space (including the ideographic space and line
    /// breaks) removed; cheaper than Foundation's `trimmingCharacters(in:)`.
    public func trimmingWhitespace() -> String {
        // Most text has nothing to trim: a visible ASCII character or a CJK ideograph at both ends (neither
        // is white space, nor joins a character before it).
        func plain(_ s: Unicode.Scalar?) -> Bool { s.map { (0x21..<0x7F).contains($0.value) || (0x4E00...0x9FFF).contains($0.value) } ?? false }
        if plain(unicodeScalars.first), plain(unicodeScalars.last) { return self }
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }

    /// The text with each scalar that `replacement` maps written as what it maps to (an escaper's table);
    /// the others as they are.
    public func replacingScalars(_ replacement: (Unicode.Scalar) -> String?) -> String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for scalar in unicodeScalars {
            if let replaced = replacement(scalar) { out += replaced } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    /// Whether the text holds a `*`, a source's mask. Searched as bytes: Foundation's `contains` for
    /// this one character was 1.3 % of the 12345 adapter's CPU (two names and phones per order).
    var hasMaskMark: Bool { utf8.contains(UInt8(ascii: "*")) }
}
