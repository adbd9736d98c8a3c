import Foundation
import GridHubTesting
import Testing

/// `gridhub bench router` as a developer runs it, at a size that proves it works, not how fast.
@Suite("Router benchmark command", .timeLimit(.minutes(3)))
struct BenchCommandTests {
    @Test("a small run routes every incident in each phase, prints the table, and keeps the server's log with the plans of slow statements")
    func smallRun() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-bench-test-\(UUID().uuidString.prefix(8)).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let incidents = 600
        let run = try await runCommand(GridHubPaths.executable, [
            "bench", "router", "--open-cases", "0,1000", "--incidents", String(incidents),
            "--postgres-log", log.path, "--explain-slower-than", "0",
        ], environment: ["GRIDHUB_LOG_LEVEL": "error"], timeout: .seconds(150))
        #expect(run.status == 0, "stderr: \(run.stderr.suffix(2_000))")

        // One row per phase: open cases | load | incidents/s | ratio to raw | ratio to mix | incl. start | tx | published | new cases | …
        let rows = run.stdout.split(separator: "\n").map { $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } }
            .filter { $0.count == 11 && ["0", "1 k"].contains($0[0]) }
        #expect(rows.map { $0[0] } == ["0", "1 k"], "\(run.stdout)")
        for row in rows {
            let rate = Double(row[2]) ?? 0, transactions = Int(row[6]) ?? 0, published = Int(row[7]) ?? 0, opened = Int(row[8]) ?? 0
            #expect(rate > 0 && transactions >= 1, "\(row)")
            // Every incident yields at least its case or status record; the corpus has about 2.2 reports per problem.
            #expect(published >= incidents && (incidents / 4...incidents).contains(opened), "\(row)")
        }
        #expect(run.stdout.contains("flatness: 1 k vs 0 open cases"), "\(run.stdout)")

        let server = try String(contentsOf: log, encoding: .utf8)
        #expect(server.contains("plan:") && server.contains("Insert on cases"), "the server's log has the plans: \(server.prefix(1_000))")
    }
}
