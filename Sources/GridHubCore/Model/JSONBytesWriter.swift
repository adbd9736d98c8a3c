import Foundation

/// Writes JSON straight into bytes, for the few record types the router writes thousands of times a
/// second (``Case/jsonBytes()``). The output is byte for byte what ``GridHubJSON/encoder(disclosingPersonalData:)``
/// writes for the same value (sorted keys, unescaped slashes, `+08:00` times); `JSONBytesWriterTests`
/// checks that against `JSONEncoder` on random values. Callers write keys in sorted order themselves.
public struct JSONBytesWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init(capacity: Int = 1_024) { bytes.reserveCapacity(capacity) }

    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needsComma = false }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma = true }
    public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); needsComma = false }
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma = true }

    /// Writes `"key":`; the value follows.
    public mutating func key(_ key: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func null() { separate(); append("null") }
    public mutating func bool(_ value: Bool) { separate(); append(value ? "true" : "false") }
    public mutating func int(_ value: Int) { separate(); bytes.append(contentsOf: String(value).utf8) }

    /// A finite double as `JSONEncoder` writes it: its shortest round-trip form, without a trailing `.0`.
    public mutating func double(_ value: Double) {
        separate()
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    /// A time as ``RFC3339/format(_:)`` writes it (no character of it needs escaping).
    public mutating func date(_ value: Date) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        RFC3339.write(value, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func string(_ value: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        // Runs that need no escape are copied whole.
        var text = value
        text.withUTF8 { utf8 in
            var run = 0
            for i in utf8.indices {
                let byte = utf8[i]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run..<i]))
                escape(byte)
                run = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): append("\\\"")
        case UInt8(ascii: "\\"): append("\\\\")
        case 0x08: append("\\b")
        case 0x0C: append("\\f")
        case 0x0A: append("\\n")
        case 0x0D: append("\\r")
        case 0x09: append("\\t")
        default:
            append("\\u00")
            bytes.append(Self.hex[Int(byte >> 4)])
            bytes.append(Self.hex[Int(byte & 0x0F)])
        }
    }

    public mutating func string(_ value: String?) { if let value { string(value) } else { null() } }
    /// An array of strings.
    public mutating func strings(_ values: some Sequence<String>) {
        beginArray()
        for value in values { string(value) }
        endArray()
    }
    public mutating func date(_ value: Date?) { if let value { date(value) } else { null() } }
    public mutating func double(_ value: Double?) { if let value { double(value) } else { null() } }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }

    private mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }
}

