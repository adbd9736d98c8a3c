import Foundation
import Testing
@testable import GridHubCore

@Suite("Model: JSON round trips, strict decoding, ids, times")
struct ModelRoundTripTests {
    func roundTrip<T: Codable & Equatable>(_ value: T) throws {
        let encoder = GridHubJSON.encoder(disclosingPersonalData: .reveal)
        let data = try encoder.encode(value)
        let decoded = try GridHubJSON.decoder().decode(T.self, from: data)
        #expect(decoded == value, "\(String(decoding: data, as: UTF8.self))")
        #expect(try encoder.encode(decoded) == data, "re-encoding is byte-identical")
    }

    @Test("encode → decode gives the same value, for every generated event")
    func roundTrips() throws {
        for value in ModelFixtures.incidents() { try roundTrip(value) }
        for value in try ModelFixtures.cases() { try roundTrip(value) }
        for value in ModelFixtures.dispatches() { try roundTrip(value) }
        for value in ModelFixtures.feedbacks() { try roundTrip(value) }
        for value in ModelFixtures.surveys() { try roundTrip(value) }
        for value in ModelFixtures.statusUpdates() { try roundTrip(value) }
    }

    @Test("encoding is deterministic: sorted keys, the same bytes every time")
    func deterministic() throws {
        let incident = ModelFixtures.incidents(count: 3)[1]
        let first = try GridHubJSON.encoder().encode(incident)
        for _ in 0..<5 { #expect(try GridHubJSON.encoder().encode(incident) == first) }
        let text = String(decoding: first, as: UTF8.self)
        let keys = ["attachments", "description", "incidentId", "itemCode", "location"]
        let positions = keys.compactMap { text.range(of: "\"\($0)\":")?.lowerBound }
        #expect(positions.count == keys.count)
        #expect(positions == positions.sorted())
    }

    @Test("absent optionals are written as explicit nulls")
    func nulls() throws {
        let incident = try #require(ModelFixtures.incidents().first { $0.itemCode == nil && $0.location.gridCode == nil })
        let object = try #require(try JSONSerialization.jsonObject(with: GridHubJSON.encoder().encode(incident)) as? [String: Any])
        #expect(object["itemCode"] is NSNull)
        let location = try #require(object["location"] as? [String: Any])
        #expect(location["gridCode"] is NSNull)
    }

    @Test("incidentId: the same for every version of a record, different between records and systems")
    func incidentIds() throws {
        let base = try #require(ModelFixtures.incidents(count: 1).first)
        let v2 = Incident(source: SourceRef(system: base.source.system, recordId: base.source.recordId, version: 7),
                      reportedAt: ModelFixtures.time(999), receivedAt: ModelFixtures.time(1000), itemCode: "SR-001",
                      description: "changed", location: .unknown(address: nil), urgent: true, resolvedOnSite: false)
        #expect(v2.incidentId == base.incidentId)
        #expect(DeterministicID.incidentID(system: .woodpecker, recordId: "A") != DeterministicID.incidentID(system: .woodpecker, recordId: "B"))
        #expect(DeterministicID.incidentID(system: .woodpecker, recordId: "A") != DeterministicID.incidentID(system: .elink, recordId: "A"))
        let ids = Set(ModelFixtures.incidents(count: 40).map(\.incidentId))
        let records = Set(ModelFixtures.incidents(count: 40).map { "\($0.source.system)/\($0.source.recordId)" })
        #expect(ids.count == records.count)
    }

    @Test("unknown fields are rejected by the Swift decoder, at the top and in nested objects")
    func strictDecoding() throws {
        let root = try ModelFixtures.repositoryRoot()
        let data = try Data(contentsOf: root.appendingPathComponent("Schemas/examples/incident.json"))
        _ = try GridHubJSON.decoder().decode(Incident.self, from: data)
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        object["unexpected"] = 1
        #expect(throws: DecodingError.self) {
            try GridHubJSON.decoder().decode(Incident.self, from: JSONSerialization.data(withJSONObject: object))
        }
        object["unexpected"] = nil
        var location = try #require(object["location"] as? [String: Any])
        location["altitude"] = 12
        object["location"] = location
        #expect(throws: DecodingError.self) {
            try GridHubJSON.decoder().decode(Incident.self, from: JSONSerialization.data(withJSONObject: object))
        }
    }

    @Test("malformed values are rejected: item and grid codes, a forged incidentId, a time without offset")
    func invalidValues() throws {
        let root = try ModelFixtures.repositoryRoot()
        let text = try String(contentsOf: root.appendingPathComponent("Schemas/examples/incident.json"), encoding: .utf8)
        let broken = [
            text.replacingOccurrences(of: "\"SR-013\"", with: "\"SR-13\""),
            text.replacingOccurrences(of: "\"320281001006002\"", with: "\"32028100100600\""),
            text.replacingOccurrences(of: "75fcd74a-77b6-8829-83f7-3cae615610f5", with: "75fcd74a-77b6-8829-83f7-3cae615610f6"),
            text.replacingOccurrences(of: "2026-11-27T09:15:32+08:00", with: "2026-11-27 09:15:32"),
        ]
        for variant in broken {
            #expect(variant != text)
            #expect(throws: DecodingError.self) { try GridHubJSON.decoder().decode(Incident.self, from: Data(variant.utf8)) }
        }
    }

    @Test("RFC 3339: written at +08:00 with milliseconds only when needed; any offset read")
    func times() throws {
        #expect(RFC3339.format(ModelFixtures.time()) == "2026-11-27T09:15:32+08:00")
        #expect(RFC3339.format(ModelFixtures.time(0.25)) == "2026-11-27T09:15:32.250+08:00")
        #expect(RFC3339.format(Date(millisecondsSince1970: 0)) == "1970-01-01T08:00:00+08:00")
        #expect(RFC3339.format(millisecondsSince1970: -1, offsetSeconds: 0) == "1969-12-31T23:59:59.999Z")
        #expect(RFC3339.format(millisecondsSince1970: 1_795_736_132_007, offsetSeconds: -19_800) == "2026-11-26T18:05:32.007-05:30")
        #expect(RFC3339.format(millisecondsSince1970: 253_402_300_800_000, offsetSeconds: 0) == "10000-01-01T00:00:00Z")
        // Every format reads back as the same instant.
        var rng = SplitMix64(seed: 3339)
        for _ in 0..<2_000 {
            let ms = Int64(bitPattern: rng.next() % 8_000_000_000_000) - 1_000_000_000_000
            let offset = (Int(rng.next() % 57) - 28) * 1_800
            #expect(RFC3339.parseMilliseconds(RFC3339.format(millisecondsSince1970: ms, offsetSeconds: offset)) == ms)
        }
        // Whole seconds, 1970–2100: the same text as Foundation's ISO 8601 style writes at +08:00. (Its
        // fractions come from a binary double and may be a millisecond short, so they are not compared.)
        let style = Date.ISO8601FormatStyle(timeZoneSeparator: .colon, timeZone: try #require(TimeZone(secondsFromGMT: RFC3339.chinaStandardTimeOffsetSeconds)))
        for _ in 0..<2_000 {
            let date = Date(millisecondsSince1970: Int64(rng.next() % 4_102_444_800) * 1000)
            #expect(RFC3339.format(date) == date.formatted(style))
        }
        #expect(RFC3339.parse("2026-11-27T01:15:32Z") == ModelFixtures.time())
        #expect(RFC3339.parse("2026-11-26T20:15:32-05:00") == ModelFixtures.time())
        #expect(RFC3339.parse("2026-11-27T09:15:32.250123+08:00") == ModelFixtures.time(0.25))
        #expect(RFC3339.parse("2028-02-29T00:00:00+08:00") != nil)
        for bad in ["2026-11-27T09:15:32", "2026-02-30T00:00:00Z", "2026-11-27T24:00:00Z", "2026-11-27T09:15:32+0800", "", "2026-11-27"] {
            #expect(RFC3339.parse(bad) == nil, "\(bad)")
        }
        // Every day from 1967 to 2027 round-trips through the civil calendar arithmetic.
        for day in stride(from: -800, to: 21_000, by: 1) {
            let ms = Int64(day) * 86_400_000 + 12_345
            #expect(RFC3339.parseMilliseconds(RFC3339.format(millisecondsSince1970: ms, offsetSeconds: 8 * 3600)) == ms)
        }
    }
}
