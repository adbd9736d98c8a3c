/// Normalisation of address text as operators and apps type it, shared by the gazetteer's index
/// (built from the same function, so keys always agree) and its lookups.
enum AddressText {
    /// Province, prefecture and city prefixes that add nothing inside Jiangyin, longest first.
    static let adminPrefixes: [[Unicode.Scalar]] = ["江苏省无锡市江阴市", "江苏省江阴市", "无锡市江阴市", "江苏省无锡市", "江苏省", "江苏",
                                                    "无锡市", "无锡", "江阴市", "江阴"].map { Array($0.unicodeScalars) }

    /// Characters dropped everywhere: spaces and punctuation that carry no place information.
    private static let dropped: Set<Unicode.Scalar> = Set(" \t\r\n,，。.、;；:：\"'“”‘’()（）[]【】<>《》{}!！?？~～·".unicodeScalars)

    /// Marks that join two numbers into a range or a list.
    private static let rangeMarks: Set<Unicode.Scalar> = Set("、~〜—–－-,，/".unicodeScalars)

    private static let numeralValue: [Unicode.Scalar: Int] = [
        "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
        "十": 10, "百": 100, "千": 1000,
    ]
    /// A run of Chinese numerals is read as a number only when one of these follows it.
    private static let numberUnits: Set<Unicode.Scalar> = Set("号幢栋单室楼层座#".unicodeScalars)

    /// Folds full-width ASCII to half-width, upper-cases Latin letters, drops spaces and punctuation,
    /// reads `#` as `号`, and turns Chinese numerals before 号/幢/栋/单元/室/楼 into digits.
    static func normalize(_ text: String) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.unicodeScalars.count)
        for var s in text.unicodeScalars {
            let v = s.value
            if v >= 0xFF01 && v <= 0xFF5E, let h = Unicode.Scalar(v - 0xFEE0) { s = h }
            if v == 0x3000 || v == 0xA0 { continue }
            if s.value >= 0x61 && s.value <= 0x7A, let u = Unicode.Scalar(s.value - 0x20) { s = u }
            // After a number, a range or list mark stays (as `-`): `18、20号` is 18 to 20, not 1820.
            if rangeMarks.contains(s), let last = out.last, last.value >= 0x30 && last.value <= 0x39 { out.append("-"); continue }
            if dropped.contains(s) { continue }
            if s == "#" { s = "号" }
            out.append(s)
        }
        return convertNumerals(out)
    }

    private static func convertNumerals(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains(where: { numeralValue[$0] != nil }) else { return s }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            guard numeralValue[s[i]] != nil else { out.append(s[i]); i += 1; continue }
            var j = i
            while j < s.count, numeralValue[s[j]] != nil { j += 1 }
            if j < s.count, numberUnits.contains(s[j]), let n = value(of: s[i..<j]) {
                out.append(contentsOf: String(n).unicodeScalars)
            } else {
                out.append(contentsOf: s[i..<j])
            }
            i = j
        }
        return out
    }

    /// The value of a Chinese numeral: `一百零五` → 105, `十二` → 12; without 十/百/千 it is read digit by digit (`三〇五` → 305).
    static func value(of run: ArraySlice<Unicode.Scalar>) -> Int? {
        let values = run.compactMap { numeralValue[$0] }
        guard values.count == run.count, !values.isEmpty else { return nil }
        if !values.contains(where: { $0 >= 10 }) {
            return values.reduce(0) { $0 * 10 + $1 }
        }
        var total = 0, current = 0
        for v in values {
            if v < 10 { current = v } else {
                total += (current == 0 ? 1 : current) * v
                current = 0
            }
        }
        return total + current
    }

    /// Drops the province/city prefixes at the start (repeatedly: operators sometimes type both).
    static func stripAdminPrefix(_ s: [Unicode.Scalar]) -> ArraySlice<Unicode.Scalar> {
        var rest = s[...]
        var changed = true
        while changed {
            changed = false
            for p in adminPrefixes where rest.starts(with: p) {
                rest = rest.dropFirst(p.count)
                changed = true
                break
            }
        }
        return rest
    }

    static func string<C: Collection>(_ s: C) -> String where C.Element == Unicode.Scalar {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: s)
        return String(v)
    }

    /// Leading ASCII digits: their value and count.
    static func leadingNumber(_ s: ArraySlice<Unicode.Scalar>) -> (value: Int, length: Int)? {
        var n = 0, k = 0
        for c in s {
            guard c.value >= 0x30 && c.value <= 0x39, k < 9 else { break }
            n = n * 10 + Int(c.value - 0x30)
            k += 1
        }
        return k == 0 ? nil : (n, k)
    }
}

/// Finds known names (roads, places, towns) anywhere in a text: candidates are bucketed by their
/// first two characters, so a scan costs one hash look-up per position.
struct NameMatcher: Sendable {
    private var buckets: [UInt64: [(name: [Unicode.Scalar], id: Int32)]] = [:]

    init(names: [(String, Int32)]) {
        for (name, id) in names {
            let s = Array(name.unicodeScalars)
            guard s.count >= 2 else { continue }
            buckets[NameMatcher.key(s[0], s[1]), default: []].append((s, id))
        }
        for k in buckets.keys { buckets[k]!.sort { $0.name.count > $1.name.count } }
    }

    private static func key(_ a: Unicode.Scalar, _ b: Unicode.Scalar) -> UInt64 { UInt64(a.value) << 32 | UInt64(b.value) }

    /// The longest name starting exactly at `position`.
    func longest(in s: ArraySlice<Unicode.Scalar>, at position: Int) -> (id: Int32, length: Int)? {
        guard position + 1 < s.endIndex, let list = buckets[NameMatcher.key(s[position], s[position + 1])] else { return nil }
        for (name, id) in list where position + name.count <= s.endIndex {
            if s[position..<(position + name.count)].elementsEqual(name) { return (id, name.count) }
        }
        return nil
    }

    /// Every non-overlapping longest match, left to right.
    func all(in s: ArraySlice<Unicode.Scalar>) -> [(id: Int32, start: Int, length: Int)] {
        var result: [(id: Int32, start: Int, length: Int)] = []
        var i = s.startIndex
        while i + 1 < s.endIndex {
            if let m = longest(in: s, at: i) {
                result.append((m.id, i, m.length))
                i += m.length
            } else { i += 1 }
        }
        return result
    }
}
