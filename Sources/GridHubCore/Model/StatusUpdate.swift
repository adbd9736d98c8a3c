import Foundation

/// What happened to a report, for its source system (`gov.gridhub.status.v1` on
/// `gridhub.status.<source>.v1`, keyed by the source's record id). The contract calls it "Status".
public struct StatusUpdate: Sendable, Hashable, Codable {
    /// The source system the report came from.
    public var system: SourceSystem
    /// The source's record id.
    public var recordId: String
    /// ``DeterministicID/incidentID(system:recordId:)`` of the report.
    public var incidentId: String
    /// The case the report belongs to.
    public var caseId: String
    /// The case's ``Case/version`` this status reflects: a consumer drops anything older than what it has.
    public var caseVersion: Int
    /// The case's status.
    public var status: CaseStatus
    /// The department handling it (a `departments.csv` code), or `nil` before a dispatch.
    public var department: String?
    /// A readable note: the department's result text, why it was closed, …, or `nil`.
    public var note: String?
    /// When the status changed.
    public var at: Date

    /// A status update; the incident id is derived from `system` and `recordId`.
    public init(system: SourceSystem, recordId: String, caseId: String, caseVersion: Int, status: CaseStatus,
                department: String?, note: String?, at: Date) {
        self.system = system
        self.recordId = recordId
        self.incidentId = DeterministicID.incidentID(system: system, recordId: recordId)
        self.caseId = caseId
        self.caseVersion = caseVersion
        self.status = status
        self.department = department
        self.note = note
        self.at = at
    }

    /// The topic this update goes to: `gridhub.status.<system>.v1`.
    public var topic: String { system.statusTopic }

    enum CodingKeys: String, CodingKey { case system, recordId, incidentId, caseId, caseVersion, status, department, note, at }

    /// Strict decoding: unknown keys, malformed codes and a mismatched incident id are errors.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        system = try c.decode(SourceSystem.self, forKey: .system)
        recordId = try c.decode(String.self, forKey: .recordId, satisfying: FieldCheck.isRecordId, "a record id")
        incidentId = try c.decodeIncidentID(forKey: .incidentId, system: system, recordId: recordId)
        caseId = try c.decode(String.self, forKey: .caseId, satisfying: FieldCheck.isRecordId, "a case id")
        caseVersion = try c.decode(Int.self, forKey: .caseVersion, atLeast: 1)
        status = try c.decode(CaseStatus.self, forKey: .status)
        department = try c.decodeIfPresent(String.self, forKey: .department, satisfying: FieldCheck.isDepartmentCode, "a department code")
        note = try c.decodeIfPresent(String.self, forKey: .note)
        at = try c.decode(Date.self, forKey: .at)
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(system, forKey: .system)
        try c.encode(recordId, forKey: .recordId)
        try c.encode(incidentId, forKey: .incidentId)
        try c.encode(caseId, forKey: .caseId)
        try c.encode(caseVersion, forKey: .caseVersion)
        try c.encode(status, forKey: .status)
        try c.encodeNullable(department, forKey: .department)
        try c.encodeNullable(note, forKey: .note)
        try c.encode(at, forKey: .at)
    }
}
