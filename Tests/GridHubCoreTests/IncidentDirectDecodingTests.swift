import Foundation
import Testing
@testable import GridHubCore

/// The router reads incidents with ``Incident/decodedDirectly(from:)`` and falls back to `JSONDecoder`
/// when it gives nil. So the direct reader must never accept what `JSONDecoder` rejects, never read a
/// value differently, and must accept what the adapters write (else it is no faster).
@Suite("Incidents decoded directly agree with JSONDecoder")
struct IncidentDirectDecodingTests {
    static let incidents = ModelFixtures.incidents(count: 120)

    /// What the reference decoder makes of `bytes` (nil: it rejects them).
    static func reference(_ bytes: [UInt8]) -> Incident? {
        try? GridHubJSON.decoder().decode(Incident.self, from: Data(bytes))
    }

    @Test("what the adapters write, masked or revealed, pretty-printed or re-serialised with escaped slashes, is read directly as JSONDecoder reads it")
    func validIncidents() throws {
        for incident in Self.incidents {
            for disclosure in [PersonalDataDisclosure.mask, .reveal] {
                let encoder = GridHubJSON.encoder(disclosingPersonalData: disclosure)
                let compact = Array(try encoder.encode(incident))
                encoder.outputFormatting.insert(.prettyPrinted)
                let pretty = Array(try encoder.encode(incident))
                let reserialised = Array(try JSONSerialization.data(withJSONObject: try JSONSerialization.jsonObject(with: Data(compact))))
                for bytes in [compact, pretty, reserialised] {
                    let expected = try #require(Self.reference(bytes))
                    #expect(Incident.decodedDirectly(from: bytes) == expected, "\(String(decoding: bytes, as: UTF8.self))")
                }
            }
        }
    }

