import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubSimulation
import GridHubTesting
import Synchronization
import Testing

@Suite("Adapters when Kafka or the adapter fails", .timeLimit(.minutes(3)))
struct AdapterFaultTests {
    @Test("Kafka unreachable: busy answers (ZT 429), /readyz 503, nothing accepted without storage; Kafka back: accepted")
    func busyWhileKafkaSlow() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: TestKafka.quietLogger)
        let topics = try await TestTopics.make(cluster)
        let adapter = try PushAdapter.hotline(topics, deliveryTimeout: .seconds(3))
        let prefix = "JY-B-\(UUID().uuidString.prefix(6))"
        let accepted = Locked<[String]>([])
        try await adapter.run { (url: String) async throws -> Void in
            let hotline = HotlinePlatform(hubURL: url, secret: Fixtures.secret)
            #expect(try await hotline.push(Fixtures.workOrder("\(prefix)-1")).code == 0)
            accepted.withLock { $0.append("\(prefix)-1") }
            // The broker stops answering in time.
            await cluster.setRoundTripTime(.seconds(20))
            var ready = 200
            for _ in 0..<100 where ready == 200 {
                ready = try await httpGet(url + "/readyz").0
                if ready == 200 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(ready == 503)
            // Work order 2 as the platform sends it: signed once; its retries repeat the same request.
            let body = HotlinePlatform.body(Fixtures.workOrder("\(prefix)-2"), encoding: .gbk)
            let ts = Int64(Date().timeIntervalSince1970)
            let signature = Hotline12345.signature(secret: Fixtures.secret, timestamp: String(ts), body: body)
            func pushTwo() async throws -> HotlinePlatform.Answer {
                try await hotline.push(path: "/hotline12345/workorders", body: body, contentType: "application/xml; charset=GBK", timestamp: ts, signature: signature)
            }
            #expect(try await pushTwo().code == 429)
            for i in 3...4 {
                let answer = try await hotline.push(Fixtures.workOrder("\(prefix)-\(i)"))
                #expect(answer.code == 429, "\(answer)")
                if answer.code == 0 { accepted.withLock { $0.append("\(prefix)-\(i)") } }
            }
            // The broker is back: the platform's retry of the very same signed request is accepted (it
            // used to be refused 401 as a replay, its signature remembered before it was processed).
            await cluster.setRoundTripTime(.zero)
            var answer = try await pushTwo()
            for _ in 0..<100 where answer.code == 429 {
                try await Task.sleep(for: .milliseconds(200))
                answer = try await pushTwo()
            }
            #expect(answer.code == 0, "\(answer)")
            accepted.withLock { $0.append("\(prefix)-2") }
        }
        let stored = Set(try await topics.incidents(count: 2, settle: .seconds(2)).map(\.source.recordId))
        #expect(Set(accepted.value).isSubset(of: stored))
        #expect(!stored.contains("\(prefix)-3") && !stored.contains("\(prefix)-4"))
    }

    @Test("broker down for good: every request is answered busy at once, nothing accepted")
    func brokerDown() async throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: TestKafka.quietLogger)
        let topics = try await TestTopics.make(cluster)
        // "At once" means without waiting for a delivery timeout: with one of 60 s, an answer within 25 s
        // cannot have waited for it (a loaded CI machine took 2.8 s for one HTTP round trip, and 11.8 s
        // for one of these answers while the whole suite started at once).
        let adapter = try PushAdapter.hotline(topics, deliveryTimeout: .seconds(60))
        try await adapter.run { (url: String) async throws -> Void in
            let hotline = HotlinePlatform(hubURL: url, secret: Fixtures.secret)
            // The broker goes away for good. (Not setBrokerDown: librdkafka 2.0.2's mock re-listens on the
            // broker's port at once and aborts the process if that fails.)
            await cluster.shutdown()
            var ready = 200
            for _ in 0..<100 where ready == 200 {
                ready = try await httpGet(url + "/readyz").0
                if ready == 200 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(ready == 503)
            for i in 0..<5 {
                let started = ContinuousClock.now
                let answer = try await hotline.push(Fixtures.workOrder("JY-D-\(i)"))
                #expect(answer.code == 429)
                #expect(ContinuousClock.now - started < .seconds(25))
            }
            let metrics = try await httpGet(url + "/metrics").1
            #expect(metricValue("gridhub_ingest_busy_total", in: metrics) == 5, "\(metrics)")
            #expect(metricValue("gridhub_ingest_accepted_total", in: metrics) == 0, "\(metrics)")
        }
    }

    @Test("kill -9 the adapter process during a stream of requests: every accepted work order is on Kafka after restart")
    func killNine() async throws {
        let broker = try ChildProcess(GridHubPaths.executable, ["broker", "--brokers", "1", "--partitions", "3"])
        let first = try await broker.firstLine()
        let bootstrap = String(first.dropFirst("GRIDHUB_BOOTSTRAP=".count))
        defer { broker.signal(SIGKILL) }
        let state = Fixtures.tempDir("kill9")
        let env = ["GRIDHUB_BOOTSTRAP": bootstrap, "GRIDHUB_HOTLINE_SECRET": String(decoding: Fixtures.secret, as: UTF8.self), "GRIDHUB_LOG_LEVEL": "warning"]
        func start(_ args: [String]) async throws -> (ChildProcess, String) {
            let adapter = try ChildProcess(GridHubPaths.executable, ["adapter", "hotline12345", "--hotline-url", "http://127.0.0.1:9", "--state-dir", state.path] + args,
                                           environment: env)
            let line = try await adapter.firstLine()
            #expect(line.hasPrefix("GRIDHUB_LISTEN="), "\(line)")
            let url = "http://" + line.dropFirst("GRIDHUB_LISTEN=".count)
            for _ in 0..<100 where try await httpGet(url + "/readyz").0 != 200 { try await Task.sleep(for: .milliseconds(100)) }
            return (adapter, url)
        }
        let (adapter, url) = try await start(["--listen", "127.0.0.1:0"])
        let accepted = Locked<[String]>([])
        let prefix = "JY-K-\(UUID().uuidString.prefix(6))"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    let hotline = HotlinePlatform(hubURL: url, secret: Fixtures.secret)
                    var n = 0
                    while true {
                        let id = "\(prefix)-\(worker)-\(n)"
                        guard let answer = try? await hotline.push(Fixtures.workOrder(id)) else { return }
                        if answer.code == 0 { accepted.withLock { $0.append(id) } }
                        n += 1
                    }
                }
            }
            // Killed in the middle of the stream: once a few dozen orders are accepted (by condition, not
            // by a fixed sleep: a loaded machine accepted only 16 in the 1.5 s this once waited).
            let deadline = ContinuousClock.now + .seconds(60)
            while accepted.value.count < 30 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            adapter.signal(SIGKILL)
            try await group.waitForAll()
        }
        _ = try await adapter.waitForExit()
        #expect(adapter.wasSignalled)
        #expect(accepted.value.count > 20)
        // Restart on the same state directory (listen address from a config file this time); the
        // platform re-sends what it did not get an answer for.
        let config = state.appendingPathComponent("config.json")
        try Data("{\"listen\": \"127.0.0.1:0\"}".utf8).write(to: config)
        let (restarted, url2) = try await start(["--config", config.path])
        let hotline = HotlinePlatform(hubURL: url2, secret: Fixtures.secret)
        #expect(try await hotline.push(Fixtures.workOrder(accepted.value[0]), timestamp: Int64(Date().timeIntervalSince1970) + 1).code == 0)
        restarted.signal(SIGTERM)
        #expect(try await restarted.waitForExit(timeout: .seconds(20)) == 0)

        let want = Set(accepted.value)
        let seen = try await incidentRecordIDs(bootstrap: bootstrap, timeout: .seconds(20)) { want.isSubset(of: $0) }
        let missing = want.subtracting(seen)
        #expect(missing.isEmpty, "accepted but not on Kafka: \(missing.sorted().prefix(5))")
    }

    @Test("a daemon without GRIDHUB_BOOTSTRAP refuses to start with a clear message")
    func noBootstrap() async throws {
        let result = try await runCommand(GridHubPaths.executable, ["adapter", "elink", "--listen", "127.0.0.1:0"], environment: ["GRIDHUB_ELINK_API_KEY": "k"], removing: ["GRIDHUB_BOOTSTRAP"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("GRIDHUB_BOOTSTRAP"))
    }
}

