import AsyncHTTPClient
import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubSimulation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// `gridhub bench e2e`: the hub as ops run it — `gridhub broker`, PostgreSQL with the settings ops are
/// given, `gridhub router` and `gridhub adapter hotline12345` as processes — and signed 12345 work
/// orders pushed at a fixed rate. Measured: from the adapter's answer `ZT 0` (the order is on Kafka) to
/// the department's dispatch being readable on its topic (a consumer reading committed records, as a
/// department does); the daemons' CPU while idle and under load (with nothing to do, the other three
/// adapters too: every daemon ops deploy); and, on the same broker in the same run, raw librdkafka's
/// produce → consume latency at the same rate.
public enum E2EBenchmark {
    /// What a merged report of a case record carries (the router writes `"match":null` for the others).
    private static let matchKey = Array(#""match":{"#.utf8)
    /// The name of this process's figures: the load, the platform's double, the department's consumer.
    static let benchmarkProcess = "benchmark (load, 12345 double, department)"

    /// Whether `needle` occurs in `bytes` (a plain scan: Foundation's generic `firstRange(of:)` on
    /// `[UInt8]` cost more than the decoding it saved).
    private static func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, bytes.count >= needle.count else { return false }
        return bytes.withUnsafeBufferPointer { b in
            needle.withUnsafeBufferPointer { n in
                var i = 0
                let last = b.count - n.count
                while i <= last {
                    if b[i] == first {
                        var k = 1
                        while k < n.count && b[i + k] == n[k] { k += 1 }
                        if k == n.count { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }

    public struct Options: Sendable {
        /// The `gridhub` executable.
        public var executable: String
        public var referenceDirectory: URL
        public var rate = 1_000
        public var seconds = 20
        /// How long the daemons are watched with nothing to do.
        public var idleSeconds = 20
        public var postgresSettings: [String: String] = [:]
        /// Whether the router and the adapter run on the allocator their systemd units preload (jemalloc
        /// when installed), as ops run them; false: on glibc's malloc.
        public var deployedAllocator = true
        public init(executable: String, referenceDirectory: URL) {
            self.executable = executable
            self.referenceDirectory = referenceDirectory
        }
    }

    public struct Report: Sendable, Codable {
        public var rate: Int
        public var orders: Int
        public var accepted: Int
        public var dispatched: Int
        /// Accepted orders the router merged into another order's case (two orders of one item close
        /// together: one problem), so they have no dispatch of their own; seen on the cases topic.
        public var merged: Int
        /// Accepted orders neither dispatched nor merged within the wait after the load.
        public var missing: Int
        public var achievedRate: Double
        /// Adapter answer (`ZT 0`) → dispatch readable, milliseconds.
        public var p50: Double
        public var p95: Double
        public var p99: Double
        public var max: Double
        /// The adapter's answer after the request was sent, milliseconds.
        public var ackP50: Double
        public var ackP99: Double
        /// Raw librdkafka on the same broker at the same rate: produce → consumed, milliseconds.
        public var rawP50: Double
        public var rawP99: Double
        /// Share of one core each daemon used with nothing to do, percent: the router, the broker, PostgreSQL
        /// and all four adapters (the three besides the 12345 adapter are stopped before the load).
        public var idleCPU: [String: Double]
        /// Share of one core each daemon used under load, percent, and CPU microseconds per order.
        public var loadCPU: [String: Double]
        public var cpuMicrosecondsPerOrder: [String: Double]
        /// The router's transactions (consumed batches, whole run with warm-up) and their mean time, milliseconds.
        public var routerBatches: Int
        public var routerBatchMilliseconds: Double
        /// The latency split at the router's `issuedAt` of the dispatch (wall clock, milliseconds): accepted →
        /// issued (Kafka to the router, its transaction), issued → readable (outbox, Kafka to the department).
        public var toIssueP50: Double
        public var toIssueP99: Double
        public var toReadP50: Double
        public var toReadP99: Double
        /// The publishing side split again at the dispatch record's Kafka timestamp (set by the router's
        /// producer when the outbox publisher hands it the record; whole milliseconds): issued → handed to
        /// the producer (the rest of the transaction, its commit, the publisher's round), and handed to the
        /// producer → readable (Kafka: linger, the broker, the department's fetch).
        public var toSendP50: Double
        public var toSendP99: Double
        public var sentToReadP50: Double
        public var sentToReadP99: Double
        /// The malloc each daemon ran on, read from its memory map.
        public var allocators: [String: String]

        public var table: String {
            func f(_ v: Double) -> String { String(format: "%.1f", v) }
            var lines = [
                "| end to end: 12345 order accepted → dispatch readable (processes: broker, PostgreSQL, router, hotline adapter; the other adapters idle only) | figure |",
                "| --- | --- |",
                "| orders at \(rate)/s for the run: sent / accepted / dispatched / merged into another's case / missing | \(orders) / \(accepted) / \(dispatched) / \(merged) / \(missing) (achieved \(Int(achievedRate))/s) |",
                "| latency p50 / p95 / p99 / max | \(f(p50)) / \(f(p95)) / \(f(p99)) / \(f(max)) ms |",
                "| the adapter's answer p50 / p99 | \(f(ackP50)) / \(f(ackP99)) ms |",
                "| raw librdkafka produce → consume at \(rate)/s, same broker, p50 / p99 | \(f(rawP50)) / \(f(rawP99)) ms |",
                "| accepted → dispatch issued by the router (p50 / p99) | \(f(toIssueP50)) / \(f(toIssueP99)) ms |",
                "| dispatch issued → readable by the department (p50 / p99) | \(f(toReadP50)) / \(f(toReadP99)) ms |",
                "| … issued → handed to the router's producer (p50 / p99) | \(f(toSendP50)) / \(f(toSendP99)) ms |",
                "| … handed to the producer → readable (p50 / p99) | \(f(sentToReadP50)) / \(f(sentToReadP99)) ms |",
                "| the router's transactions (consumed batches) and their mean time | \(routerBatches), \(f(routerBatchMilliseconds)) ms |",
                "| malloc of the router / the adapter (their systemd units preload jemalloc) | \(allocators["router"] ?? "?") / \(allocators["hotline adapter"] ?? "?") |",
            ]
            for name in idleCPU.keys.sorted() where loadCPU[name] == nil {
                lines.append("| \(name): CPU idle (share of one core; stopped before the load) | \(String(format: "%.2f", idleCPU[name]!)) % |")
            }
            for name in idleCPU.keys.sorted() where loadCPU[name] != nil {
                lines.append("| \(name): CPU idle / under load (share of one core), per order | \(String(format: "%.2f", idleCPU[name]!)) % / \(f(loadCPU[name] ?? 0)) %, \(Int(cpuMicrosecondsPerOrder[name] ?? 0)) µs |")
            }
            let bench = E2EBenchmark.benchmarkProcess
            lines.append("| \(bench): CPU under load (share of one core), per order | \(f(loadCPU[bench] ?? 0)) %, \(Int(cpuMicrosecondsPerOrder[bench] ?? 0)) µs |")
            return lines.joined(separator: "\n")
        }
    }

    public static func run(options: Options, logger: Logger) async throws -> Report {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-bench-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        var processes: [DaemonProcess] = []
        var postgres: PostgresInstance? = nil
        func stopAll() async {
            for p in processes.reversed() { await p.stop() }
            try? await postgres?.stop()
            // The cluster goes with the run (it may live outside `work`, see PostgresInstance).
            try? await postgres?.discardCluster()
        }
        do {
            let report = try await measure(options: options, work: work, logger: logger, started: { processes.append($0) }, database: { postgres = $0 })
            await stopAll()
            return report
        } catch {
            await stopAll()
            throw error
        }
    }

    private static func measure(options: Options, work: URL, logger: Logger, started: (DaemonProcess) -> Void,
                                database: (PostgresInstance) -> Void) async throws -> Report {
        let exe = options.executable
        let (broker, bootstrap, kafkaEnv) = try await DaemonProcess.broker(exe, work: work)
        started(broker)
        // PostgreSQL as ops run it.
        var settings = PostgresInstance.Configuration(dataDirectory: work.appendingPathComponent("postgres"), port: try freeLoopbackPort())
        settings.settings = options.postgresSettings
        let pg = try PostgresInstance(configuration: settings, logger: logger)
        database(pg)
        try await pg.start()
        // The 12345 platform's side, for the results the adapter reports back.
        let secret = "bench-e2e-secret"
        let platform = HotlinePlatform(hubURL: "http://127.0.0.1:0", secret: Array(secret.utf8))
        let (ports, portsContinuation) = AsyncStream<Int>.makeStream()
        let platformServer = platform.server(logger: logger) { portsContinuation.yield($0) }
        // City Woodpecker's open API, for the Woodpecker adapter watched idle (no reports to poll).
        let woodpeckerToken = "bench-e2e-woodpecker-token"
        let (woodpeckerPorts, woodpeckerPortsContinuation) = AsyncStream<Int>.makeStream()
        let woodpeckerServer = WoodpeckerAPI(token: woodpeckerToken).server(logger: logger) { woodpeckerPortsContinuation.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [.init(service: platformServer), .init(service: woodpeckerServer)], logger: logger))
        return try await withThrowingTaskGroup(of: Report?.self, returning: Report.self) { tasks in
            tasks.addTask { try await group.run(); return nil }
            var platformPort = 0
            for await p in ports { platformPort = p; break }
            let reference = options.referenceDirectory.path
            // The router and the adapter on the allocator ops run them on (Deploy/systemd), unless told otherwise.
            let allocator = options.deployedAllocator ? DaemonProcess.deployedAllocator : [:]
            let router = try DaemonProcess(exe, ["router", "--admin-listen", "127.0.0.1:0", "--reference-dir", reference],
                                           environment: kafkaEnv.merging(["GRIDHUB_DATABASE_URL": pg.url]) { $1 }.merging(allocator) { $1 },
                                           log: work.appendingPathComponent("router.log"))
            started(router)
            let routerAdmin = String(try await router.line(prefix: "GRIDHUB_LISTEN=", timeout: .seconds(120)).dropFirst("GRIDHUB_LISTEN=".count))
            let adapter = try DaemonProcess(exe, ["adapter", "hotline12345", "--listen", "127.0.0.1:0", "--hotline-url", "http://127.0.0.1:\(platformPort)",
                                                  "--state-dir", work.appendingPathComponent("hotline").path, "--reference-dir", reference],
                                            environment: kafkaEnv.merging(["GRIDHUB_HOTLINE_SECRET": secret]) { $1 }.merging(allocator) { $1 },
                                            log: work.appendingPathComponent("hotline.log"))
            started(adapter)
            let adapterAddress = String(try await adapter.line(prefix: "GRIDHUB_LISTEN=", timeout: .seconds(120)).dropFirst("GRIDHUB_LISTEN=".count))
            for address in [routerAdmin, adapterAddress] { try await DaemonProcess.waitReady("http://\(address)/readyz") }
            let allocators = ["router": MemoryAllocator.of(process: router.pid), "hotline adapter": MemoryAllocator.of(process: adapter.pid)]
            // The other three adapters, watched idle only (stopped before the load): every daemon ops deploy.
            var woodpeckerPort = 0
            for await p in woodpeckerPorts { woodpeckerPort = p; break }
            let idleOnly = try await startIdleAdapters(options, work: work, environment: kafkaEnv.merging(allocator) { $1 },
                                                       woodpeckerURL: "http://127.0.0.1:\(woodpeckerPort)", woodpeckerToken: woodpeckerToken, started: started)

            // Idle: nothing to do for a while.
            try await Task.sleep(for: .seconds(2))
            // PostgreSQL is counted with its backends: the router's statements run there.
            let server = await pg.serverProcess()
            let daemons: [(String, @Sendable () -> Double)] = [("router", router.cpuSeconds), ("hotline adapter", adapter.cpuSeconds), ("broker", broker.cpuSeconds),
                                                               ("PostgreSQL", { server.map(processTreeCPUSeconds) ?? 0 })]
            let watchedIdle = daemons + idleOnly.map { d in (d.name, d.process.cpuSeconds) }
            let idleStart = watchedIdle.map { $0.1() }, idleClock = ContinuousClock.now
            try await Task.sleep(for: .seconds(options.idleSeconds))
            let idleWall = (ContinuousClock.now - idleClock).seconds
            var idleCPU: [String: Double] = [:]
            for (k, d) in watchedIdle.enumerated() { idleCPU[d.0] = (d.1() - idleStart[k]) / idleWall * 100 }
            for d in idleOnly { await d.process.stop() }

            // Raw librdkafka on the same broker at the same rate.
            logger.notice("idle measured; raw librdkafka round trip")
            let raw = try await rawRoundTrip(bootstrap: bootstrap, rate: options.rate, seconds: min(options.seconds, 10), logger: logger)
            logger.notice("raw measured; load")

            // The department's side: every dispatch topic, committed records only.
            let dispatchTopics = Topics.all(departments: try ReferenceLocation.load(from: options.referenceDirectory).departments).filter { $0.hasPrefix("gridhub.dispatch.") }
            var consumerConfig = KafkaConsumerConfiguration(client: KafkaClientConfiguration(bootstrapServers: bootstrap), groupID: "bench-e2e-\(UUID().uuidString.prefix(6))")
            consumerConfig.offsetReset = .latest
            consumerConfig.pollTimeoutMilliseconds = 10
            let consumer = try KafkaConsumer(configuration: consumerConfig, logger: logger)
            // The cases topic too: an order merged into another's case is dispatched with it, not alone.
            try consumer.subscribe(topics: dispatchTopics + [Topics.cases])
            let shared = E2EShared()
            tasks.addTask {
                let decoder = GridHubJSON.decoder()
                while shared.reading.load(ordering: .relaxed) {
                    let records = try await consumer.poll(timeout: .milliseconds(20))
                    if !consumer.assignment.isEmpty { shared.readyToRead.store(true, ordering: .relaxed) }
                    let now = ContinuousClock.now, wall = Date()
                    for r in records {
                        // Only the fields the measurement needs are read, and a case only when one of its
                        // reports was merged: decoding every case and dispatch in full with the model's
                        // strict decoder took a fifth of a core at 1 000/s, from the daemons it measures.
                        if r.topic == Topics.cases {
                            guard Self.contains(r.value, Self.matchKey),
                                  let c = try? decoder.decode(CaseReports.self, from: Data(r.value)) else { continue }
                            let merged = c.reports.filter { $0.match != nil }.map(\.recordId)
                            if !merged.isEmpty { shared.merged.withLock { $0.formUnion(merged) } }
                            continue
                        }
                        guard let d = try? decoder.decode(DispatchReports.self, from: Data(r.value)) else { continue }
                        shared.seen.withLock { s in for report in d.reports where s[report.recordId] == nil { s[report.recordId] = now } }
                        let sent = r.timestampMilliseconds.map { Date(timeIntervalSince1970: Double($0) / 1000) }
                        shared.issued.withLock { s in for report in d.reports where s[report.recordId] == nil { s[report.recordId] = (d.issuedAt, sent, wall) } }
                    }
                }
                await consumer.close()
                return nil
            }
            while !shared.readyToRead.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(100)) }
            try await Task.sleep(for: .seconds(2))

            // The load: one order per problem (its own door plate and item), pushed at a fixed rate by a
            // lean generator (`HTTPLoad`), so that the two cores go to the daemons measured. Every order is
            // built and signed before the clock starts, with the time it is due as its timestamp (the
            // adapter accepts a signature within 300 s of its time), as the platform signs it when sending.
            let corpus = HotlineOrderCorpus(reference: try ReferenceLocation.load(from: options.referenceDirectory))
            let run = UUID().uuidString.prefix(6)
            // Two seconds of warm-up (connections, the router's first transactions), not counted.
            let warmUp = options.rate * 2
            let total = options.rate * options.seconds + warmUp
            let signedFrom = Int64(Date().timeIntervalSince1970)
            var ids: [String] = [], requests: [HTTPLoad.Request] = []
            ids.reserveCapacity(total)
            requests.reserveCapacity(total)
            for i in 0..<total {
                let order = corpus.order(i, id: "E2E-\(run)-\(i)")
                ids.append(order.id)
                requests.append(HTTPLoad.Request.hotlineWorkOrder(order, secret: Array(secret.utf8), host: adapterAddress,
                                                                  timestamp: signedFrom + Int64(i / options.rate)))
            }
            var load = try HTTPLoad(address: adapterAddress, check: HTTPLoad.Request.isHotlineAcceptance)
            load.answered = { [ids] index, ok, due, at in
                guard ok else { shared.failures.add(1, ordering: .relaxed); return }
                guard index >= warmUp else { return }
                shared.accepted.withLock { $0[ids[index]] = (at, (at - due).fractionalMilliseconds) }
                shared.acceptedWall.withLock { $0[ids[index]] = Date() }
            }
            // The daemons' CPU is counted from the end of the warm-up.
            let loadStarted = LoadStart()
            // Enough connections that an order is rarely kept waiting behind another on its connection
            // (each sends one every 256 / rate seconds); a wait counts in its latency.
            _ = try await load.fixedRate(requests, rate: options.rate, connections: 256) { start in
                loadStarted.clock.withLock { $0 = start }
                Task {
                    try? await Task.sleep(until: start + .seconds(2), clock: .continuous)
                    let cpu = daemons.map { $0.1() } + [processCPUSeconds(getpid())]
                    loadStarted.cpu.withLock { $0 = cpu }
                }
            }
            let loadClock = try loadStarted.clock.withLock { c in try c ?? { throw ExternalCommandError("the load did not start") }() }
            // The daemons', then this process's.
            let loadStart = loadStarted.cpu.withLock { $0 } ?? Array(repeating: 0, count: daemons.count + 1)
            let loadWall = (ContinuousClock.now - loadClock).seconds - 2
            // Wait for the dispatches (at most 60 s after the last order).
            let acceptedOrders = shared.accepted.withLock { $0 }
            let waitUntil = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < waitUntil {
                let merged = shared.merged.withLock { $0 }
                let got = shared.seen.withLock { s in acceptedOrders.keys.filter { s[$0] != nil || merged.contains($0) }.count }
                if got == acceptedOrders.count { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            let processWall = (ContinuousClock.now - loadClock).seconds - 2
            var loadCPU: [String: Double] = [:], perOrder: [String: Double] = [:]
            for (k, d) in daemons.enumerated() {
                let used = d.1() - loadStart[k]
                loadCPU[d.0] = used / processWall * 100
                perOrder[d.0] = used / Double(max(1, acceptedOrders.count)) * 1e6
            }
            // This process: the load generator, the 12345 platform's double and the department's consumer.
            let benchUsed = processCPUSeconds(getpid()) - loadStart[daemons.count]
            loadCPU[Self.benchmarkProcess] = benchUsed / processWall * 100
            perOrder[Self.benchmarkProcess] = benchUsed / Double(max(1, acceptedOrders.count)) * 1e6
            shared.reading.store(false, ordering: .relaxed)
            // The router's own account: transactions (batches) and their mean time.
            var routerBatches = 0.0, routerBatchSeconds = 0.0
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "http://\(routerAdmin)/metrics"), timeout: .seconds(5)),
               let body = try? await response.body.collect(upTo: 8 << 20) {
                for line in String(decoding: body.readableBytesView, as: UTF8.self).split(separator: "\n") where line.hasPrefix("gridhub_router_batch_seconds_") {
                    let parts = line.split(separator: " ")
                    if line.hasPrefix("gridhub_router_batch_seconds_count") { routerBatches = Double(parts.last ?? "") ?? 0 }
                    if line.hasPrefix("gridhub_router_batch_seconds_sum") { routerBatchSeconds = Double(parts.last ?? "") ?? 0 }
                }
            }
            let dispatchedAt = shared.seen.withLock { $0 }
            let mergedOrders = shared.merged.withLock { m in Set(acceptedOrders.keys.filter { dispatchedAt[$0] == nil && m.contains($0) }) }
            var latencies: [Double] = []
            for (id, a) in acceptedOrders { if let d = dispatchedAt[id] { latencies.append(max(0, (d - a.at).fractionalMilliseconds)) } }
            latencies.sort()
            let acks = acceptedOrders.values.map(\.ack).sorted()
            // Where the time goes: accepted → issued by the router, issued → read by the department.
            let walls = shared.acceptedWall.withLock { $0 }, issuedAt = shared.issued.withLock { $0 }
            var toIssue: [Double] = [], toRead: [Double] = [], toSend: [Double] = [], sentToRead: [Double] = []
            for (id, a) in walls {
                guard let i = issuedAt[id] else { continue }
                toIssue.append(i.issuedAt.timeIntervalSince(a) * 1000)
                toRead.append(i.readAt.timeIntervalSince(i.issuedAt) * 1000)
                if let sent = i.sentAt {
                    toSend.append(sent.timeIntervalSince(i.issuedAt) * 1000)
                    sentToRead.append(i.readAt.timeIntervalSince(sent) * 1000)
                }
            }
            toIssue.sort()
            toRead.sort()
            toSend.sort()
            sentToRead.sort()
            await group.triggerGracefulShutdown()
            for try await _ in tasks {}
            return Report(rate: options.rate, orders: total - warmUp, accepted: acceptedOrders.count, dispatched: latencies.count,
                          merged: mergedOrders.count, missing: acceptedOrders.count - latencies.count - mergedOrders.count, achievedRate: Double(total - warmUp) / loadWall,
                          p50: percentile(latencies, 0.5), p95: percentile(latencies, 0.95), p99: percentile(latencies, 0.99), max: latencies.last ?? 0,
                          ackP50: percentile(acks, 0.5), ackP99: percentile(acks, 0.99), rawP50: percentile(raw, 0.5), rawP99: percentile(raw, 0.99),
                          idleCPU: idleCPU, loadCPU: loadCPU, cpuMicrosecondsPerOrder: perOrder,
                          routerBatches: Int(routerBatches), routerBatchMilliseconds: routerBatches > 0 ? routerBatchSeconds / routerBatches * 1000 : 0,
                          toIssueP50: percentile(toIssue, 0.5), toIssueP99: percentile(toIssue, 0.99),
                          toReadP50: percentile(toRead, 0.5), toReadP99: percentile(toRead, 0.99),
                          toSendP50: percentile(toSend, 0.5), toSendP99: percentile(toSend, 0.99),
                          sentToReadP50: percentile(sentToRead, 0.5), sentToReadP99: percentile(sentToRead, 0.99),
                          allocators: allocators)
        }
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    /// Produce → consume latency of raw librdkafka records of about a dispatch's size, at `rate`.
    static func rawRoundTrip(bootstrap: String, rate: Int, seconds: Int, logger: Logger) async throws -> [Double] {
        let topic = "bench.e2e.raw.\(UUID().uuidString.prefix(6))"
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do { continuation.resume(returning: try KafkaBaseline.latency(bootstrap: bootstrap, topic: topic, rate: rate, count: rate * seconds, size: 1_000)) }
                catch { continuation.resume(throwing: error) }
            }
        }
    }
}

extension Duration {
    /// In milliseconds, with fractions (``seconds`` is GridHubRuntime's).
    fileprivate var fractionalMilliseconds: Double { seconds * 1000 }
}

extension E2EBenchmark {
    /// `gridhub adapter woodpecker` (polling `woodpeckerURL`, which has no reports), `elink` and
    /// `enforcement` (an empty inbox) as processes, each ready (its `/readyz` answers 200).
    static func startIdleAdapters(_ options: Options, work: URL, environment: [String: String], woodpeckerURL: String, woodpeckerToken: String,
                                  started: (DaemonProcess) -> Void) async throws -> [(name: String, process: DaemonProcess)] {
        let reference = options.referenceDirectory.path
        func folder(_ name: String) throws -> String {
            let url = work.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url.path
        }
        let commands: [(String, [String], [String: String])] = [
            ("woodpecker adapter", ["adapter", "woodpecker", "--api", woodpeckerURL, "--admin-listen", "127.0.0.1:0", "--state-dir", try folder("woodpecker"),
                                    "--reference-dir", reference], ["GRIDHUB_WOODPECKER_TOKEN": woodpeckerToken]),
            ("elink adapter", ["adapter", "elink", "--listen", "127.0.0.1:0", "--state-dir", try folder("elink"), "--reference-dir", reference],
             ["GRIDHUB_ELINK_API_KEY": "bench-e2e-elink-key"]),
            ("enforcement adapter", ["adapter", "enforcement", "--inbox", try folder("enforcement-inbox"), "--outbox", try folder("enforcement-outbox"),
                                     "--admin-listen", "127.0.0.1:0", "--state-dir", try folder("enforcement"), "--reference-dir", reference], [:]),
        ]
        var adapters: [(name: String, process: DaemonProcess)] = []
        for (name, arguments, own) in commands {
            let process = try DaemonProcess(options.executable, arguments, environment: environment.merging(own) { $1 },
                                            log: work.appendingPathComponent("\(arguments[1]).log"))
            started(process)
            adapters.append((name, process))
        }
        for (_, process) in adapters {
            let address = String(try await process.line(prefix: "GRIDHUB_LISTEN=", timeout: .seconds(120)).dropFirst("GRIDHUB_LISTEN=".count))
            try await DaemonProcess.waitReady("http://\(address)/readyz")
        }
        return adapters
    }
}

/// The reports of a case record, as far as the benchmark reads them.
private struct CaseReports: Decodable {
    struct Report: Decodable {
        var recordId: String
        var match: Match?
    }
    /// Present when the report was merged into the case; its contents are not read.
    struct Match: Decodable {}
    var reports: [Report]
}

/// A dispatch record, as far as the benchmark reads it.
private struct DispatchReports: Decodable {
    struct Report: Decodable { var recordId: String }
    var issuedAt: Date
    var reports: [Report]
}

/// What the benchmark's tasks share.
private final class E2EShared: Sendable {
    let seen = Mutex<[String: ContinuousClock.Instant]>([:])
    /// When each order's dispatch was issued by the router (its `issuedAt`), handed to its producer (the
    /// record's Kafka timestamp) and read, wall clock.
    let issued = Mutex<[String: (issuedAt: Date, sentAt: Date?, readAt: Date)]>([:])
    let accepted = Mutex<[String: (at: ContinuousClock.Instant, ack: Double)]>([:])
    let acceptedWall = Mutex<[String: Date]>([:])
    /// Record ids of orders merged into another order's case.
    let merged = Mutex<Set<String>>([])
    let failures = Atomic<Int>(0)
    let reading = Atomic<Bool>(true)
    let readyToRead = Atomic<Bool>(false)
}

/// When the e2e load started, and the daemons' CPU seconds at the end of its warm-up.
private final class LoadStart: Sendable {
    let clock = Mutex<ContinuousClock.Instant?>(nil)
    let cpu = Mutex<[Double]?>(nil)
}
