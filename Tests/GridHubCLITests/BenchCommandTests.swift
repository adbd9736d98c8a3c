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
        // Each phase's CPU per incident, the router's and PostgreSQL's, and the raw passthrough's per record.
        let cpu = run.stdout.split(separator: "\n").filter { $0.contains("CPU per incident: router") }.map { line in
            line.split(separator: " ").enumerated().compactMap { i, word in word == "µs" ? Int(line.split(separator: " ")[i - 1]) : nil }
        }
        #expect(cpu.count == 2 && cpu.allSatisfy { $0.count == 2 && $0.allSatisfy { $0 > 0 } }, "\(run.stdout)")
        #expect(run.stdout.contains("from the first record read, median of 3 passes") && run.stdout.contains("µs of CPU per record"), "\(run.stdout)")

        let server = try String(contentsOf: log, encoding: .utf8)
        #expect(server.contains("plan:") && server.contains("Insert on cases"), "the server's log has the plans: \(server.prefix(1_000))")
    }
}

/// `gridhub bench e2e` as a developer runs it: the daemons as processes, every order through to a
/// department's dispatch, the figures as one JSON object on the last line (their values are not timed here).
@Suite("End-to-end benchmark command", .timeLimit(.minutes(3)))
struct E2EBenchCommandTests {
    @Test("a small run takes every order from the 12345 adapter to a dispatch, measures every daemon idle and the ones it loads under load, and prints JSON last")
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
        // The publishing side split at the dispatch record's Kafka timestamp: both parts measured, in order in time.
        let toSend = report["toSendP50"] as? Double ?? -1, sentToRead = report["sentToReadP50"] as? Double ?? -1
        #expect(toSend >= 0 && sentToRead >= 0 && report["toSendP99"] as? Double ?? -1 >= toSend, "\(report)")
        let idle = report["idleCPU"] as? [String: Double] ?? [:]
        // Every daemon ops deploy is watched idle; the three adapters the load does not use are stopped before it.
        #expect(Set(idle.keys) == ["router", "hotline adapter", "broker", "PostgreSQL", "woodpecker adapter", "elink adapter", "enforcement adapter"], "\(report)")
        #expect(idle.values.allSatisfy { $0 >= 0 && $0 < 100 }, "\(report)")
        let load = report["loadCPU"] as? [String: Double] ?? [:]
        #expect(Set(load.keys) == ["router", "hotline adapter", "broker", "PostgreSQL", "benchmark (load, 12345 double, department)"], "\(report)")
        #expect(run.stdout.contains("| woodpecker adapter: CPU idle (share of one core; stopped before the load) |"), "\(run.stdout)")
        // PostgreSQL is counted with its backends, where the router's statements run: it works under load.
        let perOrder = report["cpuMicrosecondsPerOrder"] as? [String: Double] ?? [:]
        #expect((perOrder["PostgreSQL"] ?? 0) > 0 && (perOrder["router"] ?? 0) > 0, "\(report)")
        // The router and the adapter run on the allocator their systemd units preload, when it is installed.
        let jemalloc = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"].contains { FileManager.default.fileExists(atPath: "\($0)/libjemalloc.so.2") }
        let allocators = report["allocators"] as? [String: String] ?? [:]
        #expect(allocators == ["router": jemalloc ? "jemalloc" : "glibc malloc", "hotline adapter": jemalloc ? "jemalloc" : "glibc malloc"], "\(report)")
        #expect(run.stdout.contains("| latency p50 / p95 / p99 / max |"))
    }
}

