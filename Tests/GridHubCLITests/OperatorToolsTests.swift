import Foundation
import GridHubCore
import GridHubRuntime
import GridHubSimulation
import GridHubTesting
import Testing

/// The operator's tools against running daemons: `deadletters list | show | replay` and `tail` filters.
@Suite("Operator tools", .serialized, .timeLimit(.minutes(3)))
struct OperatorToolsTests {
    @Test("a dead letter is listed and shown with its reason, replayed after it is corrected, and ends up as an incident that tail's filters find")
    func deadLetterReplay() async throws {
        let broker = try ChildProcess(GridHubPaths.executable, ["broker", "--brokers", "1", "--partitions", "3"])
        defer { broker.signal(SIGKILL) }
        let bootstrap = String(try await broker.firstLine().dropFirst("GRIDHUB_BOOTSTRAP=".count))
        let state = URL(fileURLWithPath: "/tmp/gridhub-ops-test-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: state) }
        let secret = "ops-test-secret"
        let env = ["GRIDHUB_BOOTSTRAP": bootstrap, "GRIDHUB_HOTLINE_SECRET": secret, "GRIDHUB_LOG_LEVEL": "warning"]
        let adapter = try ChildProcess(GridHubPaths.executable, [
            "adapter", "hotline12345", "--listen", "127.0.0.1:0", "--hotline-url", "http://127.0.0.1:9", "--state-dir", state.path,
        ], environment: env.merging(["GRIDHUB_LOG_LEVEL": "info"]) { $1 })
        defer { adapter.signal(SIGKILL) }
        let listen = try await adapter.firstLine()
        #expect(listen.hasPrefix("GRIDHUB_LISTEN="), "\(listen)")
        let url = "http://" + listen.dropFirst("GRIDHUB_LISTEN=".count)

        // The hotline sends a work order whose XML lost its closing tags.
        let recordId = "JY12345-20261127-\(Int.random(in: 100_000...999_999))"
        let order = Hotline12345.WorkOrder(
            id: recordId, version: 1, calledAt: Date(), callerName: "张先生", callerPhone: "13812345678", anonymous: false,
            orderType: "投诉", category: "城乡建设/市容环境/占道经营", title: "人民东路夜市摊贩占道", content: "每天晚上人民东路188号门口摊贩占道",
            address: "江阴市澄江街道人民东路188号", urgent: false, timeLimitDays: 5)
        let good = HotlinePlatform.body(order, encoding: .utf8)
        let broken = Array(good.prefix(good.count - 20))
        let platform = HotlinePlatform(hubURL: url, secret: Array(secret.utf8))
        // The platform traces its calls: the trace's id is on the adapter's log lines and on the dead letter.
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        var answer = try await platform.push(path: "/hotline12345/workorders", body: broken, contentType: "application/xml; charset=UTF-8", traceparent: traceparent)
        for _ in 0..<50 where answer.code == 429 {
            try await Task.sleep(for: .milliseconds(200))
            answer = try await platform.push(path: "/hotline12345/workorders", body: broken, contentType: "application/xml; charset=UTF-8", traceparent: traceparent)
        }
        #expect(answer.code == 400, "a malformed work order is answered ZT=400: \(answer)")
        let logged = adapter.standardError.split(separator: "\n").filter { $0.contains("hotline request not accepted") }
        #expect(!logged.isEmpty && logged.allSatisfy { $0.contains("\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"") }, "\(logged)")

        // The operator sees it, with its reason, and reads its exact bytes.
        let list = try await runCommand(GridHubPaths.executable, ["deadletters", "list"], environment: env)
        #expect(list.status == 0, "stderr: \(list.stderr)")
        let line = try #require(list.stdout.split(separator: "\n").first { $0.contains("adapter.hotline12345") }, "\(list.stdout)")
        #expect(line.contains("POST /hotline12345/workorders"))
        #expect(line.contains("not closed") || line.contains("not well-formed"), "the reason is readable: \(line)")
        let position = String(line.split(separator: " ").first!)
        let show = try await runCommand(GridHubPaths.executable, ["deadletters", "show", position], environment: env)
        #expect(show.stdout.contains("gridhub.error.reason"))
        #expect(show.stdout.contains("traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"), "the dead letter keeps the trace: \(show.stdout)")
        #expect(!show.stdout.contains("13812345678") && show.stdout.contains("138****5678"), "personal data masked in show")
        let raw = try await runCommand(GridHubPaths.executable, ["deadletters", "show", position, "--raw"], environment: env)
        #expect(Array(raw.stdout.utf8) == broken, "show --raw gives the exact original bytes")

        // A GBK order cut inside a character: refused, and read by the operator in Chinese, each record on one line.
        let gbk = HotlinePlatform.body(order, encoding: .gbk)
        let type = try #require(TextEncoding.gbk.encode("<GDLX>投诉"))
        let cutAt = try #require(gbk.indices.first { Array(gbk[$0...].prefix(type.count)) == type }) + type.count - 1
        let cut = Array(gbk.prefix(cutAt))
        answer = try await platform.push(path: "/hotline12345/workorders", body: cut, contentType: "application/xml; charset=GBK")
        #expect(answer.code == 400, "\(answer)")
        let letters = try await runCommand(GridHubPaths.executable, ["tail", Topics.deadLetter, "--from-beginning", "--no-follow"], environment: env)
        let lines = letters.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines.allSatisfy { $0.contains("DEAD LETTER") }, "one line per dead letter: \(letters.stdout)")
        #expect(lines.contains { $0.contains("not valid GBK") && $0.contains("<GDBH>\(recordId)</GDBH>") && $0.contains("<GDLX>投…[a byte cut inside a character]") },
                "the cut GBK body is read as GBK: \(letters.stdout)")
        #expect(!letters.stdout.contains("13812345678"), "personal data masked in tail")

        // Replaying it unchanged fails the same way; corrected, it is accepted and becomes an incident.
        let corrected = state.appendingPathComponent("corrected.xml")
        try Data(good).write(to: corrected)
        let replay = try await runCommand(GridHubPaths.executable, ["deadletters", "replay", position, "--adapter-url", url, "--value-file", corrected.path], environment: env)
        #expect(replay.status == 0, "stderr: \(replay.stderr)")
        #expect(replay.stdout.contains("HTTP 200") && replay.stdout.contains("<ZT>0</ZT>"), "\(replay.stdout)")

        let incidents = try await runCommand(GridHubPaths.executable, [
            "tail", "gridhub.incidents.v1", "--from-beginning", "--no-follow", "--type", "incident", "--town", "澄江街道",
        ], environment: env)
        #expect(incidents.status == 0, "stderr: \(incidents.stderr)")
        let found = incidents.stdout.split(separator: "\n").filter { $0.contains(recordId) }
        #expect(found.count == 1, "\(incidents.stdout)")
        #expect(found.first?.contains("item=SR-013") == true, "\(found)")
        let grid = String(found.first?.split(separator: " ").first { $0.hasPrefix("grid=") }?.dropFirst(5) ?? "")
        #expect(grid.count == 15)
        let other = try await runCommand(GridHubPaths.executable, ["tail", "gridhub.incidents.v1", "--from-beginning", "--no-follow", "--town", "320281100"], environment: env)
        #expect(!other.stdout.contains(recordId), "another town's filter hides it")
        let byGrid = try await runCommand(GridHubPaths.executable, ["tail", "gridhub.incidents.v1", "--from-beginning", "--no-follow", "--grid", grid, "--json"], environment: env)
        #expect(byGrid.stdout.contains(recordId))
    }
}
