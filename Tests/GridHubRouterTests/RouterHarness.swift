import Foundation
import GridHubCore
import GridHubKafka
import GridHubRouter
import GridHubRuntime
import GridHubTesting
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// Reference data and rules, loaded once per test process.
enum Fixtures {
    static let reference: ReferenceData = {
        do { return try ReferenceLocation.load(from: GridHubPaths.packageRoot.appendingPathComponent("Deploy/reference")) } catch {
            fatalError("reference data: \(error)")
        }
    }()

    static let rulesText: String = {
        (try? String(contentsOf: GridHubPaths.packageRoot.appendingPathComponent("Deploy/routing.json"), encoding: .utf8)) ?? ""
    }()

    static let rules: RoutingRules = {
        do { return try RoutingRules(text: rulesText, reference: reference) } catch { fatalError("routing rules: \(error)") }
    }()
}

/// One test's world: its own single-broker embedded cluster with every contract topic, its own
/// database, and a clock the test can move.
final class RouterWorld: Sendable {
    let cluster: EmbeddedKafkaCluster
    let databaseURL: String
    let partitions: Int
    private let offset = Locked<TimeInterval>(0)

    init(partitions: Int = 3) async throws {
        cluster = try EmbeddedKafkaCluster(brokers: 1, logger: TestKafka.quietLogger)
        self.partitions = partitions
        try await cluster.createTopics(Topics.all(departments: Fixtures.reference.departments).map { .init($0, partitions: partitions) })
        databaseURL = try await TestPostgres.makeDatabase(prefix: "router")
    }

    /// Moves the router's clock forward.
    func advanceClock(by seconds: TimeInterval) { offset.withLock { $0 += seconds } }

    var now: Date { Date().addingTimeInterval(offset.value) }

    func environment() -> RouterEnvironment {
        RouterEnvironment(reference: Fixtures.reference, rules: Fixtures.rules, now: { [offset] in Date().addingTimeInterval(offset.value) })
    }

    /// Runs a router (in this process) while `body` runs, then shuts it down gracefully. A router whose
    /// services have not all ended a minute after its shutdown began fails the test, naming them, with
    /// the router's last log lines on standard error (the test then goes on without it): a shutdown
    /// that never ends is a defect to see, not a run that hangs.
    func withRouter<T: Sendable>(group: String = "router", reportMixInterval: Duration = .seconds(3_600), _ body: @Sendable (RouterDaemon) async throws -> T) async throws -> T {
        var config = RouterDaemon.Configuration(databaseURL: databaseURL, kafka: TestKafka.client(cluster))
        config.consumer.groupID = group
        config.deadlineInterval = .milliseconds(200)
        config.reportMixInterval = reportMixInterval
        let log = RecentLog()
        let daemon = try RouterDaemon(configuration: config, environment: environment(), metrics: DaemonMetrics(), logger: log.logger)
        let tracker = RunningServices()
        let services = ServiceGroup(configuration: .init(services: daemon.services.map { .init(service: TrackedService($0, tracker)) }, logger: TestKafka.quietLogger))
        let runner = Task { try await services.run() }
        func stop() async throws {
            await services.triggerGracefulShutdown()
            guard await ended(runner, within: .seconds(60)) else {
                // What the database was doing then (a transaction waiting on a lock, one left open).
                let sessions = (try? await TestPostgres.query(databaseURL, """
                    SELECT pid, state, coalesce(wait_event_type || ':' || wait_event, ''), coalesce(now() - xact_start, '0'), left(regexp_replace(query, '\\s+', ' ', 'g'), 160)
                    FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                    """))?.map { $0.joined(separator: " | ") } ?? ["(pg_stat_activity not read)"]
                let report = "the router's services \(tracker.names) had not ended 60 s after its shutdown began; its database sessions:\n"
                    + sessions.joined(separator: "\n") + "\nits last log lines:\n\(log.lines.joined(separator: "\n"))"
                FileHandle.standardError.write(Data((report + "\n").utf8))
                Issue.record(Comment(rawValue: report))
                throw HarnessError("the router did not shut down")
            }
            try await runner.value
        }
        let result: T
        do {
            result = try await withTaskCancellationHandler { try await body(daemon) } onCancel: { runner.cancel() }
        } catch {
            try? await stop()
            throw error
        }
        try await stop()
        return result
    }

