import Foundation
import GridHubKafka
import Logging

/// `gridhub bench kafka`: produce, consume and consume→produce passthrough of fixed-size records on
/// the embedded broker, each measured for raw librdkafka and for GridHub's client in the same run.
public enum KafkaBenchmark {
    /// What to measure.
    public struct Options: Sendable {
        public var records = 100_000
        public var recordSize = 400
        /// Enough partitions that the embedded broker's per-partition retention (~5 MiB) keeps every record.
        public var partitions = 16
        public var brokers = 1
        /// Records per `send` batch and per consumer poll of the GridHub client.
        public var batchSize = 5_000
        /// How many times consume and passthrough are measured (the median is reported).
        public var rounds = 5
        public init() {}
    }

    /// One measured figure.
    public struct Measurement: Sendable {
        public var name: String
        public var seconds: Double
        public var records: Int
        public var bytes: Int
        public var recordsPerSecond: Double { Double(records) / seconds }
        public var megabytesPerSecond: Double { Double(bytes) / seconds / 1_000_000 }
    }

    /// The measurements of one run, GridHub's next to the baseline's.
    public struct Report: Sendable {
        public var options: Options
        public var librdkafkaVersion: String
        public var rows: [(phase: String, raw: Measurement, gridhub: Measurement)]

        /// The figures as one JSON object (`--json`): each phase's rate, raw and GridHub's, and their ratio.
        public var json: [String: Any] {
            ["benchmark": "kafka", "librdkafka": librdkafkaVersion, "records": options.records, "recordBytes": options.recordSize, "rounds": options.rounds,
             "phases": rows.map { r -> [String: Any] in
                 ["phase": r.phase, "rawRecordsPerSecond": r.raw.recordsPerSecond, "gridhubRecordsPerSecond": r.gridhub.recordsPerSecond,
                  "ratio": r.gridhub.recordsPerSecond / r.raw.recordsPerSecond]
             }]
        }

        /// A readable table with ratios.
        public var table: String {
            var lines = [
                "Kafka benchmark — \(options.records) records × \(options.recordSize) B, \(options.partitions) partitions, embedded broker (\(options.brokers) broker), librdkafka \(librdkafkaVersion); consume and passthrough from the first record read, median of \(options.rounds) rounds",
                "phase        | raw librdkafka          | GridHubKafka            | ratio",
                "-------------|-------------------------|-------------------------|------",
            ]
            for row in rows {
                lines.append(
                    "\(row.phase.padding(toLength: 12, withPad: " ", startingAt: 0)) | "
                        + "\(fmt(row.raw.recordsPerSecond)) rec/s \(fmt1(row.raw.megabytesPerSecond)) MB/s | "
                        + "\(fmt(row.gridhub.recordsPerSecond)) rec/s \(fmt1(row.gridhub.megabytesPerSecond)) MB/s | "
                        + String(format: "%.2f", row.gridhub.recordsPerSecond / row.raw.recordsPerSecond))
            }
            return lines.joined(separator: "\n")
        }

        private func fmt(_ v: Double) -> String { String(format: "%9.0f", v) }
        private func fmt1(_ v: Double) -> String { String(format: "%6.1f", v) }
    }

    /// Runs the benchmark on a fresh embedded cluster in this process.
    public static func run(options: Options, logger: Logger) async throws -> Report {
        let cluster = try EmbeddedKafkaCluster(brokers: options.brokers, logger: logger)
        // Destroyed when released (on a thread of its own).
        let bootstrap = cluster.bootstrapServers
        try await cluster.createTopics(["raw.in", "raw.out", "hub.in", "hub.out"].map { .init("bench.\($0)", partitions: options.partitions, replicationFactor: 1) })
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: options.recordSize)
        let n = options.records
        let bytes = n * options.recordSize

        // Produce.
        let rawProduce = try time("produce", n, bytes) {
            try KafkaBaseline.produce(bootstrap: bootstrap, topic: "bench.raw.in", count: n, value: value)
        }
        var producerConfig = KafkaProducerConfiguration(client: KafkaClientConfiguration(bootstrapServers: bootstrap))
        producerConfig.maxInFlightRecords = 100_000
        let producer = try KafkaProducer(configuration: producerConfig, logger: logger)
        // As the adapters and the router do when they start: the topic's partitions are known before the
        // first record (on the embedded broker, the first record to an unknown topic waits about a second).
        await producer.prepare(topics: ["bench.hub.in", "bench.hub.out"])
        let hubProduce = try await timeAsync("produce", n, bytes) {
            // Pipelined, as the adapters and the router send: batches handed over without waiting for
            // their reports (only for free in-flight slots); every report is checked at the end.
            var sent: [PendingDeliveries] = []
            for start in stride(from: 0, to: n, by: options.batchSize) {
                sent.append(await producer.submit((start..<min(n, start + options.batchSize)).map { ProducerRecord(topic: "bench.hub.in", key: "k\($0)", value: value) }))
            }
            try await producer.flush(timeout: .seconds(60))
            try await check(sent)
        }

