import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging
import ServiceLifecycle
import Synchronization

/// A live view of the hub, built only from what is on its topics (as an operator's client would
/// see it): incidents per source, cases opened and merged, dispatches per department, open and
/// overdue cases per level, statuses delivered per source, dead letters, and end-to-end latency
/// (incident on Kafka → its case's first dispatch on Kafka, by the records' Kafka timestamps).
public final class HubSummary: Sendable {
    /// A snapshot of the counters.
    public struct Snapshot: Sendable {
        public var incidentsBySource: [String: Int] = [:]
        public var casesOpened = 0
        public var reportsMerged = 0
        public var dispatchesByDepartment: [String: Int] = [:]
        public var openByLevel: [String: Int] = [:]
        public var overdueByLevel: [String: Int] = [:]
        public var closedOrResolved = 0
        public var statusesBySource: [String: Int] = [:]
        public var deadLettersByStage: [String: Int] = [:]
        public var feedbackByStatus: [String: Int] = [:]
        public var surveys = 0
        /// Adapter receipt → first dispatch, in seconds, sorted.
        public var latencies: [Double] = []

        public func latencyPercentile(_ p: Double) -> Double? {
            guard !latencies.isEmpty else { return nil }
            return latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
    }

    private struct CaseView { var status: String; var level: String; var dueAt: Date?; var reports: Int; var seenMs: Int64 }

    /// Bounded for long runs: resolved and closed cases leave the map ten minutes after their last
    /// record (still counted; one that changes again is counted anew), incidents and dispatched cases
    /// are remembered for ten minutes, the latest 20 000 latencies are kept.
    private struct State {
        var snapshot = Snapshot()
        var cases: [String: CaseView] = [:]
        var receivedAt: [String: Int64] = [:]  // incidentId → Kafka timestamp (ms) of its first record
        var dispatchedCases: [String: Int64] = [:]  // caseId → Kafka timestamp (ms) of its first dispatch
        var latencies: [Double] = []
        var nextLatency = 0
        /// Cases dropped from the map after they closed, and the reports merged into them.
        var forgottenCases = 0, forgottenMerged = 0
        var newest: Int64 = 0, lastPrune: Int64 = 0
    }

    static let memory: Int64 = 600_000
    static let keptLatencies = 20_000

