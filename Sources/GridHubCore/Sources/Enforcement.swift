import Foundation

/// The enforcement case system's export rows and status files (`docs/sources/enforcement.md`).
public enum Enforcement {
    /// The export's header.
    public static let columns = ["案件编号", "版本", "案由", "违法地点", "经度", "纬度", "当事人", "立案时间", "案件来源", "关联派单号", "执法中队", "案件状态", "处理结果", "更新时间"]
    /// The status file's header.
    public static let statusColumns = ["派单号", "案件编号", "状态", "部门", "说明", "时间"]
    static let states: Set<String> = ["立案", "调查", "处罚", "结案", "撤案"]
    static let origins: Set<String> = ["巡查发现", "群众举报", "指挥中心派单", "上级交办"]

    /// One validated case row.
    public struct Case: Sendable, Hashable {
        public var id: String
        public var version: Int
        public var cause: String
        public var address: String
        public var position: Coordinate?
        public var party: String
        public var openedAt: Date
        public var origin: String
        public var dispatchId: String
        public var squad: String
        public var state: String
        public var result: String
        public var updatedAt: Date

        /// Reads a row (fields in the header's order).
        public init(fields: [String], header: [String]) throws(SourceRecordProblem) {
            guard fields.count == header.count else {
                throw SourceRecordProblem("columns", "the row has \(fields.count) columns, the header \(header.count)")
            }
            var values: [String: String] = [:]
            for (name, value) in zip(header, fields) { values[name] = value.trimmingWhitespace() }
            func required(_ name: String) throws(SourceRecordProblem) -> String {
                guard let v = values[name], !v.isEmpty else { throw .missing(name) }
                return v
            }
            func time(_ name: String) throws(SourceRecordProblem) -> Date {
                guard let t = SourceSupport.parseLocalTime(try required(name)) else { throw .invalid(name, "is not a time yyyy-MM-dd HH:mm:ss") }
                return t
            }
            id = try required("案件编号")
            guard FieldCheck.isRecordId(id) else { throw .invalid("案件编号", "is not a usable record id") }
            guard let v = Int(try required("版本")), v >= 1 else { throw .invalid("版本", "must be a whole number from 1") }
            version = v
            cause = try required("案由")
            address = values["违法地点"] ?? ""
            let lon = values["经度"] ?? "", lat = values["纬度"] ?? ""
            switch (lon.isEmpty, lat.isEmpty) {
            case (true, true): position = nil
            case (false, false):
                guard let x = Double(lon), let y = Double(lat) else { throw .invalid("经度/纬度", "is not a number") }
                if let problem = Coordinate.problem(lat: y, lon: x) { throw .invalid("经度/纬度", "is not a usable position (\(problem))") }
                position = Coordinate(lat: y, lon: x)
            default: throw .invalid(lon.isEmpty ? "经度" : "纬度", "is empty while the other coordinate is given")
            }
            party = values["当事人"] ?? ""
            openedAt = try time("立案时间")
            origin = try required("案件来源")
            guard Enforcement.origins.contains(origin) else { throw .invalid("案件来源", "is not a known case source") }
            dispatchId = values["关联派单号"] ?? ""
            if origin == "指挥中心派单" && dispatchId.isEmpty { throw .missing("关联派单号") }
            squad = values["执法中队"] ?? ""
            state = try required("案件状态")
            guard Enforcement.states.contains(state) else { throw .invalid("案件状态", "must be 立案, 调查, 处罚, 结案 or 撤案") }
            result = values["处理结果"] ?? ""
            updatedAt = try time("更新时间")
        }

        /// What the row means for the hub.
        public enum Meaning: Sendable, Hashable {
            /// Feedback on a dispatch of the hub (the case carries a 关联派单号); its 结案 resolves it.
            case feedback(Feedback)
            /// A case found on patrol (or from a tip): a new incident.
            case incident(Incident)
        }

        /// Translates the row; `department` is the enforcement department's code in `departments.csv`.
        public func meaning(reference: ReferenceData, department: String, receivedAt: Date) -> Meaning {
            if !dispatchId.isEmpty {
                let status: FeedbackStatus = switch state {
                case "立案": .accepted
                case "结案": .resolved
                case "撤案": .returned
                default: .inProgress
                }
                let note = result.isEmpty ? nil : PersonalDataMasking.maskPhoneNumbers(in: result)
                return .feedback(Feedback(dispatchId: dispatchId, department: department, status: status, note: note, at: updatedAt))
            }
            let location: Location
            if let position {
                location = SourceSupport.location(gps: position, reported: .wgs84, address: address.isEmpty ? nil : address, reference: reference)
            } else {
                location = SourceSupport.location(address: address, match: reference.resolve(address: address))
            }
            let item = reference.classifier.classify(source: .enforcement, label: cause, text: cause + " " + address)?.itemCode
            return .incident(Incident(
                source: SourceRef(system: .enforcement, recordId: id, version: version, category: cause),
                reportedAt: openedAt, receivedAt: receivedAt, itemCode: item, description: [cause, address, squad].filter { !$0.isEmpty }.joined(separator: "，"),
                location: location, urgent: item.flatMap { reference.item(code: $0)?.urgent } ?? false,
                resolvedOnSite: state == "结案", resolution: result.isEmpty ? nil : result, withdrawn: state == "撤案",
                reporter: Reporter(kind: .officer, id: squad.isEmpty ? nil : squad), parties: party.isEmpty ? [] : [PersonName(party)]))
        }
    }

    /// One line of a status file.
    public struct StatusLine: Sendable, Hashable {
        public var dispatchId: String
        public var caseId: String
        public var state: String
        public var department: String
        public var note: String
        public var at: Date
        public init(dispatchId: String, caseId: String, state: String, department: String, note: String, at: Date) {
            self.dispatchId = dispatchId
            self.caseId = caseId
            self.state = state
            self.department = department
            self.note = note
            self.at = at
        }

        /// A status change on a case that came from enforcement.
        public init(status: StatusUpdate, departmentName: String) {
            let state = switch status.status {
            case .open: "已受理"
            case .dispatched: "已派单"
            case .accepted: "已签收"
            case .inProgress: "处理中"
            case .resolved: "已办结"
            case .closed: "已结案"
            case .reopened: "重新办理"
            case .returned: "已退回"
            }
            self.init(dispatchId: "", caseId: status.recordId, state: state, department: departmentName, note: status.note ?? "", at: status.at)
        }

        /// A new dispatch to enforcement (状态 = 派单).
        public init(dispatch: Dispatch, departmentName: String) {
            let text = [dispatch.title, dispatch.description, dispatch.location.address].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "；")
            self.init(dispatchId: dispatch.dispatchId, caseId: "", state: "派单", department: departmentName, note: text, at: dispatch.issuedAt)
        }
    }

    /// The status file's text: header, RFC 4180 quoting, CRLF line ends (encode as GBK to write).
    public static func statusCSV(_ lines: [StatusLine]) -> String {
        var out = csvLine(statusColumns)
        for l in lines { out += csvLine([l.dispatchId, l.caseId, l.state, l.department, l.note, SourceSupport.formatLocalTime(l.at)]) }
        return out
    }

    /// One CSV line with RFC 4180 quoting, ending in CRLF.
    public static func csvLine(_ fields: [String]) -> String {
        fields.map { f in
            f.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : f
        }.joined(separator: ",") + "\r\n"
    }
}
