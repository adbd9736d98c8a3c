import Foundation

/// A work order for one department (`gov.gridhub.dispatch.v1` on `gridhub.dispatch.<department>.v1`).
/// Contacts and parties are personal data: encode with ``PersonalDataDisclosure/reveal`` only for a
/// department that needs them.
public struct Dispatch: Sendable, Hashable, Codable {
    /// Why this dispatch was sent.
    public enum Reason: String, Sendable, Hashable, Codable, CaseIterable {
        /// The case's first dispatch.
        case initial
        /// The previous department returned the case as "not ours".
        case returned
        /// Re-dispatched at a higher level.
        case escalated
        /// The case was reopened (dissatisfied citizen).
        case reopened
        /// The source corrected the report to an item of this department: the case moved here from the
        /// department of its old item (whose dispatch was withdrawn).
        case rerouted
        /// The command centre assigned the case to this department (a case nobody could route, or moved
        /// here from another department, whose dispatch was withdrawn).
        case assigned
    }

    /// The dispatch id (the router derives it with ``DeterministicID``).
    public var dispatchId: String
    /// The case this work order is for.
    public var caseId: String
    /// 1 for the case's first dispatch, +1 for each later one.
    public var attempt: Int
    /// Why this dispatch was sent.
    public var reason: Reason
    /// The receiving department (a `departments.csv` code; `command-center` for cases nobody could route).
    public var department: String
    /// The level expected to handle it.
    public var level: Level
    /// The item, or `nil` when unclassified (typically for `command-center`).
    public var itemCode: String?
    /// The grid, or `nil` when unknown.
    public var gridCode: String?
    /// When the work is due.
    public var dueAt: Date
    /// When the router issued this dispatch.
    public var issuedAt: Date
    /// Urgent handling required.
    public var urgent: Bool
    /// A short title, when a report had one.
    public var title: String?
    /// What to do: the text of the report that opened the case.
    public var description: String
    /// Where.
    public var location: Location
    /// The source reports behind the case, oldest first.
    public var reports: [ReportRef]
    /// The people who reported it, for call-backs (masked unless disclosed; anonymous ones always masked).
    public var contacts: [Reporter]
    /// Parties concerned (masked unless disclosed).
    public var parties: [PersonName]
    /// Photo and attachment URLs.
    public var attachments: [String]
    /// Which edition of this dispatch this record is: the same dispatch id is sent again, with a higher
    /// revision, when a source's new version changes what the department must do. A department keeps
    /// the highest revision of each dispatch id. (The case's version when it was written; records
    /// written before revisions existed read as 1.)
    public var revision: Int = 1
    /// Set on a last revision when the case was taken from this department (its source corrected the
    /// report to another department's item): stop work on it. Absent otherwise.
    public var withdrawnAt: Date? = nil
    /// The command centre's latest 督办 message on the case, when it pressed the department. Absent otherwise.
    public var supervision: String? = nil

    /// A dispatch.
    public init(
        dispatchId: String, caseId: String, attempt: Int, reason: Reason, department: String, level: Level,
        itemCode: String?, gridCode: String?, dueAt: Date, issuedAt: Date, urgent: Bool, title: String? = nil,
        description: String, location: Location, reports: [ReportRef], contacts: [Reporter] = [],
        parties: [PersonName] = [], attachments: [String] = []
    ) {
        self.dispatchId = dispatchId
        self.caseId = caseId
        self.attempt = attempt
        self.reason = reason
        self.department = department
        self.level = level
        self.itemCode = itemCode
        self.gridCode = gridCode
        self.dueAt = dueAt
        self.issuedAt = issuedAt
        self.urgent = urgent
        self.title = title
        self.description = description
        self.location = location
        self.reports = reports
        self.contacts = contacts
        self.parties = parties
        self.attachments = attachments
    }

    /// The topic this dispatch goes to: `gridhub.dispatch.<department>.v1`.
    public var topic: String { Topics.dispatch(department: department) }

    enum CodingKeys: String, CodingKey {
        case dispatchId, caseId, attempt, reason, department, level, itemCode, gridCode, dueAt, issuedAt, urgent
        case title, description, location, reports, contacts, parties, attachments, revision, withdrawnAt, supervision
    }