    /// Publishes events the way adapters and departments do (with `traceparent` on each when given).
    func publish(_ incidents: [Incident], traceparent: String? = nil) async throws {
        let producer = try TestKafka.producer(cluster)
        var records: [ProducerRecord] = []
        for incident in incidents {
            let event = try CloudEvent(id: UUID().uuidString, source: incident.source.system.adapterEventSource, type: .incident,
                                       time: incident.receivedAt, traceparent: traceparent, payload: incident,
                                       encoder: GridHubJSON.encoder(disclosingPersonalData: .reveal))
            records.append(ProducerRecord(topic: Topics.incidents, key: incident.location.gridCode ?? "unlocated", value: event.data,
                                          headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) }))
        }
        for result in await producer.send(records) { _ = try result.get() }
        await producer.shutdown()
    }

    /// Publishes `feedback` as its department's system does (`ce_source` `/department/<code>`), or with `source`.
    func publish(feedback: Feedback, source: String? = nil) async throws {
        let event = try CloudEvent(id: UUID().uuidString, source: source ?? CloudEvent.departmentSource(feedback.department), type: .feedback, time: feedback.at, payload: feedback)
        try await send(ProducerRecord(topic: Topics.feedback, key: feedback.dispatchId, value: event.data, headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) }))
    }

    /// Publishes `command` as the command centre does (`ce_source` `/gridhub/command-center`), or with `source`.
    func publish(command: Command, source: String = CloudEvent.commandCenterSource) async throws {
        let event = try CloudEvent(id: command.commandId, source: source, type: .command, time: command.at, subject: command.caseId, payload: command)
        try await send(ProducerRecord(topic: Topics.commands, key: command.caseId, value: event.data, headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) }))
    }

    func publish(survey: Survey) async throws {
        let event = try CloudEvent(id: UUID().uuidString, source: survey.system.adapterEventSource, type: .survey, time: survey.at, payload: survey)
        try await send(ProducerRecord(topic: Topics.surveys, key: survey.recordId, value: event.data, headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) }))
    }

    func send(_ record: ProducerRecord) async throws {
        let producer = try TestKafka.producer(cluster)
        _ = try await producer.send(record)
        await producer.shutdown()
    }

    /// Everything on `topic` so far (reads until quiet for a moment).
    func read(_ topic: String, quiet: Duration = .seconds(2)) async throws -> [ConsumerRecord] {
        try await TestKafka.readUntilQuiet(topic, partitions: partitions, cluster: cluster, quiet: quiet)
    }

    /// Waits until `condition` holds over the records of `topic`, decoding each as `T`.
    func waitFor<T: Decodable & Sendable>(_ topic: String, as: T.Type, timeout: Duration = .seconds(60), _ condition: ([T]) -> Bool) async throws -> [T] {
        let consumer = try TestKafka.consumer(cluster)
        try consumer.assign((0..<Int32(partitions)).map { TopicPartitionOffset(topic: topic, partition: $0, offset: KafkaOffset.beginning) })
        var values: [T] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for r in try await consumer.poll(timeout: .milliseconds(200)) {
                // A department's dispatch topic carries its alerts too: each reader takes its own type.
                if (r.headers.string(CloudEventHeader.type) == EventType.alert.rawValue) != (T.self == Alert.self) { continue }
                values.append(try GridHubJSON.decoder().decode(T.self, from: Data(r.value)))
            }
            if condition(values) { break }
        }
        await consumer.close()
        return values
    }

    /// Waits until the database holds `count` reports (every incident applied).
    func waitForReports(_ count: Int, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            // The table appears once the router has migrated the fresh database.
            let n = Int((try? await TestPostgres.query(databaseURL, "SELECT count(*) FROM reports"))?.first?.first ?? "0") ?? 0
            if n >= count { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("timed out waiting for \(count) reports")
    }

    /// incident id → case id, from the database.
    func caseOfIncident() async throws -> [String: String] {
        var map: [String: String] = [:]
        for row in try await TestPostgres.query(databaseURL, "SELECT incident_id, case_id FROM reports") where row.count == 2 { map[row[0]] = row[1] }
        return map
    }

    /// The latest record of every case on the cases topic.
    func latestCases(_ records: [ConsumerRecord]) throws -> [String: Case] {
        var latest: [String: Case] = [:]
        for r in records {
            let c = try GridHubJSON.decoder().decode(Case.self, from: Data(r.value))
            if (latest[c.caseId]?.version ?? 0) < c.version { latest[c.caseId] = c }
        }
        return latest
    }
}