    @Test("escapes: \\u sequences, surrogate pairs and every short escape read as JSONDecoder reads them; lone surrogates and raw control characters are not accepted")
    func escapes() throws {
        let base = String(decoding: try GridHubJSON.encoder().encode(Self.incidents[1]), as: UTF8.self)
        let description = try #require(base.range(of: #""description":""#))
        for (escaped, accepted) in [(#"\u8def\u706f\/\b\f\n\r\t\"\\"#, true), (#"\ud83d\ude92 fire"#, true), (#"\u00E9"#, true),
                                    (#"\ud83d alone"#, false), (#"\ude92"#, false), (#"\x41"#, false), ("\u{01}", false), (#"\u12"#, false)] {
            var text = base
            text.insert(contentsOf: escaped, at: description.upperBound)
            let bytes = Array(text.utf8)
            let direct = Incident.decodedDirectly(from: bytes)
            if accepted {
                #expect(direct != nil && direct == Self.reference(bytes), "\(escaped)")
            } else {
                #expect(direct == nil, "\(escaped)")
            }
        }
    }

    @Test("fields changed to wrong, missing, extra, duplicated or out-of-range values: whatever the direct reader accepts, JSONDecoder reads the same")
    func changedFields() throws {
        var rng = SplitMix64(seed: 20_261_128)
        let odd: [Any] = [NSNull(), 0, -1, 1, 2.5, 91, -181, 1.5, "", "x", "SR-1234", "SR-013", "2026-11-27T09:15:32", "2026-11-27T09:15:32Z",
                          "123456789012345", "12345", "gps", "poi", "citizen", true, false, [Any](), ["a"], [String: Any](), ["k": 1]]
        var accepted = 0, rejected = 0
        for incident in Self.incidents {
            let object = try #require(try JSONSerialization.jsonObject(with: GridHubJSON.encoder(disclosingPersonalData: .reveal).encode(incident)) as? [String: Any])
            for _ in 0..<25 {
                let (path, bytes) = try JSONMutations.fieldChanged(object, odd: odd, &rng)
                let expected = Self.reference(bytes)
                let direct = Incident.decodedDirectly(from: bytes)
                if direct != nil { accepted += 1 } else { rejected += 1 }
                #expect(direct == nil || direct == expected, "\(path): \(String(decoding: bytes, as: UTF8.self))")
                if expected != nil, direct == nil { Issue.record("valid, but not read directly: \(path): \(String(decoding: bytes, as: UTF8.self))") }
            }
        }
        #expect(accepted > 100 && rejected > 100, "the changes should make some incidents invalid and leave others valid: \(accepted) accepted, \(rejected) rejected")
    }

    @Test("bytes dropped, inserted or replaced: whatever the direct reader accepts, JSONDecoder reads the same")
    func changedBytes() throws {
        var rng = SplitMix64(seed: 8_259)
        let encoder = GridHubJSON.encoder(disclosingPersonalData: .reveal)
        let accepted = JSONMutations.damagedDocumentsAgree(Incident.self, try Self.incidents.map { Array(try encoder.encode($0)) }, times: 40, &rng)
        #expect(accepted > 50, "some changes (white space, text inside strings) leave a valid incident: \(accepted)")
    }

    @Test("numbers: JSON grammar only; out-of-range, overflowing and underflowing numbers are not accepted")
    func numbers() throws {
        let base = String(decoding: try GridHubJSON.encoder().encode(Self.incidents[1]), as: UTF8.self)
        let lat = try #require(base.firstMatch(of: /"lat":[0-9.]+/))
        for (text, accepted) in [("31", true), ("31.5", true), ("3.15e1", true), ("315E-1", true), ("-0", true), ("0.0", true),
                                 ("031", false), ("31.", false), (".5", false), ("+31", false), ("1e400", false), ("1e-400", false),
                                 ("90.0000001", false), ("NaN", false), ("0x1F", false), ("31e", false)] {
            let bytes = Array(base.replacingCharacters(in: lat.range, with: "\"lat\":\(text)").utf8)
            let direct = Incident.decodedDirectly(from: bytes)
            #expect((direct != nil) == accepted, "\(text)")
            #expect(direct == nil || direct == Self.reference(bytes), "\(text)")
        }
    }

    @Test("status records: what the router writes is read directly as JSONDecoder reads it; with fields changed or bytes replaced, whatever the direct reader accepts, JSONDecoder reads the same")
    func statusRecords() throws {
        var rng = SplitMix64(seed: 5_150)
        let statuses = Self.incidents.enumerated().map { n, incident in
            StatusUpdate(system: incident.source.system, recordId: incident.source.recordId, caseId: "C-\(n)", caseVersion: 1 + n % 7,
                         status: CaseStatus.allCases[n % CaseStatus.allCases.count], department: n % 3 == 0 ? nil : "urban-mgmt",
                         note: n % 4 == 0 ? nil : "处理完毕 \"\(n)\"\n/", at: incident.receivedAt)
        }
        func reference(_ bytes: [UInt8]) -> StatusUpdate? { try? GridHubJSON.decoder().decode(StatusUpdate.self, from: Data(bytes)) }
        let odd: [Any] = [NSNull(), 0, -1, 1, 2.5, "", "x", "urban-mgmt", "NOPE", "2026-11-27T09:15:32", "2026-11-27T09:15:32+08:00", "resolved",
                          true, [Any](), [String: Any]()]
        let alphabet = Array("{}[],:\"\\ 0123456789-.etrufalsn".utf8)
        var accepted = 0, rejected = 0
        for status in statuses {
            let valid = status.jsonBytes()
            #expect(StatusUpdate.decodedDirectly(from: valid) == status)
            #expect(StatusUpdate.decodedDirectly(from: valid) == reference(valid))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(valid)) as? [String: Any])
            for _ in 0..<20 {
                var mutated = object
                let key = object.keys.sorted()[Int(rng.next() % UInt64(object.count))]
                switch rng.next() % 4 {
                case 0: mutated[key] = nil
                case 1: mutated["extra"] = 1
                default: mutated[key] = odd[Int(rng.next() % UInt64(odd.count))]
                }
                let bytes = Array(try JSONSerialization.data(withJSONObject: mutated))
                let expected = reference(bytes), direct = StatusUpdate.decodedDirectly(from: bytes)
                if direct != nil { accepted += 1 } else { rejected += 1 }
                #expect(direct == nil || direct == expected, "\(key): \(String(decoding: bytes, as: UTF8.self))")
                if expected != nil, direct == nil { Issue.record("valid, but not read directly: \(String(decoding: bytes, as: UTF8.self))") }
            }
            for _ in 0..<10 {
                var bytes = valid
                let at = Int(rng.next() % UInt64(bytes.count))
                bytes[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                let direct = StatusUpdate.decodedDirectly(from: bytes)
                #expect(direct == nil || direct == reference(bytes), "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
        #expect(accepted > 100 && rejected > 100, "\(accepted) accepted, \(rejected) rejected")
    }
}
