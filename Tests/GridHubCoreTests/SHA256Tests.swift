import Testing
@testable import GridHubCore

@Suite("SHA-256, HMAC and deterministic ids")
struct SHA256Tests {
    // FIPS 180-2 / NIST CSRC example vectors.
    @Test("FIPS test vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func vectors(message: String, digest: String) {
        #expect(SHA256.hash(utf8: message).hexString == digest)
    }

    @Test("one million 'a'")
    func millionA() {
        var hasher = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(chunk) }
        #expect(hasher.finalize().hexString == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("incremental updates equal one-shot hashing at every block boundary")
    func incremental() {
        let message = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for split in [0, 1, 55, 56, 63, 64, 65, 127, 128, 199, 200] {
            var hasher = SHA256()
            hasher.update(message[..<split])
            hasher.update(message[split...])
            #expect(hasher.finalize() == SHA256.hash(message), "split at \(split)")
        }
    }

    @Test("HMAC-SHA256, RFC 4231 test cases 1, 2 and 6")
    func hmac() {
        let key1 = [UInt8](repeating: 0x0b, count: 20)
        #expect(HMACSHA256.authenticationCode(key: key1, message: Array("Hi There".utf8)).hexString
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(HMACSHA256.authenticationCode(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)).hexString
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        let longKey = [UInt8](repeating: 0xaa, count: 131)
        #expect(HMACSHA256.authenticationCode(key: longKey, message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)).hexString
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        #expect(HMACSHA256.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!HMACSHA256.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!HMACSHA256.constantTimeEquals([1, 2], [1, 2, 3]))
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
