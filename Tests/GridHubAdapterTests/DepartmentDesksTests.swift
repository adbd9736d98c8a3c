import Foundation
import GridHubCore
import GridHubKafka
import GridHubSimulation
import GridHubTesting
import Testing

/// The simulated city's department desks (`gridhub dev`): they answer only with feedback the router can
/// take, also when their answer crosses the router's escalation on a loaded machine.
@Suite("Simulated department desks", .timeLimit(.minutes(3)))
struct DepartmentDesksTests {
    static let department = "urban-mgmt"

    static func dispatch(case caseId: String, attempt: Int, reason: Dispatch.Reason) -> Dispatch {
        let now = Date()
        return Dispatch(dispatchId: "\(caseId)-D\(attempt)", caseId: caseId, attempt: attempt, reason: reason, department: department,
                        level: attempt == 1 ? .village : .town, itemCode: "SR-001", gridCode: nil, dueAt: now.addingTimeInterval(7_200),
                        issuedAt: now, urgent: false, description: "占道经营",
                        location: Location(lat: nil, lon: nil, gridCode: nil, address: "江阴市澄江街道人民东路100号", positioning: Positioning(method: .addressMatch)),
                        reports: [ReportRef(incidentId: UUID().uuidString.lowercased(), system: .hotline12345, recordId: "R-\(caseId)")])
    }

    @Test("a desk resolves a dispatch; the escalation the router issued before the answer reached it is read, not worked again; an escalation of a dispatch the desk never answered is worked")
    func escalationCrossingTheAnswer() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: TestKafka.quietLogger)
        let dispatchTopic = Topics.dispatch(department: Self.department)
        try await cluster.createTopics([.init(dispatchTopic, partitions: 1), .init(Topics.feedback, partitions: 1)])
        var behaviour = DepartmentDesks.Behaviour()
        behaviour.speed = 100_000
        behaviour.returnShare = 0
        behaviour.silentShare = 0
        behaviour.acceptDelay = 1...2
        behaviour.workShare = 0.1...0.2
        let departments = Fixtures.reference.departments.filter { $0.code == Self.department }
        let desks = DepartmentDesks(client: TestKafka.client(cluster), departments: departments, behaviour: behaviour, logger: TestKafka.quietLogger)
        let producer = try TestKafka.producer(cluster)
        let reader = try TestKafka.consumer(cluster)
        try reader.assign([TopicPartitionOffset(topic: Topics.feedback, partition: 0, offset: KafkaOffset.beginning)])
        var answers: [(dispatchId: String, status: FeedbackStatus)] = []
        func send(_ d: Dispatch) async throws {
            let event = try CloudEvent(id: UUID().uuidString, source: CloudEvent.routerSource, type: .dispatch, time: Date(), subject: d.dispatchId, payload: d)
            // As the desks read it.
            _ = try CloudEvent(headers: event.headers, value: event.data).decode(Dispatch.self, decoder: GridHubJSON.decoder())
            try await producer.send(ProducerRecord(topic: dispatchTopic, key: d.caseId, value: event.data, headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) }))
        }
        /// Reads answers until `done` holds (or `limit` passes); true if it held.
        func readUntil(_ limit: Duration, _ done: () -> Bool) async throws -> Bool {
            let deadline = ContinuousClock.now + limit
            while !done(), ContinuousClock.now < deadline {
                for record in try await reader.poll(timeout: .milliseconds(200)) {
                    let feedback = try CloudEvent(headers: record.headers.map { (key: $0.key, value: $0.value) }, value: record.value).decode(Feedback.self)
                    answers.append((feedback.dispatchId, feedback.status))
                }
            }
            return done()
        }
        func statuses(_ dispatchId: String) -> [FeedbackStatus] { answers.filter { $0.dispatchId == dispatchId }.map(\.status) }

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await desks.run() }
            // The desks read from the end of their topic once they joined their group: the first
            // dispatch is sent again until they answer it.
            let first = Self.dispatch(case: "C-1", attempt: 1, reason: .initial)
            var resolved = false
            for _ in 0..<20 where !resolved {
                try await send(first)
                resolved = try await readUntil(.seconds(3)) { statuses(first.dispatchId).contains(.resolved) }
            }
            #expect(statuses(first.dispatchId) == [.accepted, .inProgress, .resolved])

            // The router escalated C-1 before the answer reached it (it then applies the answer to the
            // escalation): the desk must not answer the escalation, as if new. C-2's first dispatch had
            // no answer: its escalation is new work.
            let crossed = Self.dispatch(case: "C-1", attempt: 2, reason: .escalated)
            let unanswered = Self.dispatch(case: "C-2", attempt: 2, reason: .escalated)
            try await send(crossed)
            try await send(unanswered)
            #expect(try await readUntil(.seconds(30)) { statuses(unanswered.dispatchId).contains(.resolved) })
            // The desks answer in order of due time, and both were due at about the same time.
            _ = try await readUntil(.seconds(1)) { false }
            #expect(statuses(crossed.dispatchId).isEmpty, "answers: \(answers)")
            #expect(statuses(unanswered.dispatchId) == [.accepted, .inProgress, .resolved])
            tasks.cancelAll()
        }
        await reader.close()
        await producer.shutdown()
        await cluster.shutdown()
    }
}
