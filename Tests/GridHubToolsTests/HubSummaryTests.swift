import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubTools
import Testing

@Suite("Live summary")
struct HubSummaryTests {
    private func record(_ topic: String, _ json: String, headers: [KafkaHeader] = [], timestamp: Int64 = 1_795_740_000_000) -> ConsumerRecord {
        ConsumerRecord(topic: topic, partition: 0, offset: 0, key: nil, value: Array(json.utf8), headers: headers, timestampMilliseconds: timestamp)
    }

    @Test("counts incidents, cases, merges, dispatches, overdue cases, statuses, dead letters and latency")
    func accounting() {
        let summary = HubSummary()
        summary.observe(record(Topics.incidents, #"{"incidentId":"i1","source":{"system":"hotline12345"},"receivedAt":"2026-11-27T09:00:00+08:00"}"#))
        summary.observe(record(Topics.incidents, #"{"incidentId":"i2","source":{"system":"woodpecker"},"receivedAt":"2026-11-27T09:00:01+08:00"}"#))
        summary.observe(record(Topics.cases, #"{"caseId":"c1","status":"open","level":"village","dueAt":"2026-11-27T10:00:00+08:00","reports":[{},{}]}"#))
        summary.observe(record(Topics.cases, #"{"caseId":"c1","status":"dispatched","level":"village","dueAt":"2026-11-27T10:00:00+08:00","reports":[{},{}]}"#))
        summary.observe(record(Topics.cases, #"{"caseId":"c2","status":"closed","level":"town","reports":[{}]}"#))
        summary.observe(record("gridhub.dispatch.urban-mgmt.v1", #"{"caseId":"c1","reports":[{"incidentId":"i1"}]}"#, timestamp: 1_795_740_000_250))
        summary.observe(record(Topics.status(source: "hotline12345"), #"{"status":"dispatched"}"#))
        summary.observe(record(Topics.deadLetter, "<broken", headers: [KafkaHeader(key: DeadLetterHeader.stage, string: "adapter.hotline12345")]))

        let snap = summary.snapshot(now: RFC3339.parse("2026-11-27T11:00:00+08:00")!)
        #expect(snap.incidentsBySource == ["hotline12345": 1, "woodpecker": 1])
        #expect(snap.casesOpened == 2)
        #expect(snap.reportsMerged == 1)
        #expect(snap.closedOrResolved == 1)
        #expect(snap.openByLevel == ["village": 1])
        #expect(snap.overdueByLevel == ["village": 1])
        #expect(snap.dispatchesByDepartment == ["urban-mgmt": 1])
        #expect(snap.statusesBySource == ["hotline12345": 1])
        #expect(snap.deadLettersByStage == ["adapter.hotline12345": 1])
        #expect(snap.latencies.count == 1)
        #expect(abs(snap.latencies[0] - 0.25) < 0.001)
        #expect(summary.render(title: "t").contains("merged reports 1"))
    }
}
