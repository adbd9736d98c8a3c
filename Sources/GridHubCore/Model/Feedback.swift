import Foundation

/// A department's status change on a dispatch (`gov.gridhub.feedback.v1` on `gridhub.feedback.v1`,
/// written by departments' systems, keyed by `dispatchId`).
public struct Feedback: Sendable, Hashable, Codable {
    /// The dispatch this is about.
    public var dispatchId: String
    /// The department sending it (a `departments.csv` code).
    public var department: String
    /// The new status.
    public var status: FeedbackStatus
    /// A readable note (required in practice for `resolved` and `returned`), or `nil`.
    public var note: String?
    /// When the status changed.
    public var at: Date

    /// A feedback.
    public init(dispatchId: String, department: String, status: FeedbackStatus, note: String?, at: Date) {
        self.dispatchId = dispatchId
        self.department = department
        self.status = status
        self.note = note
        self.at = at
    }

    /// The case event this feedback means.
    public var caseEvent: CaseEvent { .feedback(status, dispatchId: dispatchId, note: note) }

    enum CodingKeys: String, CodingKey { case dispatchId, department, status, note, at }

    /// Strict decoding: unknown keys are an error; `note` may be absent or `null`.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dispatchId = try c.decode(String.self, forKey: .dispatchId, satisfying: FieldCheck.isRecordId, "a dispatch id")
        department = try c.decode(String.self, forKey: .department, satisfying: FieldCheck.isDepartmentCode, "a department code")
        status = try c.decode(FeedbackStatus.self, forKey: .status)
        note = try c.decodeIfPresent(String.self, forKey: .note)
        at = try c.decode(Date.self, forKey: .at)
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dispatchId, forKey: .dispatchId)
        try c.encode(department, forKey: .department)
        try c.encode(status, forKey: .status)
        try c.encodeNullable(note, forKey: .note)
        try c.encode(at, forKey: .at)
    }
}
