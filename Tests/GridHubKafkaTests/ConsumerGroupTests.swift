import Foundation
import GridHubKafka
import GridHubTesting
import Testing

@Suite("Consumer groups", .timeLimit(.minutes(3)))
struct ConsumerGroupTests {
    /// What the members of a group read and committed, and any committed record read again.
    final class Ledger {
        var seen: [String: [ConsumerRecord]] = [:]
        var committed: Set<String> = []
        var redeliveredCommitted: [String] = []

        func all() -> [ConsumerRecord] { seen.values.flatMap { $0 } }
        func values() -> Set<Int> { Set(all().map { Int(String(decoding: $0.value, as: UTF8.self))! }) }
    }

    /// Polls `consumer` as member `name`, committing after each batch, until `done` or `timeout`.
    private func poll(_ consumer: KafkaConsumer, as name: String, ledger: Ledger, timeout: Duration, until done: () -> Bool = { false }) async throws {
        let deadline = ContinuousClock.now + timeout
        while !done() && ContinuousClock.now < deadline {
            let batch = try await consumer.poll(timeout: .milliseconds(100))
            guard !batch.isEmpty else { continue }
            for r in batch where ledger.committed.contains("\(r.partition)@\(r.offset)") {
                ledger.redeliveredCommitted.append("\(r.partition)@\(r.offset)")
            }
            ledger.seen[name, default: []] += batch
            let outcome: Result<Void, KafkaError>
            do { try await consumer.commit(after: batch); outcome = .success(()) } catch { outcome = .failure(error) }
            switch outcome {
            case .success: ledger.committed.formUnion(batch.map { "\($0.partition)@\($0.offset)" })
            // A rebalance is under way, or the group moved on: the batch stays uncommitted and may be read again.
            case .failure(let error) where error.isRetriable || error.isRebalance: continue
            case .failure(let error): throw error
            }
        }
    }

    @Test("a commit the group refused because it moved on (a member joined or left) is told apart from a failure")
    func rebalanceErrors() {
        // librdkafka's codes: REBALANCE_IN_PROGRESS 27, ILLEGAL_GENERATION 22, UNKNOWN_MEMBER_ID 25, _ASSIGNMENT_LOST -142.
        for code: Int32 in [27, 22, 25, -142] {
            #expect(KafkaError(code: .commit, message: "commit offsets", rdKafkaCode: code).isRebalance, "\(code)")
        }
        // Not a rebalance: an unknown topic (3), a message too large (10), an error from outside librdkafka.
        for code: Int32 in [3, 10] {
            #expect(!KafkaError(code: .commit, message: "commit offsets", rdKafkaCode: code).isRebalance, "\(code)")
        }
        #expect(!KafkaError(code: .commit, message: "commit offsets").isRebalance)
    }

