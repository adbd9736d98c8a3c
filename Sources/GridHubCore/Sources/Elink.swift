import Crypto
import Foundation

/// 综治e通's event batches (`docs/sources/elink.md`) and their translation.
public enum Elink {
    /// The most events one batch may carry.
    public static let maxEvents = 500
    /// The largest body accepted, in bytes (5 MiB).
    public static let maxBodyBytes = 5 * 1024 * 1024

    /// Whether `given` is the API key: their SHA-256 digests compared in constant time (swift-crypto),
    /// so neither where they differ nor the key's length shows in the time taken.
    public static func isAPIKey(_ given: [UInt8], _ key: [UInt8]) -> Bool {
        SHA256.hash(data: given) == SHA256.hash(data: key)
    }

    /// One event of a batch, validated.
    public struct Event: Sendable, Hashable {
        /// sjbh 事件编号.
        public var id: String
        /// sjlx type code (4 digits).
        public var typeCode: String
        /// sjlxmc type name.
        public var typeName: String
        /// sjms 事件描述.
        public var description: String
        /// wgbm: the reporting worker's own grid.
        public var workerGrid: String
        /// sbr worker id.
        public var workerId: String
        /// sbrxm worker name.
        public var workerName: String
        /// sbsj.
        public var reportedAt: Date
        /// x (longitude), y (latitude), CGCS2000; `nil` when absent or `0,0` (no fix).
        public var position: (x: Double, y: Double)?
        /// zp photo URLs.
        public var photos: [String]
        /// zxcz 自行处置.
        public var solvedOnSite: Bool
        /// czjg 处置结果.
        public var resolution: String

        public static func == (a: Event, b: Event) -> Bool {
            a.id == b.id && a.typeCode == b.typeCode && a.typeName == b.typeName && a.description == b.description
                && a.workerGrid == b.workerGrid && a.workerId == b.workerId && a.workerName == b.workerName && a.reportedAt == b.reportedAt
                && a.position?.x == b.position?.x && a.position?.y == b.position?.y && a.photos == b.photos
                && a.solvedOnSite == b.solvedOnSite && a.resolution == b.resolution
        }
        public func hash(into hasher: inout Hasher) { hasher.combine(id) }

        public init(id: String, typeCode: String, typeName: String, description: String, workerGrid: String, workerId: String,
                    workerName: String, reportedAt: Date, position: (x: Double, y: Double)?, photos: [String], solvedOnSite: Bool, resolution: String) {
            self.id = id
            self.typeCode = typeCode
            self.typeName = typeName
            self.description = description
            self.workerGrid = workerGrid
            self.workerId = workerId
            self.workerName = workerName
            self.reportedAt = reportedAt
            self.position = position
            self.photos = photos
            self.solvedOnSite = solvedOnSite
            self.resolution = resolution
        }

        /// Validates one event object of a batch.
        public init(object: [String: Any]) throws(SourceRecordProblem) {
            func string(_ key: String, required: Bool = true) throws(SourceRecordProblem) -> String {
                guard let value = object[key], !(value is NSNull) else {
                    if required { throw .missing(key) }
                    return ""
                }
                guard let s = value as? String else { throw .invalid(key, "must be a string") }
                let t = s.trimmingWhitespace()
                if required && t.isEmpty { throw .missing(key) }
                return t
            }
            func number(_ key: String) throws(SourceRecordProblem) -> Double? {
                guard let value = object[key], !(value is NSNull) else { return nil }
                guard let n = value as? NSNumber else { throw .invalid(key, "must be a number") }
                return n.doubleValue
            }
            id = try string("sjbh")
            guard FieldCheck.isRecordId(id) else { throw .invalid("sjbh", "is not a usable record id") }
            typeCode = try string("sjlx")
            guard typeCode.utf8.count == 4, typeCode.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw .invalid("sjlx", "must be a 4-digit type code") }
            typeName = try string("sjlxmc", required: false)
            description = try string("sjms")
            workerGrid = try string("wgbm")
            guard FieldCheck.isGridCode(workerGrid) else { throw .invalid("wgbm", "must be a 15-digit grid code") }
            workerId = try string("sbr")
            workerName = try string("sbrxm", required: false)
            let sbsj = try string("sbsj")
            guard let at = RFC3339.parse(sbsj) else { throw .invalid("sbsj", "is not an ISO 8601 time with an offset") }
            reportedAt = at
            let x = try number("x"), y = try number("y")
            switch (x, y) {
            case (nil, nil): position = nil
            case let (x?, y?): position = (x == 0 && y == 0) ? nil : (x, y)
            default: throw .invalid(x == nil ? "x" : "y", "is missing while the other coordinate is given")
            }
            if let zp = object["zp"], !(zp is NSNull) {
                guard let list = zp as? [Any], let urls = list as? [String] else { throw .invalid("zp", "must be a list of URLs") }
                photos = urls
            } else { photos = [] }
            switch try number("zxcz") ?? 0 {
            case 0: solvedOnSite = false
            case 1: solvedOnSite = true
            default: throw .invalid("zxcz", "must be 0 or 1")
            }
            resolution = try string("czjg", required: false)
        }

