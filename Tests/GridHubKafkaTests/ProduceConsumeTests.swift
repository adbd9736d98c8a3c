import Foundation
import Synchronization
import GridHubKafka
import GridHubTesting
import Testing

@Suite("Producing and consuming over TCP", .timeLimit(.minutes(2)))
struct ProduceConsumeTests {
    @Test("records keep keys, headers and per-partition order across partitions")
    func roundTrip() async throws {
        let topic = try await TestKafka.makeTopic(partitions: 3)
        let producer = try TestKafka.producer()
        var sent: [ProducerRecord] = []
        for i in 0..<300 {
            sent.append(ProducerRecord(
                topic: topic, partition: Int32(i % 3), key: "key-\(i)", value: Array("value-\(i)".utf8),
                headers: [KafkaHeader(key: "seq", string: "\(i)"), KafkaHeader(key: "bin", value: [0, 255, UInt8(i % 256)])]))
        }
        let results = await producer.send(sent)
        let reports = try results.map { try $0.get() }
        #expect(reports.count == 300)
        #expect(Set(reports.map(\.partition)) == [0, 1, 2])
        await producer.shutdown()

        let records = try await TestKafka.readAll(topic, partitions: 3, count: 300)
        #expect(records.count == 300)
        for partition in Int32(0)..<3 {
            let inPartition = records.filter { $0.partition == partition }
            let seqs = inPartition.compactMap { $0.headers.string("seq").flatMap(Int.init) }
            #expect(seqs.count == 100)
            #expect(seqs == seqs.sorted(), "records of partition \(partition) out of order")
            #expect(inPartition.map(\.offset) == inPartition.map(\.offset).sorted())
            for r in inPartition {
                let i = Int(r.headers.string("seq")!)!
                #expect(r.keyString == "key-\(i)")
                #expect(r.value == Array("value-\(i)".utf8))
                #expect(r.headers.first { $0.key == "bin" }?.value == [0, 255, UInt8(i % 256)])
                #expect(i % 3 == Int(partition))
            }
        }
    }

    @Test("senders racing a shutdown each get an answer: every record reported delivered is on the topic, the rest fail as shut down, none waits forever")
    func sendRacingShutdown() async throws {
        let topic = try await TestKafka.makeTopic(partitions: 3)
        // Few slots, so that many senders are waiting for one when the shutdown comes.
        let producer = try TestKafka.producer { $0.maxInFlightRecords = 8 }
        struct Tally: Sendable { var delivered = 0, shutDown = 0 }
        let outcomes = try await withThrowingTaskGroup(of: Tally.self) { group in
            for sender in 0..<40 {
                group.addTask { () async throws -> Tally in
                    var tally = Tally()
                    for i in 0..<200 {
                        do {
                            try await producer.send(ProducerRecord(topic: topic, key: "s\(sender)", value: Array("\(sender)/\(i)".utf8)))
                            tally.delivered += 1
                        } catch let error as KafkaError where error.code == .shutDown {
                            tally.shutDown += 1
                        }
                    }
                    return tally
                }
            }
            try await Task.sleep(for: .milliseconds(150))
            await producer.shutdown()
            return try await group.reduce(into: [Tally]()) { $0.append($1) }
        }
        let delivered = outcomes.map(\.delivered).reduce(0, +), refused = outcomes.map(\.shutDown).reduce(0, +)
        #expect(delivered + refused == 40 * 200)
        #expect(delivered > 0 && refused > 0, "the shutdown came in the middle: \(delivered) delivered, \(refused) refused")
        let records = try await TestKafka.readUntilQuiet(topic, partitions: 3)
        #expect(Set(records.map { String(decoding: $0.value, as: UTF8.self) }).count == delivered)
    }

    @Test("records with the same key land on the same partition")
    func keyedPartitioning() async throws {
        let topic = try await TestKafka.makeTopic(partitions: 6)
        let producer = try TestKafka.producer()
        let results = await producer.send((0..<120).map { ProducerRecord(topic: topic, key: "grid-\($0 % 10)", value: Array("\($0)".utf8)) })
        let reports = try results.map { try $0.get() }
        await producer.shutdown()
        var partitionOfKey: [Int: Set<Int32>] = [:]
        for (i, report) in reports.enumerated() { partitionOfKey[i % 10, default: []].insert(report.partition) }
        #expect(partitionOfKey.values.allSatisfy { $0.count == 1 })
    }

