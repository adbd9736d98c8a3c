import Foundation
import GridHubKafka
import GridHubTesting
import Testing

/// GridHub's client against clients we did not write: kcat (librdkafka's CLI) and Python confluent_kafka.
@Suite("Interop with kcat and confluent_kafka", .timeLimit(.minutes(2)))
struct InteropTests {
    @Test("records produced by kcat are read by GridHub with their keys and headers")
    func kcatToGridHub() async throws {
        let kcat = try #require(GridHubPaths.which("kcat"), "kcat is not installed (apt-get install kcat)")
        let topic = try await TestKafka.makeTopic(partitions: 1)
        let input = (0..<5).map { "{\"n\":\($0),\"text\":\"井盖破损\"}" }.joined(separator: "\n") + "\n"
        let result = try await runCommand(kcat, ["-b", TestKafka.bootstrap, "-P", "-t", topic, "-k", "grid-320281001001001", "-H", "ce_type=gov.gridhub.incident.v1", "-H", "traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"], stdin: Data(input.utf8))
        #expect(result.status == 0, "kcat failed: \(result.stderr)")
        let records = try await TestKafka.readAll(topic, partitions: 1, count: 5)
        #expect(records.count == 5)
        for (i, r) in records.enumerated() {
            #expect(r.keyString == "grid-320281001001001")
            #expect(r.headers.string("ce_type") == "gov.gridhub.incident.v1")
            #expect(r.headers.string("traceparent") == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            #expect(String(decoding: r.value, as: UTF8.self) == "{\"n\":\(i),\"text\":\"井盖破损\"}")
        }
    }

    @Test("records produced by GridHub are read by kcat with keys, headers and UTF-8 values")
    func gridHubToKcat() async throws {
        let kcat = try #require(GridHubPaths.which("kcat"), "kcat is not installed (apt-get install kcat)")
        let topic = try await TestKafka.makeTopic(partitions: 2)
        let producer = try TestKafka.producer()
        for r in await producer.send((0..<6).map { ProducerRecord(topic: topic, key: "k\($0)", value: Array("路灯故障 \($0)".utf8), headers: [KafkaHeader(key: "ce_id", string: "id-\($0)")]) }) {
            _ = try r.get()
        }
        await producer.shutdown()
        let result = try await runCommand(kcat, ["-b", TestKafka.bootstrap, "-C", "-t", topic, "-o", "beginning", "-c", "6", "-J", "-q"])
        #expect(result.status == 0, "kcat failed: \(result.stderr)")
        let objects = result.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == 6)
        var seen = Set<String>()
        for o in objects {
            let key = try #require(o["key"] as? String)
            let n = key.dropFirst()
            #expect(o["payload"] as? String == "路灯故障 \(n)")
            #expect((o["headers"] as? [String]) == ["ce_id", "id-\(n)"])
            seen.insert(key)
        }
        #expect(seen.count == 6)
    }

    @Test("records produced by GridHub are read by Python confluent_kafka")
    func gridHubToPython() async throws {
        let python = "/usr/bin/python3"
        let check = try await runCommand(python, ["-c", "import confluent_kafka"])
        try #require(check.status == 0, "python3-confluent-kafka is not installed for /usr/bin/python3: \(check.stderr)")
        let topic = try await TestKafka.makeTopic(partitions: 3)
        let producer = try TestKafka.producer()
        for r in await producer.send((0..<30).map { ProducerRecord(topic: topic, key: "k\($0)", value: Array("{\"n\":\($0)}".utf8), headers: [KafkaHeader(key: "ce_type", string: "gov.gridhub.case.v1")]) }) {
            _ = try r.get()
        }
        await producer.shutdown()
        let script = GridHubPaths.packageRoot.appendingPathComponent("Tests/Tools/consume_confluent.py").path
        let result = try await runCommand(python, [script, TestKafka.bootstrap, topic, "30"], timeout: .seconds(60))
        #expect(result.status == 0, "python consumer failed: \(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 30)
        #expect(Set(lines) == Set((0..<30).map { "k\($0)\tgov.gridhub.case.v1\t{\"n\":\($0)}" }))
    }
}
