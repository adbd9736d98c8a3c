import ArgumentParser
import GridHubBenchmarks
import GridHubRuntime

extension BenchCommand {
    /// `gridhub bench hotline`: signed 12345 work orders over loopback HTTP, acked after Kafka delivery.
    struct Hotline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "12345 work orders over HTTP into the adapter and the broker as processes: sustained req/s, CPU per request, and ack latency at a fixed rate.")

        @Option(help: "Requests in the closed-loop phase (bounded also by --seconds).") var requests = 60_000
        @Option(help: "Concurrent connections in the closed-loop phase.") var concurrency = 64
        @Option(help: "Longest closed-loop phase, seconds.") var seconds = 30
        @Option(help: "Rate of the fixed-rate phase, requests per second.") var rate = 2_000
        @Option(help: "Length of the fixed-rate phase, seconds.") var rateSeconds = 5
        @Option(help: "Folder of the reference data.") var referenceDir: String?
        @Flag(help: "Print one JSON object as the last line too.") var json = false

        func validate() throws {
            // Each phase's requests are signed before it starts, and the adapter accepts a signature for 300 s.
            guard (1...240).contains(seconds), (1...240).contains(rateSeconds) else {
                throw ValidationError("--seconds and --rate-seconds must be 1 to 240 (the requests are signed before each phase, and a signature is valid for 300 s)")
            }
            guard requests > 0, concurrency > 0, rate > 0 else { throw ValidationError("--requests, --concurrency and --rate must be positive") }
        }

        func run() async throws {
            var options = HotlineBenchmark.Options(executable: try daemonsExecutable(), referenceDirectory: try ReferenceLocation.directory(explicit: referenceDir))
            options.requests = requests
            options.concurrency = concurrency
            options.maxDuration = .seconds(seconds)
            options.fixedRate = rate
            options.fixedDuration = .seconds(rateSeconds)
            let report = try await HotlineBenchmark.run(options: options)
            StandardOutput.writeLine(report.table)
            if json { try JSONLine.write(report.json) }
        }
    }
}