        /// The canonical incident. The position comes from `x,y` when usable (CGCS2000 = WGS-84); otherwise
        /// from a door plate or place the description names near the worker's grid, else only the worker's
        /// grid is known and the location says so (`workerGrid`).
        /// An event solved on the spot arrives resolved (`resolvedOnSite`, with `czjg` as resolution).
        public func incident(reference: ReferenceData, receivedAt: Date) -> Incident {
            var location: Location? = nil
            if let position, case .success(let point) = Coordinate.fromReport(lat: position.y, lon: position.x, system: .wgs84) {
                let located = SourceSupport.location(gps: point, reported: .wgs84, address: nil, reference: reference)
                if located.gridCode != nil { location = located }
            }
            let label = typeName.isEmpty ? typeCode : typeName
            let item = reference.classifier.classify(source: .elink, label: label, text: description)?.itemCode
                ?? reference.classifier.classify(source: .elink, label: typeCode, text: description)?.itemCode
            return Incident(
                source: SourceRef(system: .elink, recordId: id, version: 1, category: typeName.isEmpty ? typeCode : "\(typeCode) \(typeName)"),
                reportedAt: reportedAt, receivedAt: receivedAt, itemCode: item, description: description,
                location: location ?? SourceSupport.location(workerGrid: workerGrid, description: description, reference: reference),
                urgent: item.flatMap { reference.item(code: $0)?.urgent } ?? false, resolvedOnSite: solvedOnSite,
                resolution: solvedOnSite ? (resolution.isEmpty ? "自行处置" : resolution) : nil,
                reporter: Reporter(kind: .gridWorker, id: workerId, name: workerName.isEmpty ? nil : PersonName(workerName)),
                attachments: photos)
        }
    }

    /// A batch as read: its events as raw objects (each validated on its own), with their record ids.
    public struct Batch: Sendable {
        public var batchId: String?
        /// The events, each as its own JSON text (sorted keys) for the dead-letter topic, and the parse result.
        public var events: [(sjbh: String?, json: [UInt8], event: Result<Event, SourceRecordProblem>)]
    }

    /// Reads a batch body. Throws for a body that is not a batch at all (the whole request is refused);
    /// a batch with too many events throws a `tooLarge` problem.
    public static func batch(_ body: [UInt8]) throws(SourceRecordProblem) -> Batch {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(body)) } catch {
            throw SourceRecordProblem("malformed", "the body is not JSON")
        }
        guard let root = object as? [String: Any] else { throw SourceRecordProblem("malformed", "the body is not a JSON object") }
        guard let events = root["events"] as? [Any] else { throw .missing("events") }
        guard !events.isEmpty else { throw .invalid("events", "is empty") }
        guard events.count <= maxEvents else { throw SourceRecordProblem("tooLarge", "the batch holds \(events.count) events, more than \(maxEvents)") }
        var out: [(sjbh: String?, json: [UInt8], event: Result<Event, SourceRecordProblem>)] = []
        for raw in events {
            let json = SourceSupport.jsonBytes(of: raw)
            guard let eventObject = raw as? [String: Any] else {
                out.append((nil, json, .failure(SourceRecordProblem("malformed", "an event is not a JSON object"))))
                continue
            }
            let sjbh = eventObject["sjbh"] as? String
            do { out.append((sjbh, json, .success(try Event(object: eventObject)))) } catch { out.append((sjbh, json, .failure(error))) }
        }
        return Batch(batchId: root["batchId"] as? String, events: out)
    }

    /// The JSON of one event (the platform's side; used by the simulation and tests).
    public static func json(of e: Event) -> [String: Any] {
        var o: [String: Any] = [
            "sjbh": e.id, "sjlx": e.typeCode, "sjlxmc": e.typeName, "sjms": e.description, "wgbm": e.workerGrid, "sbr": e.workerId,
            "sbrxm": e.workerName, "sbsj": RFC3339.format(e.reportedAt), "zp": e.photos, "zxcz": e.solvedOnSite ? 1 : 0, "czjg": e.resolution,
        ]
        o["x"] = e.position?.x ?? 0
        o["y"] = e.position?.y ?? 0
        return o
    }

    /// The answer body: `{"code":0,"accepted":N,"rejected":[{"sjbh":"…","reason":"…"}]}`.
    public static func answer(accepted: Int, rejected: [(sjbh: String, reason: String)]) -> [UInt8] {
        let list = rejected.map { ["sjbh": $0.sjbh, "reason": $0.reason] }
        let object: [String: Any] = ["code": 0, "accepted": accepted, "rejected": list]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])).map { Array($0) } ?? []
    }

    /// An error answer body: `{"code":<code>,"message":"…"}`.
    public static func errorAnswer(code: Int, message: String) -> [UInt8] {
        let object: [String: Any] = ["code": code, "message": message]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])).map { Array($0) } ?? []
    }
}
