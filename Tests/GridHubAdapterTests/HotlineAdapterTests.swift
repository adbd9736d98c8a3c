import AsyncHTTPClient
import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubSimulation
import GridHubTesting
import Testing

@Suite("12345 hotline adapter over HTTP and Kafka", .timeLimit(.minutes(2)))
struct HotlineAdapterTests {
    @Test("the platform's traceparent continues on the incident (a new span of its trace); an order without one starts a trace; a malformed one is replaced")
    func traceContext() async throws {
        let topics = try await TestTopics.make()
        let adapter = try PushAdapter.hotline(topics)
        let prefix = "JY12345-TR-\(UUID().uuidString.prefix(6))"
        let traced = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        try await adapter.run { (url: String) async throws -> Void in
            let hotline = HotlinePlatform(hubURL: url, secret: Fixtures.secret)
            for (n, header) in [traced, nil, "00-zz-yy-01"].enumerated() {
                let body = HotlinePlatform.body(Fixtures.workOrder("\(prefix)-\(n)"), encoding: .gbk)
                #expect(try await hotline.push(path: "/hotline12345/workorders", body: body, contentType: "application/xml; charset=GBK", traceparent: header).code == 0)
            }
        }
        let records = try await TestKafka.readAll(topics.ingest.incidents, partitions: 3, count: 3, cluster: topics.cluster, timeout: .seconds(20))
        func trace(_ n: Int) -> TraceContext? {
            records.first { TestTopics.incident($0).source.recordId == "\(prefix)-\(n)" }.flatMap { TraceContext(header: $0.headers.string(CloudEventHeader.traceparent)) }
        }
        #expect(trace(0)?.traceId == "4bf92f3577b34da6a3ce929d0e0e4736" && trace(0)?.spanId != "00f067aa0ba902b7")
        #expect(trace(1) != nil && trace(1)?.traceId != trace(0)?.traceId)
        #expect(trace(2) != nil && trace(2)?.traceId != trace(0)?.traceId)
    }

    @Test("signed GBK and UTF-8 work orders become incidents with grid and item; a retry adds nothing; a higher BBH updates")
    func workOrders() async throws {
        let topics = try await TestTopics.make()
        let adapter = try PushAdapter.hotline(topics)
        let id = "JY12345-T-\(UUID().uuidString.prefix(8))"
        let id2 = id + "-U"
        try await adapter.run { (url: String) async throws -> Void in
            let hotline = HotlinePlatform(hubURL: url, secret: Fixtures.secret)
            let now = Int64(Date().timeIntervalSince1970)
            #expect(try await hotline.push(Fixtures.workOrder(id), encoding: .gbk, timestamp: now).code == 0)
            #expect(try await hotline.push(Fixtures.workOrder(id2), encoding: .utf8).code == 0)
            // The platform did not get the answer and retries (signed anew): same BBH.
            #expect(try await hotline.push(Fixtures.workOrder(id), encoding: .gbk, timestamp: now + 1).code == 0)
            // An operator supplements the order.
            #expect(try await hotline.push(Fixtures.workOrder(id, version: 2, content: "补充：摊贩占道更严重了，人民东路188号"), encoding: .gbk).code == 0)
            let (status, metrics) = try await httpGet(url + "/metrics")
            #expect(status == 200)
            #expect(metrics.contains("gridhub_ingest_accepted_total{adapter=\"hotline12345\"} 3"))
            #expect(metrics.contains("gridhub_ingest_duplicates_total{adapter=\"hotline12345\"} 1"))
            #expect(try await httpGet(url + "/readyz").0 == 200)
        }
        let incidents = try await topics.incidents(count: 3)
        #expect(incidents.count == 3)
        let first = try #require(incidents.first { $0.source.recordId == id && $0.source.version == 1 })
        #expect(first.location.gridCode == "320281001006002")
        #expect(first.location.positioning.method == .addressMatch)
        #expect(first.itemCode != nil)
        #expect(first.reporter?.phone?.revealed == "13812345678")
        #expect(first.attachments == ["https://12345.example/files/abc.jpg"])
        let second = try #require(incidents.first { $0.source.recordId == id && $0.source.version == 2 })
        #expect(second.incidentId == first.incidentId)
        #expect(second.description.hasPrefix("补充"))
        let utf8 = try #require(incidents.first { $0.source.recordId == id2 })
        #expect(utf8.location.gridCode == "320281001006002")
        #expect(utf8.itemCode == first.itemCode)
    }

