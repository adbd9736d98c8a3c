/// Field checks shared by the model's decoders, mirroring the patterns of the JSON Schemas.
enum FieldCheck {
    /// `^SR-[0-9]{3}$`: a code of `reference/items.csv`.
    static func isItemCode(_ text: String) -> Bool {
        let b = Array(text.utf8)
        return b.count == 6 && b[0] == UInt8(ascii: "S") && b[1] == UInt8(ascii: "R") && b[2] == UInt8(ascii: "-")
            && b[3...].allSatisfy(isDigit)
    }

    /// `^[0-9]{15}$`: a third-level grid code.
    static func isGridCode(_ text: String) -> Bool {
        let b = Array(text.utf8)
        return b.count == 15 && b.allSatisfy(isDigit)
    }

    /// `^[a-z][a-z0-9-]*$`: a department code of `reference/departments.csv`.
    static func isDepartmentCode(_ text: String) -> Bool {
        let b = Array(text.utf8)
        guard let first = b.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
        return b.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || isDigit($0) || $0 == UInt8(ascii: "-") }
    }

    /// A lowercase UUID text as ``DeterministicID`` writes it.
    static func isUUID(_ text: String) -> Bool {
        guard let bytes = DeterministicID.parseUUID(text) else { return false }
        return DeterministicID.formatUUID(bytes) == text
    }

    /// A source record id: 1-128 printable characters, no white space or control characters.
    static func isRecordId(_ text: String) -> Bool {
        var count = 0
        for scalar in text.unicodeScalars {
            count += 1
            guard count <= 128 else { return false }
            // ASCII white space is all at or below 0x20: only other scalars need Unicode's tables (their
            // lookup for every character of every id was 0.8 % of the 12345 adapter's CPU).
            if scalar.value < 0x80 {
                guard scalar.value > 0x20 && scalar.value != 0x7f else { return false }
            } else if scalar.properties.isWhitespace {
                return false
            }
        }
        return count > 0
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
}

extension KeyedDecodingContainer {
    /// Decodes an `incidentId` and checks it is the one derived from (`system`, `recordId`): every
    /// event that names a source record must name it consistently.
    func decodeIncidentID(forKey key: Key, system: SourceSystem, recordId: String) throws -> String {
        let id = try decode(String.self, forKey: key)
        guard id == DeterministicID.incidentID(system: system, recordId: recordId) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "incidentId is not the id of source \(system.rawValue)/\(recordId)")
        }
        return id
    }

    /// Decodes a string that must satisfy `check`, or throws `DecodingError.dataCorrupted` naming `expectation`.
    func decode(_ type: String.Type, forKey key: Key, satisfying check: (String) -> Bool, _ expectation: String) throws -> String {
        let value = try decode(String.self, forKey: key)
        guard check(value) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "'\(value)' is not \(expectation)")
        }
        return value
    }

    /// Decodes an optional (absent or `null`) string that must satisfy `check` when present.
    func decodeIfPresent(_ type: String.Type, forKey key: Key, satisfying check: (String) -> Bool, _ expectation: String) throws -> String? {
        guard let value = try decodeIfPresent(String.self, forKey: key) else { return nil }
        guard check(value) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "'\(value)' is not \(expectation)")
        }
        return value
    }

    /// Decodes an integer of at least `minimum`.
    func decode(_ type: Int.Type, forKey key: Key, atLeast minimum: Int) throws -> Int {
        let value = try decode(Int.self, forKey: key)
        guard value >= minimum else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "\(value) is below \(minimum)")
        }
        return value
    }

    /// Decodes an optional number that must lie in `range` when present.
    func decodeIfPresent(_ type: Double.Type, forKey key: Key, in range: ClosedRange<Double>) throws -> Double? {
        guard let value = try decodeIfPresent(Double.self, forKey: key) else { return nil }
        guard range.contains(value) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "\(value) is outside \(range)")
        }
        return value
    }

    /// Decodes a number that must lie in `range`.
    func decode(_ type: Double.Type, forKey key: Key, in range: ClosedRange<Double>) throws -> Double {
        let value = try decode(Double.self, forKey: key)
        guard range.contains(value) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "\(value) is outside \(range)")
        }
        return value
    }
}
