import ArgumentParser
import GridHubBenchmarks
import GridHubRuntime
import Logging

/// `gridhub bench` (this executable, `gridhub-bench`, which `gridhub bench` runs): benchmarks, reported
/// against raw librdkafka in the same run. A separate executable, so that the daemons never carry them.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gridhub bench",
        abstract: "Benchmarks (build with -c release for meaningful numbers).",
        subcommands: [Kafka.self, Reference.self, Hotline.self, Router.self]
    )

    struct Kafka: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Produce, consume and passthrough on the embedded broker: GridHub's client vs raw librdkafka.")

        @Option(help: "Records per phase.") var records = 100_000
        @Option(help: "Bytes per record.") var size = 400
        @Option(help: "Partitions.") var partitions = 16

        func run() async throws {
            ProcessLogging.bootstrap()
            var options = KafkaBenchmark.Options()
            options.records = records
            options.recordSize = size
            options.partitions = partitions
            let report = try await KafkaBenchmark.run(options: options, logger: Logger(label: "gridhub.bench"))
            StandardOutput.writeLine(report.table)
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
