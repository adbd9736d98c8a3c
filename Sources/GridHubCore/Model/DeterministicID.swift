/// Name-based ids: the same namespace and name always give the same UUID-formatted id.
///
/// The id is the first 16 bytes of SHA-256(namespace bytes ‖ name UTF-8) with the RFC 9562 version
/// nibble set to 8 (custom; this is the "name-based with SHA-256" construction of RFC 9562 appendix
/// B.2) and the variant bits set to `10`. Written lowercase: `xxxxxxxx-xxxx-8xxx-[89ab]xxx-xxxxxxxxxxxx`.
/// Replays and re-versions of one source record therefore map to one incident id, and the router can
/// derive case, dispatch and CloudEvent ids from the facts that define them.
public struct DeterministicID: Sendable, Hashable {
    /// A namespace: 16 bytes that keep ids of different kinds apart even for equal names.
    public struct Namespace: Sendable, Hashable {
        /// The namespace's 16 bytes.
        public let bytes: [UInt8]

        /// A namespace from a UUID string (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`); `nil` if malformed.
        public init?(uuid: String) {
            guard let bytes = DeterministicID.parseUUID(uuid) else { return nil }
            self.bytes = bytes
        }

        private init(fixed: [UInt8]) { bytes = fixed }

        /// Incidents: name = `<system>` LF `<recordId>`.
        public static let incident = Namespace(fixed: DeterministicID.namespaceBytes("gridhub/incident"))
        /// Cases (the router chooses the name, e.g. the incident id of the report that opened it).
        public static let `case` = Namespace(fixed: DeterministicID.namespaceBytes("gridhub/case"))
        /// Dispatches (e.g. case id and dispatch attempt).
        public static let dispatch = Namespace(fixed: DeterministicID.namespaceBytes("gridhub/dispatch"))
        /// CloudEvent `ce_id`s (e.g. the event type, the entity id and its version).
        public static let event = Namespace(fixed: DeterministicID.namespaceBytes("gridhub/event"))
    }

    /// The 16 id bytes, version and variant bits already set.
    public let bytes: [UInt8]

    /// The id of `name` in `namespace`.
    public init(namespace: Namespace, name: String) {
        var bytes = Array(ContentDigest.sha256(namespace.bytes, Array(name.utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0f) | 0x80
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        self.bytes = bytes
    }

    /// The id of a name made of several parts, joined with LF so that `("a", "b\nc")` and `("a\nb", "c")`
    /// are the only collisions — and the parts the hub uses never hold a line feed.
    public init(namespace: Namespace, parts: [String]) {
        self.init(namespace: namespace, name: parts.joined(separator: "\n"))
    }

    /// The id of `parts` in `namespace` whose first 48 bits are `milliseconds` since 1970, big-endian, as
    /// in a version 7 UUID (still version 8: the rest is the name's hash). Ids made in time order sort in
    /// time order, so an index on them grows at its right edge instead of changing a random page per
    /// insert; the time is a fact of the thing named (when it was reported), so the id stays deterministic.
    public init(namespace: Namespace, parts: [String], orderedAt milliseconds: Int64) {
        self.init(namespace: namespace, parts: parts, prefix: Self.timePrefix(milliseconds))
    }

    /// The id of `parts` in `namespace` sharing the first 48 bits of `id` (when `id` is UUID text), so
    /// that things belonging to `id` sort next to it.
    public init(namespace: Namespace, parts: [String], orderedLike id: String) {
        self.init(namespace: namespace, parts: parts, prefix: Self.parseUUID(id).map { Array($0.prefix(6)) } ?? [])
    }

    private init(namespace: Namespace, parts: [String], prefix: [UInt8]) {
        var bytes = DeterministicID(namespace: namespace, parts: parts).bytes
        bytes.replaceSubrange(0..<prefix.count, with: prefix)
        self.bytes = bytes
    }

    /// `milliseconds` (clamped to 0 ..< 2^48) as 6 big-endian bytes.
    static func timePrefix(_ milliseconds: Int64) -> [UInt8] {
        let ms = UInt64(min(max(milliseconds, 0), (1 << 48) - 1))
        return (0..<6).map { UInt8(truncatingIfNeeded: ms >> (40 - 8 * UInt64($0))) }
    }

    /// Lowercase UUID text, `8-4-4-4-12` hex digits.
    public var uuidString: String { Self.formatUUID(bytes) }

    /// The incident id of a source record: the same for every version and every replay of the record.
    public static func incidentID(system: SourceSystem, recordId: String) -> String {
        DeterministicID(namespace: .incident, parts: [system.rawValue, recordId]).uuidString
    }

    /// 16 bytes for a namespace of the hub's own, derived from a label so nothing is hand-typed.
    static func namespaceBytes(_ label: String) -> [UInt8] {
        var bytes = Array(ContentDigest.sha256(Array(("gridhub.namespace\n" + label).utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0f) | 0x80
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        return bytes
    }

    /// The first 16 bytes as a lowercase 8-4-4-4-12 UUID (byte by byte: ids are made for every record).
    static func formatUUID(_ bytes: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (index, byte) in bytes.prefix(16).enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { out.append(UInt8(ascii: "-")) }
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func parseUUID(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 36 else { return nil }
        var bytes: [UInt8] = []
        var high: UInt8? = nil
        for (index, c) in utf8.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard c == UInt8(ascii: "-") else { return nil }
                continue
            }
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high { bytes.append(h << 4 | nibble); high = nil } else { high = nibble }
        }
        return bytes.count == 16 ? bytes : nil
    }
}

extension DeterministicID: CustomStringConvertible {
    /// The lowercase UUID text.
    public var description: String { uuidString }
}
