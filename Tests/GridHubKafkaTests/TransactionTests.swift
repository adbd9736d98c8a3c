import Foundation
import GridHubKafka
import GridHubTesting
import Testing

@Suite("Transactional producer", .timeLimit(.minutes(2)))
struct TransactionTests {
    @Test("init, begin, send, send offsets, commit and abort run against the embedded broker")
    func transactionCalls() async throws {
        let source = try TestKafka.makeTopic(partitions: 1)
        let target = try TestKafka.makeTopic(partitions: 1)
        let producer = try TestKafka.producer { $0.transactionalID = "tx-\(UUID().uuidString.prefix(8))" }
        try await producer.initTransactions()
        try await producer.beginTransaction()
        try await producer.send(ProducerRecord(topic: target, key: "a", value: Array("committed".utf8)))
        let consumer = try TestKafka.consumer(group: "tx-group-\(UUID().uuidString.prefix(8))")
        try await producer.sendOffsetsToTransaction([TopicPartitionOffset(topic: source, partition: 0, offset: 0)], consumer: consumer)
        try await producer.commitTransaction()
        try await producer.beginTransaction()
        try await producer.send(ProducerRecord(topic: target, key: "b", value: Array("aborted".utf8)))
        try await producer.abortTransaction()
        await consumer.close()
        await producer.shutdown()
        let read = try await TestKafka.readAll(target, partitions: 1, count: 1)
        #expect(read.first.map { String(decoding: $0.value, as: UTF8.self) } == "committed")
    }

    @Test("transactional calls on a producer without transactional.id are refused")
    func notTransactional() async throws {
        let producer = try TestKafka.producer()
        await #expect { try await producer.beginTransaction() } throws: { error in
            (error as? KafkaError)?.code == .transaction
        }
        await producer.shutdown()
    }
}
