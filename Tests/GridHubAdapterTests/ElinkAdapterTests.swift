import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubSimulation
import GridHubTesting
import Testing

@Suite("综治e通 adapter over HTTP and Kafka", .timeLimit(.minutes(2)))
struct ElinkAdapterTests {
    static func event(_ id: String, x: Double = 120.295854, y: Double = 31.908061, zxcz: Int = 0) -> [String: Any] {
        ["sjbh": id, "sjlx": "0301", "sjlxmc": "安全隐患/消防通道堵塞", "sjms": "福星花园12幢楼下消防通道堆放杂物", "wgbm": "320281001002003",
         "sbr": "WGY-0012345", "sbrxm": "李红", "sbsj": "2026-11-27T09:12:44+08:00", "x": x, "y": y, "zp": ["https://elink.example/p/1.jpg"],
         "zxcz": zxcz, "czjg": zxcz == 1 ? "已清理" : ""]
    }

    @Test("500 events with some invalid: valid ones stored once, invalid listed and dead-lettered; re-sent batch adds nothing")
    func batch() async throws {
        let topics = try await TestTopics.make()
        let adapter = try PushAdapter.elink(topics)
        let prefix = "ZZ-\(UUID().uuidString.prefix(6))"
        var events: [[String: Any]] = []
        var invalid: Set<String> = []
        for i in 0..<500 {
            var e = Self.event("\(prefix)-\(i)", zxcz: i == 1 ? 1 : 0)
            if i == 2 { e["x"] = 0; e["y"] = 0 }
            if i % 50 == 7 { e["sbsj"] = "yesterday"; invalid.insert("\(prefix)-\(i)") }
            if i % 50 == 9 { e["wgbm"] = "12"; invalid.insert("\(prefix)-\(i)") }
            events.append(e)
        }
        let body = ElinkPlatform.body(batchId: "ELB-1", events: events)
        let tooManyBody = ElinkPlatform.body(batchId: "ELB-3", events: Array(repeating: Self.event("\(prefix)-x"), count: 501))
        let invalidCount = invalid.count
        let invalidIDs = invalid
        try await adapter.run { (url: String) async throws -> Void in
            let platform = ElinkPlatform(hubURL: url, apiKey: Fixtures.apiKey)
            let first = try await platform.push(body: body)
            #expect(first.httpStatus == 200)
            #expect(first.accepted == 500 - invalidCount)
            #expect(Set(first.rejected.map(\.sjbh)) == invalidIDs)
            let again = try await platform.push(body: body)
            #expect(again.httpStatus == 200 && again.accepted == 500 - invalidCount)
            // Refusals store nothing.
            #expect(try await platform.push(body: body, apiKey: "wrong").httpStatus == 401)
            var missing = platform
            missing.apiKey = ""
            #expect(try await missing.push(body: body).httpStatus == 401)
            let tooMany = try await platform.push(body: tooManyBody)
            #expect(tooMany.httpStatus == 413)
            let malformed = Array("{\"batchId\":\"ELB-4\",\"events\":[{\"sjbh\":".utf8)
            #expect(try await platform.push(body: malformed).httpStatus == 400)
        }
        let incidents = try await topics.incidents(count: 500 - invalid.count)
        #expect(incidents.count == 500 - invalid.count)
        #expect(Set(incidents.map(\.source.recordId)).count == incidents.count)
        let solved = try #require(incidents.first { $0.source.recordId == "\(prefix)-1" })
        #expect(solved.resolvedOnSite && solved.resolution == "已清理")
        let noFix = try #require(incidents.first { $0.source.recordId == "\(prefix)-2" })
        #expect(noFix.location.positioning.method == .workerGrid && noFix.location.gridCode == "320281001002003" && noFix.location.lat == nil)
        let gps = try #require(incidents.first { $0.source.recordId == "\(prefix)-0" })
        #expect(gps.location.positioning.method == .gps && gps.location.gridCode == "320281001006002")
        #expect(gps.itemCode != nil)
        let letters = try await topics.deadLetters(count: invalid.count + 2)
        #expect(letters.count == invalid.count + 2)
        let malformedLetter = letters.first { $0.value == Array("{\"batchId\":\"ELB-4\",\"events\":[{\"sjbh\":".utf8) }
        #expect(malformedLetter != nil)
        #expect(letters.contains { ($0.headers.string(DeadLetterHeader.reason) ?? "").contains("501 events") })
    }
}

