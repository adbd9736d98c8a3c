import Foundation
import GridHubCore
import GridHubKafka
import Logging

/// Reads the dead letters still retained on `gridhub.deadletter.v1` (`gridhub deadletters`, the console).
public enum DeadLetterReader {
    /// Every retained dead letter, oldest first (by time, then position); gives up after `timeout`.
    public static func readAll(_ client: KafkaClientConfiguration, logger: Logger, timeout: Duration = .seconds(30)) async throws -> [ConsumerRecord] {
        let admin = try KafkaAdmin(configuration: client, logger: logger)
        var remaining: [Int32: Int64] = [:]
        let ends = try await admin.endOffsets(topic: Topics.deadLetter)
        for end in ends {
            let w = try await admin.watermarks(end.topicPartition)
            if w.high > w.low { remaining[end.partition] = w.high }
        }
        guard !remaining.isEmpty else { return [] }
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: client), logger: logger)
        try consumer.assign(ends.map { TopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: KafkaOffset.beginning) })
        var records: [ConsumerRecord] = []
        let deadline = ContinuousClock.now + timeout
        while !remaining.isEmpty && ContinuousClock.now < deadline {
            for r in try await consumer.poll(timeout: .milliseconds(200)) {
                records.append(r)
                if let end = remaining[r.partition], r.offset + 1 >= end { remaining[r.partition] = nil }
            }
        }
        await consumer.close()
        return records.sorted { ($0.timestampMilliseconds ?? 0, $0.partition, $0.offset) < ($1.timestampMilliseconds ?? 0, $1.partition, $1.offset) }
    }

    /// The dead letter at `PARTITION@OFFSET`, or nil when the text is not such a position.
    public static func position(_ text: String) -> (partition: Int32, offset: Int64)? {
        let parts = text.split(separator: "@")
        guard parts.count == 2, let partition = Int32(parts[0]), let offset = Int64(parts[1]) else { return nil }
        return (partition, offset)
    }
}
