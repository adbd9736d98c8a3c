import Foundation
import GridHubCore

/// Address texts as 12345 operators type them, each with the grid it must land in: the evaluation
/// corpus of the gazetteer (`gridhub bench quality`, `AddressQualityTests`). Written from the hotline's
/// specification and from what operators do (prefixes dropped or shortened, numbers in full-width or
/// Chinese numerals, "near number N", ranges, intersections, estates and buildings, shop and company
/// names, digits in lane names, typos and traditional characters), drawn from the gazetteer with a
/// fixed seed, so every kind is measured on its own and a regression shows where it is.
public struct AddressCorpus: Sendable {
    /// How an address is written.
    public enum Kind: String, Sendable, CaseIterable, Codable {
        /// The gazetteer's full address (`江阴市澄江街道人民东路188号`).
        case full
        /// Town, road and number, without the city.
        case noCity
        /// Road, number and sometimes the place, without city or town.
        case noTown
        /// The town without 镇/街道 (`华士大宅路106号`).
        case shortTown
        /// Full-width digits and `＃`.
        case fullWidth
        /// The number in Chinese numerals (`一百零五号`).
        case chineseNumber
        /// Near, next to, opposite or a few metres from a number (`…路靠近18号附近`, `…路18号旁`).
        case nearNumber
        /// A range or a pair of numbers (`18-20号`, `18至20号`, `18、20号`).
        case numberRange
        /// Two roads that meet (`X路与Y路交叉口`, `X路Y路路口东北角`).
        case intersection
        /// An estate building, unit and room (`御景新城3栋2单元501室`).
        case estateBuilding
        /// A shop, factory or service centre by its name, often shortened (`长润机械`), near it, or after the road.
        case placeName
        /// Road and number followed by a place name, without the town.
        case roadPlace
        /// A lane's numeral written as a digit (`东门1巷3号`).
        case laneDigits
        /// One character of the road mistyped as a homophone (`城江中路`), or 号 left out.
        case typo
        /// Traditional characters (`東門一巷3號`).
        case traditional
    }

    /// One address text and where it is.
    public struct Sample: Sendable {
        public var text: String
        public var kind: Kind
        /// The grid the address lies in.
        public var gridCode: String
        /// The door plate the text was written from.
        public var addressID: String
    }

    public var samples: [Sample]

    /// About `perKind` samples of every kind (fewer where the gazetteer has fewer fitting plates).
    public init(reference: ReferenceData, perKind: Int, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let entries = reference.gazetteer.entries
        let plain = entries.filter { $0.poi.isEmpty }
        let buildings = entries.filter { $0.poi.contains("幢") }
        let places = entries.filter { !$0.poi.isEmpty && !$0.poi.contains("幢") }
        let lanes = plain.filter { e in e.road.unicodeScalars.contains { Self.digitOfNumeral[$0] != nil } && e.road.hasSuffix("巷") }
        let corners = Self.corners(plain)
        var samples: [Sample] = []
        for kind in Kind.allCases {
            let pool: [GazetteerEntry]
            switch kind {
            case .full, .noCity, .noTown, .shortTown: pool = entries
            case .estateBuilding: pool = buildings
            case .placeName, .roadPlace: pool = places
            case .laneDigits: pool = lanes
            case .intersection: pool = corners.map(\.0)
            default: pool = plain
            }
            guard !pool.isEmpty else { continue }
            for _ in 0..<perKind {
                let n = Int(rng.next() % UInt64(pool.count))
                let e = pool[n]
                guard let text = Self.write(e, as: kind, corner: kind == .intersection ? corners[n].1 : nil, using: &rng) else { continue }
                samples.append(Sample(text: text, kind: kind, gridCode: e.gridCode, addressID: e.addressID))
            }
        }
        self.samples = samples
    }