@Suite("综治e通 adapter and events that are not objects", .timeLimit(.minutes(1)))
struct ElinkHostileBatchTests {
    /// `{"batchId":"B1","events":[1]}` once ended the process (Foundation's JSON writer on a bare number).
    @Test("a batch whose events are a number, a string, null and a list: each rejected and dead-lettered, the valid event stored, the adapter still serving")
    func nonObjectEvents() async throws {
        let topics = try await TestTopics.make()
        let adapter = try PushAdapter.elink(topics)
        let id = "ZZ-\(UUID().uuidString.prefix(6))"
        let valid = String(decoding: try JSONSerialization.data(withJSONObject: ElinkAdapterTests.event(id)), as: UTF8.self)
        let body = Array("{\"batchId\":\"B1\",\"events\":[1,\"x\",null,[2],\(valid)]}".utf8)
        try await adapter.run { (url: String) async throws -> Void in
            let platform = ElinkPlatform(hubURL: url, apiKey: Fixtures.apiKey)
            let answer = try await platform.push(body: body)
            #expect(answer.httpStatus == 200 && answer.accepted == 1, "\(answer.body)")
            #expect(answer.rejected.count == 4 && answer.rejected.allSatisfy { $0.reason.contains("not a JSON object") }, "\(answer.rejected)")
            let minimal = try await platform.push(body: Array("{\"batchId\":\"B2\",\"events\":[1]}".utf8))
            #expect(minimal.httpStatus == 200 && minimal.accepted == 0 && minimal.rejected.count == 1, "\(minimal.body)")
            let again = try await platform.push(body: ElinkPlatform.body(batchId: "B3", events: [ElinkAdapterTests.event(id + "-2")]))
            #expect(again.httpStatus == 200 && again.accepted == 1)
        }
        let letters = try await topics.deadLetters(count: 4)
        #expect(Set(letters.map { String(decoding: $0.value, as: UTF8.self) }) == ["1", "\"x\"", "null", "[2]"])
        #expect(try await topics.incidents(count: 2).map(\.source.recordId).sorted() == [id, id + "-2"])
    }

    @Test("nesting 100 000 levels deep, inside an event or as the whole body, is refused with 400 and a dead letter; the adapter still serves")
    func deeplyNested() async throws {
        let topics = try await TestTopics.make()
        let adapter = try PushAdapter.elink(topics)
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let inEvent = Array("{\"batchId\":\"B9\",\"events\":[{\"sjbh\":\"ZZ-deep\",\"zp\":\(deep)}]}".utf8)
        let id = "ZZ-\(UUID().uuidString.prefix(6))"
        try await adapter.run { (url: String) async throws -> Void in
            let platform = ElinkPlatform(hubURL: url, apiKey: Fixtures.apiKey)
            let whole = try await platform.push(body: Array(deep.utf8))
            #expect(whole.httpStatus == 400, "\(whole.body.prefix(200))")
            let nested = try await platform.push(body: inEvent)
            #expect(nested.httpStatus == 400 || (nested.httpStatus == 200 && nested.accepted == 0), "\(nested.body.prefix(200))")
            let after = try await platform.push(body: ElinkPlatform.body(batchId: "B10", events: [ElinkAdapterTests.event(id)]))
            #expect(after.httpStatus == 200 && after.accepted == 1)
        }
        #expect(try await topics.deadLetters(count: 2).count == 2)
        #expect(try await topics.incidents(count: 1).map(\.source.recordId) == [id])
    }
}

@Suite("综治e通 reads its status topic with its own client", .timeLimit(.minutes(1)))
struct ElinkStatusInteropTests {
    @Test("a status record keyed by sjbh is complete and readable by kcat: CloudEvents headers, JSON with status, department, note")
    func kcatReadsStatus() async throws {
        let kcat = try #require(GridHubPaths.which("kcat"), "kcat is not installed (apt-get install kcat)")
        let topic = try await TestKafka.makeTopic(partitions: 1, prefix: "status-elink")
        let status = StatusUpdate(system: .elink, recordId: "ZZ320281001002003-20261127-0042", caseId: "case-1", caseVersion: 2, status: .resolved,
                                  department: "fire", note: "已清理消防通道", at: Date(timeIntervalSince1970: 1_795_800_000))
        let producer = try TestKafka.producer()
        try await producer.send(try statusRecord(status, topic: topic))
        await producer.shutdown()
        let result = try await runCommand(kcat, ["-b", TestKafka.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q"])
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["key"] as? String == "ZZ320281001002003-20261127-0042")
        let headers = (object["headers"] as? [String]) ?? []
        #expect(headers.contains("ce_type") && headers.contains("gov.gridhub.status.v1") && headers.contains("ce_specversion"))
        let payload = try #require(try JSONSerialization.jsonObject(with: Data(((object["payload"] as? String) ?? "").utf8)) as? [String: Any])
        #expect(payload["status"] as? String == "resolved" && payload["department"] as? String == "fire" && payload["note"] as? String == "已清理消防通道")
        #expect(payload["recordId"] as? String == "ZZ320281001002003-20261127-0042" && payload["system"] as? String == "elink")
    }
}
