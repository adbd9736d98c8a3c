import Foundation

/// A supervision alert of the command centre (`gov.gridhub.alert.v1` on `gridhub.alerts.v1`, keyed by
/// `caseId`, written by the router): what needs its attention on a case.
public struct Alert: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// The case has used most of its time (``CasePolicy/warningShare``) and is not resolved.
        case earlyWarning
        /// The case is overdue (督办): the department is pressed, and it is escalated where a level is left.
        case overdue
        /// Escalated one level after its deadline.
        case escalated
        /// Returned ("not ours") a second time or more.
        case returnedRepeatedly
        /// Reopened: a dissatisfied citizen, or the problem reported again after it was resolved.
        case reopened
        /// The command centre pressed the department (督办 by command).
        case supervised
        /// A grid or grid worker reports a significantly easier mix of items than its town's peers
        /// (``ReportMixAnomaly``); `caseId` names one of their easy reports' cases, `reportMix` the evidence.
        case reportMix
    }

    /// The alert's id (also its `ce_id`): derived from the case, the kind and the case's version.
    public var alertId: String
    public var caseId: String
    public var kind: Kind
    /// The department with the case, or `nil`.
    public var department: String?
    public var level: Level?
    /// The dispatch concerned, or `nil`.
    public var dispatchId: String?
    /// The case's due date, or `nil`.
    public var dueAt: Date?
    /// What happened, in words for the command centre.
    public var message: String
    public var at: Date
    /// The evidence of a ``Kind/reportMix`` alert; `nil` for the others.
    public var reportMix: ReportMixAnomaly.Flag?

    public init(alertId: String, caseId: String, kind: Kind, department: String?, level: Level?, dispatchId: String?, dueAt: Date?, message: String, at: Date,
                reportMix: ReportMixAnomaly.Flag? = nil) {
        self.reportMix = reportMix
        self.alertId = alertId
        self.caseId = caseId
        self.kind = kind
        self.department = department
        self.level = level
        self.dispatchId = dispatchId
        self.dueAt = dueAt
        self.message = message
        self.at = at
    }

    enum CodingKeys: String, CodingKey { case alertId, caseId, kind, department, level, dispatchId, dueAt, message, at, reportMix }

    /// Strict decoding: unknown keys and malformed ids or codes are errors.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        alertId = try c.decode(String.self, forKey: .alertId, satisfying: FieldCheck.isRecordId, "an alert id")
        caseId = try c.decode(String.self, forKey: .caseId, satisfying: FieldCheck.isRecordId, "a case id")
        kind = try c.decode(Kind.self, forKey: .kind)
        department = try c.decodeIfPresent(String.self, forKey: .department, satisfying: FieldCheck.isDepartmentCode, "a department code")
        level = try c.decodeIfPresent(Level.self, forKey: .level)
        dispatchId = try c.decodeIfPresent(String.self, forKey: .dispatchId, satisfying: FieldCheck.isRecordId, "a dispatch id")
        dueAt = try c.decodeIfPresent(Date.self, forKey: .dueAt)
        message = try c.decode(String.self, forKey: .message)
        at = try c.decode(Date.self, forKey: .at)
        reportMix = try c.decodeIfPresent(ReportMixAnomaly.Flag.self, forKey: .reportMix)
        guard (kind == .reportMix) == (reportMix != nil) else {
            throw DecodingError.dataCorruptedError(forKey: .reportMix, in: c, debugDescription: "reportMix is the evidence of a reportMix alert, and only of one")
        }
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(alertId, forKey: .alertId)
        try c.encode(caseId, forKey: .caseId)
        try c.encode(kind, forKey: .kind)
        try c.encodeNullable(department, forKey: .department)
        try c.encodeNullable(level, forKey: .level)
        try c.encodeNullable(dispatchId, forKey: .dispatchId)
        try c.encodeNullable(dueAt, forKey: .dueAt)
        try c.encode(message, forKey: .message)
        try c.encode(at, forKey: .at)
        try c.encodeNullable(reportMix, forKey: .reportMix)
    }
}