    @Test("two consumers split the partitions; when one leaves the other takes over without loss or repeats")
    func splitAndTakeOver() async throws {
        let topic = try await TestKafka.makeTopic(partitions: 4)
        let group = "group-\(UUID().uuidString.prefix(8))"
        let producer = try TestKafka.producer()
        func produce(_ range: Range<Int>) async throws {
            for r in await producer.send(range.map { ProducerRecord(topic: topic, partition: Int32($0 % 4), key: "k\($0)", value: Array("\($0)".utf8)) }) {
                _ = try r.get()
            }
        }
        try await produce(0..<200)
        let ledger = Ledger()

        let a = try TestKafka.consumer(group: group)
        let b = try TestKafka.consumer(group: group)
        try a.subscribe(topics: [topic])
        try b.subscribe(topics: [topic])
        // Both poll until the group has settled with two members and all 200 records are read.
        let deadline = ContinuousClock.now + .seconds(45)
        while ContinuousClock.now < deadline {
            try await poll(a, as: "a", ledger: ledger, timeout: .milliseconds(100))
            try await poll(b, as: "b", ledger: ledger, timeout: .milliseconds(100))
            if !a.assignment.isEmpty && !b.assignment.isEmpty && ledger.values().count >= 200 { break }
        }
        #expect(a.assignment.intersection(b.assignment).isEmpty)
        #expect(a.assignment.union(b.assignment).count == 4)
        #expect(!a.assignment.isEmpty && !b.assignment.isEmpty)
        let bPartitions = b.assignment

        // B leaves; A must take over B's partitions and continue from B's committed offsets.
        await b.close()
        let before = ledger.seen["a"]?.count ?? 0
        try await produce(200..<300)
        try await poll(a, as: "a", ledger: ledger, timeout: .seconds(40)) { ledger.values().count >= 300 }
        try await poll(a, as: "a", ledger: ledger, timeout: .seconds(1))
        #expect(a.assignment.count == 4)
        #expect(ledger.values() == Set(0..<300), "every record read")
        #expect(ledger.redeliveredCommitted.isEmpty, "committed records were delivered again: \(ledger.redeliveredCommitted)")
        #expect((ledger.seen["a"] ?? []).dropFirst(before).contains { bPartitions.contains(TopicPartition(topic: $0.topic, partition: $0.partition)) })

        // Committed offsets survive a restart of the group: a new member reads only new records.
        await a.close()
        try await produce(300..<340)
        let c = try TestKafka.consumer(group: group)
        try c.subscribe(topics: [topic])
        try await poll(c, as: "c", ledger: ledger, timeout: .seconds(40)) { (ledger.seen["c"]?.count ?? 0) >= 40 }
        try await poll(c, as: "c", ledger: ledger, timeout: .seconds(1))
        let readByC = ledger.seen["c"] ?? []
        #expect(Set(readByC.map { Int(String(decoding: $0.value, as: UTF8.self))! }) == Set(300..<340))
        #expect(readByC.count == 40)
        #expect(ledger.redeliveredCommitted.isEmpty)
        await c.close()
        await producer.shutdown()
    }

    @Test("offsets committed in the background, batch after batch, reach the group in order; a new member starts after the last")
    func backgroundCommit() async throws {
        let topic = try await TestKafka.makeTopic(partitions: 2)
        let group = "group-\(UUID().uuidString.prefix(8))"
        let producer = try TestKafka.producer()
        for r in await producer.send((0..<100).map { ProducerRecord(topic: topic, partition: Int32($0 % 2), key: "k\($0)", value: Array("\($0)".utf8)) }) {
            _ = try r.get()
        }
        let a = try TestKafka.consumer(group: group)
        try a.subscribe(topics: [topic])
        var read: [ConsumerRecord] = []
        let deadline = ContinuousClock.now + .seconds(45)
        while read.count < 100 && ContinuousClock.now < deadline {
            let batch = try await a.poll(timeout: .milliseconds(100))
            read += batch
            // Returns at once: queued in librdkafka, in order, not confirmed.
            try a.commitInBackground(after: batch)
        }
        #expect(read.count == 100)
        let partitions = [TopicPartition(topic: topic, partition: 0), TopicPartition(topic: topic, partition: 1)]
        // The last of the queued commits is what the group ends up with (50 records per partition).
        var committed: [Int64] = []
        let settled = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < settled {
            committed = try await a.committed(partitions).sorted { $0.partition < $1.partition }.map(\.offset)
            if committed == [50, 50] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(committed == [50, 50])
        await a.close()

        // A new member of the group reads only what was produced after.
        for r in await producer.send([ProducerRecord(topic: topic, partition: 0, key: "k", value: Array("100".utf8))]) { _ = try r.get() }
        let b = try TestKafka.consumer(group: group)
        try b.subscribe(topics: [topic])
        var later: [ConsumerRecord] = []
        let until = ContinuousClock.now + .seconds(30)
        while later.isEmpty && ContinuousClock.now < until { later += try await b.poll(timeout: .milliseconds(200)) }
        #expect(later.map { String(decoding: $0.value, as: UTF8.self) } == ["100"])
        await b.close()
        await producer.shutdown()
    }
}
