import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubAdapters
import GridHubRouter
import Logging
import PostgresNIO
import ServiceLifecycle

/// `gridhub bench router`: sustained incidents/s through the router with its PostgreSQL state, against
/// the raw librdkafka consume→produce passthrough measured in the same run on the same cluster, with
/// the database pre-loaded with more and more open cases (the cost per incident must stay flat), and
/// the database and memory each open case takes.
///
/// One run: an in-process embedded Kafka cluster with the contract topics, a private PostgreSQL in a
/// temporary directory (durable: `fsync` and `synchronous_commit` on), the incidents produced once as
/// the adapters produce them, then per phase: empty the router's tables, bulk-load the open cases, run
/// the router's services in this process under a fresh consumer group, and time until every incident's
/// offset is stored and the outbox is empty (every case, dispatch and status record delivered).
public enum RouterBenchmark {
    /// What to measure.
    public struct Options: Sendable {
        /// Open cases loaded before each router phase.
        public var openCases = [10_000, 1_000_000]
        /// Partitions of every topic; nil: enough that the embedded broker (~5 MiB kept per partition)
        /// keeps every incident, at least the contract's default.
        public var partitions: Int? = nil
        /// Records per consumer poll, and so per database transaction.
        public var batchRecords = RouterConsumer.Configuration().maxBatchRecords
        /// Outbox rows per publish round.
        public var outboxBatch = 5_000
        /// Connections in each router instance's pool.
        public var connections = 6
        /// Router instances in this process, one consumer group (they share the partitions; one publishes the outbox).
        public var instances = 1
        /// How fast the backlog of open cases built up: their last reports are spread over
        /// `count / backlogArrivalsPerDay` days before the measured incidents, as a city's backlog grows
        /// at its rate of new problems (at least over the duplicate window, the 72 h a report may follow
        /// the last one plus the day a report may come late: 4 days). At 2 500 a day 10 k open cases
        /// just fill the window, and every phase has the same cases in it: the phases differ only in
        /// the older open cases, which is what flat cost is about...
        public var backlogArrivalsPerDay: Double = 2_500
        /// ...unless a fixed span is given: e.g. 30 days crowds a million open cases into a month, a
        /// stress test of the duplicate window rather than of the number of open cases.
        public var backlogDays: Double? = nil
        /// The PostgreSQL server's settings (`Deploy/postgresql/gridhub.conf`, what the city's server is
        /// told to set); the benchmark's own cluster starts with them.
        public var postgresSettings: [String: String] = ["shared_buffers": "1GB", "max_wal_size": "8GB"]
        /// Longest wait for one phase to finish.
        public var phaseTimeout: Duration = .seconds(600)
        /// Where to keep the benchmark server's log (nil: it goes with the server's directory).
        public var postgresLogPath: String? = nil
        /// Log the plans of statements slower than this (PostgreSQL's `auto_explain`, with times and
        /// buffers): how a plan that grows with the open cases shows itself.
        public var explainSlowerThan: Duration? = nil
        public init() {}
    }

    /// One router phase.
    public struct Phase: Sendable {
        /// Open cases loaded before the phase.
        public var openCases: Int
        /// Seconds the bulk load took.
        public var loadSeconds: Double
        /// Incidents routed.
        public var incidents: Int
        /// From the router's start to the last outbox row delivered.
        public var totalSeconds: Double
        /// From the first stored batch to the last outbox row delivered (consumer-group join excluded).
        public var steadySeconds: Double
        /// Cases in the database at the end, and how many of them the incidents opened.
        public var casesAfter: Int
        public var casesOpened: Int
        /// Transactions (batches) the consume loop committed and records the outbox delivered.
        public var transactions: Int
        public var published: Int
        /// Bytes of the records published (key, value and headers).
        public var publishedBytes: Int
        /// Write-ahead log PostgreSQL wrote during the phase (full-page images included).
        public var walBytes: Int = 0
        /// Full-page images among it (the first change of a page after a checkpoint logs the whole page).
        public var walPageImages: Int = 0
        /// Size of the case tables (cases, reports, dispatches with indexes and TOAST) after the load.
        public var caseTableBytesLoaded: Int
        /// Resident memory of this process before and after the router ran.
        public var rssBefore: Int
        public var rssAfter: Int
        /// From the first stored batch until every incident's offset was stored (the outbox may still lag).
        public var consumedSeconds: Double
        /// Time the router spent in each stage, summed over the phase (stages of one service run one after another).
        public var stages: [String: Duration]
        /// Counts of round-trip-heavy events.
        public var tallies: [String: Int]
        /// Days the open cases' last reports were spread over.
        public var backlogDays: Double
        /// Cases the router held in memory as duplicate candidates at the end.
        public var candidatesCached: Int
        /// CPU seconds of the router (this process without the embedded broker's thread: the router's
        /// threads and its librdkafka clients') and of PostgreSQL (server and backends), from the router's
        /// start to the end of the phase.
        public var routerCPUSeconds: Double = 0
        public var postgresCPUSeconds: Double = 0
        public var routerCPUPerIncident: Double { routerCPUSeconds / Double(max(1, incidents)) }
        public var postgresCPUPerIncident: Double { postgresCPUSeconds / Double(max(1, incidents)) }
        public var steadyRate: Double { Double(incidents) / steadySeconds }
        public var totalRate: Double { Double(incidents) / totalSeconds }
    }

