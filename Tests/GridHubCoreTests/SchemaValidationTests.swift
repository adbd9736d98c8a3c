import Foundation
import Testing
@testable import GridHubCore

@Suite("Schema: JSON Schemas, examples and the Swift model agree", .serialized)
struct SchemaValidationTests {
    static let examples = EventType.allCases.map { "\($0.name).json" }

    @Test("every event type has its schema with the right $id, closed and described")
    func schemaFiles() throws {
        let root = try ModelFixtures.repositoryRoot()
        for type in EventType.allCases {
            let data = try Data(contentsOf: root.appendingPathComponent("Schemas").appendingPathComponent(type.schemaFileName))
            let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(schema["$id"] as? String == type.schemaID)
            #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
            #expect(schema["additionalProperties"] as? Bool == false)
            // Every object schema anywhere in the file is closed, every property described.
            func walk(_ node: Any, _ path: String) {
                if let object = node as? [String: Any] {
                    if object["type"] as? String == "object" {
                        #expect(object["additionalProperties"] as? Bool == false, "\(type.schemaFileName) \(path) is open")
                    }
                    if let properties = object["properties"] as? [String: Any] {
                        for (name, property) in properties {
                            #expect((property as? [String: Any])?["description"] is String, "\(type.schemaFileName) \(path)/\(name) has no description")
                        }
                    }
                    for (key, value) in object { walk(value, path + "/" + key) }
                } else if let array = node as? [Any] {
                    for (index, value) in array.enumerated() { walk(value, path + "/\(index)") }
                }
            }
            walk(schema, "")
        }
    }

    @Test("the examples decode strictly into the Swift types and re-encode to the same JSON")
    func examplesDecode() throws {
        let root = try ModelFixtures.repositoryRoot()
        for type in EventType.allCases {
            let data = try Data(contentsOf: root.appendingPathComponent("Schemas/examples/\(type.name).json"))
            let value = try GridHubJSON.decoder().decode(type.payloadType, from: data)
            let reencoded = try GridHubJSON.encoder().encode(value)
            let original = try JSONSerialization.jsonObject(with: data) as? NSDictionary
            let again = try JSONSerialization.jsonObject(with: reencoded) as? NSDictionary
            #expect(original == again, "\(type.name): \(String(decoding: reencoded, as: UTF8.self))")
        }
    }

    @Test("examples and generated events validate with Python jsonschema; unknown fields are rejected")
    func python() async throws {
        let root = try ModelFixtures.repositoryRoot()
        var files: [String: Data] = [:]
        for name in Self.examples {
            files[name] = try Data(contentsOf: root.appendingPathComponent("Schemas/examples").appendingPathComponent(name))
        }
        func add<T: Encodable>(_ prefix: String, _ values: [T], disclosure: PersonalDataDisclosure) throws {
            let encoder = GridHubJSON.encoder(disclosingPersonalData: disclosure)
            for (n, value) in values.enumerated() { files["\(prefix)-\(disclosure)-\(n).json"] = try encoder.encode(value) }
        }
        for disclosure in [PersonalDataDisclosure.mask, .reveal] {
            try add("incident", ModelFixtures.incidents(), disclosure: disclosure)
            try add("case", ModelFixtures.cases(), disclosure: disclosure)
            try add("dispatch", ModelFixtures.dispatches(), disclosure: disclosure)
            try add("feedback", ModelFixtures.feedbacks(), disclosure: disclosure)
            try add("survey", ModelFixtures.surveys(), disclosure: disclosure)
            try add("status", ModelFixtures.statusUpdates(), disclosure: disclosure)
        }
        // Invalid documents, which both the Python validator and the Swift decoder must refuse.
        var invalid: [String: (EventType, Data)] = [:]
        for type in EventType.allCases {
            let data = try #require(files["\(type.name).json"])
            var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            object["unknownField"] = "x"
            invalid["\(type.name)-invalid-unknown.json"] = (type, try JSONSerialization.data(withJSONObject: object))
        }
        let incidentExample = try #require(files["incident.json"])
        var nested = try #require(try JSONSerialization.jsonObject(with: incidentExample) as? [String: Any])
        var source = try #require(nested["source"] as? [String: Any])
        source["extra"] = true
        nested["source"] = source
        invalid["incident-invalid-nested.json"] = (.incident, try JSONSerialization.data(withJSONObject: nested))
        let badTime = String(decoding: incidentExample, as: UTF8.self).replacingOccurrences(of: "2026-11-27T09:15:32+08:00", with: "2026-11-27T09:15:32")
        invalid["incident-invalid-time.json"] = (.incident, Data(badTime.utf8))
        let badItem = String(decoding: incidentExample, as: UTF8.self).replacingOccurrences(of: "\"SR-013\"", with: "\"SR-1300\"")
        invalid["incident-invalid-item.json"] = (.incident, Data(badItem.utf8))
        let badStatus = String(decoding: try #require(files["case.json"]), as: UTF8.self).replacingOccurrences(of: "\"status\": \"accepted\"", with: "\"status\": \"done\"")
        invalid["case-invalid-status.json"] = (.case, Data(badStatus.utf8))
        for (name, entry) in invalid { files[name] = entry.1 }

        let results = try await ModelFixtures.validateWithPython(files)
        #expect(results.count == files.count)
        for name in files.keys.sorted() {
            let result = try #require(results[name], "no result for \(name)")
            if invalid[name] != nil {
                #expect(!result.valid, "\(name) should be invalid")
            } else {
                #expect(result.valid, "\(name): \(result.errors.joined(separator: "; "))")
            }
        }
        for (name, entry) in invalid {
            #expect(throws: DecodingError.self, "\(name)") { try GridHubJSON.decoder().decode(entry.0.payloadType, from: entry.1) }
        }
        #expect(files.keys.filter { $0.hasPrefix("incident-") }.count > 60)
    }
}
