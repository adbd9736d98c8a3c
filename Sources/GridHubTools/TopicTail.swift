import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging
import ServiceLifecycle

/// `gridhub tail`: an operator's view of one topic, decoded, one line per record.
public struct TopicTail: Service {
    /// What to show.
    public struct Options: Sendable {
        public var topic: String
        /// Start at the first retained record instead of the end.
        public var fromBeginning = false
        /// Keep waiting for new records; otherwise stop at the end offsets seen at start.
        public var follow = true
        /// One JSON object per line instead of a readable line.
        public var json = false
        /// Without `follow`: give up when nothing has been read for this long before the end.
        public var stallLimit: Duration = .seconds(30)
        /// Only records for this department (its `department` field, or its dispatch topic).
        public var department: String?
        /// Only records in this town: a 9-digit town code, matched against grid codes.
        public var townCode: String?
        /// Only records in this grid.
        public var grid: String?
        /// Only records of this CloudEvents type (`case` or `gov.gridhub.case.v1`).
        public var type: String?
        /// Only records about this case (keyed by it, or with it as `caseId`).
        public var caseId: String?

        /// Whether `record` passes every filter.
        public func matches(_ record: ConsumerRecord) -> Bool {
            if department == nil && townCode == nil && grid == nil && type == nil && caseId == nil { return true }
            if let type {
                let ce = record.headers.string("ce_type") ?? ""
                if ce != type && ce != "gov.gridhub.\(type).v1" { return false }
            }
            guard department != nil || townCode != nil || grid != nil || caseId != nil else { return true }
            let object = (try? JSONSerialization.jsonObject(with: Data(record.value))) as? [String: Any] ?? [:]
            if let caseId, record.keyString != caseId, object["caseId"] as? String != caseId { return false }
            if let department {
                let own = object["department"] as? String
                let onTopic = record.topic == Topics.dispatch(department: department)
                if own != department && !onTopic { return false }
            }
            let gridCode = (object["gridCode"] as? String) ?? ((object["location"] as? [String: Any])?["gridCode"] as? String)
            if let grid, gridCode != grid { return false }
            if let townCode, !(gridCode?.hasPrefix(townCode) ?? false) { return false }
            return true
        }

        public init(topic: String) { self.topic = topic }
    }

    let options: Options
    let client: KafkaClientConfiguration
    let logger: Logger
    let formatter: RecordFormatter
    let output: @Sendable (String) -> Void

    public init(options: Options, client: KafkaClientConfiguration, logger: Logger, redact: @escaping @Sendable (String) -> String, output: @escaping @Sendable (String) -> Void) {
        self.options = options
        self.client = client
        self.logger = logger
        self.formatter = RecordFormatter(redact: redact)
        self.output = output
    }

