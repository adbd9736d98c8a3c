import Foundation

/// A command of the command centre on one case (`gov.gridhub.command.v1` on `gridhub.commands.v1`,
/// keyed by `caseId`, written by `gridhub case …` and the console). The router applies it or refuses
/// it with the reason (a dead letter carrying the command's `ce_id`); an applied command's case history
/// entries carry its ``commandId``.
public struct Command: Sendable, Hashable, Codable {
    /// What the command centre does.
    public enum Action: String, Sendable, Hashable, Codable, CaseIterable {
        /// Send a case nobody could route (open, returned, or held by the command centre's triage) to
        /// ``Command/department``.
        case assign
        /// Move a case a department works on to ``Command/department`` (its dispatch is withdrawn).
        case reassign
        /// Press the department working on the case (督办) with ``Command/message``.
        case supervise
        /// Change the current dispatch's due date to ``Command/dueAt``.
        case due
        /// Close the case with ``Command/message`` as the reason (a department's dispatch is withdrawn).
        case close
    }

    /// The command's id (also its `ce_id`).
    public var commandId: String
    /// The case it is about (also the record key).
    public var caseId: String
    public var action: Action
    /// For `assign` and `reassign`: a `departments.csv` code.
    public var department: String?
    /// For `supervise` (the message) and `close` (the reason).
    public var message: String?
    /// For `due`.
    public var dueAt: Date?
    /// Who gave it (the operator's account), for the case's history.
    public var issuedBy: String
    /// When it was given.
    public var at: Date

    public init(commandId: String, caseId: String, action: Action, department: String? = nil, message: String? = nil, dueAt: Date? = nil,
                issuedBy: String, at: Date) {
        self.commandId = commandId
        self.caseId = caseId
        self.action = action
        self.department = department
        self.message = message
        self.dueAt = dueAt
        self.issuedBy = issuedBy
        self.at = at
    }

    enum CodingKeys: String, CodingKey { case commandId, caseId, action, department, message, dueAt, issuedBy, at }

    /// Strict decoding: unknown keys and malformed ids or codes are errors; what each action needs is
    /// the router's to check (it refuses with the reason).
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        commandId = try c.decode(String.self, forKey: .commandId, satisfying: FieldCheck.isRecordId, "a command id")
        caseId = try c.decode(String.self, forKey: .caseId, satisfying: FieldCheck.isRecordId, "a case id")
        action = try c.decode(Action.self, forKey: .action)
        department = try c.decodeIfPresent(String.self, forKey: .department, satisfying: FieldCheck.isDepartmentCode, "a department code")
        message = try c.decodeIfPresent(String.self, forKey: .message)
        dueAt = try c.decodeIfPresent(Date.self, forKey: .dueAt)
        issuedBy = try c.decode(String.self, forKey: .issuedBy, satisfying: { !$0.isEmpty && $0.count <= 100 }, "a non-empty name of at most 100 characters")
        at = try c.decode(Date.self, forKey: .at)
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(commandId, forKey: .commandId)
        try c.encode(caseId, forKey: .caseId)
        try c.encode(action, forKey: .action)
        try c.encodeNullable(department, forKey: .department)
        try c.encodeNullable(message, forKey: .message)
        try c.encodeNullable(dueAt, forKey: .dueAt)
        try c.encode(issuedBy, forKey: .issuedBy)
        try c.encode(at, forKey: .at)
    }
}
