import AsyncHTTPClient
import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubAdapters
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// `gridhub bench hotline`: signed 12345 work orders over loopback HTTP into the adapter, each
/// answered only after its Kafka delivery report, against an embedded broker in the same process.
/// Phase 1: closed loop at `concurrency` for the sustained rate. Phase 2: open loop at a fixed rate for
/// the ack latency percentiles.
public enum HotlineBenchmark {
    public struct Options: Sendable {
        public var requests = 60_000
        public var concurrency = 64
        public var maxDuration: Duration = .seconds(30)
        public var fixedRate = 2_000
        public var fixedDuration: Duration = .seconds(5)
        public init() {}
    }

    public struct Report: Sendable {
        public var sustainedRequests: Int
        public var sustainedSeconds: Double
        public var fixedRate: Int
        public var fixedRequests: Int
        public var fixedAchieved: Double
        public var p50: Double
        public var p99: Double
        public var max: Double
        public var failures: Int

        /// The figures as one JSON object (`--json`).
        public var json: [String: Any] {
            ["benchmark": "hotline", "sustainedPerSecond": Double(sustainedRequests) / sustainedSeconds, "fixedRate": fixedRate,
             "fixedAchievedPerSecond": fixedAchieved, "ackP50Milliseconds": p50, "ackP99Milliseconds": p99, "ackMaxMilliseconds": max, "failures": failures]
        }

        public var table: String {
            """
            | 12345 work orders over HTTP, acked after Kafka delivery | figure |
            | --- | --- |
            | sustained (closed loop) | \(Int(Double(sustainedRequests) / sustainedSeconds)) req/s (\(sustainedRequests) in \(String(format: "%.1f", sustainedSeconds)) s) |
            | fixed rate \(fixedRate) req/s: achieved | \(Int(fixedAchieved)) req/s (\(fixedRequests) requests) |
            | ack latency p50 / p99 / max at \(fixedRate) req/s | \(String(format: "%.1f", p50)) / \(String(format: "%.1f", p99)) / \(String(format: "%.1f", max)) ms |
            | answers other than ZT 0 | \(failures) |
            """
        }
    }

