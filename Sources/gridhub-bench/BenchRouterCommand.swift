import ArgumentParser
import GridHubBenchmarks
import Foundation
import GridHubCore
import GridHubRouter
import GridHubRuntime
import GridHubSimulation
import Logging

extension BenchCommand {
    /// `gridhub bench router`: incidents/s through the router and its PostgreSQL state, against raw
    /// librdkafka, with 10 k and 1 M open cases.
    struct Router: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Incidents/s through the router with a private PostgreSQL, as a ratio to raw librdkafka passthrough, at several numbers of open cases.")

        @Option(help: "Incidents routed in each phase (a labelled corpus: cross-channel duplicates, hard negatives).") var incidents = 50_000
        @Option(help: "Open cases bulk-loaded before each phase, comma-separated.") var openCases = "10000,1000000"
        @Option(help: "Records per consumer poll, i.e. per database transaction.") var batch = RouterConsumer.Configuration().maxBatchRecords
        @Option(help: "Outbox rows per publish round.") var outboxBatch = 5_000
        @Option(help: "Router instances in one consumer group (in this process).") var instances = 1
        @Option(help: "Partitions per topic (default: enough for the embedded broker to keep every incident).") var partitions: Int?
        @Option(help: "New problems per day the backlog of open cases built up at: their last reports spread over count / rate days (at least the 4-day duplicate window, which 10 k open cases fill at the default rate).") var backlogRate: Double = 2_500
        @Option(help: "Spread every phase's open cases over this many days instead (30 crowds 1 M open cases into a month: a stress test of the duplicate window).") var backlogDays: Double?
        @Option(help: "Keep the benchmark PostgreSQL server's log at this path.") var postgresLog: String?
        @Option(help: "Log the plan (with times and buffers) of every statement slower than this many milliseconds in the server's log (auto_explain; use with --postgres-log).") var explainSlowerThan: Int?
        @Option(help: "Folder of the reference data.") var referenceDir: String?
        @Flag(help: "Print one JSON object as the last line too.") var json = false
        @Option(help: "Routing rules file (default: routing.json beside the reference folder).") var routingRules: String?

        func run() async throws {
            let counts = openCases.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "") }
            let open = counts.compactMap(Int.init)
            guard open.count == counts.count, !open.isEmpty, open.allSatisfy({ $0 >= 0 }) else {
                throw ValidationError("--open-cases must be comma-separated counts, like 10000,1000000")
            }
            guard incidents > 0 else { throw ValidationError("--incidents must be positive") }
            let directory = try ReferenceLocation.directory(explicit: referenceDir)
            let reference = try ReferenceLocation.load(from: directory)
            let rules = try RouterDaemon.loadRules(path: routingRules ?? RouterDaemon.defaultRulesPath(referenceDirectory: directory), reference: reference)
            var options = RouterBenchmark.Options()
            options.openCases = open
            options.batchRecords = batch
            options.outboxBatch = outboxBatch
            options.instances = instances
            options.partitions = partitions
            guard backlogRate > 0, (backlogDays ?? 1) > 0 else { throw ValidationError("--backlog-rate and --backlog-days must be positive") }
            options.backlogArrivalsPerDay = backlogRate
            options.backlogDays = backlogDays
            options.postgresLogPath = postgresLog
            if let ms = explainSlowerThan {
                guard ms >= 0 else { throw ValidationError("--explain-slower-than must be milliseconds, 0 or more") }
                guard postgresLog != nil else { throw ValidationError("--explain-slower-than writes plans to the server's log: give --postgres-log too") }
                options.explainSlowerThan = .milliseconds(ms)
            }
            // The server settings ops are told to use, when Deploy/postgresql/ lies beside the reference folder.
            let settingsFile = directory.deletingLastPathComponent().appendingPathComponent("postgresql/gridhub.conf").path
            if FileManager.default.fileExists(atPath: settingsFile) {
                options.postgresSettings = try PostgresInstance.settings(fromConfigurationFile: settingsFile)
            }
            // About 2.2 reports per problem; the corpus is sorted by report time.
            let corpus = IncidentCorpus(reference: reference, problems: incidents / 2 + 1, seed: 20_260_101)
            let chosen = corpus.entries.prefix(incidents).map(\.incident)
            let level = ProcessLogging.logLevel(fallback: .warning)
            let logger = Logger(label: "gridhub.bench.router", factory: { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            })
            let report = try await RouterBenchmark.run(options: options, incidents: Array(chosen),
                                                       environment: RouterEnvironment(reference: reference, rules: rules), logger: logger)
            StandardOutput.writeLine(report.table)
            if json { try JSONLine.write(report.json) }
        }
    }
}
