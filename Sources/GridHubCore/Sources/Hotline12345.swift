import Crypto
import Foundation

/// The 12345 hotline's documents (`docs/sources/hotline12345.md`): work orders (`GDXX`),
/// surveys (`HFXX`), answers (`FHXX`), result reports (`FKXX`), the signature, and their translation.
public enum Hotline12345 {
    /// 工单类型 values.
    public static let orderTypes: Set<String> = ["咨询", "求助", "投诉", "举报", "建议"]
    /// The longest 诉求内容 the spec allows.
    public static let maxContentCharacters = 4000
    /// The replay window of the signature's timestamp, in seconds.
    public static let signatureWindowSeconds: Int64 = 300

    /// One work order as pushed (every field of the spec).
    public struct WorkOrder: Sendable, Hashable {
        public struct Attachment: Sendable, Hashable {
            public var fileName: String
            public var url: String
            public init(fileName: String, url: String) {
                self.fileName = fileName
                self.url = url
            }
        }
        /// GDBH 工单编号.
        public var id: String
        /// BBH 版本号.
        public var version: Int
        /// LDSJ 来电时间.
        public var calledAt: Date
        /// LDRXM 来电人姓名 (may be empty).
        public var callerName: String
        /// LDHM 来电号码.
        public var callerPhone: String
        /// NMBZ 匿名标志.
        public var anonymous: Bool
        /// GDLX 工单类型.
        public var orderType: String
        /// SQLB 诉求类别.
        public var category: String
        /// SQBT 诉求标题 (may be empty).
        public var title: String
        /// SQNR 诉求内容.
        public var content: String
        /// FSDZ 发生地址.
        public var address: String
        /// SFJJ 是否紧急.
        public var urgent: Bool
        /// BLSX 办理时限 in working days, when given.
        public var timeLimitDays: Int?
        /// FJLB 附件列表.
        public var attachments: [Attachment]
        /// BZ 备注.
        public var remarks: String

        public init(id: String, version: Int, calledAt: Date, callerName: String, callerPhone: String, anonymous: Bool,
                    orderType: String, category: String, title: String, content: String, address: String, urgent: Bool,
                    timeLimitDays: Int?, attachments: [Attachment] = [], remarks: String = "") {
            self.id = id
            self.version = version
            self.calledAt = calledAt
            self.callerName = callerName
            self.callerPhone = callerPhone
            self.anonymous = anonymous
            self.orderType = orderType
            self.category = category
            self.title = title
            self.content = content
            self.address = address
            self.urgent = urgent
            self.timeLimitDays = timeLimitDays
            self.attachments = attachments
            self.remarks = remarks
        }

        /// Reads and validates a `GDXX` document.
        public init(xml text: String) throws(SourceRecordProblem) {
            let root: FlatXMLElement
            do { root = try FlatXML.parse(text) } catch { throw SourceRecordProblem("malformed", error.description) }
            guard root.name == "GDXX" else { throw SourceRecordProblem("malformed", "the root element is <\(root.name)>, expected <GDXX>") }
            func required(_ name: String) throws(SourceRecordProblem) -> String {
                guard let v = root.childText(name), !v.isEmpty else { throw .missing(name) }
                return v
            }
            func flag(_ name: String) throws(SourceRecordProblem) -> Bool {
                switch root.childText(name) ?? "" {
                case "", "0": return false
                case "1": return true
                default: throw .invalid(name, "must be 0 or 1")
                }
            }
            id = try required("GDBH")
            guard FieldCheck.isRecordId(id) else { throw .invalid("GDBH", "is not a usable record id") }
            guard let v = Int(try required("BBH")), v >= 1 else { throw .invalid("BBH", "must be a whole number from 1") }
            version = v
            let ldsj = try required("LDSJ")
            guard let called = SourceSupport.parseLocalTime(ldsj) else { throw .invalid("LDSJ", "is not a time yyyy-MM-dd HH:mm:ss") }
            calledAt = called
            callerName = root.childText("LDRXM") ?? ""
            callerPhone = root.childText("LDHM") ?? ""
            anonymous = try flag("NMBZ")
            orderType = try required("GDLX")
            guard Hotline12345.orderTypes.contains(orderType) else { throw .invalid("GDLX", "must be one of 咨询 求助 投诉 举报 建议") }
            category = try required("SQLB")
            guard category.split(separator: "/").count <= 3 else { throw .invalid("SQLB", "has more than 3 levels") }
            title = root.childText("SQBT") ?? ""
            content = try required("SQNR")
            guard content.count <= Hotline12345.maxContentCharacters else { throw .invalid("SQNR", "is longer than 4000 characters") }
            address = try required("FSDZ")
            urgent = try flag("SFJJ")
            let blsx = root.childText("BLSX") ?? ""
            if blsx.isEmpty { timeLimitDays = nil } else {
                guard let days = Int(blsx), days >= 0 else { throw .invalid("BLSX", "must be a whole number of days") }
                timeLimitDays = days
            }
            var files: [Attachment] = []
            for fj in root.child("FJLB")?.children ?? [] where fj.name == "FJ" {
                guard let url = fj.childText("URL"), !url.isEmpty else { throw .missing("FJLB/FJ/URL") }
                files.append(Attachment(fileName: fj.childText("WJM") ?? "", url: url))
            }
            attachments = files
            remarks = root.childText("BZ") ?? ""
        }