        // Consume, and passthrough: timed from the first record read, for raw librdkafka as for the
        // client. A consumer's start (about half a second on the embedded broker, the same for both) is
        // not a cost per record, and counted in it made the ratio mostly a measure of that start. Each
        // is measured `rounds` times, raw and client in turn, and the median is reported.
        var consumeRounds: [(raw: Measurement, hub: Measurement)] = []
        var passRounds: [(raw: Measurement, hub: Measurement)] = []
        for _ in 0..<max(1, options.rounds) {
            let rawConsume = try timeFromFirstRecord("consume", n, bytes) {
                try KafkaBaseline.consume(bootstrap: bootstrap, topic: "bench.raw.in", partitions: options.partitions, count: n)
            }
            let hubConsume = try await timeFromFirstRecordAsync("consume", n, bytes) {
                let consumer = try makeConsumer(bootstrap: bootstrap, topic: "bench.hub.in", options: options, logger: logger)
                var seen = 0
                var first: ContinuousClock.Instant? = nil
                while seen < n {
                    let batch = try await consumer.poll(timeout: .seconds(1))
                    if first == nil && !batch.isEmpty { first = .now }
                    seen += batch.count
                }
                await consumer.close()
                return first ?? .now
            }
            consumeRounds.append((rawConsume, hubConsume))
            let rawPass = try timeFromFirstRecord("passthrough", n, bytes) {
                try KafkaBaseline.passthrough(bootstrap: bootstrap, source: "bench.raw.in", partitions: options.partitions, target: "bench.raw.out", count: n)
            }
            let hubPass = try await timeFromFirstRecordAsync("passthrough", n, bytes) {
                let consumer = try makeConsumer(bootstrap: bootstrap, topic: "bench.hub.in", options: options, logger: logger)
                var sent: [PendingDeliveries] = []
                var seen = 0
                var first: ContinuousClock.Instant? = nil
                while seen < n {
                    let batch = try await consumer.poll(timeout: .seconds(1))
                    if first == nil && !batch.isEmpty { first = .now }
                    sent.append(await producer.submit(batch.map { ProducerRecord(topic: "bench.hub.out", key: $0.key, value: $0.value, headers: $0.headers) }))
                    seen += batch.count
                }
                try await producer.flush(timeout: .seconds(60))
                try await check(sent)
                await consumer.close()
                return first ?? .now
            }
            passRounds.append((rawPass, hubPass))
        }
        func median(_ rounds: [(raw: Measurement, hub: Measurement)]) -> (Measurement, Measurement) {
            func m(_ xs: [Measurement]) -> Measurement { xs.sorted { $0.seconds < $1.seconds }[xs.count / 2] }
            return (m(rounds.map(\.raw)), m(rounds.map(\.hub)))
        }
        let (rawConsume, hubConsume) = median(consumeRounds)
        let (rawPass, hubPass) = median(passRounds)
        await producer.shutdown()
        return Report(
            options: options, librdkafkaVersion: KafkaBaseline.librdkafkaVersion,
            rows: [("produce", rawProduce, hubProduce), ("consume", rawConsume, hubConsume), ("passthrough", rawPass, hubPass)])
    }

    private static func makeConsumer(bootstrap: String, topic: String, options: Options, logger: Logger) throws -> KafkaConsumer {
        var config = KafkaConsumerConfiguration(client: KafkaClientConfiguration(bootstrapServers: bootstrap))
        config.maxBatchRecords = options.batchSize
        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        try consumer.assign((0..<Int32(options.partitions)).map { TopicPartitionOffset(topic: topic, partition: $0, offset: KafkaOffset.beginning) })
        return consumer
    }

    private static func time(_ name: String, _ records: Int, _ bytes: Int, _ body: () throws -> Void) throws -> Measurement {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        return Measurement(name: name, seconds: (clock.now - start).seconds, records: records, bytes: bytes)
    }

    /// The time from the first record read (the instant `body` returns) to the end of `body`.
    private static func timeFromFirstRecord(_ name: String, _ records: Int, _ bytes: Int, _ body: () throws -> ContinuousClock.Instant) throws -> Measurement {
        let first = try body()
        return Measurement(name: name, seconds: (ContinuousClock.now - first).seconds, records: records, bytes: bytes)
    }

    private static func timeFromFirstRecordAsync(_ name: String, _ records: Int, _ bytes: Int, _ body: () async throws -> ContinuousClock.Instant) async throws -> Measurement {
        let first = try await body()
        return Measurement(name: name, seconds: (ContinuousClock.now - first).seconds, records: records, bytes: bytes)
    }

    private static func timeAsync(_ name: String, _ records: Int, _ bytes: Int, _ body: () async throws -> Void) async throws -> Measurement {
        let clock = ContinuousClock()
        let start = clock.now
        try await body()
        return Measurement(name: name, seconds: (clock.now - start).seconds, records: records, bytes: bytes)
    }
}

/// Throws the first failed delivery report of `batches`.
private func check(_ batches: [PendingDeliveries]) async throws {
    for batch in batches {
        if let failure = await batch.failures().first { throw failure.error }
    }
}
