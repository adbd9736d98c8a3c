import Foundation

/// A model type with a fast reader for what is plainly valid (the core's strict JSON reader and the
/// model's checks, without `JSONDecoder`'s generic machinery) beside its strict `init(from:)`.
public protocol DirectlyDecodable: Decodable {
    /// The value in `json` when it is plainly valid; nil otherwise, and ``decoded(from:decoder:)``
    /// leaves it to `JSONDecoder`.
    static func decodedDirectly(from json: [UInt8]) -> Self?
}

extension DirectlyDecodable {
    /// The value in `json`: directly when it is plainly valid, else by `decoder`, which decides and
    /// whose error says what is wrong (so readers' messages are `JSONDecoder`'s, as before). The
    /// decoder is made only then: a reader of one record at a time makes none for valid records.
    public static func decoded(from json: [UInt8], decoder: @autoclosure () -> JSONDecoder) throws -> Self {
        if let value = decodedDirectly(from: json) { return value }
        return try decoder().decode(Self.self, from: Data(json))
    }
}

extension Incident: DirectlyDecodable {
    /// The incident in `json`, read without `JSONDecoder`'s generic machinery (most of the router's
    /// decoding time), with the same strictness: closed objects, the same field checks, the id derived
    /// from the source. nil when anything is not plainly valid; the caller then decodes with
    /// ``GridHubJSON/decoder()``, which decides and says why. `IncidentDirectDecodingTests` holds the
    /// two to the same answers.
    public static func decodedDirectly(from json: [UInt8]) -> Incident? {
        guard let f = JSONFields(try? JSONReader.read(json), keys: CodingKeys.self),
              let source = SourceRef(direct: f["source"]),
              let incidentId = f.string("incidentId"),
              let reportedAt = f.string("reportedAt").flatMap(RFC3339.parse),
              let receivedAt = f.string("receivedAt").flatMap(RFC3339.parse),
              let itemCode = f.optionalString("itemCode"), itemCode.map(FieldCheck.isItemCode) ?? true,
              let title = f.optionalString("title"),
              let description = f.string("description"),
              let location = Location(direct: f["location"]),
              let urgent = f.bool("urgent"), let resolvedOnSite = f.bool("resolvedOnSite"), let withdrawn = f.bool("withdrawn"),
              let resolution = f.optionalString("resolution"),
              let reporter = Reporter.optional(direct: f["reporter"]),
              let parties = f.strings("parties"),
              let attachments = f.strings("attachments") else { return nil }
        let incident = Incident(source: source, reportedAt: reportedAt, receivedAt: receivedAt, itemCode: itemCode, title: title,
                                description: description, location: location, urgent: urgent, resolvedOnSite: resolvedOnSite,
                                resolution: resolution, withdrawn: withdrawn, reporter: reporter, parties: parties.map(PersonName.init),
                                attachments: attachments)
        return incident.incidentId == incidentId ? incident : nil
    }
}

extension SourceRef {
    init?(direct tree: JSONTree) {
        guard let f = JSONFields(tree, keys: CodingKeys.self),
              let system = f.string("system").flatMap(SourceSystem.init(rawValue:)),
              let recordId = f.string("recordId"), FieldCheck.isRecordId(recordId),
              let version = f.int("version"), version >= 1,
              let category = f.optionalString("category") else { return nil }
        var days: Int? = nil
        if case .null = f["timeLimitWorkingDays"] {} else {
            guard let n = f.int("timeLimitWorkingDays"), n >= 0 else { return nil }
            days = n
        }
        self.init(system: system, recordId: recordId, version: version, category: category, timeLimitWorkingDays: days)
    }
}

extension Location {
    init?(direct tree: JSONTree) {
        guard let f = JSONFields(tree, keys: CodingKeys.self),
              let lat = f.optionalDouble("lat"), lat.map({ (-90...90).contains($0) }) ?? true,
              let lon = f.optionalDouble("lon"), lon.map({ (-180...180).contains($0) }) ?? true,
              (lat == nil) == (lon == nil),
              let gridCode = f.optionalString("gridCode"), gridCode.map(FieldCheck.isGridCode) ?? true,
              let address = f.optionalString("address"),
              let positioning = Positioning(direct: f["positioning"]) else { return nil }
        self.init(lat: lat, lon: lon, gridCode: gridCode, address: address, positioning: positioning)
    }
}