        /// The `GDXX` document (the hotline's side; used by the simulation and tests).
        public func xml(encodingLabel: String = "UTF-8") -> String {
            func e(_ name: String, _ value: String) -> String { "<\(name)>\(FlatXMLElement.escape(value))</\(name)>" }
            var out = "<?xml version=\"1.0\" encoding=\"\(encodingLabel)\"?>\n<GDXX>"
            out += e("GDBH", id) + e("BBH", String(version)) + e("LDSJ", SourceSupport.formatLocalTime(calledAt))
            out += e("LDRXM", callerName) + e("LDHM", callerPhone) + e("NMBZ", anonymous ? "1" : "0") + e("GDLX", orderType)
            out += e("SQLB", category) + e("SQBT", title) + e("SQNR", content) + e("FSDZ", address) + e("SFJJ", urgent ? "1" : "0")
            out += e("BLSX", timeLimitDays.map(String.init) ?? "")
            if !attachments.isEmpty {
                out += "<FJLB>" + attachments.map { "<FJ>" + e("WJM", $0.fileName) + e("URL", $0.url) + "</FJ>" }.joined() + "</FJLB>"
            }
            out += e("BZ", remarks) + "</GDXX>"
            return out
        }

        /// The canonical incident: address → grid through the gazetteer, `SQLB` + text → item.
        /// An anonymous caller's name and phone are dropped here and never leave the adapter, and
        /// phone numbers inside their text are masked.
        public func incident(reference: ReferenceData, receivedAt: Date) -> Incident {
            let location = SourceSupport.location(address: address, match: reference.resolve(address: address))
            let text = title.isEmpty ? content : title + "\n" + content
            let item = reference.classifier.classify(source: .hotline12345, label: category, text: text)?.itemCode
            let reporter: Reporter
            if anonymous {
                reporter = Reporter(kind: .citizen, anonymous: true)
            } else {
                reporter = Reporter(kind: .citizen, name: callerName.isEmpty ? nil : PersonName(callerName),
                                    phone: callerPhone.isEmpty ? nil : PhoneNumber(callerPhone))
            }
            let describe = { (s: String) in anonymous ? PersonalDataMasking.maskPhoneNumbers(in: s) : s }
            return Incident(
                source: SourceRef(system: .hotline12345, recordId: id, version: version, category: category, timeLimitWorkingDays: timeLimitDays),
                reportedAt: calledAt, receivedAt: receivedAt, itemCode: item,
                title: title.isEmpty ? nil : describe(title), description: describe(content), location: location,
                urgent: urgent || (item.flatMap { reference.item(code: $0)?.urgent } ?? false), resolvedOnSite: false,
                reporter: reporter, attachments: attachments.map(\.url))
        }
    }

