import Foundation
import Testing
@testable import GridHubCore

/// The router, the console, the gateway and `gridhub stats` read stored case documents with
/// ``Case/decoded(from:decoder:)``: ``Case/decodedDirectly(from:)`` first, `JSONDecoder` when it gives
/// nil. So the direct reader must never accept what `JSONDecoder` rejects, never read a value
/// differently, and must accept every case the router writes (else it is no faster).
@Suite("Case documents decoded directly agree with JSONDecoder")
struct CaseDirectDecodingTests {
    /// Random cases with every optional part somewhere: merged, withdrawn and surveyed reports, traces,
    /// grid workers, dispatches, commands, citizens' answers, recurrences and near misses.
    static let cases: [Case] = (0..<150).map { n in
        var c = JSONBytesWriterTests.randomCase(UInt64(4_000 + n))
        var rng = SplitMix64(seed: UInt64(n))
        if n % 2 == 0 { c.trace(report: c.reports[0].incidentId, traceparent: "00-\(String(repeating: "a1", count: 16))-\(String(repeating: "b2", count: 8))-01") }
        if n % 3 == 0 { c.recurrenceOf = "C-earlier-\(n)" }
        if n % 4 != 0 {
            c.keptApart = (0..<(1 + n % NearMiss.kept)).map { k in
                NearMiss(caseId: "C-near-\(n)-\(k)", reason: NearMiss.Reason.allCases[(n + k) % NearMiss.Reason.allCases.count],
                         distanceMeters: k == 0 ? nil : JSONBytesWriterTests.double(&rng, in: 0...3_000), limitMeters: 150,
                         timeGapSeconds: JSONBytesWriterTests.double(&rng, in: 0...900_000),
                         itemRelation: NearMiss.ItemRelation.allCases[(n + k) % NearMiss.ItemRelation.allCases.count],
                         textScore: JSONBytesWriterTests.double(&rng, in: 0...1))
            }
        }
        let from = c.history.count
        if (try? c.apply(.supervise(note: "督办 \(n)"), at: c.updatedAt.addingTimeInterval(60))) != nil, n % 2 == 1 {
            c.attribute(historyFrom: from, toCommand: "CMD-\(n)")
        }
        if n % 5 == 0, (try? c.apply(.close(note: nil), at: c.updatedAt.addingTimeInterval(3_600))) != nil {
            c.attribute(historyFrom: c.history.count - 1, toSurvey: Satisfaction.allCases[n % Satisfaction.allCases.count])
        }
        return c
    }

    /// What the reference decoder makes of `bytes` (nil: it rejects them).
    static func reference(_ bytes: [UInt8]) -> Case? {
        try? GridHubJSON.decoder().decode(Case.self, from: Data(bytes))
    }

    @Test("every case the router writes, and the same re-serialised or pretty-printed, is read directly as JSONDecoder reads it, and writes the same bytes again")
    func validCases() throws {
        var parts = (traced: 0, nearMisses: 0, commands: 0, answers: 0, evidence: 0, withdrawn: 0)
        for c in Self.cases {
            let written = c.jsonBytes()
            let encoder = GridHubJSON.encoder()
            encoder.outputFormatting.insert(.prettyPrinted)
            let pretty = Array(try encoder.encode(c))
            let reserialised = Array(try JSONSerialization.data(withJSONObject: try JSONSerialization.jsonObject(with: Data(written))))
            for bytes in [written, pretty, reserialised] {
                let expected = try #require(Self.reference(bytes))
                let direct = Case.decodedDirectly(from: bytes)
                #expect(direct == expected, "\(String(decoding: bytes, as: UTF8.self))")
                // Times keep the milliseconds they are written with, so the case read writes the same bytes.
                #expect(direct?.jsonBytes() == written)
            }
            if c.reports.contains(where: { $0.traceparent != nil }) { parts.traced += 1 }
            if !c.keptApart.isEmpty { parts.nearMisses += 1 }
            if c.history.contains(where: { $0.commandId != nil }) { parts.commands += 1 }
            if c.history.contains(where: { $0.satisfaction != nil }) { parts.answers += 1 }
            if c.reports.contains(where: { $0.match?.distanceMeters != nil }) { parts.evidence += 1 }
            if c.reports.contains(where: { $0.withdrawnAt != nil }) { parts.withdrawn += 1 }
        }
        #expect(parts.traced > 0 && parts.nearMisses > 0 && parts.commands > 0 && parts.answers > 0 && parts.evidence > 0 && parts.withdrawn > 0,
                "the cases should have every optional part somewhere: \(parts)")
    }

    @Test("fields changed to wrong, missing, extra or out-of-range values, in the case and inside its reports, history and near misses: whatever the direct reader accepts, JSONDecoder reads the same")
    func changedFields() throws {
        var rng = SplitMix64(seed: 20_261_207)
        let odd: [Any] = [NSNull(), 0, -1, 1, 2.5, 1.5e300, -0.5, "", "x", "C-1", "SR-001", "SR-1234", "urban-mgmt", "NOPE", "town", "open",
                          "closed", "sameItem", "tooFar", "2026-11-27T09:15:32", "2026-11-27T09:15:32+08:00", "00-xyz-01",
                          "6f1c2e1a-2b3c-4d5e-8f90-a1b2c3d4e5f6", String(repeating: "w", count: 65), true, false, [Any](), ["a"],
                          [String: Any](), ["k": 1]]
        var accepted = 0, rejected = 0
        for c in Self.cases {
            let object = try JSONSerialization.jsonObject(with: Data(c.jsonBytes()))
            for _ in 0..<30 {
                let (path, bytes) = try JSONMutations.fieldChanged(object, odd: odd, &rng)
                let expected = Self.reference(bytes)
                let direct = Case.decodedDirectly(from: bytes)
                if direct != nil { accepted += 1 } else { rejected += 1 }
                #expect(direct == nil || direct == expected, "\(path): \(String(decoding: bytes, as: UTF8.self))")
                if expected != nil, direct == nil { Issue.record("valid, but not read directly: \(path): \(String(decoding: bytes, as: UTF8.self))") }
                #expect((try? Case.decoded(from: bytes, decoder: GridHubJSON.decoder())) == expected)
            }
        }
        #expect(accepted > 300 && rejected > 300, "the changes should make some cases invalid and leave others valid: \(accepted) accepted, \(rejected) rejected")
    }

    @Test("bytes dropped, inserted or replaced: whatever the direct reader accepts, JSONDecoder reads the same")
    func changedBytes() throws {
        var rng = SplitMix64(seed: 1_207)
        let accepted = JSONMutations.damagedDocumentsAgree(Case.self, Self.cases.map { $0.jsonBytes() }, times: 30, &rng)
        #expect(accepted > 50, "some changes (white space, text inside strings) leave a valid case: \(accepted)")
    }

    @Test("a case without reports is refused by both readers, and the error that reaches the caller is JSONDecoder's, naming the field")
    func refusedWithReason() throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(Self.cases[0].jsonBytes())) as? [String: Any])
        object["reports"] = [Any]()
        let bytes = Array(try JSONSerialization.data(withJSONObject: object))
        #expect(Case.decodedDirectly(from: bytes) == nil)
        #expect(Self.reference(bytes) == nil)
        let error = #expect(throws: DecodingError.self) { try Case.decoded(from: bytes, decoder: GridHubJSON.decoder()) }
        #expect(String(describing: error).contains("at least the report that opened it"), "\(String(describing: error))")
    }
}
