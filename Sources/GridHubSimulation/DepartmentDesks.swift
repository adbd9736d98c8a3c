import Foundation
import GridHubCore
import GridHubKafka
import Logging
import ServiceLifecycle
import Synchronization

/// The departments' desks of the simulated city: they read their dispatch topics and answer on
/// `gridhub.feedback.v1` after realistic delays, as a department's own system would (any Kafka
/// client, CloudEvents binary mode, `ce_source` `/department/<code>`).
///
/// Most dispatches are accepted, worked on and resolved; some are returned as "not ours"; some get
/// no answer at all and run overdue, so the router escalates them. A dispatch superseded by a newer
/// one for the same case (re-routed, escalated, reopened) is no longer answered.
public struct DepartmentDesks: Service {
    /// How the desks behave. Delays are in simulated time; `speed` compresses them.
    public struct Behaviour: Sendable {
        /// Simulated seconds per real second.
        public var speed: Double = 60
        /// Share of dispatches answered `returned` (not ours).
        public var returnShare: Double = 0.05
        /// Share of dispatches never answered (they run overdue).
        public var silentShare: Double = 0.04
        /// Simulated time until a dispatch is accepted.
        public var acceptDelay: ClosedRange<Double> = 5 * 60...45 * 60
        /// Simulated time from accepted to resolved, as a share of the dispatch's time limit.
        public var workShare: ClosedRange<Double> = 0.1...0.8
        public var seed: UInt64 = 2_026

        public init() {}
    }

    /// What the desks have done, for the live summary.
    public final class Statistics: Sendable {
        private let counts = Mutex<[String: Int]>([:])
        public init() {}
        func add(_ key: String) { counts.withLock { $0[key, default: 0] += 1 } }
        /// Counters: `received`, `accepted`, `inProgress`, `resolved`, `returned`, `silent`, `superseded`.
        public var snapshot: [String: Int] { counts.withLock { $0 } }
    }

    let client: KafkaClientConfiguration
    let departments: [Department]
    let behaviour: Behaviour
    let statistics: Statistics
    let logger: Logger

    public init(client: KafkaClientConfiguration, departments: [Department], behaviour: Behaviour = Behaviour(), statistics: Statistics = Statistics(), logger: Logger) {
        self.client = client
        self.departments = departments
        self.behaviour = behaviour
        self.statistics = statistics
        self.logger = logger
    }

    private struct Planned: Comparable {
        var due: ContinuousClock.Instant
        var sequence: Int
        var caseId: String
        /// The answered dispatch's place among the case's dispatches (``Dispatch/attempt``).
        var attempt: Int
        var feedback: Feedback
        static func < (a: Planned, b: Planned) -> Bool { (a.due, a.sequence) < (b.due, b.sequence) }
    }