    public static func run(options: Options, reference: ReferenceData, logger: Logger) async throws -> Report {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        // Destroyed when released (on a thread of its own).
        try await cluster.createTopics([Topics.incidents, Topics.surveys, Topics.feedback, Topics.deadLetter].map { .init($0, partitions: 6) })
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-bench-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: state) }
        let runtime = try AdapterRuntime(system: .hotline12345, kafka: KafkaClientConfiguration(bootstrapServers: cluster.bootstrapServers),
                                         stateDirectory: state, metrics: DaemonMetrics(), readiness: Readiness(), logger: logger)
        let secret = Array("bench-secret".utf8)
        let ingest = HotlineIngest(configuration: .init(secret: secret), pipeline: runtime.pipeline, reference: reference, logger: logger)
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let server = try AdapterServer.application(address: ListenAddress(host: "127.0.0.1", port: 0), runtime: runtime, logger: logger,
                                               routes: { ingest.addRoutes(to: $0) }, onListening: { portContinuation.yield($0) })
        let group = ServiceGroup(configuration: .init(services: (runtime.baseServices + [server]).map { .init(service: $0) }, logger: logger))
        var config = HTTPClient.Configuration()
        config.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = options.concurrency
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        let report: Report = try await withThrowingTaskGroup(of: Report?.self, returning: Report.self) { tasks in
            tasks.addTask { try await group.run(); return nil }
            var port = 0
            for await p in ports { port = p; break }
            while !runtime.reachability.isReachable { try await Task.sleep(for: .milliseconds(50)) }
            let url = "http://127.0.0.1:\(port)/hotline12345/workorders"
            let template = Hotline12345.WorkOrder(
                id: "X", version: 1, calledAt: Date(), callerName: "张先生", callerPhone: "13812345678", anonymous: false, orderType: "投诉",
                category: "城乡建设/市容环境/占道经营", title: "人民东路夜市摊贩占道", content: "每天晚上六点以后人民东路188号门口有很多摊贩占用人行道，行人只能走机动车道，很危险。",
                address: "江阴市澄江街道人民东路188号", urgent: false, timeLimitDays: 5)
            let run = UUID().uuidString.prefix(8)
            @Sendable func send(_ n: Int) async -> (ok: Bool, latency: Double) {
                var order = template
                order.id = "BENCH-\(run)-\(n)"
                let body = TextEncoding.gbk.encode(order.xml(encodingLabel: "GBK")) ?? []
                let ts = String(Int64(Date().timeIntervalSince1970))
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/xml; charset=GBK")
                request.headers.add(name: "X-Hotline-Timestamp", value: ts)
                request.headers.add(name: "X-Hotline-Signature", value: Hotline12345.signature(secret: secret, timestamp: ts, body: body))
                request.body = .bytes(ByteBuffer(bytes: body))
                let started = ContinuousClock.now
                do {
                    let response = try await client.execute(request, timeout: .seconds(30))
                    let answer = try await response.body.collect(upTo: 4096)
                    let ok = Hotline12345.parseAnswer(String(decoding: answer.readableBytesView, as: UTF8.self))?.code == 0
                    let d = ContinuousClock.now - started
                    return (ok, Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
                } catch { return (false, 0) }
            }
            // Warm-up.
            for n in 0..<200 { _ = await send(-1 - n) }
            // Phase 1: closed loop.
            let shared = Shared()
            let start = ContinuousClock.now
            let deadline = start + options.maxDuration
            await withTaskGroup(of: Void.self) { workers in
                for _ in 0..<options.concurrency {
                    workers.addTask {
                        while ContinuousClock.now < deadline {
                            let n = shared.counter.add(1, ordering: .relaxed).newValue
                            if n > options.requests { return }
                            if !(await send(n)).ok { shared.failures.add(1, ordering: .relaxed) }
                        }
                    }
                }
            }
            let elapsed = ContinuousClock.now - start
            let sustained = min(shared.counter.load(ordering: .relaxed), options.requests)
            // Phase 2: open loop at a fixed rate.
            let total = options.fixedRate * Int(options.fixedDuration.components.seconds)
            let interval = Duration.nanoseconds(1_000_000_000 / Int64(options.fixedRate))
            let fixedStart = ContinuousClock.now
            await withTaskGroup(of: Void.self) { senders in
                for i in 0..<total {
                    let due = fixedStart + interval * i
                    if due > ContinuousClock.now { try? await Task.sleep(until: due, clock: .continuous) }
                    senders.addTask {
                        let r = await send(10_000_000 + i)
                        if r.ok { shared.latencies.withLock { $0.append(r.latency) } } else { shared.failures.add(1, ordering: .relaxed) }
                    }
                }
            }
            let fixedElapsed = ContinuousClock.now - fixedStart
            let sorted = shared.latencies.withLock { $0 }.sorted()
            func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
            let secondsOf = { (d: Duration) in Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
            let report = Report(sustainedRequests: sustained, sustainedSeconds: secondsOf(elapsed), fixedRate: options.fixedRate, fixedRequests: total,
                                fixedAchieved: Double(total) / secondsOf(fixedElapsed), p50: pct(0.5), p99: pct(0.99), max: sorted.last ?? 0,
                                failures: shared.failures.load(ordering: .relaxed))
            await group.triggerGracefulShutdown()
            for try await _ in tasks {}
            return report
        }
        try await client.shutdown()
        return report
    }
}

/// Counters shared by the load generator's tasks.
private final class Shared: Sendable {
    let counter = Atomic<Int>(0)
    let failures = Atomic<Int>(0)
    let latencies = Mutex<[Double]>([])
}
