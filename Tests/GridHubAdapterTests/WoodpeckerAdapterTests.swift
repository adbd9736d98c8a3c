import AsyncHTTPClient
import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubSimulation
import GridHubTesting
import Testing

@Suite("Woodpecker adapter against the API double", .timeLimit(.minutes(2)))
struct WoodpeckerAdapterTests {
    /// Reports placed at gazetteer door plates, written in the app's datums.
    static func reports(_ prefix: String, count: Int) -> [(Woodpecker.Report, String)] {
        let entries = Fixtures.reference.gazetteer.entries.filter { !$0.gridCode.isEmpty }
        let systems: [(String, CoordinateSystem)] = [("gcj02", .gcj02), ("bd09", .bd09), ("wgs84", .wgs84)]
        return (0..<count).map { i in
            let e = entries[(i * 37) % entries.count]
            let (name, crs) = systems[i % 3]
            let p = ChinaCoordinates.fromWGS84(e.coordinate, to: crs)
            let at = Date(timeIntervalSince1970: 1_795_740_932 + Double(i))
            return (Woodpecker.Report(id: "\(prefix)\(i)", revision: 1, createdAt: at, updatedAt: at, userId: "u_\(i)", nickname: "市民\(i)", mobile: "13912345678",
                                      typeName: "乱停车", content: "小区门口消防通道被私家车堵住了", images: [], lng: p.lon, lat: p.lat, coordType: name,
                                      address: "江苏省无锡市江阴市", state: "submitted"), e.gridCode)
        }
    }

