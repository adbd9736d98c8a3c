import Foundation
import GridHubKafka
import GridHubTesting
import Synchronization
import Testing

/// Faults injected into a cluster of the test's own, so they never disturb other tests.
@Suite("Broker faults and back-pressure", .timeLimit(.minutes(2)))
struct FaultTests {
    @Test("the idempotent producer delivers every record exactly once through retriable produce errors")
    func idempotentThroughErrors() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 3, logger: TestKafka.quietLogger)
        let topic = try await TestKafka.makeTopic(partitions: 3, on: cluster)
        // No request times out at the client either: a timeout is not the fault under test, and on the
        // mock it is one that loses the batch (see below). Under the whole suite's load this test took
        // 57 s instead of 3, and records went missing ("1", "5", "7" once; "0" in other runs), so
        // `scripts/test` runs it alone after the suite; alone it passed every time.
        let producer = try TestKafka.producer(cluster) {
            $0.lingerMilliseconds = 1
            $0.client.socketTimeoutMilliseconds = 60_000
            $0.deliveryTimeoutMilliseconds = 110_000
        }
        // Warm up every partition, so the producer id, the leaders and each partition's sequence are
        // established, then make produce requests fail. (When errors hit a partition's very first batch,
        // librdkafka 2.0.2 on the mock cluster twice reported that first record delivered though it was
        // never written — record "0" missing, in loaded runs. Our reading: sequence 0 is the one a broker
        // takes as a new start, and the retry races the batches in flight; librdkafka's idempotence fixes
        // of 2.1–2.3, e.g. confluentinc/librdkafka#4438, are not in Debian's 2.0.2.) Only errors by which a broker says it
        // did not write the batch: the mock also drops the batch when it answers "timed out" or drops
        // the connection, which a real broker does not (those mean "possibly written").
        for partition in Int32(0)..<3 {
            try await producer.send(ProducerRecord(topic: topic, partition: partition, key: "warm", value: Array("-1".utf8)))
        }
        cluster.injectErrors(
            [.notEnoughReplicas, .notLeaderForPartition, .leaderNotAvailable, .notEnoughReplicas, .notLeaderForPartition,
             .leaderNotAvailable, .notEnoughReplicas, .notLeaderForPartition, .leaderNotAvailable, .notEnoughReplicas],
            on: .produce)
        let records = (0..<2_000).map { ProducerRecord(topic: topic, key: "k\($0 % 50)", value: Array("\($0)".utf8)) }
        var results: [Result<DeliveryReport, KafkaError>] = []
        for chunk in stride(from: 0, to: records.count, by: 250) {
            results += await producer.send(Array(records[chunk..<min(chunk + 250, records.count)]))
        }
        #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        await producer.shutdown()

        // Wait for all 2 003, then keep reading a while to see that nothing more (no duplicate) arrives.
        let read = try await TestKafka.readAll(topic, partitions: 3, count: 2_003, cluster: cluster, settle: .seconds(2))
        let values = read.map { String(decoding: $0.value, as: UTF8.self) }.filter { $0 != "-1" }
        let missing = Set((0..<2_000).map(String.init)).subtracting(values)
        #expect(values.count == 2_000, "expected every record exactly once, found \(values.count); missing \(missing.sorted())")
        #expect(Set(values).count == 2_000)
        // Records of one key keep their order.
        var lastOfKey: [String: Int] = [:]
        for r in read where r.keyString != "warm" {
            let v = Int(String(decoding: r.value, as: UTF8.self))!
            #expect(v > (lastOfKey[r.keyString!] ?? -1))
            lastOfKey[r.keyString!] = v
        }
    }

    @Test("closing a group member whose cluster is gone returns within its limit (librdkafka would wait for the coordinator for ever), and releasing it does not block")
    func closeWithoutCluster() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: TestKafka.quietLogger)
        let topic = try await TestKafka.makeTopic(partitions: 1, on: cluster)
        var consumer: KafkaConsumer? = try TestKafka.consumer(cluster, group: "gone-\(UUID().uuidString.prefix(8))")
        try consumer?.subscribe(topics: [topic])
        _ = try await consumer?.poll(timeout: .seconds(3))
        await cluster.shutdown()
        let started = ContinuousClock.now
        await consumer?.close(timeout: .seconds(2))
        // Limit 2 s; without it librdkafka waits for ever. The margins allow a loaded machine.
        #expect(ContinuousClock.now - started < .seconds(8))
        let released = ContinuousClock.now
        consumer = nil
        #expect(ContinuousClock.now - released < .seconds(3))
    }

    @Test("a full producer makes senders wait instead of failing or growing without bound")
    func backPressure() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: TestKafka.quietLogger)
        let topic = try await TestKafka.makeTopic(partitions: 1, on: cluster)
        let producer = try TestKafka.producer(cluster) {
            $0.maxInFlightRecords = 20
            $0.lingerMilliseconds = 0
        }
        try await producer.send(ProducerRecord(topic: topic, key: "warm", value: [0]))
        // A slow broker: every response takes 8 s, far longer than the observation below even on a
        // loaded machine. (Not setBrokerDown/Up: librdkafka 2.0.2's mock aborts when bringing a broker
        // up whose port was taken meanwhile.)
        await cluster.setRoundTripTime(.seconds(8))
        let slowSince = ContinuousClock.now
        let maxInFlight = Locked(0)
        let sendersDone = Locked(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    try await producer.send(ProducerRecord(topic: topic, key: "k", value: Array("\(i)".utf8)))
                    sendersDone.withLock { $0 += 1 }
                }
            }
            // While the broker is slow: 20 records in flight, the other senders waiting, none failed.
            var sawWaiting = false
            while ContinuousClock.now - slowSince < .seconds(5) {
                maxInFlight.withLock { $0 = max($0, producer.inFlight) }
                if producer.waitingSenders >= 180 {
                    sawWaiting = true
                    break
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(sawWaiting, "senders should wait for a slot")
            #expect(producer.inFlight == 20)
            #expect(sendersDone.value == 0)
            #expect(ContinuousClock.now - slowSince < .seconds(8), "observed within the broker's delay")
            await cluster.setRoundTripTime(.zero)
            try await group.waitForAll()
        }
        #expect(maxInFlight.value <= 20)
        #expect(sendersDone.value == 200)
        await producer.shutdown()
        let read = try await TestKafka.readUntilQuiet(topic, partitions: 1, cluster: cluster)
        #expect(Set(read.map(\.value)).count == 201)
        #expect(read.count == 201)
    }
}
