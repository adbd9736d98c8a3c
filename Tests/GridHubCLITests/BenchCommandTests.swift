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

/// `gridhub bench e2e` as a developer runs it: the daemons as processes, every order through to a
/// department's dispatch, the figures as one JSON object on the last line (their values are not timed here).
@Suite("End-to-end benchmark command", .timeLimit(.minutes(3)))
struct E2EBenchCommandTests {
    @Test("a small run takes every order from the 12345 adapter to a dispatch, measures the daemons idle and under load, and prints JSON last")
    func smallRun() async throws {
        let run = try await runCommand(GridHubPaths.executable, ["bench", "e2e", "--rate", "50", "--seconds", "3", "--idle-seconds", "2", "--json"],
                                       environment: ["GRIDHUB_LOG_LEVEL": "error"], timeout: .seconds(150))
        #expect(run.status == 0, "stderr: \(run.stderr.suffix(2_000))")
        let last = try #require(run.stdout.split(separator: "\n").last)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "\(run.stdout)")
        #expect(report["orders"] as? Int == 150 && report["accepted"] as? Int == 150, "\(report)")
        // Every accepted order is one problem of its own: one dispatch each.
        #expect(report["dispatched"] as? Int == 150 && report["missing"] as? Int == 0, "\(report)")
        let p50 = report["p50"] as? Double ?? -1, p99 = report["p99"] as? Double ?? -1, raw = report["rawP99"] as? Double ?? -1
        #expect(p50 > 0 && p99 >= p50 && raw > 0, "\(report)")
        let idle = report["idleCPU"] as? [String: Double] ?? [:]
        #expect(Set(idle.keys) == ["router", "hotline adapter", "broker"], "\(report)")
        #expect(run.stdout.contains("| latency p50 / p95 / p99 / max |"))
    }
}