extension Case {
    /// This case as ``GridHubJSON`` encodes it, written directly (the router's hottest record).
    public func jsonBytes() -> [UInt8] {
        var w = JSONBytesWriter(capacity: 1_024 + 256 * (reports.count + history.count))
        w.beginObject()
        w.key("caseId"); w.string(caseId)
        w.key("currentDispatchId"); w.string(currentDispatchId)
        w.key("department"); w.string(department)
        w.key("description"); w.string(description)
        w.key("dispatchCount"); w.int(dispatchCount)
        w.key("dueAt"); w.date(dueAt)
        w.key("gridCode"); w.string(gridCode)
        w.key("history"); w.beginArray()
        for h in history {
            w.beginObject()
            w.key("at"); w.date(h.at)
            if let commandId = h.commandId { w.key("commandId"); w.string(commandId) }
            w.key("department"); w.string(h.department)
            w.key("dispatchId"); w.string(h.dispatchId)
            if let due = h.dueAt { w.key("dueAt"); w.date(due) }
            w.key("event"); w.string(h.event.rawValue)
            w.key("from"); w.string(h.from?.rawValue)
            w.key("level"); w.string(h.level?.rawValue)
            w.key("note"); w.string(h.note)
            if let satisfaction = h.satisfaction { w.key("satisfaction"); w.string(satisfaction.rawValue) }
            w.key("to"); w.string(h.to.rawValue)
            w.endObject()
        }
        w.endArray()
        w.key("itemCode"); w.string(itemCode)
        if !keptApart.isEmpty {
            w.key("keptApart"); w.beginArray()
            for k in keptApart {
                w.beginObject()
                w.key("caseId"); w.string(k.caseId)
                w.key("distanceMeters"); w.double(k.distanceMeters)
                w.key("itemRelation"); w.string(k.itemRelation.rawValue)
                w.key("limitMeters"); w.double(k.limitMeters)
                w.key("reason"); w.string(k.reason.rawValue)
                w.key("textScore"); w.double(k.textScore)
                w.key("timeGapSeconds"); w.double(k.timeGapSeconds)
                w.endObject()
            }
            w.endArray()
        }
        w.key("level"); w.string(level?.rawValue)
        w.key("location"); location.write(to: &w)
        w.key("openedAt"); w.date(openedAt)
        if let recurrenceOf { w.key("recurrenceOf"); w.string(recurrenceOf) }
        w.key("reports"); w.beginArray()
        for r in reports {
            w.beginObject()
            w.key("incidentId"); w.string(r.incidentId)
            w.key("match")
            if let m = r.match {
                w.beginObject()
                w.key("distanceMeters"); w.double(m.distanceMeters)
                w.key("itemRelation"); w.string(m.itemRelation.rawValue)
                w.key("textScore"); w.double(m.textScore)
                w.key("timeGapSeconds"); w.double(m.timeGapSeconds)
                if let u = m.uncertaintyMeters { w.key("uncertaintyMeters"); w.double(u) }
                w.endObject()
            } else {
                w.null()
            }
            w.key("mergedAt"); w.date(r.mergedAt)
            w.key("recordId"); w.string(r.recordId)
            if let surveyedAt = r.surveyedAt { w.key("surveyedAt"); w.date(surveyedAt) }
            w.key("system"); w.string(r.system.rawValue)
            if let traceparent = r.traceparent { w.key("traceparent"); w.string(traceparent) }
            w.key("version"); w.int(r.version)
            if let withdrawnAt = r.withdrawnAt { w.key("withdrawnAt"); w.date(withdrawnAt) }
            if let workerId = r.workerId { w.key("workerId"); w.string(workerId) }
            w.endObject()
        }
        w.endArray()
        w.key("status"); w.string(status.rawValue)
        w.key("updatedAt"); w.date(updatedAt)
        w.key("urgent"); w.bool(urgent)
        w.key("version"); w.int(version)
        w.endObject()
        return w.bytes
    }
}

extension Location {
    func write(to w: inout JSONBytesWriter) {
        w.beginObject()
        w.key("address"); w.string(address)
        w.key("gridCode"); w.string(gridCode)
        w.key("lat"); w.double(lat)
        w.key("lon"); w.double(lon)
        w.key("positioning"); w.beginObject()
        if !positioning.candidates.isEmpty {
            w.key("candidates"); w.strings(positioning.candidates)
        }
        w.key("confidence"); w.double(positioning.confidence)
        if let extent = positioning.extentMeters {
            w.key("extentMeters"); w.double(extent)
        }
        w.key("method"); w.string(positioning.method.rawValue)
        w.key("precision"); w.string(positioning.precision?.rawValue)
        w.key("reportedCoordinateSystem"); w.string(positioning.reportedCoordinateSystem?.rawValue)
        w.endObject()
        w.endObject()
    }
}

extension StatusUpdate {
    /// This status record as ``GridHubJSON`` encodes it, written directly (one per report per case change).
    public func jsonBytes() -> [UInt8] {
        var w = JSONBytesWriter(capacity: 384)
        w.beginObject()
        w.key("at"); w.date(at)
        w.key("caseId"); w.string(caseId)
        w.key("caseVersion"); w.int(caseVersion)
        w.key("department"); w.string(department)
        w.key("incidentId"); w.string(incidentId)
        w.key("note"); w.string(note)
        w.key("recordId"); w.string(recordId)
        w.key("status"); w.string(status.rawValue)
        w.key("system"); w.string(system.rawValue)
        w.endObject()
        return w.bytes
    }
}

