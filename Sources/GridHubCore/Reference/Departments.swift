/// A department of `reference/departments.csv`: a unit that receives dispatches on its own topic.
public struct Department: Sendable, Hashable, Codable {
    /// The kind of a department: an ordinary one, or the command centre that triages unroutable cases.
    public enum Kind: String, Sendable, Hashable, Codable {
        case department
        case triage
    }

    /// Short code, e.g. `urban-mgmt`; part of the dispatch topic name.
    public var code: String
    public var nameZh: String
    public var nameEn: String
    /// `gridhub.dispatch.<code>.v1`.
    public var kafkaTopic: String
    public var kind: Kind

    public init(code: String, nameZh: String, nameEn: String, kafkaTopic: String, kind: Kind) {
        self.code = code
        self.nameZh = nameZh
        self.nameEn = nameEn
        self.kafkaTopic = kafkaTopic
        self.kind = kind
    }

    /// Parses `departments.csv` (`code,name_zh,name_en,kafka_topic,kind`).
    public static func parse(csv text: String) throws(ReferenceDataError) -> [Department] {
        let table: CSVTable
        do { table = try CSVTable(parsing: text) } catch {
            throw ReferenceDataError(file: "departments.csv", line: error.line, message: error.message)
        }
        let expected = ["code", "name_zh", "name_en", "kafka_topic", "kind"]
        guard table.header == expected else {
            throw ReferenceDataError(file: "departments.csv", line: 1, message: "header must be \(expected.joined(separator: ","))")
        }
        var result: [Department] = []
        for row in table.rows {
            guard row.fields.count == expected.count else {
                throw ReferenceDataError(file: "departments.csv", line: row.line, message: "expected \(expected.count) columns, found \(row.fields.count)")
            }
            guard let kind = Kind(rawValue: row.fields[4]) else {
                throw ReferenceDataError(file: "departments.csv", line: row.line, message: "unknown kind '\(row.fields[4])'")
            }
            result.append(Department(code: row.fields[0], nameZh: row.fields[1], nameEn: row.fields[2], kafkaTopic: row.fields[3], kind: kind))
        }
        return result
    }
}

/// Reference data that cannot be loaded: which file, which line, and why.
public struct ReferenceDataError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String
    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }
    public var description: String { "\(file) line \(line): \(message)" }
}