    @Test("wrong signature and stale or future timestamps are refused (ZT 401) and store nothing; the same signed request again is answered 0 and stored once")
    func refusals() async throws {
        let topics = try await TestTopics.make()
        let adapter = try PushAdapter.hotline(topics)
        try await adapter.run { (url: String) async throws -> Void in
            let hotline = HotlinePlatform(hubURL: url, secret: Fixtures.secret)
            let body = HotlinePlatform.body(Fixtures.workOrder("JY-R-\(UUID().uuidString.prefix(8))"), encoding: .gbk)
            let ct = "application/xml; charset=GBK"
            let wrong = try await hotline.push(path: "/hotline12345/workorders", body: body, contentType: ct, signature: String(repeating: "0", count: 64))
            #expect(wrong.httpStatus == 200 && wrong.code == 401)
            let forged = HotlinePlatform(hubURL: url, secret: Array("another secret".utf8))
            #expect(try await forged.push(Fixtures.workOrder("JY-F-1")).code == 401)
            let stale = Int64(Date().timeIntervalSince1970) - 400
            #expect(try await hotline.push(path: "/hotline12345/workorders", body: body, contentType: ct, timestamp: stale).code == 401)
            let future = Int64(Date().timeIntervalSince1970) + 400
            #expect(try await hotline.push(path: "/hotline12345/workorders", body: body, contentType: ct, timestamp: future).code == 401)
            // The same signed request twice (the platform did not get the first answer): the spec has it
            // retried as it was, so it is answered as the first was, and processing it again adds nothing.
            let ts = Int64(Date().timeIntervalSince1970)
            let signature = Hotline12345.signature(secret: Fixtures.secret, timestamp: String(ts), body: body)
            #expect(try await hotline.push(path: "/hotline12345/workorders", body: body, contentType: ct, timestamp: ts, signature: signature).code == 0)
            #expect(try await hotline.push(path: "/hotline12345/workorders", body: body, contentType: ct, timestamp: ts, signature: signature).code == 0)
            // A NUL inside a field is not XML: refused as malformed (400), dead-lettered, not an incident.
            let nul = HotlinePlatform.body(Fixtures.workOrder("JY-N-\(UUID().uuidString.prefix(8))", content: "井盖\u{0}缺失"), encoding: .utf8)
            let nulAnswer = try await hotline.push(path: "/hotline12345/workorders", body: nul, contentType: "application/xml; charset=UTF-8")
            #expect(nulAnswer.code == 400 && nulAnswer.message.contains("U+0000"), "\(nulAnswer)")
            let metrics = try await httpGet(url + "/metrics").1
            #expect(metrics.contains("gridhub_ingest_rejected_total{adapter=\"hotline12345\",reason=\"signature\"} 2"))
            #expect(metrics.contains("gridhub_ingest_rejected_total{adapter=\"hotline12345\",reason=\"timestamp\"} 2"))
            #expect(metrics.contains("gridhub_ingest_duplicates_total{adapter=\"hotline12345\"} 1"))
        }
        // Only the one properly signed request is on Kafka, once; the NUL order is a dead letter.
        #expect(try await topics.incidents(count: 1, settle: .milliseconds(1000)).count == 1)
        let letters = try await topics.deadLetters(count: 1)
        #expect(letters.count == 1 && (letters.first?.headers.string(DeadLetterHeader.reason) ?? "").contains("U+0000"))
    }

