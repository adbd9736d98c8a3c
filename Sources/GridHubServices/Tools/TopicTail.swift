import Foundation
import GridHubKafka
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
            for try await batch in consumer.batches.cancelOnGracefulShutdown() {
                for record in batch {
                    output(options.json ? formatter.json(record) : formatter.line(record))
                    if let end = remaining[record.partition], record.offset + 1 >= end { remaining[record.partition] = nil }
                }
                if !options.follow && remaining.isEmpty { break }
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }
}

/// Renders records for people (one readable line) and for programs (one JSON object).
public struct RecordFormatter: Sendable {
    let redact: @Sendable (String) -> String

    public init(redact: @escaping @Sendable (String) -> String) { self.redact = redact }

    /// `topic[p]@offset time type key=… {data}` with personal data masked.
    public func line(_ r: ConsumerRecord) -> String {
        var parts = ["\(r.topic)[\(r.partition)]@\(r.offset)"]
        if let time = r.headers.string("ce_time") { parts.append(time) }
        if let type = r.headers.string("ce_type") { parts.append(type) }
        if let reason = r.headers.string("gridhub.error.reason") {
            parts.append("DEAD LETTER stage=\(r.headers.string("gridhub.error.stage") ?? "?") reason=\"\(reason)\"")
        }
        if let key = r.keyString { parts.append("key=\(key)") }
        let text = String(decoding: r.value, as: UTF8.self)
        let compact: String
        if let object = try? JSONSerialization.jsonObject(with: Data(r.value), options: [.fragmentsAllowed]),
           let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]) {
            compact = String(decoding: data, as: UTF8.self)
        } else {
            compact = text.count > 300 ? String(text.prefix(300)) + "…" : text
        }
        parts.append(compact)
        return redact(parts.joined(separator: "  "))
    }

    /// `{"topic","partition","offset","key","timestamp","headers":{…},"data":…}`; `data` is the
    /// decoded JSON value when the record holds JSON, else its text.
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
            object["data"] = String(decoding: r.value, as: UTF8.self)
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