@Suite("Enforcement adapter killed mid-file", .timeLimit(.minutes(3)))
struct EnforcementKillTests {
    static func name(_ file: Int) -> String { String(format: "ZFAJ_202611271%05d.csv", file) }

    @Test("kill -9 during a file and restart: every valid row on Kafka, once per case version (by ce_id)")
    func killNine() async throws {
        let broker = try ChildProcess(GridHubPaths.executable, ["broker", "--brokers", "1", "--partitions", "3"])
        let bootstrap = String(try await broker.firstLine().dropFirst("GRIDHUB_BOOTSTRAP=".count))
        defer { broker.signal(SIGKILL) }
        let root = Fixtures.tempDir("enf-kill")
        let inbox = root.appendingPathComponent("inbox"), outbox = root.appendingPathComponent("outbox"), state = root.appendingPathComponent("state")
        for d in [inbox, outbox] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        // All rows share one grid, hence one partition: stay under the embedded broker's ≈5 MiB per partition.
        let files = 12, rows = 200, readyBeforeKill = 6
        for f in 0..<files {
            var text = Enforcement.columns.joined(separator: ",") + "\r\n"
            for r in 0..<rows {
                text += "ZF-K-\(f)-\(r),1,违章搭建,\"江阴市澄江街道人民东路188号\r\n后院\",,,王某,2026-11-27 10:02:11,巡查发现,,澄江中队,立案,,2026-11-27 10:02:11\r\n"
            }
            text += "ZF-K-\(f)-broken,1,违章搭建\r\n"
            // Only the first half is ready (has its `.ok` marker) before the kill: the adapter cannot
            // finish every file before it, however late a loaded machine lets this test look. (With
            // all ready, a CI run saw all 12 handled before the kill.)
            try EnforcementAdapterTests.write(text, to: inbox, name: Self.name(f), marker: f < readyBeforeKill)
        }
        let args = ["adapter", "enforcement", "--inbox", inbox.path, "--outbox", outbox.path, "--state-dir", state.path, "--admin-listen", "127.0.0.1:0"]
        let env = ["GRIDHUB_BOOTSTRAP": bootstrap, "GRIDHUB_LOG_LEVEL": "warning"]
        let first = try ChildProcess(GridHubPaths.executable, args, environment: env)
        _ = try await first.firstLine()
        // Kill it once it has handled some files but not all.
        let processed = state.appendingPathComponent("processed")
        let deadline = ContinuousClock.now + .seconds(30)
        while ((try? FileManager.default.contentsOfDirectory(atPath: processed.path))?.count ?? 0) < 4 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        first.signal(SIGKILL)
        _ = try await first.waitForExit()
        let remaining = (try FileManager.default.contentsOfDirectory(atPath: inbox.path)).filter { $0.hasSuffix(".csv") }.count
        #expect(remaining >= files - readyBeforeKill && remaining < files, "killed mid-way: \(remaining) files left")
        // The rest becomes ready while the adapter is down, as the city's exports go on.
        for f in readyBeforeKill..<files { try Data().write(to: inbox.appendingPathComponent(Self.name(f) + ".ok")) }
        let second = try ChildProcess(GridHubPaths.executable, args, environment: env)
        _ = try await second.firstLine()
        while ((try? FileManager.default.contentsOfDirectory(atPath: inbox.path))?.filter { $0.hasSuffix(".csv") }.count ?? 1) > 0 && ContinuousClock.now < deadline + .seconds(30) {
            try await Task.sleep(for: .milliseconds(100))
        }
        second.signal(SIGTERM)
        #expect(try await second.waitForExit(timeout: .seconds(20)) == 0)

        var client = KafkaClientConfiguration(bootstrapServers: bootstrap)
        client.clientID = "gridhub-test"
        var ids = Set<String>(), ceIDs = Set<String>(), total = 0
        for r in try await TestKafka.readUntilQuiet([Topics.incidents], client: client) {
            total += 1
            ids.insert(TestTopics.incident(r).source.recordId)
            ceIDs.insert(r.headers.string("ce_id") ?? "")
        }
        let missingFiles = Set((0..<files).filter { f in !ids.contains("ZF-K-\(f)-0") })
        let failed = (try? FileManager.default.contentsOfDirectory(atPath: state.appendingPathComponent("failed").path)) ?? []
        #expect(ids.count == files * rows, "every valid row is on Kafka; missing files \(missingFiles), failed: \(failed), stderr: \(second.standardError.suffix(2000)) \(first.standardError.suffix(1000))")
        #expect(ceIDs.count == files * rows, "one event per case version")
        // A crash between the delivery report and the ledger write can repeat a byte-identical record.
        #expect(total - ceIDs.count <= rows, "repeats (same ce_id): \(total - ceIDs.count)")
    }
}