    @Test("a send to a broker that is gone fails with a retriable error instead of hanging")
    func deliveryTimeout() async throws {
        let (producer, topic) = try await Self.producerWhoseBrokerIsGone(partitions: 1, deliveryTimeoutMilliseconds: 1_500)
        await #expect { try await producer.send(ProducerRecord(topic: topic, key: "b", value: [2])) } throws: { error in
            guard let e = error as? KafkaError else { return false }
            return e.code == .produce && e.isRetriable
        }
        await producer.shutdown(timeout: .milliseconds(200))
    }

    @Test("batches from several senders through few slots: each record is delivered once, and each report is its own record's")
    func batchesThroughFewSlots() async throws {
        let topic = try await TestKafka.makeTopic(partitions: 3)
        // Fewer slots than any batch: every batch waits for slots part of the way.
        let producer = try TestKafka.producer { $0.maxInFlightRecords = 8 }
        let batches = try await withThrowingTaskGroup(of: [(ProducerRecord, DeliveryReport)].self) { group in
            for sender in 0..<3 {
                group.addTask {
                    var delivered: [(ProducerRecord, DeliveryReport)] = []
                    for round in 0..<4 {
                        let records = (0..<150).map { ProducerRecord(topic: topic, key: "s\(sender)-\($0 % 5)", value: Array("\(sender)/\(round)/\($0)".utf8)) }
                        let pending = await producer.submit(records)
                        #expect(await pending.failures().isEmpty)
                        for (record, result) in zip(records, await pending.reports()) { delivered.append((record, try result.get())) }
                    }
                    return delivered
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(batches.count == 1_800)
        #expect(producer.inFlight == 0 && producer.waitingSenders == 0)
        await producer.shutdown()

        // Each report names where its own record landed: read back, the record at that offset is it.
        let read = try await TestKafka.readAll(topic, partitions: 3, count: 1_800, settle: .milliseconds(300))
        #expect(read.count == 1_800)
        let atOffset = Dictionary(uniqueKeysWithValues: read.map { (TopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: $0.offset), $0.value) })
        for (record, report) in batches {
            #expect(report.topic == topic)
            #expect(atOffset[TopicPartitionOffset(topic: report.topic, partition: report.partition, offset: report.offset)] == record.value)
        }
    }

    /// A producer that has delivered one record to a one-broker cluster, which then goes away for good.
    /// (Not setBrokerDown: librdkafka 2.0.2's mock re-listens on the broker's port at once and aborts
    /// the process if that fails.)
    static func producerWhoseBrokerIsGone(partitions: Int, deliveryTimeoutMilliseconds: Int) async throws -> (KafkaProducer, String) {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: TestKafka.quietLogger)
        let topic = try await TestKafka.makeTopic(partitions: partitions, on: cluster)
        let producer = try TestKafka.producer(cluster) { $0.deliveryTimeoutMilliseconds = deliveryTimeoutMilliseconds }
        try await producer.send(ProducerRecord(topic: topic, key: "a", value: [1]))
        await cluster.shutdown()
        return (producer, topic)
    }

    @Test("records on their way to a broker that is gone when the producer shuts down are each reported once, as failed, and nobody waits for ever")
    func shutdownReportsEveryRecord() async throws {
        let (producer, topic) = try await Self.producerWhoseBrokerIsGone(partitions: 2, deliveryTimeoutMilliseconds: 120_000)
        let pending = await producer.submit((0..<300).map { ProducerRecord(topic: topic, key: "k\($0 % 7)", value: Array("\($0)".utf8)) })
        let stopped = ContinuousClock.now
        await producer.shutdown(timeout: .milliseconds(300))
        let reports = await pending.reports()
        #expect(reports.count == 300)
        #expect(reports.allSatisfy { if case .failure = $0 { true } else { false } })
        #expect(ContinuousClock.now - stopped < .seconds(10), "the shutdown took \(ContinuousClock.now - stopped)")
        #expect(producer.inFlight == 0)
    }

    @Test("shutdown flushes: records sent just before it are delivered")
    func shutdownFlushes() async throws {
        let topic = try await TestKafka.makeTopic(partitions: 2)
        let producer = try TestKafka.producer { $0.lingerMilliseconds = 200 }
        let delivered = Counter()
        for i in 0..<500 {
            await producer.send(ProducerRecord(topic: topic, key: "\(i)", value: Array("\(i)".utf8))) { result in
                if case .success = result { delivered.increment() }
            }
        }
        await producer.shutdown(timeout: .seconds(10))
        #expect(delivered.value == 500)
        let records = try await TestKafka.readAll(topic, partitions: 2, count: 500)
        #expect(Set(records.map { String(decoding: $0.value, as: UTF8.self) }).count == 500)
    }

    @Test("a producer that is shut down refuses new records")
    func refusesAfterShutdown() async throws {
        let topic = try await TestKafka.makeTopic(partitions: 1)
        let producer = try TestKafka.producer()
        await producer.shutdown()
        await #expect { try await producer.send(ProducerRecord(topic: topic, key: "x", value: [1])) } throws: { error in
            (error as? KafkaError)?.code == .shutDown
        }
    }

    @Test("the raw baseline passes records through, or answers each with a given number of records of a given size")
    func baselinePassthroughAndFanOut() async throws {
        let source = try await TestKafka.makeTopic(partitions: 2)
        try KafkaBaseline.produce(bootstrap: TestKafka.bootstrap, topic: source, count: 40, value: Array("incident".utf8))

        let copy = try await TestKafka.makeTopic(partitions: 2)
        try KafkaBaseline.passthrough(bootstrap: TestKafka.bootstrap, source: source, partitions: 2, target: copy, count: 40)
        let copied = try await TestKafka.readAll(copy, partitions: 2, count: 40, settle: .milliseconds(300))
        #expect(copied.count == 40)
        #expect(Set(copied.compactMap(\.keyString)) == Set((0..<40).map { "k\($0)" }))
        #expect(copied.allSatisfy { $0.value == Array("incident".utf8) })

        // 40 records read, 2.5 records of 300 bytes produced for each: 100 in all, under the keys read.
        let fanned = try await TestKafka.makeTopic(partitions: 2)
        try KafkaBaseline.passthrough(bootstrap: TestKafka.bootstrap, source: source, partitions: 2, target: fanned, count: 40,
                                      fanOut: 2.5, value: [UInt8](repeating: 7, count: 300))
        let out = try await TestKafka.readAll(fanned, partitions: 2, count: 100, settle: .milliseconds(300))
        #expect(out.count == 100)
        #expect(out.allSatisfy { $0.value == [UInt8](repeating: 7, count: 300) })
        #expect(Set(out.compactMap(\.keyString)) == Set((0..<40).map { "k\($0)" }))
    }
}

