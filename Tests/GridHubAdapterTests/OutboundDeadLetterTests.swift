import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubTesting
import Testing

/// A source that refuses everything for good.
private struct RefusingSink: OutboundSink {
    func deliver(_ items: [OutboundItem]) async throws -> [OutboundResult] { items.map { _ in .rejected(reason: "refused by the test source") } }
}

/// A status the source refuses goes to the dead-letter topic; the batch's offset is committed only
/// after that dead letter is written, so a record is never lost between the two.
@Suite("Status delivery and its dead letters", .timeLimit(.minutes(2)))
struct OutboundDeadLetterTests {
    @Test("while the dead-letter topic cannot be written, the refused status's offset stays uncommitted; the next run dead-letters it")
    func deadLetterBeforeCommit() async throws {
        let topics = try await TestTopics.make()
        let group = "outbound-dl-\(UUID().uuidString.prefix(8))"
        let status = StatusUpdate(system: .hotline12345, recordId: "JY-DL-1", caseId: "case-dl", caseVersion: 1, status: .dispatched,
                                  department: "urban-mgmt", note: nil, at: Date())
        let producer = try TestKafka.producer()
        try await producer.send(try statusRecord(status, topic: topics.status))
        await producer.shutdown()
        func delivery(_ runtime: AdapterRuntime, metrics: DaemonMetrics) throws -> StatusDelivery {
            var configuration = StatusDelivery.Configuration(topics: [topics.status], groupID: group, stage: "adapter.test.status")
            configuration.deadLetterBackoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(200))
            return try StatusDelivery(configuration: configuration, kafka: TestKafka.client(), sink: RefusingSink(),
                                      stateDirectory: runtime.stateDirectory, pipeline: runtime.pipeline, metrics: metrics, logger: TestKafka.quietLogger)
        }

        // First run: its dead letters go to a cluster that is gone.
        let gone = try EmbeddedKafkaCluster(brokers: 1, logger: TestKafka.quietLogger)
        let lost = try AdapterRuntime(system: .hotline12345, kafka: TestKafka.client(gone), stateDirectory: Fixtures.tempDir("outbound-dl-1"), metrics: DaemonMetrics(),
                                      readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest, deliveryTimeout: .seconds(2))
        await gone.shutdown()
        let first = DaemonMetrics()
        try await withServices(lost.baseServices + [try delivery(lost, metrics: first)]) {
            #expect(try await waitUntil(timeout: .seconds(30)) { first.value(of: "gridhub_outbound_rejected_total") >= 1 })
            try await Task.sleep(for: .seconds(1))
        }
        let admin = try KafkaAdmin(configuration: TestKafka.client(), logger: TestKafka.quietLogger)
        let lag = try await admin.consumerGroupLag(groupID: group, topic: topics.status)
        #expect(lag.map(\.lag).reduce(0, +) == 1, "the refused status was committed before its dead letter was written: \(lag)")

        // Second run, with Kafka there: the same status is read again and dead-lettered.
        let working = try AdapterRuntime(system: .hotline12345, kafka: TestKafka.client(), stateDirectory: Fixtures.tempDir("outbound-dl-2"), metrics: DaemonMetrics(),
                                         readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest)
        let second = DaemonMetrics()
        try await withServices(working.baseServices + [try delivery(working, metrics: second)]) {
            let letters = try await topics.deadLetters(count: 1)
            #expect(letters.count == 1)
            #expect(letters.first?.headers.string(DeadLetterHeader.reason) == "refused by the test source")
        }
        let after = try await admin.consumerGroupLag(groupID: group, topic: topics.status)
        #expect(after.map(\.lag).reduce(0, +) == 0)
    }
}
