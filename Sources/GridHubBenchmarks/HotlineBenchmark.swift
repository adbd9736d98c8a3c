import Foundation
import Logging
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubSimulation
import NIOCore
import NIOHTTP1

/// `gridhub bench hotline`: signed 12345 work orders over loopback HTTP into the adapter as ops run it
/// (`gridhub adapter hotline12345`, a process of its own, on `gridhub broker`), each answered only after
/// its Kafka delivery report. Phase 1: closed loop at `concurrency` connections for the sustained rate.
/// Phase 2: open loop at a fixed rate for the ack latency percentiles. Then raw librdkafka on the same
/// broker, records of the incidents' size, in the same two shapes: the closed loop (each record
/// acknowledged before the next goes, as many in flight as connections) and the fixed rate (from when each
/// record was due to its delivery report), the baseline the adapter's figures are a ratio of.
///
/// The load generator (this process) builds and signs every request before its phase starts, so that
/// during the phase it only writes them and checks the answers. The CPU each process used in phase 1
/// is measured from `/proc`: on this machine the adapter shares the cores with the broker and the
/// generator, which in a city's deployment run on other machines.
public enum HotlineBenchmark {
    public struct Options: Sendable {
        /// The `gridhub` executable.
        public var executable: String
        public var referenceDirectory: URL
        public var requests = 60_000
        public var concurrency = 64
        public var maxDuration: Duration = .seconds(30)
        public var fixedRate = 2_000
        public var fixedDuration: Duration = .seconds(5)
        public init(executable: String, referenceDirectory: URL) {
            self.executable = executable
            self.referenceDirectory = referenceDirectory
        }
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
        /// Work orders accepted (ZT 0) in the warm-up and both phases, and incidents on Kafka after them.
        public var accepted: Int
        public var onKafka: Int
        /// CPU microseconds per request answered in phase 1, per process: the adapter, the broker and
        /// the load generator.
        public var cpuMicrosecondsPerRequest: [String: Double]
        /// The machine's cores.
        public var cores: Int
        /// The adapter process's peak resident memory over the run, bytes.
        public var adapterPeakMemory: Int
        /// Raw librdkafka on the same broker in the same run, records of the incidents' average size
        /// (`recordBytes`): the closed loop with as many records in flight as the load's connections,
        /// each acknowledged before the next goes (records/s), and the fixed rate's latency from when
        /// each record was due to its delivery report (ms).
        public var recordBytes: Int
        public var rawAcknowledgedPerSecond: Double
        public var rawP50: Double
        public var rawP99: Double
        public var ratioToRaw: Double { rawAcknowledgedPerSecond > 0 ? sustainedPerSecond / rawAcknowledgedPerSecond : 0 }

        public var sustainedPerSecond: Double { Double(sustainedRequests) / sustainedSeconds }

        /// Requests per second the adapter's CPU per request would allow with the machine's cores to
        /// itself (its broker and its clients elsewhere, as deployed): a ceiling, not a measured rate.
        public var adapterCeilingPerSecond: Double {
            guard let perRequest = cpuMicrosecondsPerRequest[Self.adapter], perRequest > 0 else { return 0 }
            return Double(cores) * 1_000_000 / perRequest
        }

        static let adapter = "hotline adapter", broker = "broker", generator = "load generator"

        /// The figures as one JSON object (`--json`).
        public var json: [String: Any] {
            ["benchmark": "hotline", "sustainedPerSecond": sustainedPerSecond, "fixedRate": fixedRate,
             "fixedAchievedPerSecond": fixedAchieved, "ackP50Milliseconds": p50, "ackP99Milliseconds": p99, "ackMaxMilliseconds": max, "failures": failures,
             "accepted": accepted, "onKafka": onKafka, "cpuMicrosecondsPerRequest": cpuMicrosecondsPerRequest, "cores": cores, "adapterCeilingPerSecond": adapterCeilingPerSecond,
             "adapterPeakMemoryBytes": adapterPeakMemory, "recordBytes": recordBytes, "rawAcknowledgedPerSecond": rawAcknowledgedPerSecond,
             "ratioToRaw": ratioToRaw, "rawAckP50Milliseconds": rawP50, "rawAckP99Milliseconds": rawP99]
        }