    public func run() async throws {
        let admin = try KafkaAdmin(configuration: client, logger: logger)
        guard let topic = try await admin.listTopics().first(where: { $0.name == options.topic }) else {
            throw ToolError("topic \(options.topic) does not exist (gridhub topics list shows the topics)")
        }
        var remaining: [Int32: Int64] = [:]  // partition → end offset still to reach (no-follow)
        var start: [TopicPartitionOffset] = []
        for p in 0..<Int32(topic.partitionCount) {
            let w = try await admin.watermarks(TopicPartition(topic: topic.name, partition: p))
            start.append(TopicPartitionOffset(topic: topic.name, partition: p, offset: options.fromBeginning ? KafkaOffset.beginning : KafkaOffset.end))
            if options.fromBeginning && w.high > w.low { remaining[p] = w.high }
        }
        if !options.follow && remaining.isEmpty { return }

        var config = KafkaConsumerConfiguration(client: client)
        config.maxBatchRecords = 500
        config.pollTimeoutMilliseconds = 200
        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        try consumer.assign(start)
        do {
            if options.follow {
                for try await batch in consumer.batches.cancelOnGracefulShutdown() { show(batch) }
            } else {
                try await readToEnd(consumer, remaining: remaining)
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }

    private func show(_ batch: [ConsumerRecord]) {
        for record in batch where options.matches(record) {
            output(options.json ? formatter.json(record) : formatter.line(record))
        }
    }

    /// Reads until every partition's position reaches the end offset seen at start (positions move
    /// past transaction markers too). Fails, rather than waiting for ever, when nothing moves for
    /// `options.stallLimit`: the cluster went away or the records are no longer there.
    private func readToEnd(_ consumer: KafkaConsumer, remaining ends: [Int32: Int64]) async throws {
        var remaining = ends
        let clock = ContinuousClock()
        var lastProgress = clock.now
        var lastPositions: [Int32: Int64] = [:]
        while !remaining.isEmpty {
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            show(try await consumer.poll(timeout: .milliseconds(200)))
            // A partition's position is the offset after the last record read (or marker skipped).
            let partitions = remaining.keys.sorted().map { TopicPartition(topic: options.topic, partition: $0) }
            for position in try consumer.positions(partitions) where position.offset >= 0 {
                if position.offset >= remaining[position.partition] ?? .max { remaining[position.partition] = nil }
                if lastPositions[position.partition] != position.offset {
                    lastPositions[position.partition] = position.offset
                    lastProgress = clock.now
                }
            }
            if !remaining.isEmpty, clock.now - lastProgress > options.stallLimit {
                let left = remaining.keys.sorted().map { p in "[\(p)] at \(lastPositions[p].map(String.init) ?? "start") of \(remaining[p]!)" }
                throw ToolError("\(options.topic): nothing read for \(options.stallLimit) before the end (\(left.joined(separator: ", "))); is the cluster still reachable?")
            }
        }
    }
}

/// Renders records for people (one readable line) and for programs (one JSON object).
public struct RecordFormatter: Sendable {
    let redact: @Sendable (String) -> String

    public init(redact: @escaping @Sendable (String) -> String) { self.redact = redact }

    /// `topic[p]@offset time type` and the event's essentials in a few words (the compact JSON for
    /// anything else), with personal data masked, on one line.
    public func line(_ r: ConsumerRecord) -> String {
        var parts = ["\(r.topic)[\(r.partition)]@\(r.offset)"]
        if let time = r.headers.string("ce_time") { parts.append(time) }
        let type = r.headers.string("ce_type")
        if let type { parts.append(type.replacingOccurrences(of: "gov.gridhub.", with: "").replacingOccurrences(of: ".v1", with: "")) }
        if let reason = r.headers.string(DeadLetterHeader.reason) {
            parts.append("DEAD LETTER stage=\(r.headers.string(DeadLetterHeader.stage) ?? "?") reason=\"\(reason)\"")
        }
        if let key = r.keyString { parts.append("key=\(key)") }
        let object = (try? JSONSerialization.jsonObject(with: Data(r.value), options: [.fragmentsAllowed])) as? [String: Any]
        if let object, let essentials = RecordFormatter.essentials(object, type: type) {
            parts.append(essentials)
        } else if let object, let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
            parts.append(String(decoding: data, as: UTF8.self))
        } else {
            // Not JSON (a dead letter's original body): read as the sources write it, GBK too.
            let text = TextEncoding.readable(r.value)
            parts.append(text.count > 300 ? String(text.prefix(300)) + "…" : text)
        }
        // One record, one line, whatever line breaks its text (a body, a description, a reason) holds.
        return RecordFormatter.oneLine(redact(parts.joined(separator: "  ")))
    }

    /// `text` with its line breaks and tabs written as `\n`, `\r` and `\t`: one record, one line.
    static func oneLine(_ text: String) -> String {
        text.replacingScalars { scalar in
            switch scalar {
            case "\n": "\\n"
            case "\r": "\\r"
            case "\t": "\\t"
            default: nil
            }
        }
    }

    /// `58m/≤190m 45min sameItem text=0.21` from merge evidence or a near miss.
    static func evidence(_ m: [String: Any]) -> String {
        var parts: [String] = []
        let distance = (m["distanceMeters"] as? Double).map { "\(Int($0.rounded()))m" } ?? "?m"
        let allowed = (m["limitMeters"] as? Double) ?? (m["uncertaintyMeters"] as? Double).map { $0 + 100 }
        parts.append(distance + (allowed.map { "/≤\(Int($0.rounded()))m" } ?? ""))
        if let gap = m["timeGapSeconds"] as? Double { parts.append(gap < 5_400 ? "\(Int(gap / 60))min" : "\(Int((gap / 3600).rounded()))h") }
        if let relation = m["itemRelation"] as? String { parts.append(relation) }
        if let text = m["textScore"] as? Double { parts.append(String(format: "text=%.2f", text)) }
        return parts.joined(separator: " ")
    }

    /// The few fields an operator reads first, per event type.
    static func essentials(_ o: [String: Any], type: String?) -> String? {
        func s(_ key: String) -> String { (o[key] as? String) ?? (o[key] is NSNull || o[key] == nil ? "-" : "\(o[key]!)") }
        func short(_ text: String, _ n: Int = 40) -> String { text.count > n ? String(text.prefix(n)) + "…" : text }
        let location = o["location"] as? [String: Any]
        switch type {
        case "gov.gridhub.incident.v1":
            let source = o["source"] as? [String: Any]
            return "\(source?["system"] ?? "?")/\(source?["recordId"] ?? "?") v\(source?["version"] ?? "?") item=\(s("itemCode")) grid=\((location?["gridCode"] as? String) ?? "-") \"\(short(s("description")))\""
        case "gov.gridhub.case.v1":
            var line = "case=\(s("caseId")) \(s("status")) item=\(s("itemCode")) → \(s("department"))/\(s("level")) grid=\(s("gridCode")) due=\(s("dueAt")) reports=\((o["reports"] as? [Any])?.count ?? 0)"
            // Why each report joined (distance / distance allowed, time apart, items, words in common), and
            // which cases the first report was kept apart from, and why.
            let merged = (o["reports"] as? [[String: Any]] ?? []).compactMap { r -> String? in
                guard let m = r["match"] as? [String: Any] else { return nil }
                return "\(r["recordId"] ?? "?")(\(evidence(m)))"
            }
            if !merged.isEmpty { line += " merged: " + merged.joined(separator: " ") }
            let apart = (o["keptApart"] as? [[String: Any]] ?? []).map { k in
                "\(k["caseId"] ?? "?")(\(k["reason"] ?? "?") \(evidence(k)))"
            }
            if !apart.isEmpty { line += " kept apart from: " + apart.joined(separator: " ") }
            return line
        case "gov.gridhub.dispatch.v1":
            return "dispatch=\(s("dispatchId")) case=\(s("caseId")) → \(s("department"))/\(s("level")) item=\(s("itemCode")) grid=\(s("gridCode")) due=\(s("dueAt"))"
        case "gov.gridhub.feedback.v1":
            return "dispatch=\(s("dispatchId")) \(s("department")) \(s("status")) \"\(short(s("note")))\""
        case "gov.gridhub.status.v1":
            return "\(s("system"))/\(s("recordId")) case=\(s("caseId")) \(s("status")) \(s("department")) \"\(short(s("note")))\""
        case "gov.gridhub.survey.v1":
            return "\(s("system"))/\(s("recordId")) \(s("satisfaction")) \"\(short(s("note")))\""
        case "gov.gridhub.alert.v1":
            if let mix = o["reportMix"] as? [String: Any] {
                let share = (mix["easyShare"] as? Double).map { String(format: "%.0f%%", $0 * 100) } ?? "?"
                let baseline = (mix["baselineEasyShare"] as? Double).map { String(format: "%.0f%%", $0 * 100) } ?? "?"
                return "ALERT reportMix \(mix["subjectKind"] ?? "?")=\(mix["subject"] ?? "?") easy=\(share) town=\(baseline) reports=\(mix["reports"] ?? "?") case=\(s("caseId"))"
            }
            return "ALERT \(s("kind")) case=\(s("caseId")) \(s("department"))/\(s("level")) due=\(s("dueAt")) \"\(short(s("message"), 60))\""
        case "gov.gridhub.command.v1":
            return "COMMAND \(s("action")) case=\(s("caseId")) by=\(s("issuedBy")) department=\(s("department")) due=\(s("dueAt")) \"\(short(s("message")))\""
        default:
            return nil
        }
    }

    /// `{"topic","partition","offset","key","timestamp","headers":{…},"data":…}`; `data` is the
    /// decoded JSON value when the record holds JSON, else its text (``TextEncoding/readable(_:)``; the
    /// exact bytes: `gridhub deadletters show --raw`).
    public func json(_ r: ConsumerRecord) -> String {
        var headers: [String: String] = [:]
        for h in r.headers { headers[h.key] = h.stringValue ?? h.value.map { String(format: "%02x", $0) }.joined() }
        var object: [String: Any] = [
            "topic": r.topic, "partition": Int(r.partition), "offset": Int(r.offset), "headers": headers,
        ]
        object["key"] = r.keyString ?? NSNull()
        if let ts = r.timestampMilliseconds { object["timestamp"] = Int(ts) }
        if let value = try? JSONSerialization.jsonObject(with: Data(r.value), options: [.fragmentsAllowed]) {
            object["data"] = value
        } else {
            object["data"] = TextEncoding.readable(r.value)
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return redact(String(decoding: data, as: UTF8.self))
    }
}

/// A tool could not do what was asked; the message says why.
public struct ToolError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
