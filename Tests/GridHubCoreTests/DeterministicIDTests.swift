import Testing
@testable import GridHubCore

@Suite("Deterministic ids and content digests")
struct DeterministicIDTests {
    @Test("content digests are SHA-256 of the chunks one after another (FIPS 180-2 vector)")
    func contentDigest() {
        #expect(ContentDigest.sha256(Array("abc".utf8)).hexString == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(ContentDigest.sha256(Array("a".utf8), Array("bc".utf8)) == ContentDigest.sha256(Array("abc".utf8)))
        #expect(ContentDigest.sha256([]).hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("deterministic ids are UUID-shaped, version 8, variant 10, stable and namespaced")
    func deterministicIDs() throws {
        let a = DeterministicID(namespace: .incident, name: "x")
        #expect(a == DeterministicID(namespace: .incident, name: "x"))
        #expect(a != DeterministicID(namespace: .case, name: "x"))
        #expect(a != DeterministicID(namespace: .incident, name: "y"))
        let text = a.uuidString
        #expect(text.count == 36)
        #expect(Array(text)[14] == "8")
        #expect("89ab".contains(Array(text)[19]))
        #expect(FieldCheck.isUUID(text))
        #expect(DeterministicID.Namespace(uuid: text)?.bytes == a.bytes)
        #expect(DeterministicID.Namespace(uuid: "not-a-uuid") == nil)
        // Pinned: Schemas/examples/ were computed independently (Python hashlib) and must keep matching.
        #expect(DeterministicID.incidentID(system: .hotline12345, recordId: "JY12345-20261127-000123")
                == "75fcd74a-77b6-8829-83f7-3cae615610f5")
    }

    @Test("time-ordered ids: deterministic, UUID-shaped, the time in their first 48 bits, so they sort in time order; ids ordered like another share its prefix")
    func timeOrderedIDs() throws {
        let t: Int64 = 1_795_737_600_000  // 2026-11-27T00:00:00Z
        let a = DeterministicID(namespace: .case, parts: ["incident-a"], orderedAt: t)
        #expect(a == DeterministicID(namespace: .case, parts: ["incident-a"], orderedAt: t))
        #expect(a != DeterministicID(namespace: .case, parts: ["incident-b"], orderedAt: t))
        #expect(a.uuidString.hasPrefix("01a21a4d-4000-8"), "\(a)")  // t = 0x01a2_1a4d_4000
        #expect(FieldCheck.isUUID(a.uuidString) && "89ab".contains(Array(a.uuidString)[19]))
        // The name decides the rest: the same as the plain id's last 10 bytes.
        #expect(a.bytes.suffix(10) == DeterministicID(namespace: .case, parts: ["incident-a"]).bytes.suffix(10))
        // A later time sorts later whatever the names, as text (the way PostgreSQL compares the keys).
        let times: [Int64] = [t, t + 1, t + 999, t + 3_600_000, t + 86_400_000 * 400]
        let ids = times.enumerated().map { DeterministicID(namespace: .case, parts: ["n\($0.offset * 7919)"], orderedAt: $0.element).uuidString }
        #expect(ids == ids.sorted())
        // Out of range times are clamped, not wrapped.
        #expect(DeterministicID(namespace: .case, parts: ["x"], orderedAt: -5).uuidString.hasPrefix("00000000-0000-8"))
        #expect(DeterministicID(namespace: .case, parts: ["x"], orderedAt: .max).uuidString.hasPrefix("ffffffff-ffff-8"))
        // Ordered like another id: its first 48 bits; like something that is no UUID: the plain id.
        let d = DeterministicID(namespace: .dispatch, parts: [a.uuidString, "1"], orderedLike: a.uuidString)
        #expect(d.bytes.prefix(6) == a.bytes.prefix(6) && d != a)
        #expect(DeterministicID(namespace: .dispatch, parts: ["c", "1"], orderedLike: "not-a-uuid") == DeterministicID(namespace: .dispatch, parts: ["c", "1"]))
    }
}