        public var table: String {
            func f(_ v: Double) -> String { String(format: "%.1f", v) }
            let cpu = [Self.adapter, Self.broker, Self.generator].map { "\($0) \(Int(cpuMicrosecondsPerRequest[$0] ?? 0)) µs" }.joined(separator: ", ")
            return """
                | 12345 work orders over HTTP, acked after Kafka delivery | figure |
                | --- | --- |
                | sustained (closed loop) | \(Int(sustainedPerSecond)) req/s (\(sustainedRequests) in \(f(sustainedSeconds)) s) |
                | raw librdkafka, same broker, \(recordBytes) B records: the same closed loop, each record acknowledged before the next goes | \(Int(rawAcknowledgedPerSecond)) records/s; ratio \(String(format: "%.3f", ratioToRaw)) |
                | CPU per request in the closed loop | \(cpu) |
                | the adapter's CPU per request on \(cores) cores of its own (a ceiling, not measured) | \(Int(adapterCeilingPerSecond)) req/s |
                | the adapter's peak memory (resident) | \(adapterPeakMemory / 1_048_576) MiB |
                | fixed rate \(fixedRate) req/s: achieved | \(Int(fixedAchieved)) req/s (\(fixedRequests) requests) |
                | ack latency p50 / p99 / max at \(fixedRate) req/s (from when each was due) | \(f(p50)) / \(f(p99)) / \(f(max)) ms |
                | raw librdkafka at \(fixedRate) records/s: due → delivery report p50 / p99 | \(f(rawP50)) / \(f(rawP99)) ms |
                | answers other than ZT 0 | \(failures) |
                | work orders accepted / incidents on Kafka | \(accepted) / \(onKafka) |
                """
        }
    }

    public static func run(options: Options) async throws -> Report {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-bench-hotline-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        var processes: [DaemonProcess] = []
        func stopAll() async {
            for p in processes.reversed() { await p.stop() }
        }
        do {
            let report = try await measure(options: options, work: work, started: { processes.append($0) })
            await stopAll()
            return report
        } catch {
            await stopAll()
            throw error
        }
    }

    private static func measure(options: Options, work: URL, started: (DaemonProcess) -> Void) async throws -> Report {
        let exe = options.executable
        let (broker, bootstrap, kafkaEnv) = try await DaemonProcess.broker(exe, work: work)
        started(broker)
        let secret = "bench-secret"
        // No results go back to the platform in this benchmark: the URL is a free port nobody listens on.
        let adapter = try DaemonProcess(exe, ["adapter", "hotline12345", "--listen", "127.0.0.1:0", "--hotline-url", "http://127.0.0.1:\(try freeLoopbackPort())",
                                              "--state-dir", work.appendingPathComponent("hotline").path, "--reference-dir", options.referenceDirectory.path],
                                        environment: kafkaEnv.merging(["GRIDHUB_HOTLINE_SECRET": secret]) { $1 }, log: work.appendingPathComponent("hotline.log"))
        started(adapter)
        let address = String(try await adapter.line(prefix: "GRIDHUB_LISTEN=", timeout: .seconds(120)).dropFirst("GRIDHUB_LISTEN=".count))
        try await DaemonProcess.waitReady("http://\(address)/readyz")
        let load = try HTTPLoad(address: address, check: HTTPLoad.Request.isHotlineAcceptance)
        let reference = try ReferenceLocation.load(from: options.referenceDirectory)
        let orders = WorkOrders(corpus: HotlineOrderCorpus(reference: reference), secret: Array(secret.utf8), host: address)

        // Warm-up: connections, the adapter's first records (orders of their own, numbered apart).
        let warm = try await load.closedLoop(orders.requests(20_000_000 ..< 20_000_200), connections: 8, deadline: .now + .seconds(30))
        guard warm.completed == 200 else { throw ExternalCommandError("warm-up: \(warm.completed) of 200 work orders accepted; see \(work.path)/hotline.log") }

        // Phase 1: closed loop.
        let closed = orders.requests(0 ..< options.requests)
        let daemons: [(String, DaemonProcess)] = [(Report.adapter, adapter), (Report.broker, broker)]
        let cpuBefore = daemons.map { $0.1.cpuSeconds() }, generatorBefore = processCPUSeconds(getpid())
        let sustained = try await load.closedLoop(closed, connections: options.concurrency, deadline: .now + options.maxDuration)
        var cpu: [String: Double] = [:]
        let answered = Double(max(1, sustained.completed + sustained.failures))
        for (k, d) in daemons.enumerated() { cpu[d.0] = (d.1.cpuSeconds() - cpuBefore[k]) / answered * 1e6 }
        cpu[Report.generator] = (processCPUSeconds(getpid()) - generatorBefore) / answered * 1e6

        // Phase 2: open loop at a fixed rate.
        let total = options.fixedRate * Int(options.fixedDuration.components.seconds)
        let fixed = try await load.fixedRate(orders.requests(10_000_000 ..< 10_000_000 + total), rate: options.fixedRate,
                                             connections: options.concurrency)
        // Every order answered ZT 0 is on Kafka, and none twice: an order not answered ZT 0 may be there
        // (stored, then its answer lost), but no more records than orders sent.
        let accepted = warm.completed + sustained.completed + fixed.completed
        let sent = accepted + warm.failures + sustained.failures + fixed.failures
        let admin = try KafkaAdmin(configuration: KafkaClientConfiguration(bootstrapServers: bootstrap), logger: Logger(label: "gridhub.bench.hotline"))
        let onKafka = Int(try await admin.endOffsets(topic: Topics.incidents).reduce(0) { $0 + $1.offset })
        guard (accepted...sent).contains(onKafka) else {
            throw ExternalCommandError("\(accepted) of \(sent) work orders were accepted but \(Topics.incidents) holds \(onKafka) records; see \(work.path)/hotline.log")
        }
        // Raw librdkafka on the same broker, with records of the size of the incidents the adapter writes
        // (value and headers, averaged over orders of the same corpus): the same closed loop, then the same
        // fixed rate. The adapter is idle meanwhile.
        let sample = try (0..<500).map { n in
            try RouterBenchmark.record(for: orders.corpus.order(n, id: "BENCH-RAW-\(n)").incident(reference: reference, receivedAt: Date()))
        }
        let recordBytes = sample.reduce(0) { $0 + $1.value.count + $1.headers.reduce(0) { $0 + $1.key.utf8.count + $1.value.count } } / sample.count
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: recordBytes)
        let rawSeconds = try KafkaBaseline.acknowledgedClosedLoop(bootstrap: bootstrap, topic: "bench.raw.acks", count: options.requests, value: value,
                                                                  inFlight: options.concurrency)
        let rawLatencies = try KafkaBaseline.acknowledgementLatency(bootstrap: bootstrap, topic: "bench.raw.acks", rate: options.fixedRate, count: total, value: value)
        return Report(sustainedRequests: sustained.completed, sustainedSeconds: sustained.seconds, fixedRate: options.fixedRate, fixedRequests: total,
                      fixedAchieved: Double(fixed.completed + fixed.failures) / fixed.seconds,
                      p50: E2EBenchmark.percentile(fixed.latencies, 0.5), p99: E2EBenchmark.percentile(fixed.latencies, 0.99),
                      max: fixed.latencies.last ?? 0, failures: sustained.failures + fixed.failures, accepted: accepted, onKafka: onKafka,
                      cpuMicrosecondsPerRequest: cpu, cores: ProcessInfo.processInfo.activeProcessorCount,
                      adapterPeakMemory: processPeakMemory(adapter.pid), recordBytes: recordBytes,
                      rawAcknowledgedPerSecond: Double(options.requests) / rawSeconds,
                      rawP50: E2EBenchmark.percentile(rawLatencies, 0.5), rawP99: E2EBenchmark.percentile(rawLatencies, 0.99))
    }
}