/// `gridhub bench hotline` as a developer runs it: the adapter and the broker as processes, a lean load
/// generator, the figures as one JSON object on the last line (their values are not timed here).
@Suite("12345 benchmark command", .timeLimit(.minutes(3)))
struct HotlineBenchCommandTests {
    @Test("a small run has every signed work order accepted and on Kafka once, measures each process's CPU, and prints JSON last")
    func smallRun() async throws {
        let run = try await runCommand(GridHubPaths.executable, [
            "bench", "hotline", "--requests", "600", "--concurrency", "8", "--rate", "100", "--rate-seconds", "2", "--json",
        ], environment: ["GRIDHUB_LOG_LEVEL": "error"], timeout: .seconds(150))
        #expect(run.status == 0, "stderr: \(run.stderr.suffix(2_000))")
        let last = try #require(run.stdout.split(separator: "\n").last)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "\(run.stdout)")
        // 200 in the warm-up, 600 in the closed loop, 200 at the fixed rate: each answered ZT 0, each on the topic once.
        #expect(report["failures"] as? Int == 0 && report["accepted"] as? Int == 1_000 && report["onKafka"] as? Int == 1_000, "\(report)")
        let cpu = report["cpuMicrosecondsPerRequest"] as? [String: Double] ?? [:]
        #expect(Set(cpu.keys) == ["hotline adapter", "broker", "load generator"], "\(report)")
        #expect((cpu["hotline adapter"] ?? 0) > 0 && (report["adapterCeilingPerSecond"] as? Double ?? 0) > 0, "\(report)")
        #expect((report["adapterPeakMemoryBytes"] as? Int ?? 0) > 1 << 20, "\(report)")
        let p50 = report["ackP50Milliseconds"] as? Double ?? -1, p99 = report["ackP99Milliseconds"] as? Double ?? -1
        #expect(p50 > 0 && p99 >= p50, "\(report)")
        #expect(run.stdout.contains("| work orders accepted / incidents on Kafka | 1000 / 1000 |"), "\(run.stdout)")
        // Raw librdkafka on the same broker, in the same run and the same two shapes, with records of the incidents' size.
        let raw = report["rawAcknowledgedPerSecond"] as? Double ?? 0, ratio = report["ratioToRaw"] as? Double ?? 0
        #expect(raw > 0 && ratio > 0, "\(report)")
        let rawP50 = report["rawAckP50Milliseconds"] as? Double ?? -1, rawP99 = report["rawAckP99Milliseconds"] as? Double ?? -1
        #expect(rawP50 > 0 && rawP99 >= rawP50, "\(report)")
        #expect((300...5_000).contains(report["recordBytes"] as? Int ?? 0), "\(report)")
    }
}

/// `gridhub bench quality --seeds` as a developer runs it to see the merge figures on corpora it was not tuned on.
@Suite("Quality benchmark command", .timeLimit(.minutes(3)))
struct QualityBenchCommandTests {
    @Test("--seeds measures the incident corpus of each seed: one line each, and their mean")
    func seeds() async throws {
        let run = try await runCommand(GridHubPaths.executable, ["bench", "quality", "--per-kind", "2", "--problems", "150", "--seeds", "3,4"],
                                       environment: ["GRIDHUB_LOG_LEVEL": "error"], timeout: .seconds(150))
        #expect(run.status == 0, "stderr: \(run.stderr.suffix(2_000))")
        var rows: [String: [Double]] = [:]
        for line in run.stdout.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            guard words.count == 6, ["3", "4", "mean"].contains(words[0]) else { continue }
            let values: [Double] = words.dropFirst().compactMap { Double($0) }
            rows[words[0]] = values
        }
        #expect(Set(rows.keys) == ["3", "4", "mean"], "\(run.stdout)")
        let three = rows["3"] ?? [], four = rows["4"] ?? [], mean = rows["mean"] ?? []
        try #require(three.count == 5 && four.count == 5 && mean.count == 5)
        #expect(three.allSatisfy { (0.5...1).contains($0) } && three != four, "\(run.stdout)")
        for k in 0..<5 {
            let average: Double = (three[k] + four[k]) / 2
            #expect(abs(mean[k] - average) < 0.0002, "\(run.stdout)")
        }
        let bad = try await runCommand(GridHubPaths.executable, ["bench", "quality", "--per-kind", "1", "--problems", "10", "--seeds", "3,x"],
                                       environment: ["GRIDHUB_LOG_LEVEL": "error"], timeout: .seconds(60))
        #expect(bad.status != 0 && bad.stderr.contains("--seeds: 'x' is not a number"), "\(bad.stderr)")
    }
}