    /// A satisfaction survey (`HFXX`).
    public static func survey(xml text: String) throws(SourceRecordProblem) -> Survey {
        let root: FlatXMLElement
        do { root = try FlatXML.parse(text) } catch { throw SourceRecordProblem("malformed", error.description) }
        guard root.name == "HFXX" else { throw SourceRecordProblem("malformed", "the root element is <\(root.name)>, expected <HFXX>") }
        guard let id = root.childText("GDBH"), !id.isEmpty else { throw .missing("GDBH") }
        guard FieldCheck.isRecordId(id) else { throw .invalid("GDBH", "is not a usable record id") }
        guard let myd = root.childText("MYD"), !myd.isEmpty else { throw .missing("MYD") }
        let satisfaction: Satisfaction
        switch myd {
        case "满意": satisfaction = .satisfied
        case "基本满意": satisfaction = .basicallySatisfied
        case "不满意": satisfaction = .dissatisfied
        default: throw .invalid("MYD", "must be 满意, 基本满意 or 不满意")
        }
        guard let hfsj = root.childText("HFSJ"), !hfsj.isEmpty else { throw .missing("HFSJ") }
        guard let at = SourceSupport.parseLocalTime(hfsj) else { throw .invalid("HFSJ", "is not a time yyyy-MM-dd HH:mm:ss") }
        let note = root.childText("HFNR").flatMap { $0.isEmpty ? nil : PersonalDataMasking.maskPhoneNumbers(in: $0) }
        return Survey(system: .hotline12345, recordId: id, satisfaction: satisfaction, note: note, at: at)
    }

    /// The `HFXX` document of a survey (the hotline's side).
    public static func surveyXML(recordId: String, satisfaction: Satisfaction, at: Date, note: String) -> String {
        let myd = switch satisfaction {
        case .satisfied: "满意"
        case .basicallySatisfied: "基本满意"
        case .dissatisfied: "不满意"
        }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><HFXX><GDBH>\(FlatXMLElement.escape(recordId))</GDBH><MYD>\(myd)</MYD><HFSJ>\(SourceSupport.formatLocalTime(at))</HFSJ><HFNR>\(FlatXMLElement.escape(note))</HFNR></HFXX>"
    }

    /// An answer's `ZT` codes.
    public enum AnswerCode: Int, Sendable, Hashable {
        case accepted = 0
        case invalid = 400
        case refused = 401
        case busy = 429
        case internalError = 500
    }