    /// Forgets what is older than ``memory`` (by the records' Kafka timestamps), at most once a minute.
    private static func prune(_ s: inout State) {
        guard s.newest - s.lastPrune > 60_000 else { return }
        s.lastPrune = s.newest
        let horizon = s.newest - memory
        s.receivedAt = s.receivedAt.filter { $0.value >= horizon }
        s.dispatchedCases = s.dispatchedCases.filter { $0.value >= horizon }
        for (id, c) in s.cases where (c.status == "closed" || c.status == "resolved") && c.seenMs < horizon {
            s.forgottenCases += 1
            s.forgottenMerged += max(0, c.reports - 1)
            s.cases[id] = nil
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// Every topic the summary reads.
    public static func topics(departments: [Department]) -> [String] {
        [Topics.incidents, Topics.cases, Topics.feedback, Topics.surveys, Topics.deadLetter]
            + departments.map { Topics.dispatch(department: $0.code) }
            + Topics.sourceSystems.map { Topics.status(source: $0) }
    }

    /// Accounts for one record.
    public func observe(_ record: ConsumerRecord) {
        let object = (try? JSONSerialization.jsonObject(with: Data(record.value))) as? [String: Any]
        state.withLock { s in
            if let at = record.timestampMilliseconds, at > s.newest { s.newest = at }
            Self.prune(&s)
            switch record.topic {
            case Topics.incidents:
                let source = (object?["source"] as? [String: Any])?["system"] as? String ?? "?"
                s.snapshot.incidentsBySource[source, default: 0] += 1
                if let id = object?["incidentId"] as? String, s.receivedAt[id] == nil, let at = record.timestampMilliseconds {
                    s.receivedAt[id] = at
                }
            case Topics.cases:
                guard let object, let id = object["caseId"] as? String else { return }
                let view = CaseView(
                    status: object["status"] as? String ?? "?", level: object["level"] as? String ?? "-",
                    dueAt: (object["dueAt"] as? String).flatMap(RFC3339.parse), reports: (object["reports"] as? [Any])?.count ?? 1,
                    seenMs: record.timestampMilliseconds ?? s.newest)
                s.cases[id] = view
            case Topics.feedback:
                s.snapshot.feedbackByStatus[object?["status"] as? String ?? "?", default: 0] += 1
            case Topics.surveys:
                s.snapshot.surveys += 1
            case Topics.deadLetter:
                let stage = record.headers.string(DeadLetterHeader.stage) ?? "?"
                s.snapshot.deadLettersByStage[stage, default: 0] += 1
            case let topic where topic.hasPrefix("gridhub.dispatch.") && record.headers.string(CloudEventHeader.type) != EventType.alert.rawValue:
                let department = String(topic.dropFirst("gridhub.dispatch.".count).dropLast(".v1".count))
                s.snapshot.dispatchesByDepartment[department, default: 0] += 1
                if let caseId = object?["caseId"] as? String, s.dispatchedCases[caseId] == nil {
                    s.dispatchedCases[caseId] = record.timestampMilliseconds ?? s.newest
                    let reports = object?["reports"] as? [[String: Any]] ?? []
                    // Kafka timestamps (producer time): real time even when the hub's clock runs simulated.
                    let received = reports.compactMap { ($0["incidentId"] as? String).flatMap { s.receivedAt[$0] } }.min()
                    if let received, let issued = record.timestampMilliseconds {
                        let latency = max(0, Double(issued - received) / 1_000)
                        if s.latencies.count < Self.keptLatencies { s.latencies.append(latency) } else {
                            s.latencies[s.nextLatency] = latency
                            s.nextLatency = (s.nextLatency + 1) % Self.keptLatencies
                        }
                    }
                }
            case let topic where topic.hasPrefix("gridhub.status."):
                let source = String(topic.dropFirst("gridhub.status.".count).dropLast(".v1".count))
                s.snapshot.statusesBySource[source, default: 0] += 1
            default:
                break
            }
        }
    }

    /// The counters now; `now` decides what is overdue.
    public func snapshot(now: Date = Date()) -> Snapshot {
        state.withLock { s in
            var snap = s.snapshot
            snap.casesOpened = s.cases.count + s.forgottenCases
            snap.reportsMerged = s.cases.values.reduce(s.forgottenMerged) { $0 + max(0, $1.reports - 1) }
            snap.openByLevel = [:]
            snap.overdueByLevel = [:]
            snap.closedOrResolved = s.forgottenCases
            for c in s.cases.values {
                if c.status == "resolved" || c.status == "closed" {
                    snap.closedOrResolved += 1
                    continue
                }
                snap.openByLevel[c.level, default: 0] += 1
                if let due = c.dueAt, due < now { snap.overdueByLevel[c.level, default: 0] += 1 }
            }
            snap.latencies = s.latencies.sorted()
            return snap
        }
    }

    /// The summary as a screen of text.
    public func render(now: Date = Date(), title: String) -> String {
        let s = snapshot(now: now)
        func row(_ dict: [String: Int], order: [String]? = nil) -> String {
            let keys = order ?? dict.keys.sorted()
            let parts = keys.map { "\($0) \(dict[$0] ?? 0)" }
            return parts.isEmpty ? "—" : parts.joined(separator: "  ")
        }
        let levels = ["village", "town", "city", "-"]
        var lines = [title, String(repeating: "─", count: 78)]
        lines.append("incidents        " + row(s.incidentsBySource, order: Topics.sourceSystems) + "   total \(s.incidentsBySource.values.reduce(0, +))")
        lines.append("cases            opened \(s.casesOpened)  merged reports \(s.reportsMerged)  resolved/closed \(s.closedOrResolved)")
        lines.append("open by level    " + row(s.openByLevel, order: levels.filter { s.openByLevel[$0] != nil }))
        lines.append("overdue by level " + row(s.overdueByLevel, order: levels.filter { s.overdueByLevel[$0] != nil }))
        let topDepartments = s.dispatchesByDepartment.sorted { $0.value > $1.value }.prefix(8).map { "\($0.key) \($0.value)" }
        lines.append("dispatched       " + (topDepartments.isEmpty ? "—" : topDepartments.joined(separator: "  ")) + "   total \(s.dispatchesByDepartment.values.reduce(0, +))")
        lines.append("feedback         " + row(s.feedbackByStatus))
        lines.append("status → source  " + row(s.statusesBySource, order: Topics.sourceSystems) + "   surveys \(s.surveys)")
        lines.append("dead letters     " + row(s.deadLettersByStage) + "   total \(s.deadLettersByStage.values.reduce(0, +))")
        if let p50 = s.latencyPercentile(0.5), let p95 = s.latencyPercentile(0.95), let p99 = s.latencyPercentile(0.99) {
            lines.append(String(format: "latency          adapter → dispatch  p50 %.0f ms  p95 %.0f ms  p99 %.0f ms  (%d cases)", p50 * 1000, p95 * 1000, p99 * 1000, s.latencies.count))
        } else {
            lines.append("latency          adapter → dispatch  —")
        }
        return lines.joined(separator: "\n")
    }
}

/// Reads the hub's topics into a ``HubSummary`` and redraws it in the terminal every `interval`
/// (in place on a terminal; as successive blocks when the output is not a terminal).
public struct LiveSummaryService: Service {
    let summary: HubSummary
    let client: KafkaClientConfiguration
    let topics: [String]
    let interval: Duration
    let title: @Sendable () -> String
    let output: @Sendable (String) -> Void
    let logger: Logger

    public init(summary: HubSummary, client: KafkaClientConfiguration, topics: [String], interval: Duration = .seconds(1), logger: Logger,
                title: @escaping @Sendable () -> String, output: @escaping @Sendable (String) -> Void) {
        self.summary = summary
        self.client = client
        self.topics = topics
        self.interval = interval
        self.title = title
        self.output = output
        self.logger = logger
    }

    public func run() async throws {
        let admin = try KafkaAdmin(configuration: client, logger: logger)
        let described = Dictionary(uniqueKeysWithValues: try await admin.listTopics().map { ($0.name, $0.partitionCount) })
        var config = KafkaConsumerConfiguration(client: client)
        config.maxBatchRecords = 2_000
        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        try consumer.assign(topics.flatMap { topic in
            (0..<Int32(described[topic] ?? 0)).map { TopicPartitionOffset(topic: topic, partition: $0, offset: KafkaOffset.beginning) }
        })
        let interactive = isatty(STDOUT_FILENO) == 1
        var lastDraw = ContinuousClock.now - interval
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if let batch = try? await consumer.poll(timeout: .milliseconds(100)) {
                for record in batch { summary.observe(record) }
            }
            if ContinuousClock.now - lastDraw >= interval {
                lastDraw = .now
                let screen = summary.render(title: title())
                output(interactive ? "\u{1B}[H\u{1B}[2J" + screen : screen + "\n")
            }
        }
        // Before stopping, read up to the end of every topic so the final summary is complete — for at
        // most 8 s: with the cluster gone every query would wait out its timeout (a hundred partitions
        // made one Ctrl-C take minutes), and such a wait cannot be cancelled, only left behind.
        let summary = self.summary, watched = topics
        let caughtUp = await abandoning(after: .seconds(8)) { () -> Bool in
            var ends: [TopicPartition: Int64] = [:]
            for (topic, count) in described where watched.contains(topic) {
                for p in 0..<Int32(count) {
                    let tp = TopicPartition(topic: topic, partition: p)
                    guard let w = try? await admin.watermarks(tp, timeout: .seconds(1)) else { return false }
                    if w.high > w.low { ends[tp] = w.high }
                }
            }
            // Done with a partition once the consumer's position reached its end: it may have read
            // everything before, and a position also passes commit markers, which are never delivered.
            let deadline = ContinuousClock.now + .seconds(5)
            while !ends.isEmpty {
                guard let positions = try? consumer.positions(Array(ends.keys)) else { return false }
                for p in positions where p.offset >= (ends[p.topicPartition] ?? 0) { ends[p.topicPartition] = nil }
                if ends.isEmpty { break }
                guard ContinuousClock.now < deadline, let batch = try? await consumer.poll(timeout: .milliseconds(100)) else { return false }
                for record in batch { summary.observe(record) }
            }
            return true
        }
        if caughtUp != true { logger.info("the final summary may miss the last records: the cluster did not answer") }
        await consumer.close()
    }
}