/// A thread-safe counter for delivery callbacks.
final class Counter: Sendable {
    private let lock = Mutex(0)
    func increment() { lock.withLock { $0 += 1 } }
    var value: Int { lock.withLock { $0 } }
}

@Suite("A long poll ends early when asked", .timeLimit(.minutes(2)))
struct LongPollTests {
    /// A consumer of a new, empty topic: a poll of it waits out its whole time unless ended early.
    static func idleConsumer() async throws -> (topic: String, consumer: KafkaConsumer) {
        let topic = try await TestKafka.makeTopic(partitions: 1)
        let consumer = try TestKafka.consumer()
        try consumer.assign([TopicPartitionOffset(topic: topic, partition: 0, offset: KafkaOffset.beginning)])
        return (topic, consumer)
    }

    @Test("wakeUp() ends a waiting poll at once with no records; the next poll still reads what comes")
    func wakeUp() async throws {
        let (topic, consumer) = try await Self.idleConsumer()
        let started = ContinuousClock.now
        async let polled = consumer.poll(timeout: .seconds(60))
        try await Task.sleep(for: .milliseconds(300))
        consumer.wakeUp()
        let records = try await polled
        #expect(records.isEmpty)
        #expect(ContinuousClock.now - started < .seconds(30), "the poll waited out its time")
        let producer = try TestKafka.producer()
        _ = try await producer.send(ProducerRecord(topic: topic, key: "k", value: Array("after".utf8)))
        await producer.shutdown()
        var read: [ConsumerRecord] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while read.isEmpty && ContinuousClock.now < deadline { read = try await consumer.poll(timeout: .seconds(5)) }
        #expect(read.map(\.value) == [Array("after".utf8)])
        await consumer.close()
    }

    @Test("a waiting poll ends at once, with no records, when its task is cancelled")
    func cancellation() async throws {
        let (_, consumer) = try await Self.idleConsumer()
        let started = ContinuousClock.now
        let task = Task { try await consumer.poll(timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let records = try await task.value
        #expect(records.isEmpty)
        #expect(ContinuousClock.now - started < .seconds(30), "the poll waited out its time")
        await consumer.close()
    }
}