    /// The `FHXX` answer (always HTTP 200, UTF-8).
    public static func answer(_ code: AnswerCode, _ message: String) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><FHXX><ZT>\(code.rawValue)</ZT><XX>\(FlatXMLElement.escape(message))</XX></FHXX>"
    }

    /// Reads an `FHXX` answer's code and message.
    public static func parseAnswer(_ text: String) -> (code: Int, message: String)? {
        guard let root = try? FlatXML.parse(text), root.name == "FHXX", let zt = root.childText("ZT"), let code = Int(zt) else { return nil }
        return (code, root.childText("XX") ?? "")
    }

    /// The hex signature: HMAC-SHA256(secret, timestamp + "\n" + body).
    public static func signature(secret: [UInt8], timestamp: String, body: [UInt8]) -> String {
        signature(key: SigningKey(secret: secret), timestamp: timestamp, body: body)
    }

    /// The hex signature with a secret keyed once.
    public static func signature(key: SigningKey, timestamp: String, body: [UInt8]) -> String {
        var signature = Signature(key: key, timestamp: timestamp)
        signature.update(body)
        return signature.hex
    }

    /// The signature of a request, computed as its body arrives: HMAC-SHA256 (swift-crypto) keyed with
    /// the shared secret over `timestamp LF body`.
    public struct Signature {
        private var mac: HMAC<SHA256>

        public init(secret: [UInt8], timestamp: String) {
            self.init(key: SigningKey(secret: secret), timestamp: timestamp)
        }

        /// Starts from `key`'s keyed state, so the secret is not hashed again for each request.
        public init(key: SigningKey, timestamp: String) {
            mac = key.keyed
            mac.update(data: Array(timestamp.utf8))
            mac.update(data: [0x0A])
        }

        /// Adds the next bytes of the body.
        public mutating func update(_ bytes: [UInt8]) { mac.update(data: bytes) }

        /// Whether `given` (the raw bytes of the request's hex signature) is this signature, compared
        /// in time that does not depend on where they differ.
        public func matches(_ given: [UInt8]) -> Bool { mac.finalize() == given }

        /// Lowercase hex, as the request header carries it.
        public var hex: String { mac.finalize().hexString }
    }

    /// The secret's HMAC, keyed once. Keying hashes the secret's inner and outer pads and allocates
    /// seven buffers; a copy of the keyed state costs two (swift-crypto's hash states are copy-on-write
    /// values). Keying was 2 % of the 12345 adapter's CPU under load (docs/performance.md, stop 39).
    ///
    /// `@unchecked Sendable`: the keyed state is never changed, only copied; a copy copies the state it
    /// shares before its first change.
    public struct SigningKey: @unchecked Sendable {
        fileprivate let keyed: HMAC<SHA256>

        public init(secret: [UInt8]) { keyed = HMAC(key: SymmetricKey(data: secret)) }
    }

    /// Parses lowercase (or uppercase) hex; nil if malformed.
    public static func unhex(_ text: String) -> [UInt8]? {
        let u = Array(text.utf8)
        guard u.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let h = v(u[i]), let l = v(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    // MARK: Outbound: progress and result reports

    /// A progress or result report (`FKXX`).
    public struct Report: Sendable, Hashable {
        /// GDBH.
        public var id: String
        /// CLZT: 已签收 | 处理中 | 办结 | 退回.
        public var state: String
        /// CLBM: the department's name.
        public var department: String
        /// CLJG: required for 办结 and 退回.
        public var result: String
        /// FKSJ.
        public var at: Date

        public init(id: String, state: String, department: String, result: String, at: Date) {
            self.id = id
            self.state = state
            self.department = department
            self.result = result
            self.at = at
        }

        /// CLJG of a 退回 without a note.
        public static let defaultReturnResult = "经指挥中心裁定，不属于网格化受理范围，予以退回"

        /// The report of a status; `nil` for statuses the hotline is not told about (`open`).
        /// `open`/`dispatched`/`accepted` → 已签收, `inProgress`/`reopened` → 处理中,
        /// `resolved`/`closed` → 办结, `returned` (given back by the command centre) → 退回 (CLJG the note,
        /// or a plain sentence when the router gave none).
        public init?(status: StatusUpdate, departmentName: String?) {
            let state: String
            switch status.status {
            case .open: return nil
            case .dispatched, .accepted: state = "已签收"
            case .inProgress, .reopened: state = "处理中"
            case .resolved, .closed: state = "办结"
            case .returned: state = "退回"
            }
            var result = status.note ?? ""
            if result.isEmpty && state == "办结" { result = "已办结" }
            if result.isEmpty && state == "退回" { result = Self.defaultReturnResult }
            self.init(id: status.recordId, state: state, department: departmentName ?? "市综合管理服务指挥中心",
                      result: result, at: status.at)
        }

        /// The `FKXX` document, UTF-8.
        public var xml: String {
            func e(_ name: String, _ value: String) -> String { "<\(name)>\(FlatXMLElement.escape(value))</\(name)>" }
            return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><FKXX>" + e("GDBH", id) + e("CLZT", state) + e("CLBM", department)
                + e("CLJG", result) + e("FKSJ", SourceSupport.formatLocalTime(at)) + "</FKXX>"
        }

        /// Reads an `FKXX` document (the hotline's side), checking CLZT and the CLJG rule.
        public init(xml text: String) throws(SourceRecordProblem) {
            let root: FlatXMLElement
            do { root = try FlatXML.parse(text) } catch { throw SourceRecordProblem("malformed", error.description) }
            guard root.name == "FKXX" else { throw SourceRecordProblem("malformed", "the root element is <\(root.name)>, expected <FKXX>") }
            guard let id = root.childText("GDBH"), !id.isEmpty else { throw .missing("GDBH") }
            guard let state = root.childText("CLZT"), ["已签收", "处理中", "办结", "退回"].contains(state) else { throw .invalid("CLZT", "must be 已签收, 处理中, 办结 or 退回") }
            let result = root.childText("CLJG") ?? ""
            if (state == "办结" || state == "退回") && result.isEmpty { throw .missing("CLJG") }
            guard let t = root.childText("FKSJ"), let at = SourceSupport.parseLocalTime(t) else { throw .invalid("FKSJ", "is not a time yyyy-MM-dd HH:mm:ss") }
            self.init(id: id, state: state, department: root.childText("CLBM") ?? "", result: result, at: at)
        }
    }
}