/// The benchmark's work orders: each of a problem of its own (``HotlineOrderCorpus``, as in
/// `gridhub bench e2e`), GBK-encoded and signed as the 12345 platform sends them.
private struct WorkOrders {
    let corpus: HotlineOrderCorpus
    let secret: [UInt8]
    let host: String
    let run = UUID().uuidString.prefix(8)

    /// Requests for orders `numbers`, signed now (the adapter accepts a signature for 300 s).
    func requests(_ numbers: Range<Int>) -> [HTTPLoad.Request] {
        let timestamp = Int64(Date().timeIntervalSince1970)
        return numbers.map { n in
            .hotlineWorkOrder(corpus.order(n, id: "BENCH-\(run)-\(n)"), secret: secret, host: host, timestamp: timestamp)
        }
    }
}

extension HTTPLoad.Request {
    /// A 12345 work order as the platform pushes it: GBK, signed with `timestamp`.
    static func hotlineWorkOrder(_ order: Hotline12345.WorkOrder, secret: [UInt8], host: String, timestamp: Int64) -> HTTPLoad.Request {
        let body = HotlinePlatform.body(order, encoding: .gbk)
        let ts = String(timestamp)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Content-Type", value: "application/xml; charset=GBK")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "X-Hotline-Timestamp", value: ts)
        headers.add(name: "X-Hotline-Signature", value: Hotline12345.signature(secret: secret, timestamp: ts, body: body))
        return HTTPLoad.Request(head: HTTPRequestHead(version: .http1_1, method: .POST, uri: "/hotline12345/workorders", headers: headers),
                                body: ByteBuffer(bytes: body))
    }

    /// Whether an answer of the adapter is `ZT 0`: the order is on Kafka.
    @Sendable static func isHotlineAcceptance(_ status: HTTPResponseStatus, _ body: ByteBuffer) -> Bool {
        status == .ok && Hotline12345.parseAnswer(String(buffer: body))?.code == 0
    }
}
