import ArgumentParser
import Foundation
import Glibc

/// `gridhub bench …` runs `gridhub-bench …`, the benchmarks' own executable built beside this one: the
/// benchmarks stay out of the binary the daemons run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks against raw librdkafka in the same run: kafka, reference, hotline, router (runs gridhub-bench).",
        helpNames: []
    )

    @Argument(parsing: .captureForPassthrough, help: "The benchmark and its options; `gridhub bench --help` lists them.")
    var arguments: [String] = []

    /// `gridhub-bench` in the folder of the running executable.
    static var executablePath: String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("gridhub-bench").path
    }

    func run() throws {
        let path = Self.executablePath
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw CommandFailure("the benchmarks are a separate executable, not found at \(path): build it with `swift build -c release --product gridhub-bench`")
        }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        throw CommandFailure("could not run \(path): \(String(cString: strerror(errno)))")
    }
}