    /// The whole run.
    public struct Report: Sendable {
        public var options: Options
        public var incidents: Int
        public var partitions: Int
        /// Average bytes of an incident record (value and headers); the passthrough records are this size.
        public var recordBytes: Int
        public var passthroughSeconds: Double
        public var passthroughRate: Double { Double(incidents) / passthroughSeconds }
        /// CPU seconds per record of the raw passthrough (the median pass, its consumer's start included
        /// as the router's CPU includes its own; this process without the embedded broker's thread:
        /// librdkafka's consumer and producer).
        public var passthroughCPUPerRecord: Double
        /// The same passthrough with the router's record mix (measured after the phases, with the first
        /// phase's records out per incident and their average size): what librdkafka alone allows.
        public var mix: RecordMix?

        public struct RecordMix: Sendable {
            public var recordsPerIncident: Double
            public var recordBytes: Int
            public var seconds: Double
        }
        /// Case-table bytes with no case loaded (empty tables).
        public var emptyCaseTableBytes: Int
        public var phases: [Phase]
        public var postgresVersion: String
        public var settings: [String: String]
        /// The `malloc` the router ran on (``MemoryAllocator/current``).
        public var allocator = MemoryAllocator.current

        /// The figures as one JSON object (`--json`): the raw baselines of the same run and each phase's rate and ratios.
        public var json: [String: Any] {
            var o: [String: Any] = [
                "benchmark": "router", "incidents": incidents, "recordBytes": recordBytes, "allocator": allocator,
                "rawPassthroughPerSecond": passthroughRate, "rawPassthroughCPUMicrosecondsPerRecord": passthroughCPUPerRecord * 1e6,
            ]
            if let mix { o["rawMixIncidentsPerSecond"] = Double(incidents) / mix.seconds }
            o["phases"] = phases.map { p -> [String: Any] in
                var q: [String: Any] = ["openCases": p.openCases, "incidentsPerSecond": p.steadyRate, "ratioToRaw": p.steadyRate / passthroughRate,
                                        "transactions": p.transactions, "published": p.published, "casesOpened": p.casesOpened,
                                        "routerCPUMicrosecondsPerIncident": p.routerCPUPerIncident * 1e6,
                                        "postgresCPUMicrosecondsPerIncident": p.postgresCPUPerIncident * 1e6]
                if let mix { q["ratioToMix"] = p.steadyRate * mix.seconds / Double(incidents) }
                return q
            }
            return o
        }

