import ArgumentParser
import Foundation
import GridHubBenchmarks
import GridHubRouter
import GridHubRuntime
import Logging

/// `gridhub bench` (this executable, `gridhub-bench`, which `gridhub bench` runs): benchmarks, reported
/// against raw librdkafka in the same run. A separate executable, so that the daemons never carry them.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gridhub bench",
        abstract: "Benchmarks (build with -c release for meaningful numbers).",
        subcommands: [Kafka.self, Reference.self, Hotline.self, Router.self, Quality.self, E2E.self]
    )

    struct Kafka: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Produce, consume and passthrough on the embedded broker: GridHub's client vs raw librdkafka.")

        @Option(help: "Records per phase.") var records = 100_000
        @Option(help: "Bytes per record.") var size = 400
        @Option(help: "Partitions.") var partitions = 16
        @Option(help: "Rounds of consume and passthrough (the median is reported).") var rounds = 5
        @Flag(help: "Print one JSON object as the last line too.") var json = false

        func run() async throws {
            ProcessLogging.bootstrap()
            var options = KafkaBenchmark.Options()
            options.rounds = rounds
            options.records = records
            options.recordSize = size
            options.partitions = partitions
            let report = try await KafkaBenchmark.run(options: options, logger: Logger(label: "gridhub.bench"))
            StandardOutput.writeLine(report.table)
            if json { try JSONLine.write(report.json) }
        }
    }

    struct Reference: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reference data: start-up load, point → grid and address → grid look-ups per second on one core.")

        @Option(help: "Folder of the reference data.") var referenceDir: String?
        @Option(help: "Point look-ups to time.") var points = 2_000_000
        @Option(help: "Address look-ups to time.") var addresses = 200_000

        func run() async throws {
            let directory = try ReferenceLocation.directory(explicit: referenceDir)
            let report = try ReferenceBenchmark.run(referenceDirectory: directory, pointLookups: points, addressLookups: addresses)
            StandardOutput.writeLine(report.rendered)
        }
    }
}

extension BenchCommand {
    struct Quality: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Placing and merging: grid accuracy per way of writing an address, merge precision and recall per pair of source systems.")

        @Option(help: "Folder of the reference data.") var referenceDir: String?
        @Option(help: "Routing rules file (default: routing.json beside the reference folder).") var routingRules: String?
        @Option(help: "Address samples per kind.") var perKind = 400
        @Option(help: "Problems in the incident corpus (each reported one to three times, plus hard negatives).") var problems = 1_500
        @Option(help: "Seed of both corpora.") var seed: UInt64 = 20_261_205
        @Option(help: "Print up to this many missed addresses of each kind, and of wrong and missed merges.") var showMisses = 0
        @Option(help: "Also measure the incident corpus of each of these seeds (comma-separated): one line per seed and the mean.")
        var seeds: String?
        @Flag(help: "Print one JSON object as the last line too.") var json = false

        func run() async throws {
            let directory = try ReferenceLocation.directory(explicit: referenceDir)
            let reference = try ReferenceLocation.load(from: directory)
            let rules = try RouterDaemon.loadRules(path: routingRules ?? RouterDaemon.defaultRulesPath(referenceDirectory: directory), reference: reference)
            let report = QualityBenchmark.run(reference: reference, rules: rules, perKind: perKind, problems: problems, seed: seed, showMisses: showMisses)
            StandardOutput.writeLine(report.rendered)
            if let seeds {
                let list = try seeds.split(separator: ",").map { text -> UInt64 in
                    guard let n = UInt64(text.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--seeds: '\(text)' is not a number") }
                    return n
                }
                var rows: [(String, QualityBenchmark.Report)] = []
                for s in list {
                    rows.append(("\(s)", QualityBenchmark.run(reference: reference, rules: rules, perKind: 0, problems: problems, seed: s)))
                }
                StandardOutput.writeLine("\nIncident corpus of \(problems) problems per seed\n")
                StandardOutput.writeLine("seed        precision  recall  named recall  departments  12345 grid")
                func line(_ name: String, _ values: [Double]) -> String {
                    name.padding(toLength: 10, withPad: " ", startingAt: 0) + zip(values, [11, 8, 14, 13, 12]).map { v, w in
                        let t = String(format: "%.4f", v)
                        return String(repeating: " ", count: max(0, w - t.count)) + t
                    }.joined()
                }
                func figures(_ r: QualityBenchmark.Report) -> [Double] {
                    [r.mergePrecision, r.mergeRecall, r.namedMergeRecall, r.departmentAccuracy, r.hotlineGridAccuracy]
                }
                for (name, r) in rows { StandardOutput.writeLine(line(name, figures(r))) }
                let n = Double(rows.count)
                let mean = rows.map { figures($0.1) }.reduce([0, 0, 0, 0, 0]) { a, b in zip(a, b).map(+) }.map { $0 / n }
                StandardOutput.writeLine(line("mean", mean))
            }
            if json { try JSONLine.write(report) }
        }
    }
}

extension BenchCommand {
    struct E2E: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "e2e",
            abstract: "End to end with the daemons as processes: 12345 orders accepted → dispatch readable, latency at a fixed rate; the daemons' CPU idle and under load.")

        @Option(help: "Orders per second.") var rate = 1_000
        @Option(help: "Seconds of load.") var seconds = 20
        @Option(help: "Seconds the daemons are watched with nothing to do.") var idleSeconds = 20
        @Option(help: "Folder of the reference data.") var referenceDir: String?
        @Flag(help: "Run the router and the adapter on glibc's malloc, not on jemalloc as their systemd units do.") var glibcMalloc = false
        @Flag(help: "Print one JSON object as the last line too.") var json = false

        func run() async throws {
            let directory = try ReferenceLocation.directory(explicit: referenceDir)
            var options = E2EBenchmark.Options(executable: try daemonsExecutable(), referenceDirectory: directory)
            options.deployedAllocator = !glibcMalloc
            options.rate = rate
            options.seconds = seconds
            options.idleSeconds = idleSeconds
            let settingsFile = directory.deletingLastPathComponent().appendingPathComponent("postgresql/gridhub.conf").path
            if FileManager.default.fileExists(atPath: settingsFile) { options.postgresSettings = try PostgresInstance.settings(fromConfigurationFile: settingsFile) }
            let logger = Logger(label: "gridhub.bench.e2e", factory: { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = .warning
                return handler
            })
            let report = try await E2EBenchmark.run(options: options, logger: logger)
            StandardOutput.writeLine(report.table)
            if json { try JSONLine.write(report) }
        }
    }
}

/// `--json`: one JSON object on one line, the last of the output.
enum JSONLine {
    static func write(_ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        StandardOutput.writeLine(String(decoding: data, as: UTF8.self))
    }

    static func write<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        StandardOutput.writeLine(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// The `gridhub` executable beside this one, which the benchmarks that run the daemons as processes
/// start.
func daemonsExecutable() throws -> String {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    let gridhub = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("gridhub").path
    guard FileManager.default.isExecutableFile(atPath: gridhub) else {
        throw ValidationError("the daemons run as \(gridhub), not found: build it (swift build -c release --product gridhub)")
    }
    return gridhub
}
