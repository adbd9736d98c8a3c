import Foundation
import Testing
@testable import GridHubCore

@Suite("CloudEvent: Kafka binary mode headers")
struct CloudEventTests {
    func event() throws -> CloudEvent {
        let incident = try #require(ModelFixtures.incidents(count: 2).last)
        return try CloudEvent(
            id: DeterministicID(namespace: .event, parts: [EventType.incident.rawValue, incident.incidentId, "1"]).uuidString,
            source: SourceSystem.hotline12345.adapterEventSource, type: .incident, time: ModelFixtures.time(0.5),
            subject: incident.incidentId, traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", payload: incident)
    }

    @Test("headers carry every attribute and parse back to the same event")
    func roundTrip() throws {
        let original = try event()
        let headers = original.headers
        func value(_ key: String) -> String? { headers.first { $0.key == key }.map { String(decoding: $0.value, as: UTF8.self) } }
        #expect(value("ce_specversion") == "1.0")
        #expect(value("ce_type") == "gov.gridhub.incident.v1")
        #expect(value("ce_source") == "/gridhub/adapter/hotline12345")
        #expect(value("ce_time") == "2026-11-27T09:15:32.500+08:00")
        #expect(value("content-type") == "application/json")
        #expect(value("traceparent") == original.traceparent)
        #expect(value("ce_id") == original.id)
        let parsed = try CloudEvent(headers: headers + [("gridhub.other", [1, 2])], value: original.data)
        #expect(parsed == original)
        #expect(parsed.eventType == .incident)
        #expect(try parsed.decode(Incident.self) == original.decode(Incident.self))
        #expect(try CloudEvent(headers: headers, value: original.data).headers.map(\.key) == headers.map(\.key))
    }

    @Test("optional attributes may be absent; content-type parameters are accepted")
    func optionals() throws {
        var minimal = try event()
        minimal.subject = nil
        minimal.traceparent = nil
        minimal.dataContentType = "application/json; charset=utf-8"
        #expect(!minimal.headers.contains { $0.key == "traceparent" || $0.key == "ce_subject" })
        #expect(try CloudEvent(headers: minimal.headers, value: minimal.data) == minimal)
    }

    @Test("parse errors are typed and readable")
    func errors() throws {
        let good = try event().headers
        func parse(_ headers: [(key: String, value: [UInt8])]) -> CloudEventError? {
            do { _ = try CloudEvent(headers: headers, value: []); return nil } catch { return error }
        }
        func replacing(_ key: String, with value: String?) -> [(key: String, value: [UInt8])] {
            good.compactMap { $0.key == key ? value.map { (key, Array($0.utf8)) } : $0 }
        }
        let missingType = parse(replacing("ce_type", with: nil))
        #expect(missingType?.code == .missingHeader && missingType?.header == "ce_type")
        #expect(missingType?.description == "the header ce_type is missing")
        #expect(parse(replacing("ce_specversion", with: "0.3"))?.code == .unsupportedSpecVersion)
        #expect(parse(replacing("ce_time", with: "yesterday"))?.code == .invalidHeader)
        #expect(parse(replacing("ce_id", with: ""))?.code == .invalidHeader)
        #expect(parse(replacing("content-type", with: "application/xml"))?.code == .unsupportedContentType)
        #expect(parse(replacing("ce_source", with: nil))?.header == "ce_source")
        #expect(parse(good + [("ce_id", Array("again".utf8))])?.code == .duplicateHeader)
        #expect(parse(good.map { $0.key == "ce_source" ? ($0.key, [0xff, 0xfe]) : $0 })?.code == .invalidHeader)
        #expect(parse(good) == nil)
    }

    @Test("event types map to topics, schemas and payload types")
    func eventTypes() throws {
        #expect(EventType.allCases.map(\.rawValue) == [
            "gov.gridhub.incident.v1", "gov.gridhub.case.v1", "gov.gridhub.dispatch.v1",
            "gov.gridhub.feedback.v1", "gov.gridhub.survey.v1", "gov.gridhub.status.v1", "gov.gridhub.command.v1", "gov.gridhub.alert.v1",
        ])
        #expect(EventType.command.matches(topic: "gridhub.commands.v1") && EventType.command.payloadType == Command.self)
        #expect(EventType.incident.matches(topic: "gridhub.incidents.v1"))
        #expect(EventType.case.matches(topic: "gridhub.cases.v1"))
        #expect(EventType.dispatch.matches(topic: "gridhub.dispatch.command-center.v1"))
        #expect(!EventType.dispatch.matches(topic: "gridhub.dispatch..v1"))
        #expect(EventType.status.matches(topic: "gridhub.status.elink.v1"))
        #expect(!EventType.status.matches(topic: "gridhub.status.unknown.v1"))
        #expect(EventType.survey.topicPattern == Topics.surveys)
        #expect(EventType.feedback.schemaFileName == "feedback.v1.schema.json")
        let departments = [Department(code: "fire", nameZh: "市消防救援大队", nameEn: "Fire", kafkaTopic: "gridhub.dispatch.fire.v1", kind: .department)]
        #expect(EventType.dispatch.topics(departments: departments) == ["gridhub.dispatch.fire.v1"])
        #expect(EventType.status.topics(departments: departments).count == 4)
    }
}

