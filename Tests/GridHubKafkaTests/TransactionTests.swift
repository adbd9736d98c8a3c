import Foundation
import GridHubKafka
import GridHubTesting
import Testing

@Suite("Transactional producer", .timeLimit(.minutes(2)))
struct TransactionTests {
    @Test("transactions commit, abort and begin again in order, and the committed records arrive in order (the embedded broker neither hides aborted records nor applies offsets sent with a transaction; a real cluster does both)")
    func transactionCalls() async throws {
        let source = try await TestKafka.makeTopic(partitions: 1)
        let target = try await TestKafka.makeTopic(partitions: 1)
        let producer = try TestKafka.producer { $0.transactionalID = "tx-\(UUID().uuidString.prefix(8))" }
        try await producer.initTransactions()
        try await producer.beginTransaction()
        try await producer.send(ProducerRecord(topic: target, key: "a", value: Array("committed".utf8)))
        let consumer = try TestKafka.consumer(group: "tx-group-\(UUID().uuidString.prefix(8))")
        try await producer.sendOffsetsToTransaction([TopicPartitionOffset(topic: source, partition: 0, offset: 7)], consumer: consumer)
        try await producer.commitTransaction()
        try await producer.beginTransaction()
        try await producer.send(ProducerRecord(topic: target, key: "b", value: Array("aborted".utf8)))
        try await producer.abortTransaction()
        try await producer.beginTransaction()
        try await producer.send(ProducerRecord(topic: target, key: "c", value: Array("second".utf8)))
        try await producer.commitTransaction()
        await consumer.close()
        await producer.shutdown()
        let read = try await TestKafka.readUntilQuiet(target, partitions: 1)
        let values = read.filter { $0.keyString != "b" }.map { String(decoding: $0.value, as: UTF8.self) }
        #expect(values == ["committed", "second"])
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