        /// A readable table.
        public var table: String {
            var lines: [String] = []
            lines.append("Router benchmark — \(incidents) incidents (\(recordBytes) B avg), \(partitions) partitions, embedded broker, PostgreSQL \(postgresVersion)")
            lines.append("durability: fsync=\(settings["fsync"] ?? "?"), synchronous_commit=\(settings["synchronous_commit"] ?? "?"), wal_sync_method=\(settings["wal_sync_method"] ?? "?"), shared_buffers=\(settings["shared_buffers"] ?? "?") × 8 kB, max_wal_size=\(settings["max_wal_size"] ?? "?") MB, checkpoint_timeout=\(settings["checkpoint_timeout"] ?? "?") s, wal_compression=\(settings["wal_compression"] ?? "?"); every phase starts after a CHECKPOINT; router on \(allocator); \(options.instances) router instance\(options.instances == 1 ? "" : "s"), batch \(options.batchRecords) records/transaction, outbox \(options.outboxBatch) rows/round")
            lines.append("")
            lines.append("raw librdkafka passthrough (consume→produce, \(recordBytes) B records; from the first record read, median of \(RouterBenchmark.rawPasses) passes): \(Self.rate(passthroughRate)) records/s, \(fixed(passthroughCPUPerRecord * 1e6, 1)) µs of CPU per record (librdkafka's consumer and producer)")
            if let mix {
                lines.append("raw librdkafka with the router's record mix (each \(recordBytes) B record read → \(fixed(mix.recordsPerIncident, 2)) records of \(mix.recordBytes) B produced): \(Self.rate(Double(incidents) / mix.seconds)) incidents/s, the most Kafka alone allows on this machine")
            }
            lines.append("")
            lines.append("open cases | load   | incidents/s (steady) | ratio to raw | ratio to mix | incidents/s (incl. start) | tx    | published | new cases | DB bytes/case | RSS before → after")
            lines.append("-----------|--------|----------------------|--------------|--------------|---------------------------|-------|-----------|-----------|---------------|-------------------")
            for p in phases {
                let perCase = p.openCases > 0 ? fixed(Double(p.caseTableBytesLoaded - emptyCaseTableBytes) / Double(p.openCases), 0) : "–"
                lines.append([
                    Self.pad(Self.count(p.openCases), 10),
                    Self.pad(fixed(p.loadSeconds, 1) + " s", 6),
                    Self.pad(Self.rate(p.steadyRate), 20),
                    Self.pad(fixed(p.steadyRate / passthroughRate, 3), 12),
                    Self.pad(mix.map { fixed(p.steadyRate * $0.seconds / Double(incidents), 3) } ?? "–", 12),
                    Self.pad(Self.rate(p.totalRate), 25),
                    Self.pad(String(p.transactions), 5),
                    Self.pad(String(p.published), 9),
                    Self.pad(String(p.casesOpened), 9),
                    Self.pad(perCase, 13),
                    "\(p.rssBefore / 1_048_576) → \(p.rssAfter / 1_048_576) MiB",
                ].joined(separator: " | "))
            }
            for p in phases {
                lines.append("")
                lines.append("where the time goes with \(Self.count(p.openCases)) open cases, last reported over the \(fixed(p.backlogDays, 0)) days before (\(p.transactions) transactions; all incidents stored after \(fixed(p.consumedSeconds, 1)) s, outbox empty after \(fixed(p.steadySeconds, 1)) s; \(p.candidatesCached) duplicate candidates in memory at the end; write-ahead log \(p.walBytes / 1_048_576) MiB, \(p.walBytes / max(1, p.incidents)) B per incident, \(p.walPageImages) full-page images):")
                lines.append("  CPU per incident: router \(fixed(p.routerCPUPerIncident * 1e6, 0)) µs (its threads and its librdkafka clients'), PostgreSQL \(fixed(p.postgresCPUPerIncident * 1e6, 0)) µs (server and backends)")
                for (stage, d) in p.stages.sorted(by: { $0.key < $1.key }) {
                    let perTx = p.transactions > 0 && stage.hasPrefix("tx") || stage.hasPrefix("consumer") ? "  \(fixed(d.seconds * 1000 / Double(max(1, p.transactions)), 1)) ms/transaction" : ""
                    lines.append("  \(stage.padding(toLength: 58, withPad: " ", startingAt: 0)) \(Self.pad(fixed(d.seconds, 2), 7)) s\(perTx)")
                }
                for (name, n) in p.tallies.sorted(by: { $0.key < $1.key }) {
                    lines.append("  \(name.padding(toLength: 58, withPad: " ", startingAt: 0)) \(Self.pad(String(n), 7))  (\(fixed(Double(n) / Double(max(1, p.transactions)), 0))/transaction)")
                }
            }
            if let first = phases.first, let last = phases.last, phases.count > 1 {
                lines.append("")
                lines.append("flatness: \(Self.count(last.openCases)) vs \(Self.count(first.openCases)) open cases: \(fixed(last.steadyRate / first.steadyRate, 2))× the throughput")
                let grown = (last.rssAfter - last.rssBefore) - (first.rssAfter - first.rssBefore)
                let perCase = Double(grown) / Double(max(1, last.openCases - first.openCases))
                lines.append("router memory per open case: \(fixed(max(0, perCase), 1)) B (growth of RSS during the \(Self.count(last.openCases)) phase minus during the \(Self.count(first.openCases)) phase, per extra open case; between transactions the router keeps only the duplicate candidates of the time window: \(first.candidatesCached) and \(last.candidatesCached) at the end of the two phases)")
            }
            return lines.joined(separator: "\n")
        }

        static func rate(_ v: Double) -> String { fixed(v, 0) }
        static func count(_ n: Int) -> String {
            n >= 1_000_000 && n % 1_000_000 == 0 ? "\(n / 1_000_000) M" : n >= 1_000 && n % 1_000 == 0 ? "\(n / 1_000) k" : String(n)
        }
        static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
    }

