import Foundation
import GridHubCore
import GridHubSimulation
import GridHubTesting
import Testing

/// Spans exported through OpenTelemetry when a collector is configured: the 12345 adapter and the
/// router, as processes, export to a stand-in OTLP/HTTP collector (Tests/Tools/otlp_collector.py), and
/// the spans they export are the ones the records name — one trace from the platform's call to the case.
@Suite("OpenTelemetry span export", .timeLimit(.minutes(3)))
struct SpanExportTests {
    /// The `traceparent` header of each record of `topic`, read with `gridhub tail --json`.
    static func traceparents(_ topic: String, environment: [String: String]) async throws -> [String] {
        let tail = try await runCommand(GridHubPaths.executable, ["tail", topic, "--from-beginning", "--no-follow", "--json"], environment: environment)
        return tail.stdout.split(separator: "\n").compactMap { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (object?["headers"] as? [String: Any])?["traceparent"] as? String
        }
    }

    static func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }

    @Test("the adapter exports its request span and the span of each record it publishes, the router the span of its work on it; the records' traceparents name exported spans of the caller's trace")
    func exported() async throws {
        let collector = try ChildProcess("/usr/bin/python3", [GridHubPaths.packageRoot.appendingPathComponent("Tests/Tools/otlp_collector.py").path])
        defer { collector.signal(SIGKILL) }
        let port = try #require(Int(try await collector.firstLine().dropFirst("PORT ".count)))
        let broker = try ChildProcess(GridHubPaths.executable, ["broker", "--brokers", "1", "--partitions", "3"], environment: ["GRIDHUB_LOG_LEVEL": "warning"])
        defer { broker.signal(SIGKILL) }
        let bootstrap = String(try await broker.firstLine().dropFirst("GRIDHUB_BOOTSTRAP=".count))
        let database = try await TestPostgres.makeDatabase(prefix: "otel")
        let secret = "otel-test-secret"
        let otel = ["GRIDHUB_BOOTSTRAP": bootstrap, "GRIDHUB_LOG_LEVEL": "warning",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(port)", "OTEL_BSP_SCHEDULE_DELAY": "200"]
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-otel-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: state) }
        let adapter = try ChildProcess(GridHubPaths.executable, ["adapter", "hotline12345", "--listen", "127.0.0.1:0", "--hotline-url", "http://127.0.0.1:9",
                                                                 "--state-dir", state.path], environment: otel.merging(["GRIDHUB_HOTLINE_SECRET": secret]) { $1 })
        defer { adapter.signal(SIGKILL) }
        let router = try ChildProcess(GridHubPaths.executable, ["router"], environment: otel.merging(["GRIDHUB_DATABASE_URL": database]) { $1 })
        defer { router.signal(SIGKILL) }
        let listen = try await adapter.firstLine()
        let url = "http://" + listen.dropFirst("GRIDHUB_LISTEN=".count)

        // The platform calls with its own trace.
        let traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
        let order = Hotline12345.WorkOrder(
            id: "JY12345-OTEL-\(Int.random(in: 100_000...999_999))", version: 1, calledAt: Date(), callerName: "王女士", callerPhone: "13900001111", anonymous: false,
            orderType: "投诉", category: "城乡建设/市容环境/占道经营", title: "人民东路夜市摊贩占道", content: "每天晚上人民东路188号门口摊贩占道",
            address: "江阴市澄江街道人民东路188号", urgent: false, timeLimitDays: 5)
        let platform = HotlinePlatform(hubURL: url, secret: Array(secret.utf8))
        var answer = try await platform.push(path: "/hotline12345/workorders", body: HotlinePlatform.body(order, encoding: .gbk), contentType: "application/xml; charset=GBK",
                                             traceparent: "00-\(traceId)-00f067aa0ba902b7-01")
        for _ in 0..<50 where answer.code == 429 {
            try await Task.sleep(for: .milliseconds(200))
            answer = try await platform.push(path: "/hotline12345/workorders", body: HotlinePlatform.body(order, encoding: .gbk), contentType: "application/xml; charset=GBK",
                                             traceparent: "00-\(traceId)-00f067aa0ba902b7-01")
        }
        #expect(answer.code == 0, "\(answer)")

        // The incident names the adapter's span of its publishing; the case names the router's span.
        let env = ["GRIDHUB_BOOTSTRAP": bootstrap]
        let incident = try #require(try await Self.traceparents(Topics.incidents, environment: env).first.flatMap { TraceContext(header: $0) })
        var caseTrace: TraceContext? = nil
        #expect(try await waitUntil(timeout: .seconds(60)) {
            caseTrace = try await Self.traceparents(Topics.cases, environment: env).first.flatMap { TraceContext(header: $0) }
            return caseTrace != nil
        })
        let routed = try #require(caseTrace)
        #expect(incident.traceId == traceId && routed.traceId == traceId, "one trace from the platform's call to the case")
        #expect(routed.spanId != incident.spanId)

        // The collector received both processes' spans, with those ids (OTLP/protobuf carries them as raw bytes,
        // the service names as text).
        func posts() -> [String] { collector.outputLines.filter { $0.hasPrefix("POST /v1/traces ") }.map { String($0.split(separator: " ")[2]) } }
        #expect(try await waitUntil(timeout: .seconds(30)) {
            let bodies = posts()
            let adapterPost = bodies.first { $0.contains(Self.hex("gridhub-adapter-hotline12345")) && $0.contains(incident.spanId) }
            let routerPost = bodies.first { $0.contains(Self.hex("gridhub-router")) && $0.contains(routed.spanId) && $0.contains(incident.spanId) }
            return adapterPost != nil && routerPost != nil && adapterPost!.contains(traceId) && routerPost!.contains(traceId)
        }, "posts: \(posts().count); adapter stderr: \(adapter.standardError.suffix(1_000)) router stderr: \(router.standardError.suffix(1_000))")
    }
}
