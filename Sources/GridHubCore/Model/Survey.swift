import Foundation

/// A citizen's satisfaction with how a report was handled (`gov.gridhub.survey.v1` on
/// `gridhub.surveys.v1`, keyed by the source's record id).
public struct Survey: Sendable, Hashable, Codable {
    /// The source system that ran the survey.
    public var system: SourceSystem
    /// The source's record id of the report surveyed.
    public var recordId: String
    /// ``DeterministicID/incidentID(system:recordId:)`` of that report.
    public var incidentId: String
    /// The answer.
    public var satisfaction: Satisfaction
    /// What the citizen said (12345 `HFNR`), or `nil`.
    public var note: String?
    /// When the survey was answered.
    public var at: Date

    /// A survey; the incident id is derived from `system` and `recordId`.
    public init(system: SourceSystem, recordId: String, satisfaction: Satisfaction, note: String?, at: Date) {
        self.system = system
        self.recordId = recordId
        self.incidentId = DeterministicID.incidentID(system: system, recordId: recordId)
        self.satisfaction = satisfaction
        self.note = note
        self.at = at
    }

    /// The case event this answer means.
    public var caseEvent: CaseEvent { .survey(satisfaction, note: note) }

    enum CodingKeys: String, CodingKey { case system, recordId, incidentId, satisfaction, note, at }

    /// Strict decoding: unknown keys, and an incident id that does not match the record, are errors.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        system = try c.decode(SourceSystem.self, forKey: .system)
        recordId = try c.decode(String.self, forKey: .recordId, satisfying: FieldCheck.isRecordId, "a record id")
        incidentId = try c.decodeIncidentID(forKey: .incidentId, system: system, recordId: recordId)
        satisfaction = try c.decode(Satisfaction.self, forKey: .satisfaction)
        note = try c.decodeIfPresent(String.self, forKey: .note)
        at = try c.decode(Date.self, forKey: .at)
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(system, forKey: .system)
        try c.encode(recordId, forKey: .recordId)
        try c.encode(incidentId, forKey: .incidentId)
        try c.encode(satisfaction, forKey: .satisfaction)
        try c.encodeNullable(note, forKey: .note)
        try c.encode(at, forKey: .at)
    }
}
