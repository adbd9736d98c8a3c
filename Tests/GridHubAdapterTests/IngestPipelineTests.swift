import Foundation
import GridHubCore
import GridHubKafka
import GridHubAdapters
import GridHubRuntime
import GridHubTesting
import Testing

@Suite("Ingest pipeline", .timeLimit(.minutes(1)))
struct IngestPipelineTests {
    static func incident(_ id: String, version: Int) -> Incident {
        Incident(source: SourceRef(system: .elink, recordId: id, version: version), reportedAt: Date(timeIntervalSince1970: 1_795_740_000),
                 receivedAt: Date(timeIntervalSince1970: 1_795_740_000), itemCode: nil, description: "x",
                 location: Location(lat: nil, lon: nil, gridCode: "320281001002003", address: nil, positioning: Positioning(method: .workerGrid)),
                 urgent: false, resolvedOnSite: false)
    }

    @Test("accepted after delivery; a repeated version is a duplicate across a restart; a higher version is stored; dead letters once")
    func publish() async throws {
        let topics = IngestPipeline.Topics(incidents: try await TestKafka.makeTopic(), surveys: try await TestKafka.makeTopic(), feedback: try await TestKafka.makeTopic(),
                                           deadLetter: try await TestKafka.makeTopic())
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ingest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let producer = try TestKafka.producer()
        do {
            let pipeline = IngestPipeline(system: .elink, producer: producer, ledger: try DeliveryLedger(directory: dir), reachability: nil,
                                          metrics: DaemonMetrics(), logger: TestKafka.quietLogger, topics: topics)
            let outcomes = await pipeline.publish([Self.incident("E-1", version: 1), Self.incident("E-2", version: 1)])
            #expect(outcomes == [.accepted(duplicate: false), .accepted(duplicate: false)])
            #expect(await pipeline.publish(Self.incident("E-1", version: 1)) == .accepted(duplicate: true))
            #expect(await pipeline.deadLetter(original: [1, 2, 3], stage: "test", reason: "bad", once: true) == .accepted(duplicate: false))
            #expect(await pipeline.deadLetter(original: [1, 2, 3], stage: "test", reason: "bad", once: true) == .accepted(duplicate: true))
        }
        // A new pipeline on the same ledger (a restart) still knows what was delivered.
        let again = IngestPipeline(system: .elink, producer: producer, ledger: try DeliveryLedger(directory: dir), reachability: nil,
                                   metrics: DaemonMetrics(), logger: TestKafka.quietLogger, topics: topics)
        #expect(await again.publish(Self.incident("E-2", version: 1)) == .accepted(duplicate: true))
        #expect(await again.publish(Self.incident("E-2", version: 2)) == .accepted(duplicate: false))
        let records = try await TestKafka.readAll(topics.incidents, partitions: 3, count: 3, settle: .milliseconds(800))
        #expect(records.count == 3)
        #expect(records.allSatisfy { $0.keyString == "320281001002003" })
        let letters = try await TestKafka.readAll(topics.deadLetter, partitions: 3, count: 1, settle: .milliseconds(500))
        #expect(letters.count == 1 && letters[0].value == [1, 2, 3] && letters[0].headers.string(DeadLetterHeader.reason) == "bad")
        await producer.shutdown()
    }

    @Test("before its first probe a record is tried on Kafka and accepted; once a probe failed, busy at once, saying why; once one answers, accepted again")
    func reachability() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: TestKafka.quietLogger)
        let names = try await TestKafka.makeTopics(["incidents", "surveys", "feedback", "dead-letter"], partitions: 1, on: cluster)
        let topics = IngestPipeline.Topics(incidents: names[0], surveys: names[1], feedback: names[2], deadLetter: names[3])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ingest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let producer = try TestKafka.producer(cluster)
        let reach = KafkaReachability(admin: KafkaAdmin(sharing: producer), logger: TestKafka.quietLogger)
        let pipeline = IngestPipeline(system: .elink, producer: producer, ledger: try DeliveryLedger(directory: dir), reachability: reach,
                                      metrics: DaemonMetrics(), logger: TestKafka.quietLogger, topics: topics)
        // Not probed yet: not ready, but the record goes to Kafka (a source pushing as the adapter starts).
        #expect(reach.problem() == "not checked yet")
        #expect(await pipeline.publish(Self.incident("E-1", version: 1)) == .accepted(duplicate: false))

        await cluster.setBrokerDown()
        await reach.probe()
        #expect(reach.isKnownUnreachable)
        let start = ContinuousClock.now
        let outcome = await pipeline.publish(Self.incident("E-2", version: 1))
        guard case .busy(let reason) = outcome else { Issue.record("a known unreachable Kafka answers busy, not \(outcome)"); return }
        #expect(reason.hasPrefix("Kafka unreachable"), "\(reason)")
        #expect(ContinuousClock.now - start < .seconds(10), "at once, not after the producer's 60 s delivery timeout")

        await cluster.setBrokerUp()
        let deadline = ContinuousClock.now + .seconds(30)
        repeat { await reach.probe() } while !reach.isReachable && ContinuousClock.now < deadline
        #expect(await pipeline.publish(Self.incident("E-2", version: 1)) == .accepted(duplicate: false))
        let records = try await TestKafka.readAll(topics.incidents, partitions: 1, count: 2, cluster: cluster, settle: .milliseconds(300))
        #expect(records.count == 2, "E-1 and E-2, once each")
        await producer.shutdown()
        await cluster.shutdown()
    }
}
