import Foundation

/// One source report in the canonical schema (`gov.gridhub.incident.v1` on `gridhub.incidents.v1`),
/// written again on every new version of the report.
public struct Incident: Sendable, Hashable, Codable {
    /// The hub's id of the source record: ``DeterministicID/incidentID(system:recordId:)``, the same for
    /// every version and every replay.
    public var incidentId: String
    /// Which record of which source system this is, and which version.
    public var source: SourceRef
    /// When the problem was reported to the source (call time, submission time, 立案时间).
    public var reportedAt: Date
    /// When the adapter received this version.
    public var receivedAt: Date
    /// The item of `reference/items.csv` (`SR-001`…), or `nil` when it could not be classified.
    public var itemCode: String?
    /// A short title when the source has one (12345 `SQBT`), else `nil`.
    public var title: String?
    /// The report's free text.
    public var description: String
    /// Where the problem is.
    public var location: Location
    /// The source marked it urgent, or its item is urgent.
    public var urgent: Bool
    /// Already solved on the spot by the reporter (综治e通 自行处置): recorded and closed, not dispatched.
    public var resolvedOnSite: Bool
    /// How it was solved (综治e通 `czjg`, enforcement 处理结果), or `nil`.
    public var resolution: String?
    /// The source withdrew or cancelled the report (啄木鸟 `withdrawn`, enforcement 撤案).
    public var withdrawn: Bool
    /// Who reported it, or `nil` when the source says nothing about the reporter.
    public var reporter: Reporter?
    /// Parties concerned (enforcement 当事人): personal data, masked unless disclosed.
    public var parties: [PersonName]
    /// Photo and attachment URLs.
    public var attachments: [String]

    /// An incident; the id is derived from `source`.
    public init(
        source: SourceRef, reportedAt: Date, receivedAt: Date, itemCode: String?, title: String? = nil,
        description: String, location: Location, urgent: Bool, resolvedOnSite: Bool, resolution: String? = nil,
        withdrawn: Bool = false, reporter: Reporter? = nil, parties: [PersonName] = [], attachments: [String] = []
    ) {
        self.incidentId = DeterministicID.incidentID(system: source.system, recordId: source.recordId)
        self.source = source
        self.reportedAt = reportedAt
        self.receivedAt = receivedAt
        self.itemCode = itemCode
        self.title = title
        self.description = description
        self.location = location
        self.urgent = urgent
        self.resolvedOnSite = resolvedOnSite
        self.resolution = resolution
        self.withdrawn = withdrawn
        self.reporter = reporter
        self.parties = parties
        self.attachments = attachments
    }

    enum CodingKeys: String, CodingKey {
        case incidentId, source, reportedAt, receivedAt, itemCode, title, description, location, urgent
        case resolvedOnSite, resolution, withdrawn, reporter, parties, attachments
    }

    /// Strict decoding: unknown keys, malformed codes and an id that does not match the source are errors.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        source = try c.decode(SourceRef.self, forKey: .source)
        incidentId = try c.decodeIncidentID(forKey: .incidentId, system: source.system, recordId: source.recordId)
        reportedAt = try c.decode(Date.self, forKey: .reportedAt)
        receivedAt = try c.decode(Date.self, forKey: .receivedAt)
        itemCode = try c.decodeIfPresent(String.self, forKey: .itemCode, satisfying: FieldCheck.isItemCode, "an item code SR-nnn")
        title = try c.decodeIfPresent(String.self, forKey: .title)
        description = try c.decode(String.self, forKey: .description)
        location = try c.decode(Location.self, forKey: .location)
        urgent = try c.decode(Bool.self, forKey: .urgent)
        resolvedOnSite = try c.decode(Bool.self, forKey: .resolvedOnSite)
        resolution = try c.decodeIfPresent(String.self, forKey: .resolution)
        withdrawn = try c.decode(Bool.self, forKey: .withdrawn)
        reporter = try c.decodeIfPresent(Reporter.self, forKey: .reporter)
        parties = try c.decode([PersonName].self, forKey: .parties)
        attachments = try c.decode([String].self, forKey: .attachments)
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(incidentId, forKey: .incidentId)
        try c.encode(source, forKey: .source)
        try c.encode(reportedAt, forKey: .reportedAt)
        try c.encode(receivedAt, forKey: .receivedAt)
        try c.encodeNullable(itemCode, forKey: .itemCode)
        try c.encodeNullable(title, forKey: .title)
        try c.encode(description, forKey: .description)
        try c.encode(location, forKey: .location)
        try c.encode(urgent, forKey: .urgent)
        try c.encode(resolvedOnSite, forKey: .resolvedOnSite)
        try c.encodeNullable(resolution, forKey: .resolution)
        try c.encode(withdrawn, forKey: .withdrawn)
        try c.encodeNullable(reporter, forKey: .reporter)
        try c.encode(parties, forKey: .parties)
        try c.encode(attachments, forKey: .attachments)
    }
}

/// A record of a source system: which system, which record, which version.
public struct SourceRef: Sendable, Hashable, Codable {
    /// The source system.
    public var system: SourceSystem
    /// The source's stable record id (`GDBH`, `reportId`, `sjbh`, 案件编号).
    public var recordId: String
    /// The source's version of the record (`BBH`, `revision`, 版本; 1 when the source has none).
    public var version: Int
    /// The source's own category text (12345 `SQLB`, 综治 `sjlx sjlxmc`, 啄木鸟 type name, 案由), or `nil`.
    public var category: String?
    /// The source's own time limit in working days (12345 `BLSX`), or `nil`: the case is due by the end of
    /// that many working days after the day it was reported, if that is stricter than its item's limit.
    /// Written only when present.
    public var timeLimitWorkingDays: Int?

    /// A source reference.
    public init(system: SourceSystem, recordId: String, version: Int, category: String? = nil, timeLimitWorkingDays: Int? = nil) {
        self.system = system
        self.recordId = recordId
        self.version = version
        self.category = category
        self.timeLimitWorkingDays = timeLimitWorkingDays
    }

    enum CodingKeys: String, CodingKey { case system, recordId, version, category, timeLimitWorkingDays }

    /// Strict decoding: unknown keys, an empty record id or a version below 1 are errors.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        system = try c.decode(SourceSystem.self, forKey: .system)
        recordId = try c.decode(String.self, forKey: .recordId, satisfying: FieldCheck.isRecordId, "a record id")
        version = try c.decode(Int.self, forKey: .version, atLeast: 1)
        category = try c.decodeIfPresent(String.self, forKey: .category)
        timeLimitWorkingDays = try c.decodeIfPresent(Int.self, forKey: .timeLimitWorkingDays)
        if let days = timeLimitWorkingDays, days < 0 {
            throw DecodingError.dataCorruptedError(forKey: .timeLimitWorkingDays, in: c, debugDescription: "timeLimitWorkingDays must not be negative")
        }
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(system, forKey: .system)
        try c.encode(recordId, forKey: .recordId)
        try c.encode(version, forKey: .version)
        try c.encodeNullable(category, forKey: .category)
        try c.encodeIfPresent(timeLimitWorkingDays, forKey: .timeLimitWorkingDays)
    }
}
