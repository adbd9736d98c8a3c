import Foundation

/// City Woodpecker's open API documents (`docs/sources/woodpecker.md`) and their translation.
public enum Woodpecker {
    /// One report of a page.
    public struct Report: Sendable, Hashable {
        public var id: String
        public var revision: Int
        public var createdAt: Date
        public var updatedAt: Date
        public var userId: String
        public var nickname: String
        public var mobile: String
        public var typeName: String
        public var content: String
        public var images: [String]
        public var lng: Double?
        public var lat: Double?
        public var coordType: String
        public var address: String
        public var state: String

        public init(id: String, revision: Int, createdAt: Date, updatedAt: Date, userId: String, nickname: String, mobile: String, typeName: String,
                    content: String, images: [String], lng: Double?, lat: Double?, coordType: String, address: String, state: String) {
            self.id = id
            self.revision = revision
            self.createdAt = createdAt
            self.updatedAt = updatedAt
            self.userId = userId
            self.nickname = nickname
            self.mobile = mobile
            self.typeName = typeName
            self.content = content
            self.images = images
            self.lng = lng
            self.lat = lat
            self.coordType = coordType
            self.address = address
            self.state = state
        }

        /// Reads one item object of a page.
        public init(object: [String: Any]) throws(SourceRecordProblem) {
            guard let id = object["reportId"] as? String, FieldCheck.isRecordId(id) else { throw .missing("reportId") }
            self.id = id
            guard let revision = (object["revision"] as? NSNumber)?.intValue, revision >= 1 else { throw .invalid("revision", "must be a whole number from 1") }
            self.revision = revision
            guard let created = (object["createdAt"] as? NSNumber)?.doubleValue, let updated = (object["updatedAt"] as? NSNumber)?.doubleValue else {
                throw .invalid("createdAt/updatedAt", "must be Unix milliseconds")
            }
            createdAt = Date(timeIntervalSince1970: created / 1000)
            updatedAt = Date(timeIntervalSince1970: updated / 1000)
            let reporter = object["reporter"] as? [String: Any] ?? [:]
            userId = reporter["userId"] as? String ?? ""
            nickname = reporter["nickname"] as? String ?? ""
            mobile = reporter["mobile"] as? String ?? ""
            typeName = (object["type"] as? [String: Any])?["name"] as? String ?? ""
            content = object["content"] as? String ?? ""
            images = object["images"] as? [String] ?? []
            let location = object["location"] as? [String: Any] ?? [:]
            lng = (location["lng"] as? NSNumber)?.doubleValue
            lat = (location["lat"] as? NSNumber)?.doubleValue
            coordType = location["coordType"] as? String ?? "gcj02"
            address = location["address"] as? String ?? ""
            guard let state = object["state"] as? String, !state.isEmpty else { throw .missing("state") }
            self.state = state
        }

        /// The item object (the API's side; used by the simulation).
        public var object: [String: Any] {
            var location: [String: Any] = ["coordType": coordType, "address": address]
            if let lng, let lat { location["lng"] = lng; location["lat"] = lat }
            return [
                "reportId": id, "revision": revision, "createdAt": Int64(createdAt.timeIntervalSince1970 * 1000), "updatedAt": Int64(updatedAt.timeIntervalSince1970 * 1000),
                "reporter": ["userId": userId, "nickname": nickname, "mobile": mobile], "type": ["id": 0, "name": typeName], "content": content,
                "images": images, "location": location, "state": state,
            ]
        }

        /// The canonical incident: GCJ-02/BD-09/WGS-84 → WGS-84 before the grid look-up; the app's type and
        /// text → item; a withdrawn report withdraws its incident. Without a usable position, the address text.
        public func incident(reference: ReferenceData, receivedAt: Date) -> Incident {
            var location = SourceSupport.location(address: address, match: reference.resolve(address: address))
            let system: Positioning.CoordinateSystem = switch coordType.lowercased() {
            case "bd09", "bd09ll": .bd09
            case "wgs84": .wgs84
            default: .gcj02
            }
            let crs: CoordinateSystem = switch system {
            case .bd09: .bd09
            case .wgs84: .wgs84
            case .gcj02: .gcj02
            }
            if let lng, let lat, case .success(let point) = Coordinate.fromReport(lat: lat, lon: lng, system: crs) {
                location = SourceSupport.location(gps: point, reported: system, address: address.isEmpty ? nil : address, reference: reference)
            }
            let item = reference.classifier.classify(source: .woodpecker, label: typeName, text: content)?.itemCode
            return Incident(
                source: SourceRef(system: .woodpecker, recordId: id, version: revision, category: typeName.isEmpty ? nil : typeName),
                reportedAt: createdAt, receivedAt: receivedAt, itemCode: item, description: content, location: location,
                urgent: item.flatMap { reference.item(code: $0)?.urgent } ?? false, resolvedOnSite: false, withdrawn: state == "withdrawn",
                reporter: Reporter(kind: .citizen, id: userId.isEmpty ? nil : userId, name: nickname.isEmpty ? nil : PersonName(nickname),
                                   phone: mobile.isEmpty ? nil : PhoneNumber(mobile)),
                attachments: images)
        }
    }

    /// A page of `GET /open/v2/reports`.
    public struct Page: Sendable {
        public var code: Int
        public var message: String
        /// Items, each read on its own (a broken item does not hold back the page).
        public var items: [(json: [UInt8], report: Result<Report, SourceRecordProblem>)]
        public var nextCursor: String?
        public var hasMore: Bool
    }

    /// Reads a response body (any HTTP status: the error body has the same `code`/`message`).
    public static func page(_ body: [UInt8]) throws(SourceRecordProblem) -> Page {
        guard let root = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { throw SourceRecordProblem("malformed", "the body is not a JSON object") }
        let code = (root["code"] as? NSNumber)?.intValue ?? -1
        let message = root["message"] as? String ?? ""
        guard code == 0 else { return Page(code: code, message: message, items: [], nextCursor: nil, hasMore: false) }
        guard let data = root["data"] as? [String: Any], let items = data["items"] as? [Any] else { throw .missing("data.items") }
        var out: [(json: [UInt8], report: Result<Report, SourceRecordProblem>)] = []
        for raw in items {
            let json = SourceSupport.jsonBytes(of: raw)
            guard let object = raw as? [String: Any] else { out.append((json, .failure(SourceRecordProblem("malformed", "an item is not an object")))); continue }
            do { out.append((json, .success(try Report(object: object)))) } catch { out.append((json, .failure(error))) }
        }
        return Page(code: 0, message: message, items: out, nextCursor: data["nextCursor"] as? String, hasMore: (data["hasMore"] as? Bool) ?? false)
    }

    /// A reply's body for a status, or `nil` when the citizen is not told (`open`). A case given back
    /// (`returned`) is `rejected`, the message saying why.
    public static func reply(_ status: StatusUpdate, departmentName: String?) -> [String: Any]? {
        let dept = departmentName ?? ""
        let state: String
        var message: String
        switch status.status {
        case .open: return nil
        case .dispatched: state = "accepted"; message = dept.isEmpty ? "已受理" : "已转交\(dept)处理"
        case .accepted, .inProgress, .reopened: state = "processing"; message = dept.isEmpty ? "处理中" : "\(dept)正在处理"
        case .resolved, .closed: state = "resolved"; message = "已办结"
        case .returned: state = "rejected"; message = "不属于网格化受理范围"
        }
        if let note = status.note, !note.isEmpty { message = note }
        return ["state": state, "message": message, "department": dept, "repliedAt": Int64(status.at.timeIntervalSince1970 * 1000)]
    }
}