    /// `e` written as `kind`, or `nil` when that kind cannot be written for it (an intersection needs
    /// `corner`, the road that meets `e`'s road there; a typo needs a character with a homophone).
    public static func write(_ e: GazetteerEntry, as kind: Kind, corner: String? = nil, using rng: inout SplitMix64) -> String? {
        func chance(_ p: Double) -> Bool { rng.unit() < p }
        func one(_ forms: [String]) -> String { forms[Int(rng.next() % UInt64(forms.count))] }
        func prefix() -> String { one(["江阴市" + e.townName, e.townName, shortTown(e.townName), ""]) }
        switch kind {
        case .full:
            return e.fullAddress
        case .noCity:
            return e.townName + e.road + "\(e.number)号" + e.poi
        case .noTown:
            return e.road + "\(e.number)号" + (chance(0.5) ? e.poi : "")
        case .shortTown:
            return shortTown(e.townName) + e.road + "\(e.number)号" + e.poi
        case .fullWidth:
            return (chance(0.5) ? e.townName : "") + e.road + fullWidth("\(e.number)") + (chance(0.3) ? "＃" : "号")
        case .chineseNumber:
            return prefix() + e.road + chinese(e.number) + "号"
        case .nearNumber:
            let n = "\(e.number)号"
            return prefix() + one(["\(e.road)靠近\(n)附近", "\(e.road)\(n)旁", "\(e.road)\(n)对面", "\(e.road)\(n)边上", "\(e.road)\(n)东侧约50米",
                                  "\(e.road)\(n)往南一点", "\(e.road)\(n)附近", "\(e.road)近\(n)", "\(e.road)\(n)门口", "\(e.road)\(n)斜对面"])
        case .numberRange:
            let m = e.number + 2
            return prefix() + e.road + one(["\(e.number)-\(m)号", "\(e.number)至\(m)号", "\(e.number)～\(m)号", "\(e.number)、\(m)号", "\(e.number)号-\(m)号", "\(e.number)到\(m)号"])
        case .intersection:
            guard let other = corner else { return nil }
            return prefix() + one(["\(e.road)与\(other)交叉口", "\(e.road)和\(other)交叉路口附近", "\(e.road)\(other)路口", "\(e.road)与\(other)十字路口",
                                   "\(e.road)与\(other)交叉口（附近）", "\(e.road)、\(other)交汇处"])
        case .estateBuilding:
            guard e.poi.contains("幢") else { return nil }
            var poi = e.poi
            if chance(0.4) { poi = poi.replacingOccurrences(of: "幢", with: chance(0.5) ? "栋" : "号楼") }
            if poi.hasSuffix("单元"), chance(0.5) { poi += "\(1 + rng.next() % 6)0\(1 + rng.next() % 2)室" }
            return (chance(0.5) ? prefix() : "") + poi
        case .placeName:
            guard !e.poi.isEmpty, !e.poi.contains("幢") else { return nil }
            let name = chance(0.5) ? shortPlace(e.poi) : e.poi
            return prefix() + one([name, "\(name)门口", "\(name)附近", "\(e.road)\(name)", "\(e.road)\(name)旁边"])
        case .roadPlace:
            guard !e.poi.isEmpty, !e.poi.contains("幢") else { return nil }
            return e.road + "\(e.number)号" + shortPlace(e.poi)
        case .laneDigits:
            guard e.road.hasSuffix("巷"), e.road.unicodeScalars.contains(where: { digitOfNumeral[$0] != nil }) else { return nil }
            let road = String(String.UnicodeScalarView(e.road.unicodeScalars.map { s in digitOfNumeral[s].flatMap { Unicode.Scalar(0x30 + $0) } ?? s }))
            return prefix() + road + "\(e.number)号"
        case .typo:
            if chance(0.25) { return prefix() + e.road + "\(e.number)" }
            var chars = Array(e.road)
            let spots = chars.indices.filter { homophones[chars[$0]] != nil }
            guard let spot = spots.randomElement(using: &rng) else { return nil }
            let choices = homophones[chars[spot]]!
            chars[spot] = choices[Int(rng.next() % UInt64(choices.count))]
            return prefix() + String(chars) + "\(e.number)号"
        case .traditional:
            return String((prefix() + e.road + "\(e.number)號").map { traditional[$0] ?? $0 })
        }
    }

