import Foundation

/// Where a case goes: a department's code and the level that handles it.
public struct RouteDecision: Sendable, Hashable {
    /// A `departments.csv` code (`command-center` for triage).
    public var department: String
    /// The level that handles it.
    public var level: Level
    /// The time limit of the dispatch.
    public var timeLimit: TimeInterval
    /// True when the case went to triage (unclassified or unlocatable).
    public var triage: Bool

    /// A route.
    public init(department: String, level: Level, timeLimit: TimeInterval, triage: Bool) {
        self.department = department
        self.level = level
        self.timeLimit = timeLimit
        self.triage = triage
    }
}

/// The router's routing rules: item → department and level from the catalogue, overridable per item,
/// levels raised by place, candidates to try when a department returns a case, and triage for the rest.
/// Loaded from a JSON file (`Deploy/routing.json`) that operators edit without a rebuild; every problem
/// is reported with the line it is on.
public struct RoutingRules: Sendable {
    /// One item's route when it differs from the catalogue.
    public struct ItemRoute: Sendable, Hashable, Codable {
        public var department: String?
        public var level: Level?
        public var timeLimitHours: Double?
    }

    /// Raises the level of cases of `departments` (all when empty) in `towns` to at least `minimumLevel`.
    public struct PlaceLevel: Sendable, Hashable, Codable {
        public var comment: String?
        public var towns: [String]
        public var departments: [String]?
        public var minimumLevel: Level
    }

    struct File: Codable {
        var comment: String?
        var triageDepartment: String
        var urgentTimeLimitFactor: Double
        var escalationTimeLimitHours: [String: Double]
        var items: [String: ItemRoute]?
        var placeLevels: [PlaceLevel]?
        var returnCandidates: [String: [String]]?
        var personalDataFor: [String]?
        var handledBySource: [String: String]?
        var calendar: CalendarFile?
    }

    /// The `calendar` section: holidays and exchanged working days, `YYYY-MM-DD`.
    struct CalendarFile: Codable {
        var comment: String?
        var holidays: [String]
        var workdays: [String]
    }

    /// The department of unroutable cases.
    public let triageDepartment: String
    /// Urgent items get this fraction of their time limit.
    public let urgentTimeLimitFactor: Double
    /// Time limit of an escalated dispatch per level.
    public let escalationTimeLimit: [Level: TimeInterval]
    private let itemRoutes: [String: (department: String, level: Level, timeLimit: TimeInterval, urgent: Bool)]
    private let placeLevels: [PlaceLevel]
    private let returnCandidates: [String: [String]]
    /// Departments whose dispatches carry the reporters' contacts and the parties' names.
    public let personalDataFor: Set<String>
    /// Sources that handle their own reports (the enforcement system's patrol cases), with the
    /// department that works in them: such a report's case is recorded as in progress there and
    /// followed through the source's later versions, never dispatched back to it.
    public let handledBySource: [SourceSystem: String]
    private let townOfGrid: @Sendable (String) -> String?
    /// The working days that sources' time limits count in (12345 `BLSX`).
    public let calendar: WorkingCalendar
    /// Every department's code (`departments.csv`).
    public let departments: Set<String>