extension Positioning {
    init?(direct tree: JSONTree) {
        guard let f = JSONFields(tree, keys: CodingKeys.self),
              let method = f.string("method").flatMap(Method.init(rawValue:)),
              let precision = f.optionalEnum("precision", Precision.self),
              let confidence = f.optionalDouble("confidence"), confidence.map({ (0...1).contains($0) }) ?? true,
              let system = f.optionalEnum("reportedCoordinateSystem", CoordinateSystem.self) else { return nil }
        var candidates: [String] = []
        if case .null = f["candidates"] {} else {
            guard let list = f.strings("candidates"), list.count <= Self.maxCandidates, list.allSatisfy(FieldCheck.isGridCode) else { return nil }
            candidates = list
        }
        guard let extent = f.optionalDouble("extentMeters"), extent.map({ (0...100_000).contains($0) }) ?? true else { return nil }
        self.init(method: method, precision: precision, confidence: confidence, reportedCoordinateSystem: system, candidates: candidates,
                  extentMeters: extent)
    }
}

extension Reporter {
    /// `.some(nil)` for null or absent, nil when not a valid reporter.
    static func optional(direct tree: JSONTree) -> Reporter?? {
        if case .null = tree { return .some(nil) }
        guard let f = JSONFields(tree, keys: CodingKeys.self),
              let kind = f.string("kind").flatMap(Kind.init(rawValue:)),
              let id = f.optionalString("id"),
              let name = f.optionalString("name"),
              let phone = f.optionalString("phone"),
              let anonymous = f.bool("anonymous") else { return nil }
        return .some(Reporter(kind: kind, id: id, name: name.map(PersonName.init), phone: phone.map(PhoneNumber.init), anonymous: anonymous))
    }
}

extension JSONFields {
    /// An optional enumeration value: `.some(nil)` when absent or null, nil when not one of its values.
    func optionalEnum<E: RawRepresentable>(_ key: String, _ type: E.Type) -> E?? where E.RawValue == String {
        guard let text = optionalString(key) else { return nil }
        guard let text else { return .some(nil) }
        return E(rawValue: text).map { .some($0) }
    }

    /// A required RFC 3339 time with an offset, as ``GridHubJSON/decoder()`` reads one.
    func date(_ key: String) -> Date? { string(key).flatMap(RFC3339.parse) }

    /// An optional time: `.some(nil)` when absent or null, nil when not an RFC 3339 time.
    func optionalDate(_ key: String) -> Date?? {
        guard let text = optionalString(key) else { return nil }
        guard let text else { return .some(nil) }
        return RFC3339.parse(text).map { .some($0) }
    }

    /// A required finite number within `range`.
    func double(_ key: String, in range: ClosedRange<Double>) -> Double? {
        guard case .some(.some(let v)) = optionalDouble(key), range.contains(v) else { return nil }
        return v
    }

    /// An optional finite number within `range` when present: `.some(nil)` when absent or null.
    func optionalDouble(_ key: String, in range: ClosedRange<Double>) -> Double?? {
        guard let v = optionalDouble(key) else { return nil }
        guard let v else { return .some(nil) }
        return range.contains(v) ? .some(v) : nil
    }

    /// A required array whose every element `element` reads; nil when any does not.
    func array<T>(_ key: String, _ element: (JSONTree) -> T?) -> [T]? {
        guard case .array(let elements) = self[key] else { return nil }
        var out: [T] = []
        out.reserveCapacity(elements.count)
        for e in elements {
            guard let value = element(e) else { return nil }
            out.append(value)
        }
        return out
    }
}

extension Case: DirectlyDecodable {
    /// The case document in `json` (a row of the router's `cases` table, a record of
    /// `gridhub.cases.v1`), read without `JSONDecoder` (the router reads one for every case a batch
    /// changes), with the same strictness as ``init(from:)``. nil when anything is not plainly valid;
    /// the caller then decodes with ``GridHubJSON/decoder()``, which decides and says why.
    /// `CaseDirectDecodingTests` holds the two to the same answers.
    public static func decodedDirectly(from json: [UInt8]) -> Case? {
        JSONFields(try? JSONReader.read(json), keys: CodingKeys.self).flatMap(Case.init(direct:))
    }
}

extension CaseReport {
    init?(direct tree: JSONTree) {
        guard let f = JSONFields(tree, keys: CodingKeys.self),
              let incidentId = f.string("incidentId"), FieldCheck.isUUID(incidentId),
              let system = f.string("system").flatMap(SourceSystem.init(rawValue:)),
              let recordId = f.string("recordId"), FieldCheck.isRecordId(recordId),
              let version = f.int("version"), version >= 1,
              let mergedAt = f.date("mergedAt"),
              let withdrawnAt = f.optionalDate("withdrawnAt"),
              let traceparent = f.optionalString("traceparent"), traceparent.map({ TraceContext(header: $0) != nil }) ?? true,
              let workerId = f.optionalString("workerId"), workerId.map({ !$0.isEmpty && $0.count <= 64 }) ?? true,
              let surveyedAt = f.optionalDate("surveyedAt") else { return nil }
        var match: MergeEvidence? = nil
        if case .null = f["match"] {} else {
            guard let evidence = MergeEvidence(direct: f["match"]) else { return nil }
            match = evidence
        }
        self.init(incidentId: incidentId, system: system, recordId: recordId, version: version, mergedAt: mergedAt, match: match)
        self.withdrawnAt = withdrawnAt
        self.traceparent = traceparent
        self.workerId = workerId
        self.surveyedAt = surveyedAt
    }
}

