import Foundation
import GridHubKafka
import GridHubRuntime
import GridHubTools
import GridHubTesting
import Testing

/// `gridhub tail --no-follow` as an operator's script uses it: it must end.
@Suite("Topic tail", .timeLimit(.minutes(2)))
struct TopicTailTests {
    /// Runs `tail` and gives up after `limit` (nil when it did not end by then).
    func run(_ tail: TopicTail, within limit: Duration) async throws -> Result<Void, any Error>? {
        try await withThrowingTaskGroup(of: Result<Void, any Error>?.self) { group in
            group.addTask {
                do { try await tail.run(); return .success(()) } catch { return .failure(error) }
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
    }

    @Test("without --follow it fails with a clear error, instead of waiting for ever, when the records stop coming before the end")
    func failsWhenStalled() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: TestKafka.quietLogger)
        let topic = try await TestKafka.makeTopic(partitions: 1, on: cluster)
        let producer = try TestKafka.producer(cluster)
        for i in 0..<5 { try await producer.send(ProducerRecord(topic: topic, key: "k\(i)", value: Array(#"{"n":\#(i)}"#.utf8))) }
        await producer.shutdown()
        // Every fetch fails from now on, as when the partition's leader is gone.
        cluster.injectErrors(Array(repeating: .notLeaderForPartition, count: 5_000), on: .fetch)

        var options = TopicTail.Options(topic: topic)
        options.fromBeginning = true
        options.follow = false
        options.stallLimit = .seconds(3)
        let tail = TopicTail(options: options, client: TestKafka.client(cluster), logger: TestKafka.quietLogger, redact: { $0 }) { _ in }
        let result = try await run(tail, within: .seconds(60))
        let outcome = try #require(result, "tail waited for ever")
        guard case .failure(let error) = outcome else {
            Issue.record("tail reported success without reading the topic")
            return
        }
        #expect("\(error)".contains("nothing read for"), "\(error)")
        #expect("\(error)".contains("[0] at start of 5"), "\(error)")
        cluster.clearInjectedErrors(on: .fetch)
    }
}