    /// Parses and validates the rules' text against the reference data.
    public init(text: String, reference: ReferenceData) throws(RoutingRulesError) {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: Data(text.utf8))
        } catch {
            throw RoutingRulesError(line: Self.line(ofError: error, in: text), message: Self.describe(error))
        }
        func fail(_ token: String, _ message: String) -> RoutingRulesError {
            RoutingRulesError(line: Self.line(of: token, in: text), message: message)
        }
        let departments = Set(reference.departments.map(\.code))
        guard departments.contains(file.triageDepartment) else {
            throw fail("\"\(file.triageDepartment)\"", "triageDepartment '\(file.triageDepartment)' is not a department of departments.csv")
        }
        guard file.urgentTimeLimitFactor > 0 && file.urgentTimeLimitFactor <= 1 else {
            throw fail("\"urgentTimeLimitFactor\"", "urgentTimeLimitFactor must be in (0, 1]")
        }
        var escalation: [Level: TimeInterval] = [:]
        for (name, hours) in file.escalationTimeLimitHours {
            guard let level = Level(rawValue: name), level != .village else {
                throw fail("\"\(name)\"", "escalationTimeLimitHours: '\(name)' is not 'town' or 'city'")
            }
            guard hours > 0 else { throw fail("\"\(name)\"", "escalationTimeLimitHours.\(name) must be positive") }
            escalation[level] = hours * 3600
        }
        guard escalation[.town] != nil, escalation[.city] != nil else {
            throw fail("\"escalationTimeLimitHours\"", "escalationTimeLimitHours needs both 'town' and 'city'")
        }
        var routes: [String: (department: String, level: Level, timeLimit: TimeInterval, urgent: Bool)] = [:]
        for item in reference.items {
            routes[item.code] = (item.department, Level(rawValue: item.level.rawValue) ?? .city, Double(item.timeLimitHours) * 3600, item.urgent)
        }
        for (code, route) in file.items ?? [:] {
            guard var current = routes[code] else { throw fail("\"\(code)\"", "items: '\(code)' is not an item of items.csv") }
            if let d = route.department {
                guard departments.contains(d) else { throw fail("\"\(d)\"", "items.\(code).department '\(d)' is not a department of departments.csv") }
                current.department = d
            }
            if let l = route.level { current.level = l }
            if let h = route.timeLimitHours {
                guard h > 0 else { throw fail("\"\(code)\"", "items.\(code).timeLimitHours must be positive") }
                current.timeLimit = h * 3600
            }
            routes[code] = current
        }
        let towns = Set(reference.towns.map(\.code))
        for rule in file.placeLevels ?? [] {
            for town in rule.towns where !towns.contains(town) {
                throw fail("\"\(town)\"", "placeLevels: '\(town)' is not a town code of grids.geojson")
            }
            for d in rule.departments ?? [] where !departments.contains(d) {
                throw fail("\"\(d)\"", "placeLevels: '\(d)' is not a department of departments.csv")
            }
        }
        for (d, list) in file.returnCandidates ?? [:] {
            guard departments.contains(d) else { throw fail("\"\(d)\"", "returnCandidates: '\(d)' is not a department of departments.csv") }
            for c in list where !departments.contains(c) {
                throw fail("\"\(c)\"", "returnCandidates.\(d): '\(c)' is not a department of departments.csv")
            }
        }
        for d in file.personalDataFor ?? [] where !departments.contains(d) {
            throw fail("\"\(d)\"", "personalDataFor: '\(d)' is not a department of departments.csv")
        }
        var bySource: [SourceSystem: String] = [:]
        for (name, d) in file.handledBySource ?? [:] {
            guard let system = SourceSystem(rawValue: name) else { throw fail("\"\(name)\"", "handledBySource: '\(name)' is not a source system") }
            guard departments.contains(d) else { throw fail("\"\(d)\"", "handledBySource.\(name): '\(d)' is not a department of departments.csv") }
            bySource[system] = d
        }
        var holidays = Set<WorkingCalendar.Day>(), workdays = Set<WorkingCalendar.Day>()
        for text in file.calendar?.holidays ?? [] {
            guard let day = WorkingCalendar.Day(iso: text) else { throw fail("\"\(text)\"", "calendar.holidays: '\(text)' is not a date YYYY-MM-DD") }
            holidays.insert(day)
        }
        for text in file.calendar?.workdays ?? [] {
            guard let day = WorkingCalendar.Day(iso: text) else { throw fail("\"\(text)\"", "calendar.workdays: '\(text)' is not a date YYYY-MM-DD") }
            guard !holidays.contains(day) else { throw fail("\"\(text)\"", "calendar: \(text) is both a holiday and a working day") }
            workdays.insert(day)
        }
        calendar = WorkingCalendar(holidays: holidays, workdays: workdays)
        self.departments = departments
        handledBySource = bySource
        personalDataFor = Set(file.personalDataFor ?? [])
        triageDepartment = file.triageDepartment
        urgentTimeLimitFactor = file.urgentTimeLimitFactor
        escalationTimeLimit = escalation
        itemRoutes = routes
        placeLevels = file.placeLevels ?? []
        returnCandidates = file.returnCandidates ?? [:]
        let townByGrid = Dictionary(reference.grids.map { ($0.gridCode, $0.townCode) }, uniquingKeysWith: { a, _ in a })
        townOfGrid = { townByGrid[$0] }
    }

    /// The route of a case with `itemCode` in `gridCode`: triage when either is unknown.
    public func route(itemCode: String?, gridCode: String?, urgent: Bool) -> RouteDecision {
        guard let code = itemCode, let route = itemRoutes[code], let grid = gridCode, let town = townOfGrid(grid) else {
            return RouteDecision(department: triageDepartment, level: .city, timeLimit: urgent ? 2 * 3600 : 24 * 3600, triage: true)
        }
        var level = route.level
        for rule in placeLevels where rule.towns.contains(town) {
            if let ds = rule.departments, !ds.contains(route.department) { continue }
            level = max(level, rule.minimumLevel)
        }
        let limit = (urgent || route.urgent) ? route.timeLimit * urgentTimeLimitFactor : route.timeLimit
        return RouteDecision(department: route.department, level: level, timeLimit: limit, triage: false)
    }

    /// Where a case goes after `department` returned it: the first candidate of that department not
    /// tried yet for this case, else triage (which, once tried, stays the answer).
    public func reroute(returnedBy department: String, tried: Set<String>, itemCode: String?, gridCode: String?, urgent: Bool) -> RouteDecision {
        let base = route(itemCode: itemCode, gridCode: gridCode, urgent: urgent)
        if let next = (returnCandidates[department] ?? []).first(where: { !tried.contains($0) && $0 != department }) {
            return RouteDecision(department: next, level: base.triage ? .town : base.level, timeLimit: base.timeLimit, triage: false)
        }
        return RouteDecision(department: triageDepartment, level: .city, timeLimit: base.timeLimit, triage: true)
    }

    /// Whether dispatches to `department` carry personal data (reporters' contacts, parties' names):
    /// only for the departments listed in `personalDataFor`, which cannot do their work without it.
    public func disclosesPersonalData(to department: String) -> Bool { personalDataFor.contains(department) }

    /// The time limit of a dispatch escalated to `level`.
    public func escalationLimit(to level: Level) -> TimeInterval { escalationTimeLimit[level] ?? 24 * 3600 }

    static func line(of token: String, in text: String) -> Int {
        guard let range = text.range(of: token) else { return 1 }
        return text[..<range.lowerBound].reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
    }

    static func line(ofError error: any Error, in text: String) -> Int {
        if case DecodingError.keyNotFound(let key, let context) = error {
            return context.codingPath.last.map { line(of: "\"\($0.stringValue)\"", in: text) } ?? (line(of: "\"\(key.stringValue)\"", in: text))
        }
        if case DecodingError.typeMismatch(_, let context) = error, let key = context.codingPath.last {
            return line(of: "\"\(key.stringValue)\"", in: text)
        }
        if case DecodingError.dataCorrupted(let context) = error, let key = context.codingPath.last {
            return line(of: "\"\(key.stringValue)\"", in: text)
        }
        let message = "\(error)"
        if let r = message.range(of: "line "), let n = Int(message[r.upperBound...].prefix(while: \.isNumber)) { return n }
        return 1
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "missing key '\(key.stringValue)'" + (path.isEmpty ? "" : " in \(path)")
        case DecodingError.typeMismatch(let type, let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")) must be \(type)"
        case DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "not valid JSON" : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}

/// A problem in the routing rules file, with its line.
public struct RoutingRulesError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The 1-based line of the problem.
    public var line: Int
    /// What is wrong.
    public var message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "routing rules line \(line): \(message)" }
}
