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