    @Test("malformed XML, wrong encoding, missing fields, oversized body: ZT 400 and a dead letter with the bytes")
    func invalidInputs() async throws {
        let topics = try await TestTopics.make()
        let adapter = try PushAdapter.hotline(topics, maxBody: 16 * 1024)
        let malformed = Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?><GDXX><GDBH>JY-M-1</GDBH><BBH>1</GDXX>".utf8)
        let gbkDeclaredUTF8 = TextEncoding.gbk.encode(Fixtures.workOrder("JY-E-1").xml(encodingLabel: "UTF-8"))!
        let missing = Array(Fixtures.workOrder("JY-X-1").xml().replacingOccurrences(of: "<FSDZ>江阴市澄江街道人民东路188号</FSDZ>", with: "<FSDZ></FSDZ>").utf8)
        let huge = Array(Fixtures.workOrder("JY-H-1", content: String(repeating: "很", count: 3000)).xml().utf8) + Array(repeating: UInt8(ascii: " "), count: 20_000)
        let cases: [(String, [UInt8], String, String)] = [
            ("malformed", malformed, "application/xml; charset=UTF-8", "XML not well-formed"),
            ("encoding", gbkDeclaredUTF8, "application/xml; charset=UTF-8", "not valid UTF-8"),
            ("missing", missing, "application/xml; charset=UTF-8", "FSDZ"),
            ("oversized", huge, "application/xml; charset=UTF-8", "exceeds the limit"),
        ]
        try await adapter.run { (url: String) async throws -> Void in
            let hotline = HotlinePlatform(hubURL: url, secret: Fixtures.secret)
            for (name, body, ct, _) in cases {
                let answer = try await hotline.push(path: "/hotline12345/workorders", body: body, contentType: ct)
                #expect(answer.code == 400, "\(name): \(answer)")
            }
        }
        let letters = try await topics.deadLetters(count: cases.count)
        #expect(letters.count == cases.count)
        for (name, body, _, reason) in cases {
            let letter = letters.first { ($0.headers.string(DeadLetterHeader.reason) ?? "").contains(reason) }
            #expect(letter != nil, "\(name)")
            guard let letter else { continue }
            #expect(letter.headers.string(DeadLetterHeader.stage) == "adapter.hotline12345")
            #expect(letter.headers.string(DeadLetterHeader.source)?.hasPrefix("POST /hotline12345/workorders") == true)
            #expect(letter.headers.string(DeadLetterHeader.time) != nil)
            if name == "oversized" {
                #expect(letter.value == Array(body.prefix(16 * 1024)))
                #expect(letter.headers.string("gridhub.error.truncated") != nil)
            } else {
                #expect(letter.value == body, "\(name): exact bytes")
            }
        }
        #expect(try await topics.quiet(topics.ingest.incidents).isEmpty)
    }

    @Test("anonymous caller: name and phone never leave the adapter; survey becomes an event")
    func anonymousAndSurvey() async throws {
        let topics = try await TestTopics.make()
        let adapter = try PushAdapter.hotline(topics)
        let id = "JY-A-\(UUID().uuidString.prefix(8))"
        try await adapter.run { (url: String) async throws -> Void in
            let hotline = HotlinePlatform(hubURL: url, secret: Fixtures.secret)
            #expect(try await hotline.push(Fixtures.workOrder(id, anonymous: true, content: "请回电13912345678，人民东路188号摊贩占道")).code == 0)
            // The platform's retry is signed anew (a later timestamp).
            let now = Int64(Date().timeIntervalSince1970)
            #expect(try await hotline.pushSurvey(recordId: id, satisfaction: .dissatisfied, at: Date(timeIntervalSince1970: 1_795_800_000), note: "摊贩又回来了", timestamp: now).code == 0)
            #expect(try await hotline.pushSurvey(recordId: id, satisfaction: .dissatisfied, at: Date(timeIntervalSince1970: 1_795_800_000), note: "摊贩又回来了", timestamp: now + 1).code == 0)
        }
        let records = try await TestKafka.readAll(topics.ingest.incidents, partitions: 3, count: 1)
        let raw = String(decoding: try #require(records.first).value, as: UTF8.self)
        #expect(!raw.contains("13812345678") && !raw.contains("张先生") && !raw.contains("13912345678"))
        let incident = TestTopics.incident(records[0])
        #expect(incident.reporter?.anonymous == true && incident.reporter?.phone == nil && incident.reporter?.name == nil)
        let surveys = try await TestKafka.readAll(topics.ingest.surveys, partitions: 3, count: 1, settle: .milliseconds(1000))
        #expect(surveys.count == 1)
        let event = try CloudEvent(headers: surveys[0].headers.map { (key: $0.key, value: $0.value) }, value: surveys[0].value)
        #expect(event.type == EventType.survey.rawValue)
        let survey = try event.decode(Survey.self)
        #expect(survey.satisfaction == .dissatisfied && survey.recordId == id && surveys[0].keyString == id)
    }
}