    public func run() async throws {
        var consumerConfig = KafkaConsumerConfiguration(client: client, groupID: "gridhub-simulated-desks")
        consumerConfig.offsetReset = .latest
        let consumer = try KafkaConsumer(configuration: consumerConfig, logger: logger)
        try consumer.subscribe(topics: departments.map { Topics.dispatch(department: $0.code) })
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: logger)
        var random = SplitMix64(seed: behaviour.seed)
        var plan: [Planned] = []
        var latestDispatch: [String: String] = [:]  // caseId → the dispatch the desks still answer
        // Dispatches answered to the end (resolved, returned): a revision of one that comes later (a
        // source's supplement to a finished case) is read, not worked on again.
        var finished = BoundedSet(capacity: 100_000)
        // Dispatches a desk resolved ("case/department/attempt"). The router escalates a dispatch whose
        // time ran out before the answer reached it (a loaded machine), and applies a department's answer
        // on an earlier dispatch to the case's current one: the escalation that follows a resolved
        // dispatch of the same department is resolved too, and the desk reads it without working it
        // again (once it would return it, and the router refuses a return of a resolved case).
        var resolved = BoundedSet(capacity: 100_000)
        func resolvedKey(_ caseId: String, _ department: String, _ attempt: Int) -> String { "\(caseId)/\(department)/\(attempt)" }
        var sequence = 0
        let decoder = GridHubJSON.decoder()

        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let batch: [ConsumerRecord]
            do { batch = try await consumer.poll(timeout: .milliseconds(100)) } catch {
                logger.info("desks could not read dispatches", metadata: ["kafka.error.reason": .string(error.message)])
                continue
            }
            let now = ContinuousClock.now
            for record in batch {
                guard let dispatch = try? CloudEvent(headers: record.headers.map { ($0.key, $0.value) }, value: record.value).decode(Dispatch.self, decoder: decoder) else {
                    continue
                }
                // A new revision of a dispatch the desk already works on (a source's supplement): the
                // desk reads it and goes on with the work it planned.
                if latestDispatch[dispatch.caseId] == dispatch.dispatchId || finished.contains(dispatch.dispatchId) {
                    statistics.add("revised")
                    continue
                }
                if dispatch.reason == .escalated, resolved.contains(resolvedKey(dispatch.caseId, dispatch.department, dispatch.attempt - 1)) {
                    statistics.add("crossed")
                    finished.insert(dispatch.dispatchId)
                    continue
                }
                statistics.add("received")
                if latestDispatch[dispatch.caseId] != nil { statistics.add("superseded") }
                latestDispatch[dispatch.caseId] = dispatch.dispatchId
                let roll = Double.random(in: 0..<1, using: &random)
                if roll < behaviour.silentShare {
                    statistics.add("silent")
                    continue
                }
                // Answering desks finish within the dispatch's time limit; the overdue ones are the
                // silent share, so no desk answers a dispatch the router has escalated meanwhile.
                let limit = max(60, dispatch.dueAt.timeIntervalSince(dispatch.issuedAt))
                let accept = min(Double.random(in: behaviour.acceptDelay, using: &random), limit * 0.15)
                func schedule(_ status: FeedbackStatus, after simulated: Double, note: String?) {
                    sequence += 1
                    let due = now + .seconds(simulated / behaviour.speed)
                    plan.append(Planned(due: due, sequence: sequence, caseId: dispatch.caseId, attempt: dispatch.attempt, feedback: Feedback(
                        dispatchId: dispatch.dispatchId, department: dispatch.department, status: status, note: note, at: Date())))
                }
                if roll < behaviour.silentShare + behaviour.returnShare && dispatch.department != "command-center" {
                    schedule(.returned, after: accept, note: "经核实不属于本部门职责范围，请重新派单")
                    continue
                }
                let work = min(limit * Double.random(in: behaviour.workShare, using: &random), limit * 0.6 - accept)
                schedule(.accepted, after: accept, note: nil)
                schedule(.inProgress, after: accept + work / 3, note: "已安排人员现场处置")
                schedule(.resolved, after: accept + work, note: "已现场处置完毕，问题已解决")
            }
            plan.sort()
            var sent = 0
            while let first = plan.first, first.due <= ContinuousClock.now {
                plan.removeFirst()
                guard latestDispatch[first.caseId] == first.feedback.dispatchId else { continue }
                var feedback = first.feedback
                feedback.at = Date()
                if await publish(feedback, producer: producer) {
                    statistics.add(feedback.status.rawValue)
                    if feedback.status == .resolved || feedback.status == .returned {
                        latestDispatch[first.caseId] = nil
                        finished.insert(feedback.dispatchId)
                        if feedback.status == .resolved { resolved.insert(resolvedKey(first.caseId, feedback.department, first.attempt)) }
                    }
                }
                sent += 1
            }
            if !batch.isEmpty { try? await consumer.commit(after: batch) }
        }
        await consumer.close()
        await producer.shutdown(timeout: .seconds(5))
    }

    private func publish(_ feedback: Feedback, producer: KafkaProducer) async -> Bool {
        do {
            let event = try CloudEvent(
                id: DeterministicID(namespace: .event, parts: ["feedback", feedback.dispatchId, feedback.status.rawValue]).uuidString,
                source: CloudEvent.departmentSource(feedback.department), type: .feedback, time: feedback.at,
                subject: feedback.dispatchId, payload: feedback)
            try await producer.send(ProducerRecord(
                topic: Topics.feedback, key: feedback.dispatchId, value: event.data,
                headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) }))
            return true
        } catch {
            logger.info("desk feedback not sent", metadata: ["gridhub.dispatch.id": .string(feedback.dispatchId)])
            return false
        }
    }
}