    /// Strict decoding: unknown keys and malformed codes are errors.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dispatchId = try c.decode(String.self, forKey: .dispatchId, satisfying: FieldCheck.isRecordId, "a dispatch id")
        caseId = try c.decode(String.self, forKey: .caseId, satisfying: FieldCheck.isRecordId, "a case id")
        attempt = try c.decode(Int.self, forKey: .attempt, atLeast: 1)
        reason = try c.decode(Reason.self, forKey: .reason)
        department = try c.decode(String.self, forKey: .department, satisfying: FieldCheck.isDepartmentCode, "a department code")
        level = try c.decode(Level.self, forKey: .level)
        itemCode = try c.decodeIfPresent(String.self, forKey: .itemCode, satisfying: FieldCheck.isItemCode, "an item code SR-nnn")
        gridCode = try c.decodeIfPresent(String.self, forKey: .gridCode, satisfying: FieldCheck.isGridCode, "a 15-digit grid code")
        dueAt = try c.decode(Date.self, forKey: .dueAt)
        issuedAt = try c.decode(Date.self, forKey: .issuedAt)
        urgent = try c.decode(Bool.self, forKey: .urgent)
        title = try c.decodeIfPresent(String.self, forKey: .title)
        description = try c.decode(String.self, forKey: .description)
        location = try c.decode(Location.self, forKey: .location)
        reports = try c.decode([ReportRef].self, forKey: .reports)
        contacts = try c.decode([Reporter].self, forKey: .contacts)
        parties = try c.decode([PersonName].self, forKey: .parties)
        attachments = try c.decode([String].self, forKey: .attachments)
        revision = try c.decodeIfPresent(Int.self, forKey: .revision) ?? 1
        withdrawnAt = try c.decodeIfPresent(Date.self, forKey: .withdrawnAt)
        supervision = try c.decodeIfPresent(String.self, forKey: .supervision)
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dispatchId, forKey: .dispatchId)
        try c.encode(caseId, forKey: .caseId)
        try c.encode(attempt, forKey: .attempt)
        try c.encode(reason, forKey: .reason)
        try c.encode(department, forKey: .department)
        try c.encode(level, forKey: .level)
        try c.encodeNullable(itemCode, forKey: .itemCode)
        try c.encodeNullable(gridCode, forKey: .gridCode)
        try c.encode(dueAt, forKey: .dueAt)
        try c.encode(issuedAt, forKey: .issuedAt)
        try c.encode(urgent, forKey: .urgent)
        try c.encodeNullable(title, forKey: .title)
        try c.encode(description, forKey: .description)
        try c.encode(location, forKey: .location)
        try c.encode(reports, forKey: .reports)
        try c.encode(contacts, forKey: .contacts)
        try c.encode(parties, forKey: .parties)
        try c.encode(attachments, forKey: .attachments)
        try c.encode(revision, forKey: .revision)
        try c.encodeIfPresent(withdrawnAt, forKey: .withdrawnAt)
        try c.encodeIfPresent(supervision, forKey: .supervision)
    }
}

/// A source report named by its ids (in a dispatch).
public struct ReportRef: Sendable, Hashable, Codable {
    /// The incident id.
    public var incidentId: String
    /// The source system.
    public var system: SourceSystem
    /// The source's record id.
    public var recordId: String

    /// A report reference.
    public init(incidentId: String, system: SourceSystem, recordId: String) {
        self.incidentId = incidentId
        self.system = system
        self.recordId = recordId
    }

    /// The reference of a case's merged report.
    public init(_ report: CaseReport) {
        self.init(incidentId: report.incidentId, system: report.system, recordId: report.recordId)
    }

    enum CodingKeys: String, CodingKey { case incidentId, system, recordId }

    /// Strict decoding: unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        incidentId = try c.decode(String.self, forKey: .incidentId, satisfying: FieldCheck.isUUID, "a lowercase UUID")
        system = try c.decode(SourceSystem.self, forKey: .system)
        recordId = try c.decode(String.self, forKey: .recordId, satisfying: FieldCheck.isRecordId, "a record id")
    }
}
