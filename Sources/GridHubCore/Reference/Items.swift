/// The lowest level of government that normally handles an item or a case.
public enum GovernanceLevel: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// A village or community (村/社区).
    case village
    /// A town or street office (镇/街道).
    case town
    /// The city.
    case city

    private var rank: Int {
        switch self {
        case .village: 0
        case .town: 1
        case .city: 2
        }
    }

    public static func < (a: GovernanceLevel, b: GovernanceLevel) -> Bool { a.rank < b.rank }
}

/// An item of the routine inspection catalogue `reference/items.csv` (`SR-001`…`SR-150`).
public struct CatalogueItem: Sendable, Hashable, Codable, Identifiable {
    /// `SR-001`…
    public var code: String
    public var nameZh: String
    /// The item's group, e.g. `市容环境`; items of one group are related.
    public var groupZh: String
    /// A `departments.csv` code.
    public var department: String
    public var level: GovernanceLevel
    /// 2, 24, 72, 120 or 360.
    public var timeLimitHours: Int
    public var urgent: Bool
    /// Words a citizen would use; each keyword belongs to this item only.
    public var keywordsZh: [String]

    public var id: String { code }

    public init(code: String, nameZh: String, groupZh: String, department: String, level: GovernanceLevel,
                timeLimitHours: Int, urgent: Bool, keywordsZh: [String]) {
        self.code = code
        self.nameZh = nameZh
        self.groupZh = groupZh
        self.department = department
        self.level = level
        self.timeLimitHours = timeLimitHours
        self.urgent = urgent
        self.keywordsZh = keywordsZh
    }

    /// Parses `items.csv`; with `departments`, every item's department must be one of their codes.
    public static func parse(csv text: String, departments: [Department]? = nil) throws(ReferenceDataError) -> [CatalogueItem] {
        let file = "items.csv"
        let table: CSVTable
        do { table = try CSVTable(parsing: text) } catch {
            throw ReferenceDataError(file: file, line: error.line, message: error.message)
        }
        let expected = ["code", "name_zh", "group_zh", "department", "level", "time_limit_hours", "urgent", "keywords_zh"]
        guard table.header == expected else {
            throw ReferenceDataError(file: file, line: 1, message: "header must be \(expected.joined(separator: ","))")
        }
        let known = departments.map { Set($0.map(\.code)) }
        var seen = Set<String>()
        var keywordOwner: [String: String] = [:]
        var result: [CatalogueItem] = []
        for row in table.rows {
            func fail(_ message: String) -> ReferenceDataError { ReferenceDataError(file: file, line: row.line, message: message) }
            let f = row.fields
            guard f.count == expected.count else { throw fail("expected \(expected.count) columns, found \(f.count)") }
            guard !f[0].isEmpty, seen.insert(f[0]).inserted else { throw fail("empty or repeated code '\(f[0])'") }
            guard !f[1].isEmpty else { throw fail("item \(f[0]) has no name") }
            if let known, !known.contains(f[3]) { throw fail("unknown department '\(f[3])' (not in departments.csv)") }
            guard let level = GovernanceLevel(rawValue: f[4]) else { throw fail("unknown level '\(f[4])' (village, town or city)") }
            guard let hours = Int(f[5]), hours > 0 else { throw fail("time_limit_hours '\(f[5])' is not a positive integer") }
            guard f[6] == "0" || f[6] == "1" else { throw fail("urgent must be 0 or 1, found '\(f[6])'") }
            let keywords = f[7].split(separator: "|").map(String.init).filter { !$0.isEmpty }
            for k in keywords {
                if let owner = keywordOwner[k], owner != f[0] { throw fail("keyword '\(k)' already belongs to \(owner)") }
                keywordOwner[k] = f[0]
            }
            result.append(CatalogueItem(code: f[0], nameZh: f[1], groupZh: f[2], department: f[3], level: level,
                                        timeLimitHours: hours, urgent: f[6] == "1", keywordsZh: keywords))
        }
        return result
    }
}
