import Foundation
import GridHubKafka
import GridHubTesting
import Testing

@Suite("Cluster administration", .timeLimit(.minutes(2)))
struct AdminTests {
    @Test("topics, end offsets and consumer-group lag")
    func topicsOffsetsLag() async throws {
        let topic = try await TestKafka.makeTopic(partitions: 2)
        let admin = try KafkaAdmin(configuration: TestKafka.client(), logger: TestKafka.quietLogger)
        let described = try await admin.listTopics().first { $0.name == topic }
        #expect(described?.partitionCount == 2)
        #expect(try await admin.listBrokers().count == 3)

        // Creating a topic that exists is harmless and creates nothing.
        #expect(try await admin.createTopics([NewTopic(name: topic, partitions: 2)]).isEmpty)

        let producer = try TestKafka.producer()
        for r in await producer.send((0..<30).map { ProducerRecord(topic: topic, partition: Int32($0 % 2), value: [UInt8($0)]) }) { _ = try r.get() }
        await producer.shutdown()
        let ends = try await admin.endOffsets(topic: topic)
        #expect(ends.map(\.offset) == [15, 15])

        let group = "lag-\(UUID().uuidString.prefix(8))"
        let consumer = try TestKafka.consumer(group: group)
        try await consumer.commit([TopicPartitionOffset(topic: topic, partition: 0, offset: 10)])
        await consumer.close()
        let lag = try await admin.consumerGroupLag(groupID: group, topic: topic)
        #expect(lag.map(\.lag) == [5, 15])
        #expect(lag.map(\.committed) == [10, nil])
    }

    @Test("an admin over a producer's client answers, outlives the producer's shutdown, and leaves the producer working when released")
    func sharingAProducer() async throws {
        let topic = try await TestKafka.makeTopic(partitions: 2)
        var producer: KafkaProducer? = try TestKafka.producer()
        var admin: KafkaAdmin? = KafkaAdmin(sharing: producer!)
        #expect(try await admin!.listBrokers().count == 3)
        #expect(try await admin!.listTopics().first { $0.name == topic }?.partitionCount == 2)

        // Released, the admin takes nothing from the producer.
        admin = nil
        for r in await producer!.send((0..<6).map { ProducerRecord(topic: topic, partition: Int32($0 % 2), value: [UInt8($0)]) }) { _ = try r.get() }

        // The producer shut down and let go of: an admin made over it still asks the cluster.
        admin = KafkaAdmin(sharing: producer!)
        await producer!.shutdown()
        producer = nil
        #expect(try await admin!.endOffsets(topic: topic).map(\.offset) == [3, 3])
        #expect(try await admin!.listBrokers().count == 3)
    }

    @Test("the environment names the cluster, passes librdkafka properties through, and refuses to go without GRIDHUB_BOOTSTRAP")
    func environment() throws {
        let config = try KafkaEnvironment.clientConfiguration(from: [
            "GRIDHUB_BOOTSTRAP": "b1:9092,b2:9092",
            "GRIDHUB_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "GRIDHUB_KAFKA_SASL_MECHANISMS": "PLAIN",
            "OTHER": "x",
        ])
        #expect(config.bootstrapServers == "b1:9092,b2:9092")
        #expect(config.properties == ["security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN"])
        #expect { try KafkaEnvironment.clientConfiguration(from: [:]) } throws: { error in
            (error as? KafkaError)?.message.contains("GRIDHUB_BOOTSTRAP") == true
        }
    }

    @Test("a librdkafka property it does not know is refused with its name")
    func badProperty() {
        var client = TestKafka.client()
        client.properties["no.such.property"] = "1"
        #expect { try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: TestKafka.quietLogger) } throws: { error in
            (error as? KafkaError)?.message.contains("no.such.property") == true
        }
    }
}