    /// Runs the benchmark over `incidents` (in the order given, ideally by report time).
    public static func run(options: Options, incidents: [Incident], environment: RouterEnvironment, logger: Logger) async throws -> Report {
        guard !incidents.isEmpty else { throw RouterError("no incidents to route") }
        let records = try incidents.map(record(for:))
        let recordBytes = records.reduce(0) { $0 + $1.value.count + $1.headers.reduce(0) { $0 + $1.key.utf8.count + $1.value.count } } / records.count
        let n = records.count
        // The mock broker keeps about 5 MiB per partition: enough partitions that every incident stays.
        let partitions = options.partitions ?? max(TopicPlan.defaultPartitions, Int((Double(n * recordBytes) / 3_000_000).rounded(.up)))

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-bench-router-\(UUID().uuidString.prefix(8))")
        var settings = PostgresInstance.Configuration(dataDirectory: directory.appendingPathComponent("postgres"), port: try freeLoopbackPort())
        settings.settings = options.postgresSettings
        if let slow = options.explainSlowerThan {
            settings.settings["session_preload_libraries"] = "auto_explain"
            settings.settings["auto_explain.log_min_duration"] = "\(max(0, Int(slow / .milliseconds(1))))ms"
            settings.settings["auto_explain.log_analyze"] = "on"
            settings.settings["auto_explain.log_buffers"] = "on"
        }
        let postgres = try PostgresInstance(configuration: settings, logger: logger)
        try await postgres.start()
        let server = await postgres.serverProcess()
        /// Stops the server, keeps its log if asked, and removes the cluster: it goes with the run (it may live
        /// outside `directory`, see PostgresInstance).
        func removePostgres() async {
            try? await postgres.stop()
            if let path = options.postgresLogPath {
                let kept = URL(fileURLWithPath: path)
                try? FileManager.default.removeItem(at: kept)
                do { try FileManager.default.copyItem(at: directory.appendingPathComponent("postgres/server.log"), to: kept) } catch {
                    logger.warning("the benchmark server's log was not kept", metadata: ["gridhub.reason": .string("\(error)")])
                }
            }
            try? await postgres.discardCluster()
        }
        let cluster: EmbeddedKafkaCluster
        do { cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger) } catch {
            await removePostgres()
            throw error
        }
        // The Kafka cluster is destroyed when released (on a thread of its own).
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let report = try await measure(options: options, records: records, recordBytes: recordBytes, partitions: partitions, incidents: incidents,
                                           cluster: cluster, databaseURL: postgres.url, environment: environment,
                                           postgresCPU: { server.map(processTreeCPUSeconds) ?? 0 }, logger: logger)
            await removePostgres()
            return report
        } catch {
            await removePostgres()
            throw error
        }
    }

    /// Passes of each raw baseline; the median is reported.
    static let rawPasses = 3

    private static func measure(options: Options, records: [ProducerRecord], recordBytes: Int, partitions: Int, incidents: [Incident],
                                cluster: EmbeddedKafkaCluster, databaseURL: String, environment: RouterEnvironment,
                                postgresCPU: @escaping @Sendable () -> Double, logger: Logger) async throws -> Report {
        let n = records.count
        let bootstrap = cluster.bootstrapServers
        try await cluster.createTopics(TopicPlan.topics(departments: environment.reference.departments, partitions: partitions).map { .init($0.name, partitions: $0.partitions, replicationFactor: 1) }
            + ["bench.raw.in", "bench.raw.out"].map { .init($0, partitions: partitions, replicationFactor: 1) })

        // The baseline: raw librdkafka consume→produce of records of the incidents' size, timed from the
        // first record read, as the router's steady rate is timed from its first stored batch. Timed from
        // the consumer's creation, its start (assignment and first fetch, 0.3 s to over a second on the
        // embedded broker) was half of a pass of 50 000 records, and the raw rate moved from 30 k to 73 k
        // records/s between runs of one build (docs/performance.md, stop 42). The median of three passes.
        try KafkaBaseline.produce(bootstrap: bootstrap, topic: "bench.raw.in", count: n, value: [UInt8](repeating: UInt8(ascii: "x"), count: recordBytes))
        var passes: [(seconds: Double, cpu: Double)] = []
        for _ in 0..<Self.rawPasses {
            let cpu = processCPUSecondsWithoutEmbeddedBroker()
            let first = try KafkaBaseline.passthrough(bootstrap: bootstrap, source: "bench.raw.in", partitions: partitions, target: "bench.raw.out", count: n)
            passes.append(((ContinuousClock.now - first).seconds, processCPUSecondsWithoutEmbeddedBroker() - cpu))
        }
        let median = passes.sorted { $0.seconds < $1.seconds }[passes.count / 2]
        let passthroughSeconds = median.seconds

        // The incidents, once, as the adapters produce them; every phase reads them from the start.
        let kafka = KafkaClientConfiguration(bootstrapServers: bootstrap)
        var producerConfig = KafkaProducerConfiguration(client: kafka)
        producerConfig.maxInFlightRecords = 100_000
        let producer = try KafkaProducer(configuration: producerConfig, logger: logger)
        var start = 0
        while start < n {
            let chunk = Array(records[start..<min(n, start + 20_000)])
            for result in await producer.send(chunk) { _ = try result.get() }
            start += chunk.count
        }
        await producer.shutdown()

        return try await DatabasePool.withClient(try RouterStore.configuration(url: databaseURL, maximumConnections: 2), logger: logger) { client in
            let db = BenchDatabase(client: client, logger: logger)
            try await RouterStore(client: client, logger: logger).migrate()
            let settings = try await db.settings()
            let version = try await db.scalarText("SHOW server_version")
            let earliest = incidents.map(\.reportedAt).min() ?? Date()
            // Days of reports a new report is compared with (see `backlogArrivalsPerDay`).
            let window = (environment.matcher.policy.maxTimeGap + CandidateCache.defaultLateness.seconds) / 86_400
            try await db.prepareGenerator(environment: environment, template: try caseTemplate(environment: environment, at: earliest))
            try await db.truncate()
            let emptyBytes = try await db.caseTableBytes()
            var phases: [Phase] = []
            for (index, open) in options.openCases.enumerated() {
                try await db.truncate()
                let loadStart = ContinuousClock.now
                let days = options.backlogDays ?? max(window, Double(open) / options.backlogArrivalsPerDay)
                try await db.load(openCases: open, before: earliest, days: days)
                let loadSeconds = (ContinuousClock.now - loadStart).seconds
                let loadedBytes = try await db.caseTableBytes()
                let rssBefore = residentBytes()
                let walBefore = try await db.scalarText("SELECT pg_current_wal_lsn()::text")
                let imagesBefore = try await db.scalarInt("SELECT wal_fpi FROM pg_stat_wal")
                var phase = try await runRouter(group: "bench-router-\(index)", options: options, databaseURL: databaseURL, kafka: kafka,
                                                incidents: n, db: db, environment: environment, postgresCPU: postgresCPU, logger: logger)
                phase.openCases = open
                phase.backlogDays = days
                phase.loadSeconds = loadSeconds
                phase.caseTableBytesLoaded = loadedBytes
                phase.rssBefore = rssBefore
                phase.rssAfter = residentBytes()
                phase.walBytes = try await db.scalarInt("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '\(walBefore)')::int8")
                phase.walPageImages = try await db.scalarInt("SELECT wal_fpi FROM pg_stat_wal") - imagesBefore
                phase.casesAfter = try await db.scalarInt("SELECT count(*) FROM cases")
                phase.casesOpened = phase.casesAfter - open
                phases.append(phase)
                logger.info("router phase done", metadata: ["bench.open_cases": .stringConvertible(open), "bench.rate": .stringConvertible(Int(phase.steadyRate))])
            }
            // The raw ceiling for what the router does to Kafka: read each incident, produce its outgoing records.
            var mix: Report.RecordMix? = nil
            if let first = phases.first, first.published > 0 {
                let perIncident = Double(first.published) / Double(n)
                let bytes = first.publishedBytes / first.published
                try await cluster.createTopic("bench.raw.mix", partitions: partitions, replicationFactor: 1)
                var passes: [Double] = []
                for _ in 0..<Self.rawPasses {
                    let first = try KafkaBaseline.passthrough(bootstrap: bootstrap, source: "bench.raw.in", partitions: partitions, target: "bench.raw.mix", count: n,
                                                              fanOut: perIncident, value: [UInt8](repeating: UInt8(ascii: "x"), count: bytes))
                    passes.append((ContinuousClock.now - first).seconds)
                }
                mix = .init(recordsPerIncident: perIncident, recordBytes: bytes, seconds: passes.sorted()[passes.count / 2])
            }
            return Report(options: options, incidents: n, partitions: partitions, recordBytes: recordBytes, passthroughSeconds: passthroughSeconds,
                          passthroughCPUPerRecord: median.cpu / Double(n), mix: mix, emptyCaseTableBytes: emptyBytes, phases: phases, postgresVersion: version, settings: settings)
        }
    }

    /// Runs the router's services until every incident is stored and the outbox is empty.
    private static func runRouter(group: String, options: Options, databaseURL: String, kafka: KafkaClientConfiguration, incidents n: Int,
                                  db: BenchDatabase, environment: RouterEnvironment, postgresCPU: @Sendable () -> Double, logger: Logger) async throws -> Phase {
        var config = RouterDaemon.Configuration(databaseURL: databaseURL, kafka: kafka)
        config.consumer.groupID = group
        config.consumer.maxBatchRecords = options.batchRecords
        config.maximumConnections = options.connections
        config.deadlineInterval = .seconds(5)
        config.outboxBatch = options.outboxBatch
        let daemons = try (0..<max(1, options.instances)).map { _ in
            try RouterDaemon(configuration: config, environment: environment, metrics: DaemonMetrics(), logger: logger)
        }
        let services = ServiceGroup(configuration: .init(services: daemons.flatMap(\.services).map { .init(service: $0) }, logger: logger))
        let cpuAtStart = (router: processCPUSecondsWithoutEmbeddedBroker(), postgres: postgresCPU())
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            let started = ContinuousClock.now
            tasks.addTask { try await services.run() }
            var first: ContinuousClock.Instant? = nil
            var consumed: ContinuousClock.Instant? = nil
            let deadline = started + options.phaseTimeout
            var done = false
            while ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                let stored = try await db.storedIncidents()
                if first == nil && stored > 0 { first = ContinuousClock.now }
                if consumed == nil && stored >= n { consumed = ContinuousClock.now }
                if stored >= n, try await db.outboxEmpty() { done = true; break }
            }
            let finished = ContinuousClock.now
            let cpu = (router: processCPUSecondsWithoutEmbeddedBroker() - cpuAtStart.router, postgres: postgresCPU() - cpuAtStart.postgres)
            // The counts once every service has stopped: the publisher counts a round's records after
            // deleting its rows, so right when the outbox is seen empty the last round may be uncounted.
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
            let transactions = daemons.reduce(0) { $0 + $1.metrics.batchesCommitted }
            let published = daemons.reduce(0) { $0 + $1.metrics.recordsPublished }
            let publishedBytes = daemons.reduce(0) { $0 + $1.metrics.bytesPublished }
            let stages = daemons.reduce(into: [String: Duration]()) { all, d in all.merge(d.metrics.stageTimes, uniquingKeysWith: +) }
            let tallies = daemons.reduce(into: [String: Int]()) { all, d in all.merge(d.metrics.stageCounts, uniquingKeysWith: +) }
            let cached = daemons.reduce(0) { $0 + $1.consumer.candidatesCached }
            guard done else { throw RouterError("the router did not finish \(n) incidents within \(options.phaseTimeout)") }
            let firstSeen = first ?? started
            return Phase(openCases: 0, loadSeconds: 0, incidents: n, totalSeconds: (finished - started).seconds,
                         steadySeconds: (finished - firstSeen).seconds, casesAfter: 0, casesOpened: 0, transactions: transactions,
                         published: published, publishedBytes: publishedBytes, caseTableBytesLoaded: 0, rssBefore: 0, rssAfter: 0,
                         consumedSeconds: ((consumed ?? finished) - firstSeen).seconds, stages: stages, tallies: tallies, backlogDays: 0,
                         candidatesCached: cached, routerCPUSeconds: cpu.router, postgresCPUSeconds: cpu.postgres)
        }
    }

    /// The Kafka record of an incident as an adapter's ingest pipeline writes it (binary-mode
    /// CloudEvent, deterministic `ce_id`, keyed by grid).
    static func record(for incident: Incident) throws -> ProducerRecord {
        let event = try CloudEvent(
            id: DeterministicID(namespace: .event, parts: ["incident", incident.source.system.rawValue, incident.source.recordId, String(incident.source.version)]).uuidString,
            source: incident.source.system.adapterEventSource, type: .incident, time: incident.receivedAt, subject: incident.incidentId,
            payload: incident, encoder: GridHubJSON.encoder(disclosingPersonalData: .reveal))
        return ProducerRecord(topic: Topics.incidents, key: IngestPipeline.partitionKey(for: incident), value: event.data,
                              headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) })
    }

    /// The stored document of a dispatched one-report case, with placeholders the bulk load replaces
    /// per row (`@CASE@`, `@INCIDENT@`, `@RECORD@`, `@DISPATCH@`, `@GRID@`, `@ITEM@`, `@DEPT@`, and the
    /// coordinates 1.25 / 2.5). Checked here: a filled-in copy must decode as a case.
    static func caseTemplate(environment: RouterEnvironment, at time: Date) throws -> CaseTemplate {
        let reference = environment.reference
        let item = reference.items[0]
        let grid = reference.grids[0]
        let incident = Incident(source: SourceRef(system: .woodpecker, recordId: "@RECORD@", version: 1), reportedAt: time, receivedAt: time,
                                itemCode: "@ITEM@", description: "\(item.keywordsZh.first ?? item.nameZh)，好几天了没人管", 
                                location: Location(lat: 1.25, lon: 2.5, gridCode: "@GRID@", address: nil, positioning: Positioning(method: .gps)),
                                urgent: false, resolvedOnSite: false)
        var value = Case(caseId: "@CASE@", openedBy: incident, at: time)
        try value.apply(.dispatch(department: "@DEPT@", level: .town, dispatchId: "@DISPATCH@", dueAt: time.addingTimeInterval(7 * 86_400)), at: time)
        let text = String(decoding: try GridHubJSON.encoder().encode(value), as: UTF8.self)
        let template = CaseTemplate(text: text, incidentId: incident.incidentId)
        guard text.contains("\"lat\":1.25"), text.contains("\"lon\":2.5") else { throw RouterError("case template: coordinates not found in \(text.prefix(200))") }
        let sample = template.filled(caseId: "00000000-0000-4000-8000-000000000001", incidentId: "00000000-0000-4000-8000-000000000002", recordId: "BENCH-1",
                                     dispatchId: "00000000-0000-4000-8000-000000000003", grid: grid.gridCode, item: item.code, department: item.department,
                                     lat: grid.polygon.centroid.lat, lon: grid.polygon.centroid.lon)
        do { _ = try GridHubJSON.decoder().decode(Case.self, from: Data(sample.utf8)) } catch {
            throw RouterError("case template does not decode once filled in: \(error)")
        }
        return template
    }

    struct CaseTemplate {
        var text: String
        var incidentId: String

        func filled(caseId: String, incidentId: String, recordId: String, dispatchId: String, grid: String, item: String, department: String, lat: Double, lon: Double) -> String {
            text.replacingOccurrences(of: "@CASE@", with: caseId).replacingOccurrences(of: self.incidentId, with: incidentId)
                .replacingOccurrences(of: "@RECORD@", with: recordId).replacingOccurrences(of: "@DISPATCH@", with: dispatchId)
                .replacingOccurrences(of: "@GRID@", with: grid).replacingOccurrences(of: "@ITEM@", with: item)
                .replacingOccurrences(of: "@DEPT@", with: department)
                .replacingOccurrences(of: "\"lat\":1.25", with: "\"lat\":\(lat)").replacingOccurrences(of: "\"lon\":2.5", with: "\"lon\":\(lon)")
        }
    }

    /// This process's resident set size in bytes.
    static func residentBytes() -> Int {
        guard let text = procFileText("/proc/self/statm") else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// The benchmark's own queries: settings, sizes, the bulk load of open cases, progress.
struct BenchDatabase: Sendable {
    let client: PostgresClient
    let logger: Logger

    func scalarInt(_ sql: String) async throws -> Int {
        var value = 0
        for try await v in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { value = v }
        return value
    }

    func scalarText(_ sql: String) async throws -> String {
        var value = ""
        for try await v in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String.self) { value = v }
        return value
    }

    func settings() async throws -> [String: String] {
        var out: [String: String] = [:]
        let rows = try await client.query("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'wal_compression')", logger: logger)
        for try await (name, setting) in rows.decode((String, String).self) { out[name] = setting }
        return out
    }

    /// Bytes of the case tables with their indexes and TOAST.
    func caseTableBytes() async throws -> Int {
        try await scalarInt("SELECT (pg_total_relation_size('cases') + pg_total_relation_size('reports') + pg_total_relation_size('dispatches'))::int8")
    }

    func storedIncidents() async throws -> Int {
        try await scalarInt("SELECT coalesce(sum(next_offset), 0)::int8 FROM consumed_offsets WHERE topic = '\(Topics.incidents)'")
    }

    func outboxEmpty() async throws -> Bool {
        try await scalarInt("SELECT count(*) FROM (SELECT 1 FROM outbox LIMIT 1) o") == 0
    }

    func truncate() async throws {
        try await client.query("TRUNCATE cases, reports, dispatches, outbox, consumed_offsets, grid_state RESTART IDENTITY", logger: logger)
        try await client.query("CHECKPOINT", logger: logger)
    }

    /// Tables the bulk load draws from: the city's grids (centroids) and the catalogue's items.
    func prepareGenerator(environment: RouterEnvironment, template: RouterBenchmark.CaseTemplate) async throws {
        let reference = environment.reference
        try await client.query("CREATE UNLOGGED TABLE IF NOT EXISTS bench_grids (i int PRIMARY KEY, code text NOT NULL, lat float8 NOT NULL, lon float8 NOT NULL)", logger: logger)
        try await client.query("CREATE UNLOGGED TABLE IF NOT EXISTS bench_items (i int PRIMARY KEY, code text NOT NULL, dept text NOT NULL, txt text NOT NULL)", logger: logger)
        try await client.query("CREATE UNLOGGED TABLE IF NOT EXISTS bench_template (doc text NOT NULL, incident_id text NOT NULL)", logger: logger)
        try await client.query("TRUNCATE bench_grids, bench_items, bench_template", logger: logger)
        let grids = reference.grids
        let codes = grids.map(\.gridCode), lats = grids.map(\.polygon.centroid.lat), lons = grids.map(\.polygon.centroid.lon)
        try await client.query("INSERT INTO bench_grids SELECT n::int, c, la, lo FROM unnest(\(codes)::text[], \(lats)::float8[], \(lons)::float8[]) WITH ORDINALITY AS u(c, la, lo, n)", logger: logger)
        let items = reference.items
        let itemCodes = items.map(\.code), departments = items.map(\.department)
        let texts = items.map { "\($0.keywordsZh.first ?? $0.nameZh)，地点在路边，请尽快处理" }
        try await client.query("INSERT INTO bench_items SELECT n::int, c, d, t FROM unnest(\(itemCodes)::text[], \(departments)::text[], \(texts)::text[]) WITH ORDINALITY AS u(c, d, t, n)", logger: logger)
        try await client.query("INSERT INTO bench_template VALUES (\(template.text), \(template.incidentId))", logger: logger)
    }

    /// Loads `count` open (dispatched, not yet due) cases with one report and one dispatch each, spread
    /// uniformly over the city's grids and items, positioned around their grid's centre, last reported
    /// in the `days` days before `before`: the backlog a city would have when the measured incidents come.
    /// A checkpoint follows, so every phase starts at the same moment of a checkpoint cycle: the worst,
    /// when the first change of each page logs the whole page. (Without it the phase would share the
    /// disk with the load's writes still being flushed.)
    func load(openCases count: Int, before: Date, days: Double) async throws {
        guard count > 0 else { return }
        let grids = try await scalarInt("SELECT count(*) FROM bench_grids")
        let items = try await scalarInt("SELECT count(*) FROM bench_items")
        let endMs = before.millisecondsSince1970
        let spanMs = max(Int64(1), Int64(days * 86_400_000))
        let nowMs = Date().millisecondsSince1970
        // In slices, so no single statement holds too much in memory.
        let slice = 250_000
        var from = 1
        while from <= count {
            let to = min(count, from + slice - 1)
            // A 64-bit hash spreads the last reports over the whole span (`hashint8` gives 32 bits: 25 days
            // at most). Case and dispatch ids as the router makes them: the first report's time in the
            // first 48 bits (``DeterministicID/init(namespace:parts:orderedAt:)``), version 8, the rest a
            // hash; the dispatch beside its case. (`uuid` reads 32 hex digits and writes them hyphenated.)
            let series = """
                SELECT y.*, (y.t || '8' || right(md5('case' || y.s), 19))::uuid::text AS case_id,
                       (y.t || '8' || right(md5('dispatch' || y.s), 19))::uuid::text AS dispatch_id
                FROM (SELECT z.*, lpad(to_hex(z.last_ms - z.dur), 12, '0') AS t FROM (
                    SELECT s, md5('incident' || s)::uuid::text AS incident_id, 'BENCH-' || s AS record_id,
                           1 + (hashint4(s) & 2147483647) % \(grids) AS gi, 1 + (hashint4(s + 1000000007) & 2147483647) % \(items) AS ii,
                           \(endMs) - (hashint8extended(s::int8, 0) & 9223372036854775807) % \(spanMs) AS last_ms,
                           ((hashint4(s + 7) & 2147483647) % 86400000)::int8 AS dur,
                           ((hashint4(s + 11) & 2147483647) % 2001 - 1000) * 0.000002 AS dy,
                           ((hashint4(s + 13) & 2147483647) % 2001 - 1000) * 0.000002 AS dx
                    FROM generate_series(\(from), \(to)) AS s) z) y
                """
            try await client.query(PostgresQuery(unsafeSQL: """
                INSERT INTO cases (case_id, status, item_code, grid_code, lat, lon, radius_m, text, first_ms, last_ms, closed_ms, on_site, department, level, due_ms, doc)
                SELECT x.case_id, 'dispatched', it.code, g.code, g.lat + x.dy, g.lon + x.dx, 40, it.txt, x.last_ms - x.dur, x.last_ms, NULL, false, it.dept, 'town',
                       \(nowMs + 7 * 86_400_000) + x.s,
                       convert_to(replace(replace(replace(replace(replace(replace(replace(replace(replace(t.doc,
                           '@CASE@', x.case_id), t.incident_id, x.incident_id), '@RECORD@', x.record_id), '@DISPATCH@', x.dispatch_id),
                           '@GRID@', g.code), '@ITEM@', it.code), '@DEPT@', it.dept), '"lat":1.25', '"lat":' || (g.lat + x.dy)), '"lon":2.5', '"lon":' || (g.lon + x.dx)), 'UTF8')
                FROM (\(series)) x JOIN bench_grids g ON g.i = x.gi JOIN bench_items it ON it.i = x.ii CROSS JOIN bench_template t
                """), logger: logger)
            try await client.query(PostgresQuery(unsafeSQL: """
                INSERT INTO reports (incident_id, case_id, system, record_id, version)
                SELECT x.incident_id, x.case_id, 'woodpecker', x.record_id, 1 FROM (\(series)) x
                """), logger: logger)
            try await client.query(PostgresQuery(unsafeSQL: """
                INSERT INTO dispatches (dispatch_id, case_id, attempt, department, level, reason, issued_ms)
                SELECT x.dispatch_id, x.case_id, 1, it.dept, 'town', 'initial', x.last_ms FROM (\(series)) x JOIN bench_items it ON it.i = x.ii
                """), logger: logger)
            from = to + 1
        }
        try await client.query("VACUUM ANALYZE cases, reports, dispatches", logger: logger)
        try await client.query("CHECKPOINT", logger: logger)
    }
}

/// `v` with `digits` decimals.
func fixed(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