    @Test("pages, repeats, edits, withdrawals, 429, a spell of 502s, restart with the stored cursor: every revision once, positions in the right grid")
    func polling() async throws {
        let topics = try await TestTopics.make()
        let api = WoodpeckerAPI(token: "good-token")
        let prefix = "WP\(UUID().uuidString.prefix(6))-"
        let generated = Self.reports(prefix, count: 120)
        for (r, _) in generated { api.publish(r) }
        var edited = generated[5].0
        edited.revision = 2
        edited.content = "补充：消防通道还是被堵"
        api.publish(edited)
        var withdrawn = generated[6].0
        withdrawn.revision = 2
        withdrawn.state = "withdrawn"
        api.publish(withdrawn)
        var faults = WoodpeckerAPI.Faults()
        faults.tooManyEvery = 3
        faults.badGateway = 3
        api.setFaults(faults)
        let port = PortBox()
        let state = Fixtures.tempDir("woodpecker")
        try await withServices([api.server(logger: TestKafka.quietLogger, onListening: port.callback)]) {
            let url = "http://127.0.0.1:\(await port.port())"
            func poller(token: String) throws -> (AdapterRuntime, WoodpeckerPoller) {
                let runtime = try AdapterRuntime(system: .woodpecker, kafka: TestKafka.client(), stateDirectory: state, metrics: DaemonMetrics(),
                                                 readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest)
                var config = WoodpeckerPoller.Configuration(apiURL: url, token: token)
                config.limit = 50
                config.idleInterval = .milliseconds(200)
                config.backoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(300))
                return (runtime, WoodpeckerPoller(configuration: config, pipeline: runtime.pipeline, reference: Fixtures.reference, stateDirectory: state,
                                                  readiness: runtime.readiness, metrics: runtime.metrics, logger: TestKafka.quietLogger))
            }
            let (runtime, first) = try poller(token: "good-token")
            try await withServices(runtime.baseServices + [first]) {
                let deadline = ContinuousClock.now + .seconds(30)
                while first.storedCursor != WoodpeckerAPI.cursorText(122) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(first.storedCursor == WoodpeckerAPI.cursorText(122))
            // Another edit while the adapter is down; the restarted adapter resumes from its cursor.
            var later = generated[7].0
            later.revision = 2
            later.content = "又堵了"
            api.publish(later)
            let (runtime2, second) = try poller(token: "good-token")
            try await withServices(runtime2.baseServices + [second]) {
                let deadline = ContinuousClock.now + .seconds(20)
                while second.storedCursor != WoodpeckerAPI.cursorText(123) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            }
            // A bad token: unready, stops polling, says so.
            let (runtime3, bad) = try poller(token: "bad-token")
            try await withServices(runtime3.baseServices + [bad]) {
                let deadline = ContinuousClock.now + .seconds(10)
                var problems: [String] = []
                while problems.first(where: { $0.contains("token") }) == nil && ContinuousClock.now < deadline {
                    problems = await runtime3.readiness.problems()
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(problems.contains { $0.contains("refused the token") })
                let refused = api.refusedTokens
                try await Task.sleep(for: .seconds(1))
                #expect(api.refusedTokens == refused, "no polling loop with a bad token")
            }
        }
        let incidents = try await topics.incidents(count: 123)
        var seen: [String: Int] = [:]
        for i in incidents { seen["\(i.source.recordId)#\(i.source.version)", default: 0] += 1 }
        #expect(incidents.count == 123, "120 reports + 3 new revisions, each once")
        #expect(seen.values.allSatisfy { $0 == 1 })
        let byId = Dictionary(grouping: incidents, by: \.source.recordId)
        #expect(Set(byId["\(prefix)5"]?.map(\.incidentId) ?? []).count == 1)
        #expect(byId["\(prefix)6"]?.first { $0.source.version == 2 }?.withdrawn == true)
        var wrongGrid = 0
        for (report, grid) in generated {
            guard let incident = byId[report.id]?.first else { continue }
            if incident.location.gridCode != grid { wrongGrid += 1 }
            #expect(incident.location.positioning.method == .gps)
        }
        #expect(wrongGrid == 0)
        #expect(api.polls > 5)
    }
}

@Suite("Woodpecker replies and expired cursors", .timeLimit(.minutes(1)))
struct WoodpeckerRepliesTests {
    @Test("status records become replies in order per report; a stale version is skipped; an expired cursor restarts from the oldest report")
    func replies() async throws {
        let topics = try await TestTopics.make()
        let api = WoodpeckerAPI(token: "t")
        let port = PortBox()
        let state = Fixtures.tempDir("woodpecker-replies")
        let runtime = try AdapterRuntime(system: .woodpecker, kafka: TestKafka.client(), stateDirectory: state, metrics: DaemonMetrics(),
                                         readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest)
        let at = Date(timeIntervalSince1970: 1_795_800_000)
        var records: [ProducerRecord] = []
        for id in ["WP-R-1", "WP-R-2"] {
            for (v, s) in [(1, CaseStatus.dispatched), (2, .inProgress), (3, .resolved), (2, .inProgress)] {
                records.append(try statusRecord(StatusUpdate(system: .woodpecker, recordId: id, caseId: "c-\(id)", caseVersion: v, status: s,
                                                             department: "traffic-police", note: s == .resolved ? "已贴单并拖离" : nil, at: at), topic: topics.status))
            }
        }
        let producer = try TestKafka.producer()
        for r in await producer.send(records) { _ = try r.get() }
        await producer.shutdown()
        // A stored cursor that the API has expired meanwhile.
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        try Data(WoodpeckerAPI.cursorText(1).utf8).write(to: state.appendingPathComponent("cursor"))
        var faults = WoodpeckerAPI.Faults()
        faults.expireBelow = 2
        api.setFaults(faults)
        let report = Woodpecker.Report(id: "WP-X-1", revision: 1, createdAt: at, updatedAt: at, userId: "u", nickname: "n", mobile: "", typeName: "乱停车",
                                       content: "乱停车", images: [], lng: nil, lat: nil, coordType: "gcj02", address: "江阴市澄江街道人民东路188号", state: "submitted")
        api.publish(report)
        try await withServices([api.server(logger: TestKafka.quietLogger, onListening: port.callback)]) {
            let url = "http://127.0.0.1:\(await port.port())"
            var config = WoodpeckerPoller.Configuration(apiURL: url, token: "t")
            config.idleInterval = .milliseconds(200)
            let poller = WoodpeckerPoller(configuration: config, pipeline: runtime.pipeline, reference: Fixtures.reference, stateDirectory: state,
                                          readiness: runtime.readiness, metrics: runtime.metrics, logger: TestKafka.quietLogger)
            let delivery = try StatusDelivery(configuration: .init(topics: [topics.status], groupID: "wp-\(UUID().uuidString.prefix(6))", stage: "adapter.woodpecker.status"),
                                              kafka: TestKafka.client(), sink: WoodpeckerReplySink(apiURL: url, token: "t", reference: Fixtures.reference, logger: TestKafka.quietLogger),
                                              stateDirectory: state, pipeline: runtime.pipeline, metrics: DaemonMetrics(), logger: TestKafka.quietLogger)
            try await withServices(runtime.baseServices + [poller, delivery]) {
                let deadline = ContinuousClock.now + .seconds(20)
                while (api.replies.count < 6 || poller.storedCursor != WoodpeckerAPI.cursorText(1)) && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        let replies = api.replies
        #expect(replies.count == 6)
        for id in ["WP-R-1", "WP-R-2"] {
            let states = replies.filter { $0.reportId == id }.map { $0.body["state"] ?? "" }
            #expect(states == ["accepted", "processing", "resolved"])
        }
        let done = replies.first { $0.body["state"] == "resolved" }
        #expect(done?.body["message"] == "已贴单并拖离" && done?.body["department"] == "市公安局交通警察大队")
        let incidents = try await topics.incidents(count: 1)
        #expect(incidents.map(\.source.recordId) == ["WP-X-1"])
        #expect(incidents.first?.location.positioning.method == .addressMatch)
    }
}

@Suite("Woodpecker double and a cursor from an earlier run", .timeLimit(.minutes(1)))
struct WoodpeckerStaleCursorTests {
    /// `gridhub dev` used to crash here (exit 132, a page slice with lowerBound > upperBound): the adapter
    /// kept its cursor from a longer earlier run, and the new double had fewer reports than it pointed past.
    @Test("a cursor past the double's history is answered 40010 (not a crash); the adapter starts over and stores every report")
    func cursorFromEarlierRun() async throws {
        let topics = try await TestTopics.make()
        let api = WoodpeckerAPI(token: "t")
        let prefix = "WP\(UUID().uuidString.prefix(6))-"
        for (report, _) in WoodpeckerAdapterTests.reports(prefix, count: 3) { api.publish(report) }
        let state = Fixtures.tempDir("woodpecker-stale")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        try Data(WoodpeckerAPI.cursorText(500).utf8).write(to: state.appendingPathComponent("cursor"))
        let port = PortBox()
        let runtime = try AdapterRuntime(system: .woodpecker, kafka: TestKafka.client(), stateDirectory: state, metrics: DaemonMetrics(),
                                         readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest)
        try await withServices([api.server(logger: TestKafka.quietLogger, onListening: port.callback)]) {
            var config = WoodpeckerPoller.Configuration(apiURL: "http://127.0.0.1:\(await port.port())", token: "t")
            config.idleInterval = .milliseconds(100)
            let poller = WoodpeckerPoller(configuration: config, pipeline: runtime.pipeline, reference: Fixtures.reference, stateDirectory: state,
                                          readiness: runtime.readiness, metrics: runtime.metrics, logger: TestKafka.quietLogger)
            try await withServices(runtime.baseServices + [poller]) {
                let deadline = ContinuousClock.now + .seconds(20)
                while poller.storedCursor != WoodpeckerAPI.cursorText(3) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            }
        }
        let incidents = try await topics.incidents(count: 3)
        #expect(Set(incidents.map(\.source.recordId)) == Set((0..<3).map { "\(prefix)\($0)" }))
    }
}

@Suite("Woodpecker double's retention", .timeLimit(.minutes(1)))
struct WoodpeckerRetentionTests {
    @Test("the double keeps its newest changes only (memory bounded in long gridhub dev runs): a cursor before them is expired (40010), a poll from the start begins at the oldest kept")
    func retention() async throws {
        let api = WoodpeckerAPI(token: "t", retainedChanges: 10)
        for (report, _) in WoodpeckerAdapterTests.reports("WP-RET-", count: 30) { api.publish(report) }
        let port = PortBox()
        try await withServices([api.server(logger: TestKafka.quietLogger, onListening: port.callback)]) {
            let base = "http://127.0.0.1:\(await port.port())/open/v2/reports?limit=200"
            func page(_ cursor: String?) async throws -> [String: Any] {
                var request = HTTPClientRequest(url: base + (cursor.map { "&cursor=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? ""))
                request.headers.add(name: "Authorization", value: "Bearer t")
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                let body = try await response.body.collect(upTo: 1 << 20)
                return try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])
            }
            let old = try await page(WoodpeckerAPI.cursorText(2))
            #expect((old["code"] as? Int) == 40010)
            let fresh = try await page(nil)
            let items = try #require((fresh["data"] as? [String: Any])?["items"] as? [[String: Any]])
            #expect(items.count <= 11 && items.count >= 10, "\(items.count) items kept")
            #expect(items.last?["reportId"] as? String == "WP-RET-29")
            #expect((fresh["data"] as? [String: Any])?["nextCursor"] as? String == WoodpeckerAPI.cursorText(30))
        }
    }
}