extension Dispatch {
    /// This dispatch as ``GridHubJSON/encoder(disclosingPersonalData:)`` encodes it with `disclosure`,
    /// written directly (one per case change that concerns a department).
    public func jsonBytes(disclosing disclosure: PersonalDataDisclosure = .mask) -> [UInt8] {
        var w = JSONBytesWriter(capacity: 1_024)
        w.beginObject()
        w.key("attachments"); w.strings(attachments)
        w.key("attempt"); w.int(attempt)
        w.key("caseId"); w.string(caseId)
        w.key("contacts"); w.beginArray()
        for c in contacts { c.write(to: &w, disclosing: disclosure) }
        w.endArray()
        w.key("department"); w.string(department)
        w.key("description"); w.string(description)
        w.key("dispatchId"); w.string(dispatchId)
        w.key("dueAt"); w.date(dueAt)
        w.key("gridCode"); w.string(gridCode)
        w.key("issuedAt"); w.date(issuedAt)
        w.key("itemCode"); w.string(itemCode)
        w.key("level"); w.string(level.rawValue)
        w.key("location"); location.write(to: &w)
        w.key("parties"); w.strings(parties.lazy.map { $0.jsonText(disclosing: disclosure) })
        w.key("reason"); w.string(reason.rawValue)
        w.key("reports"); w.beginArray()
        for r in reports {
            w.beginObject()
            w.key("incidentId"); w.string(r.incidentId)
            w.key("recordId"); w.string(r.recordId)
            w.key("system"); w.string(r.system.rawValue)
            w.endObject()
        }
        w.endArray()
        w.key("revision"); w.int(revision)
        if let supervision { w.key("supervision"); w.string(supervision) }
        w.key("title"); w.string(title)
        w.key("urgent"); w.bool(urgent)
        if let withdrawnAt { w.key("withdrawnAt"); w.date(withdrawnAt) }
        w.endObject()
        return w.bytes
    }
}

extension Incident {
    /// This incident as ``GridHubJSON/encoder(disclosingPersonalData:)`` encodes it with `disclosure`,
    /// written directly (an adapter writes one per accepted record).
    public func jsonBytes(disclosing disclosure: PersonalDataDisclosure = .mask) -> [UInt8] {
        var w = JSONBytesWriter(capacity: 1_024)
        w.beginObject()
        w.key("attachments"); w.strings(attachments)
        w.key("description"); w.string(description)
        w.key("incidentId"); w.string(incidentId)
        w.key("itemCode"); w.string(itemCode)
        w.key("location"); location.write(to: &w)
        w.key("parties"); w.strings(parties.lazy.map { $0.jsonText(disclosing: disclosure) })
        w.key("receivedAt"); w.date(receivedAt)
        w.key("reportedAt"); w.date(reportedAt)
        w.key("reporter")
        if let reporter { reporter.write(to: &w, disclosing: disclosure) } else { w.null() }
        w.key("resolution"); w.string(resolution)
        w.key("resolvedOnSite"); w.bool(resolvedOnSite)
        w.key("source"); w.beginObject()
        w.key("category"); w.string(source.category)
        w.key("recordId"); w.string(source.recordId)
        w.key("system"); w.string(source.system.rawValue)
        if let days = source.timeLimitWorkingDays { w.key("timeLimitWorkingDays"); w.int(days) }
        w.key("version"); w.int(source.version)
        w.endObject()
        w.key("title"); w.string(title)
        w.key("urgent"); w.bool(urgent)
        w.key("withdrawn"); w.bool(withdrawn)
        w.endObject()
        return w.bytes
    }
}

extension Reporter {
    /// As ``Reporter/encode(to:)`` writes it: an anonymous reporter stays masked even when disclosing.
    func write(to w: inout JSONBytesWriter, disclosing disclosure: PersonalDataDisclosure) {
        let shown: PersonalDataDisclosure = anonymous ? .mask : disclosure
        w.beginObject()
        w.key("anonymous"); w.bool(anonymous)
        w.key("id"); w.string(id)
        w.key("kind"); w.string(kind.rawValue)
        w.key("name"); w.string(name?.jsonText(disclosing: shown))
        w.key("phone"); w.string(phone?.jsonText(disclosing: shown))
        w.endObject()
    }
}

extension PersonalDatum {
    /// The text ``PersonalDatum/encode(to:)`` writes under `disclosure`.
    func jsonText(disclosing disclosure: PersonalDataDisclosure) -> String {
        disclosure == .reveal ? (revealed ?? masked) : masked
    }
}