    /// Plain plates at a corner: the plate of a road nearest to another road of the same town that
    /// passes within 40 m, with that road's name (the corner an operator names for a spot there).
    static func corners(_ plain: [GazetteerEntry]) -> [(GazetteerEntry, String)] {
        // 60 m cells.
        func cell(_ c: Coordinate) -> Int64 { Int64((c.lat * 1_850).rounded(.down)) << 32 | Int64((c.lon * 1_570).rounded(.down)) & 0xFFFF_FFFF }
        var cells: [Int64: [Int]] = [:]
        for (i, e) in plain.enumerated() { cells[cell(e.coordinate), default: []].append(i) }
        // For each (road, other road) the plate of `road` closest to `other`.
        var best: [String: (index: Int, distance: Double, other: String)] = [:]
        for (i, e) in plain.enumerated() {
            let c = cell(e.coordinate)
            for dy in -1...1 {
                for dx in -1...1 {
                    for j in cells[c &+ Int64(dy) << 32 &+ Int64(dx)] ?? [] {
                        let o = plain[j]
                        guard o.road != e.road, o.townName == e.townName, !o.road.hasPrefix(e.road), !e.road.hasPrefix(o.road) else { continue }
                        let d = e.coordinate.distance(to: o.coordinate)
                        guard d < 40 else { continue }
                        let key = e.townName + "|" + e.road + "|" + o.road
                        if best[key] == nil || d < best[key]!.distance { best[key] = (i, d, o.road) }
                    }
                }
            }
        }
        return best.keys.sorted().map { (plain[best[$0]!.index], best[$0]!.other) }
    }

    static func shortTown(_ name: String) -> String {
        for suffix in ["街道", "镇"] where name.hasSuffix(suffix) && name.count > suffix.count + 1 { return String(name.dropLast(suffix.count)) }
        return name
    }

    /// A place as people say it: without `江阴市` and `有限公司`.
    static func shortPlace(_ name: String) -> String {
        var s = name
        if s.hasPrefix("江阴市") { s = String(s.dropFirst(3)) }
        if s.hasSuffix("有限公司"), s.count > 6 { s = String(s.dropLast(4)) }
        return s
    }

    static func fullWidth(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value >= 0x21 && $0.value <= 0x7E ? Unicode.Scalar($0.value + 0xFEE0)! : $0 }))
    }

    static let digitOfNumeral: [Unicode.Scalar: UInt32] = ["一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9]

    /// 188 → 一百八十八, 105 → 一百零五, 12 → 十二.
    static func chinese(_ n: Int) -> String {
        let digits = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"]
        guard n > 0, n < 10_000 else { return String(n) }
        let units = [(1000, "千"), (100, "百"), (10, "十")]
        var out = ""
        var rest = n
        var zero = false
        for (value, name) in units {
            let d = rest / value
            rest %= value
            if d > 0 {
                if zero { out += "零"; zero = false }
                if !(value == 10 && d == 1 && out.isEmpty) { out += digits[d] }
                out += name
            } else if !out.isEmpty { zero = true }
        }
        if rest > 0 {
            if zero { out += "零" }
            out += digits[rest]
        }
        return out
    }

    /// Characters an operator's input method confuses with the road's.
    static let homophones: [Character: [Character]] = [
        "澄": ["城", "成"], "阳": ["杨", "洋"], "园": ["圆", "元"], "华": ["化"], "庄": ["装"], "塘": ["唐"], "港": ["岗"],
        "湾": ["弯"], "桥": ["乔"], "兴": ["星"], "泾": ["经", "径"], "璜": ["黄"], "湖": ["胡"], "林": ["琳"], "安": ["按"],
        "龙": ["隆"], "祥": ["翔"], "盛": ["胜"], "虹": ["红"], "青": ["清"], "云": ["芸"], "富": ["福"], "梅": ["媒"],
    ]

    /// Traditional forms of the characters addresses use.
    static let traditional: [Character: Character] = [
        "号": "號", "东": "東", "门": "門", "园": "園", "华": "華", "阳": "陽", "桥": "橋", "镇": "鎮", "长": "長", "湾": "灣",
        "兴": "興", "龙": "龍", "凤": "鳳", "顾": "顧", "云": "雲", "阴": "陰", "苏": "蘇", "庄": "莊", "乐": "樂", "丰": "豐",
        "万": "萬", "亭": "亭", "里": "裏", "黄": "黃", "泾": "涇", "杨": "楊", "宁": "寧", "观": "觀", "联": "聯", "胜": "勝",
    ]
}