extension MergeEvidence {
    init?(direct tree: JSONTree) {
        let nonNegative = 0...Double.greatestFiniteMagnitude
        guard let f = JSONFields(tree, keys: CodingKeys.self),
              let distance = f.optionalDouble("distanceMeters", in: nonNegative),
              let timeGap = f.double("timeGapSeconds", in: nonNegative),
              let relation = f.string("itemRelation").flatMap(ItemRelation.init(rawValue:)),
              let textScore = f.double("textScore", in: 0...1),
              let uncertainty = f.optionalDouble("uncertaintyMeters", in: nonNegative) else { return nil }
        self.init(distanceMeters: distance, timeGapSeconds: timeGap, itemRelation: relation, textScore: textScore, uncertaintyMeters: uncertainty)
    }
}

extension NearMiss {
    init?(direct tree: JSONTree) {
        let nonNegative = 0...Double.greatestFiniteMagnitude
        guard let f = JSONFields(tree, keys: CodingKeys.self),
              let caseId = f.string("caseId"), FieldCheck.isRecordId(caseId),
              let reason = f.string("reason").flatMap(Reason.init(rawValue:)),
              let distance = f.optionalDouble("distanceMeters", in: nonNegative),
              let limit = f.double("limitMeters", in: nonNegative),
              let timeGap = f.double("timeGapSeconds", in: nonNegative),
              let relation = f.string("itemRelation").flatMap(ItemRelation.init(rawValue:)),
              let textScore = f.double("textScore", in: 0...1) else { return nil }
        self.init(caseId: caseId, reason: reason, distanceMeters: distance, limitMeters: limit, timeGapSeconds: timeGap,
                  itemRelation: relation, textScore: textScore)
    }
}

extension CaseHistoryEntry {
    init?(direct tree: JSONTree) {
        guard let f = JSONFields(tree, keys: CodingKeys.self),
              let at = f.date("at"),
              let event = f.string("event").flatMap(CaseEventKind.init(rawValue:)),
              let from = f.optionalEnum("from", CaseStatus.self),
              let to = f.string("to").flatMap(CaseStatus.init(rawValue:)),
              let department = f.optionalString("department"), department.map(FieldCheck.isDepartmentCode) ?? true,
              let level = f.optionalEnum("level", Level.self),
              let dispatchId = f.optionalString("dispatchId"), dispatchId.map(FieldCheck.isRecordId) ?? true,
              let note = f.optionalString("note"),
              let commandId = f.optionalString("commandId"), commandId.map(FieldCheck.isRecordId) ?? true,
              let dueAt = f.optionalDate("dueAt"),
              let satisfaction = f.optionalEnum("satisfaction", Satisfaction.self) else { return nil }
        self.init(at: at, event: event, from: from, to: to, department: department, level: level, dispatchId: dispatchId, note: note)
        self.commandId = commandId
        self.dueAt = dueAt
        self.satisfaction = satisfaction
    }
}

extension StatusUpdate: DirectlyDecodable {
    /// The status record in `json`, read without `JSONDecoder` (an adapter reads one per report per case
    /// change), with the same strictness as ``init(from:)``; nil when anything is not plainly valid, and
    /// the caller then decodes with ``GridHubJSON/decoder()``, which decides and says why.
    /// `IncidentDirectDecodingTests` holds the two to the same answers.
    public static func decodedDirectly(from json: [UInt8]) -> StatusUpdate? {
        guard let f = JSONFields(try? JSONReader.read(json), keys: CodingKeys.self),
              let system = f.string("system").flatMap(SourceSystem.init(rawValue:)),
              let recordId = f.string("recordId"), FieldCheck.isRecordId(recordId),
              let incidentId = f.string("incidentId"),
              let caseId = f.string("caseId"), FieldCheck.isRecordId(caseId),
              let caseVersion = f.int("caseVersion"), caseVersion >= 1,
              let status = f.string("status").flatMap(CaseStatus.init(rawValue:)),
              let department = f.optionalString("department"), department.map(FieldCheck.isDepartmentCode) ?? true,
              let note = f.optionalString("note"),
              let at = f.string("at").flatMap(RFC3339.parse) else { return nil }
        let update = StatusUpdate(system: system, recordId: recordId, caseId: caseId, caseVersion: caseVersion, status: status,
                                  department: department, note: note, at: at)
        return update.incidentId == incidentId ? update : nil
    }
}