@Suite("CloudEvents structured mode")
struct CloudEventStructuredTests {
    static func envelope(_ extra: [String: Any] = [:], removing: [String] = []) -> [UInt8] {
        var object: [String: Any] = ["specversion": "1.0", "id": "f-1", "source": "/department/urban-mgmt", "type": "gov.gridhub.feedback.v1",
                                     "time": "2026-12-05T14:33:18.858582+00:00", "datacontenttype": "application/json",
                                     "data": ["dispatchId": "d-1", "department": "urban-mgmt", "status": "accepted", "at": "2026-12-05T22:00:00+08:00"]]
        for (k, v) in extra { object[k] = v }
        for k in removing { object[k] = nil }
        return Array(try! JSONSerialization.data(withJSONObject: object))
    }

    @Test("application/cloudevents+json: attributes from the envelope, the data as JSON bytes, the tracing extension read")
    func structured() throws {
        let event = try CloudEvent(headers: [("content-type", Array("application/cloudevents+json; charset=utf-8".utf8))],
                                   value: Self.envelope(["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "subject": "c-1"]))
        #expect(event.id == "f-1" && event.source == "/department/urban-mgmt" && event.eventType == .feedback && event.subject == "c-1")
        #expect(event.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        #expect(RFC3339.format(event.time).hasPrefix("2026-12-05T22:33:18.858"))
        let data = try #require(try JSONSerialization.jsonObject(with: Data(event.data)) as? [String: Any])
        #expect(data["dispatchId"] as? String == "d-1")
        // A traceparent header wins over the attribute.
        let traced = try CloudEvent(headers: [("content-type", Array("application/cloudevents+json".utf8)), ("traceparent", Array("00-11111111111111111111111111111111-2222222222222222-01".utf8))],
                                    value: Self.envelope(["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]))
        #expect(traced.traceparent?.hasPrefix("00-1111") == true)
    }

    @Test("the Python SDK's way: no ce_ header, the data's content type (or nothing) in content-type, the event in the value")
    func withoutStructuredHeader() throws {
        for headers in [[("content-type", Array("application/json".utf8))], []] as [[(String, [UInt8])]] {
            #expect(try CloudEvent(headers: headers.map { (key: $0.0, value: $0.1) }, value: Self.envelope()).id == "f-1")
        }
        // With binary-mode headers the value is the data, whatever it looks like (one value: a dictionary's
        // key order differs between serialisations).
        let value = Self.envelope()
        let binary = try CloudEvent(headers: [("ce_specversion", Array("1.0".utf8)), ("ce_id", Array("b-1".utf8)), ("ce_source", Array("/x".utf8)),
                                              ("ce_type", Array("gov.gridhub.feedback.v1".utf8)), ("ce_time", Array("2026-12-05T22:00:00+08:00".utf8)),
                                              ("content-type", Array("application/json".utf8))], value: value)
        #expect(binary.id == "b-1" && binary.data == value)
    }

    @Test("refused with the attribute named: a missing time, another spec version, binary data, non-JSON data, not an object")
    func refused() {
        let header = [(key: "content-type", value: Array("application/cloudevents+json".utf8))]
        func code(_ value: [UInt8]) -> (String, String)? {
            do { _ = try CloudEvent(headers: header, value: value); return nil } catch { return ("\(error.code)", error.header) }
        }
        #expect(code(Self.envelope(removing: ["time"]))! == ("missingHeader", "time"))
        #expect(code(Self.envelope(["specversion": "0.3"]))!.0 == "unsupportedSpecVersion")
        #expect(code(Self.envelope(["data_base64": "AAAA"], removing: ["data"]))! == ("unsupportedContentType", "data_base64"))
        #expect(code(Self.envelope(["datacontenttype": "text/plain"]))! == ("unsupportedContentType", "datacontenttype"))
        #expect(code(Array("[1,2]".utf8))!.1 == "value")
        #expect(code(Self.envelope(["id": 7]))! == ("invalidHeader", "id"))
    }
}