/// Whether `task` ends within `limit` (it is left running if not).
func ended(_ task: Task<Void, any Error>, within limit: Duration) async -> Bool {
    await abandoning(after: limit) { _ = await task.result; return true } ?? false
}

/// The names of a router's services still running.
final class RunningServices: Sendable {
    private let running = Locked<[String]>([])
    func start(_ name: String) { running.withLock { $0.append(name) } }
    func end(_ name: String) { running.withLock { if let i = $0.firstIndex(of: name) { $0.remove(at: i) } } }
    var names: [String] { running.value }
}

/// A service that says when it starts and ends.
struct TrackedService: Service {
    let inner: any Service
    let tracker: RunningServices
    init(_ inner: any Service, _ tracker: RunningServices) { self.inner = inner; self.tracker = tracker }
    func run() async throws {
        let name = String(describing: type(of: inner))
        tracker.start(name)
        defer { tracker.end(name) }
        try await inner.run()
    }
}

/// The last 300 lines a router logged (info and above), kept to be shown if it does not shut down.
final class RecentLog: Sendable {
    private let buffer = Locked<[String]>([])
    var lines: [String] { buffer.value }
    var logger: Logger {
        var logger = Logger(label: "gridhub.router.test") { [buffer] label in Handler(buffer: buffer) }
        logger.logLevel = .info
        return logger
    }

    struct Handler: LogHandler {
        let buffer: Locked<[String]>
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let text = "\(Date()) \(event.level) \(event.message) \(all.isEmpty ? "" : all.description)"
            buffer.withLock { lines in
                lines.append(text)
                if lines.count > 300 { lines.removeFirst(lines.count - 300) }
            }
        }
    }
}

/// Incidents for tests.
enum Make {
    static let base = Date(timeIntervalSince1970: 1_795_740_000)

    static func place(_ index: Int = 100) -> GazetteerEntry { Fixtures.reference.gazetteer.entries[index] }

    static func incident(_ system: SourceSystem, _ recordId: String, item: String?, at point: Coordinate, method: Positioning.Method = .gps,
                         minutes: Double = 0, text: String, version: Int = 1, onSite: Bool = false, urgent: Bool = false) -> Incident {
        let grid = Fixtures.reference.gridCode(at: point)
        let positioning = method == .addressMatch ? Positioning(method: .addressMatch, precision: .doorPlate, confidence: 0.9) : Positioning(method: method)
        let time = base.addingTimeInterval(minutes * 60)
        return Incident(source: SourceRef(system: system, recordId: recordId, version: version), reportedAt: time, receivedAt: time, itemCode: item,
                        description: text, location: Location(lat: point.lat, lon: point.lon, gridCode: grid, address: nil, positioning: positioning),
                        urgent: urgent, resolvedOnSite: onSite, resolution: onSite ? "已现场清理" : nil)
    }
}