@Suite("Enforcement adapter memory", .timeLimit(.minutes(3)))
struct EnforcementMemoryTests {
    /// kB of a `/proc/PID/status` field (VmRSS, VmHWM).
    static func kilobytes(_ field: String, of pid: Int32) -> Int? {
        procFileText("/proc/\(pid)/status")?.split(separator: "\n").first { $0.hasPrefix(field + ":") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") }
    }

    @Test("a 50 MB export (one 48 MB row among 2 000 good ones) costs the adapter process memory in proportion to a row, not to the file")
    func streamed() async throws {
        let broker = try ChildProcess(GridHubPaths.executable, ["broker", "--brokers", "1", "--partitions", "3"])
        let bootstrap = String(try await broker.firstLine().dropFirst("GRIDHUB_BOOTSTRAP=".count))
        defer { broker.signal(SIGKILL) }
        let state = Fixtures.tempDir("enforcement-memory")
        let inbox = state.appendingPathComponent("inbox"), outbox = state.appendingPathComponent("outbox")
        for dir in [inbox, outbox] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        let adapter = try ChildProcess(GridHubPaths.executable, ["adapter", "enforcement", "--inbox", inbox.path, "--outbox", outbox.path,
                                                                 "--state-dir", state.appendingPathComponent("state").path, "--admin-listen", "127.0.0.1:0"],
                                       environment: ["GRIDHUB_BOOTSTRAP": bootstrap, "GRIDHUB_LOG_LEVEL": "warning"])
        defer { adapter.signal(SIGKILL) }
        let url = "http://" + (try await adapter.firstLine()).dropFirst("GRIDHUB_LISTEN=".count)
        for _ in 0..<100 where try await httpGet(url + "/readyz").0 != 200 { try await Task.sleep(for: .milliseconds(100)) }
        try await Task.sleep(for: .seconds(1))
        let before = try #require(Self.kilobytes("VmRSS", of: adapter.pid))

        // Written in pieces, so the test itself stays small: good rows, a row whose quoted field never
        // closes (48 MB, no line break), good rows again.
        let p = "ZF\(UUID().uuidString.prefix(6))"
        let name = "ZFAJ_20261127150000.csv"
        let file = inbox.appendingPathComponent(name)
        #expect(FileManager.default.createFile(atPath: file.path, contents: nil))
        let handle = try FileHandle(forWritingTo: file)
        func rows(_ range: Range<Int>) -> Data {
            Data(TextEncoding.gbk.encode(range.map { EnforcementHostileInboxTests.row("\(p)-\($0)") + "\r\n" }.joined())!)
        }
        try handle.write(contentsOf: Data(TextEncoding.gbk.encode(EnforcementAdapterTests.header + "\r\n")!))
        try handle.write(contentsOf: rows(0..<1_000))
        try handle.write(contentsOf: Data("\(p)-big,1,违章搭建,\"".utf8))
        let block = Data(repeating: UInt8(ascii: "x"), count: 1 << 20)
        for _ in 0..<48 { try handle.write(contentsOf: block) }
        try handle.write(contentsOf: Data("\r\n".utf8))
        try handle.write(contentsOf: rows(1_000..<2_000))
        try handle.close()
        try Data().write(to: inbox.appendingPathComponent(name + ".ok"))

        let processed = state.appendingPathComponent("state/processed/\(name)")
        let deadline = ContinuousClock.now + .seconds(120)
        while !FileManager.default.fileExists(atPath: processed.path) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        #expect(FileManager.default.fileExists(atPath: processed.path), "the export was not handled in time")
        let peak = try #require(Self.kilobytes("VmHWM", of: adapter.pid))
        print("enforcement adapter memory: \(before / 1024) MiB resident before a 50 MB export, peak \(peak / 1024) MiB")
        // Reading the whole file took 1.23 GB; a row is at most 256 KiB, a batch 500 rows.
        #expect(peak - before < 64 * 1024, "peak \(peak / 1024) MiB against \(before / 1024) MiB before the export")
        adapter.signal(SIGTERM)
        #expect(try await adapter.waitForExit(timeout: .seconds(30)) == 0)

        let seen = try await incidentRecordIDs(bootstrap: bootstrap, timeout: .seconds(30)) { $0.count >= 2_000 }
        #expect(seen.count == 2_000, "every good row is an incident")
    }
}

/// The source record ids on the incidents topic of the broker at `bootstrap` (a `gridhub broker`
/// process), read from the beginning until `enough` holds or `timeout` passes.
func incidentRecordIDs(bootstrap: String, timeout: Duration, until enough: (Set<String>) -> Bool) async throws -> Set<String> {
    var client = KafkaClientConfiguration(bootstrapServers: bootstrap)
    client.clientID = "gridhub-test"
    let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: client), logger: TestKafka.quietLogger)
    try consumer.assign((0..<3).map { TopicPartitionOffset(topic: Topics.incidents, partition: $0, offset: KafkaOffset.beginning) })
    var seen = Set<String>()
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline && !enough(seen) {
        for r in try await consumer.poll(timeout: .milliseconds(200)) { seen.insert(TestTopics.incident(r).source.recordId) }
    }
    await consumer.close()
    return seen
}
