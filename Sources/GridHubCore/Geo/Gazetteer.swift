/// One door plate of `reference/addresses.csv`.
public struct GazetteerEntry: Sendable, Hashable, Codable, Identifiable {
    /// `AD` + 6 digits.
    public var addressID: String
    public var townName: String
    public var road: String
    /// The house number (the CSV's `188号` is 188).
    public var number: Int
    /// Estate (with `幢`/`单元`), shop, factory or service centre; empty for a plain plate.
    public var poi: String
    /// `江阴市` + town + road + number + poi.
    public var fullAddress: String
    public var coordinate: Coordinate
    public var gridCode: String

    public var id: String { addressID }

    public init(addressID: String, townName: String, road: String, number: Int, poi: String, fullAddress: String,
                coordinate: Coordinate, gridCode: String) {
        self.addressID = addressID
        self.townName = townName
        self.road = road
        self.number = number
        self.poi = poi
        self.fullAddress = fullAddress
        self.coordinate = coordinate
        self.gridCode = gridCode
    }

    /// Parses `addresses.csv` (`address_id,town_name,road,number,poi,full_address,lon,lat,grid_code`).
    /// With `gridCodes`, every row's grid must be one of them.
    public static func parse(csv text: String, gridCodes: Set<String>? = nil) throws(ReferenceDataError) -> [GazetteerEntry] {
        let file = "addresses.csv"
        let table: CSVTable
        do { table = try CSVTable(parsing: text) } catch {
            throw ReferenceDataError(file: file, line: error.line, message: error.message)
        }
        let expected = ["address_id", "town_name", "road", "number", "poi", "full_address", "lon", "lat", "grid_code"]
        guard table.header == expected else {
            throw ReferenceDataError(file: file, line: 1, message: "header must be \(expected.joined(separator: ","))")
        }
        var result: [GazetteerEntry] = []
        result.reserveCapacity(table.rows.count)
        for row in table.rows {
            func fail(_ message: String) -> ReferenceDataError { ReferenceDataError(file: file, line: row.line, message: message) }
            let f = row.fields
            guard f.count == expected.count else { throw fail("expected \(expected.count) columns, found \(f.count)") }
            guard f[3].hasSuffix("号"), let number = Int(f[3].dropLast()), number > 0 else { throw fail("number '\(f[3])' is not like 188号") }
            guard let lon = Double(f[6]), let lat = Double(f[7]), GeoBox.jiangyin.contains(lon: lon, lat: lat) else {
                throw fail("lon/lat '\(f[6])','\(f[7])' is not a position in the city")
            }
            if let gridCodes, !gridCodes.contains(f[8]) { throw fail("unknown grid_code '\(f[8])' (not in grids.geojson)") }
            guard !f[1].isEmpty, !f[2].isEmpty else { throw fail("town_name and road must not be empty") }
            result.append(GazetteerEntry(addressID: f[0], townName: f[1], road: f[2], number: number, poi: f[4], fullAddress: f[5],
                                         coordinate: Coordinate(lat: lat, lon: lon), gridCode: f[8]))
        }
        return result
    }
}

/// The result of resolving an address text.
public struct AddressMatch: Sendable, Hashable, Codable {
    /// How precisely the text was placed, best first.
    public enum Precision: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
        /// A door plate (or a building/unit of an estate at a door plate) of the gazetteer.
        case doorPlate
        /// A named place (estate, shop, factory) without a door number.
        case poi
        /// A road: the nearest existing number, the road's middle plate, or the meeting point of two roads.
        case road
        /// Only the town (or community) is known: no grid.
        case town
        /// Nothing recognisable.
        case none

        private var rank: Int {
            switch self {
            case .doorPlate: 0
            case .poi: 1
            case .road: 2
            case .town: 3
            case .none: 4
            }
        }
        public static func < (a: Precision, b: Precision) -> Bool { a.rank < b.rank }
    }

    /// Which rule produced the match (finer than the precision; for logs and tests).
    public enum Method: String, Sendable, Hashable, Codable {
        case fullAddress, doorPlate, building, poi, landmark, nearestNumber, roadMiddle, intersection, town, community, none
    }

    public var precision: Precision
    public var method: Method
    /// 0…1: how sure the match is. Lowered for landmarks (`附近`), guessed towns, nearest numbers.
    public var confidence: Double
    public var coordinate: Coordinate?
    /// `nil` for town-level and failed matches, and when the point lies outside every grid.
    public var gridCode: String?
    public var townName: String?
    /// The matched door plate, when one was used.
    public var addressID: String?
    /// The road exists in several towns (or the place in several spots) and the text named no town:
    /// the town was picked by the house number or by size.
    public var ambiguousTown: Bool
    /// The other grids the text could mean (a place name several places have, a road in several towns
    /// without a town in the text), nearest name first; empty when the match is not ambiguous.
    public var candidates: [String] = []
    /// How far from `coordinate` the place may be, in metres, when the match names an area: a door plate
    /// or an estate whose buildings lie around it, the text naming none of them. 0 for a point.
    public var spreadMeters: Double = 0

    public init(precision: Precision, method: Method, confidence: Double, coordinate: Coordinate?, gridCode: String?,
                townName: String?, addressID: String?, ambiguousTown: Bool) {
        self.precision = precision
        self.method = method
        self.confidence = confidence
        self.coordinate = coordinate
        self.gridCode = gridCode
        self.townName = townName
        self.addressID = addressID
        self.ambiguousTown = ambiguousTown
    }

    /// The failed match.
    public static let none = AddressMatch(precision: .none, method: .none, confidence: 0, coordinate: nil, gridCode: nil,
                                          townName: nil, addressID: nil, ambiguousTown: false)
}

/// The door-plate gazetteer with the indexes that turn operators' address text into a position and a grid.
///
/// Built once at start: a dictionary by normalised full address (with and without the town), the
/// plates of each road sorted by number, places by name, and name matchers for roads and places
/// found anywhere in a text. See `resolve(_:)` for the rules.
public struct Gazetteer: Sendable {
    public let entries: [GazetteerEntry]

    private struct Road: Sendable {
        /// One representative plate per (town, number), sorted by number.
        var numbers: [Int32]
        var plates: [Int32]
        /// Plate count per town, for picking a town when none is given.
        var towns: [String: Int]
    }

    private struct TownInfo: Sendable {
        var name: String
        var centre: Coordinate
    }

    private let byFullKey: [String: Int32]
    private let byKeyWithoutTown: [String: [Int32]]
    private let byPlate: [String: [Int32]]
    private let roads: [String: Road]
    private let roadNames: [String]
    private let byPOI: [String: [Int32]]
    private let poiNames: [String]
    private let towns: [TownInfo]
    private let communities: [(name: String, town: Int)]
    private let roadMatcher: NameMatcher
    private let poiMatcher: NameMatcher
    private let townMatcher: NameMatcher
    private let communityMatcher: NameMatcher
    /// Road names with one character blanked (`*`), for a mistyped character.
    private let typoIndex: [String: [Int32]]
    /// Every character of the gazetteer's addresses and of the words around them: a text with others
    /// (traditional characters, say) is converted to simplified characters first.
    private let knownScalars: Set<Unicode.Scalar>
    private let locate: @Sendable (Coordinate) -> String?
    private let townOfGrid: [String: String]
    /// For each entry: how far the entries behind it lie (the buildings of an estate from its gate, the
    /// estate from a plain plate of the same number), in metres; 0 for most.
    private let spread: [Float]

    /// Builds the indexes. `grids` give the towns and communities; `locate` maps a point to a grid
    /// code (the grid index), used for intersections and road-level points.
    public init(entries: [GazetteerEntry], grids: [Grid], locate: @escaping @Sendable (Coordinate) -> String?) {
        self.entries = entries
        self.locate = locate
        townOfGrid = Dictionary(grids.map { ($0.gridCode, $0.townName) }, uniquingKeysWith: { a, _ in a })
        var byFullKey: [String: Int32] = [:], byKeyWithoutTown: [String: [Int32]] = [:], byPlate: [String: [Int32]] = [:]
        var byPOI: [String: [Int32]] = [:]
        var roadPlates: [String: [Int32]] = [:]
        byFullKey.reserveCapacity(entries.count)
        for (n, e) in entries.enumerated() {
            let i = Int32(n)
            let full = AddressText.string(AddressText.stripAdminPrefix(AddressText.normalize(e.fullAddress)))
            byFullKey[full] = i
            let poi = AddressText.string(AddressText.normalize(e.poi))
            byKeyWithoutTown["\(e.road)\(e.number)号\(poi)", default: []].append(i)
            byPlate["\(e.road)|\(e.number)", default: []].append(i)
            if !poi.isEmpty {
                byPOI[poi, default: []].append(i)
                let stripped = AddressText.string(AddressText.stripAdminPrefix(Array(poi.unicodeScalars)))
                if stripped != poi, stripped.unicodeScalars.count >= 2 { byPOI[stripped, default: []].append(i) }
                // A company as people name it: `江阴市长润机械有限公司` is `长润机械`.
                for suffix in ["股份有限公司", "有限责任公司", "有限公司"] where stripped.hasSuffix(suffix) {
                    let short = String(stripped.dropLast(suffix.count))
                    if short.unicodeScalars.count >= 3 { byPOI[short, default: []].append(i) }
                    break
                }
            }
            roadPlates[e.road, default: []].append(i)
        }
        // An entry stands for itself and every entry of its plate whose place name extends its own
        // (`滨江西路119号` for the estate there, `…星河一品` for its buildings, `…7幢` for its units).
        var spread = [Float](repeating: 0, count: entries.count)
        var byTownPlate: [String: [Int]] = [:]
        for (n, e) in entries.enumerated() { byTownPlate["\(e.townName)|\(e.road)|\(e.number)", default: []].append(n) }
        for list in byTownPlate.values where list.count > 1 {
            for a in list {
                let pa = entries[a].poi
                var widest = 0.0
                for b in list where b != a && entries[b].poi.hasPrefix(pa) {
                    widest = max(widest, entries[a].coordinate.distance(to: entries[b].coordinate))
                }
                spread[a] = Float(widest)
            }
        }
        self.spread = spread
        var roads: [String: Road] = [:]
        for (name, list) in roadPlates {
            // Representative per (town, number): the plain plate, else the estate gate (no 幢), else the first.
            var best: [String: Int32] = [:]
            func rank(_ e: GazetteerEntry) -> Int { e.poi.isEmpty ? 0 : (e.poi.contains("幢") ? 2 : 1) }
            var towns: [String: Int] = [:]
            for i in list {
                let e = entries[Int(i)]
                towns[e.townName, default: 0] += 1
                let key = "\(e.townName)|\(e.number)"
                if let b = best[key] {
                    if rank(e) < rank(entries[Int(b)]) { best[key] = i }
                } else { best[key] = i }
            }
            let plates = best.values.sorted { a, b in
                let ea = entries[Int(a)], eb = entries[Int(b)]
                return ea.number != eb.number ? ea.number < eb.number : a < b
            }
            roads[name] = Road(numbers: plates.map { Int32(entries[Int($0)].number) }, plates: plates, towns: towns)
        }
        self.byFullKey = byFullKey
        self.byKeyWithoutTown = byKeyWithoutTown
        self.byPlate = byPlate
        self.byPOI = byPOI
        self.roads = roads
        let roadNames = roads.keys.sorted()
        self.roadNames = roadNames
        let poiNames = byPOI.keys.sorted()
        self.poiNames = poiNames
        // Each road by its name and, for lanes and roads with a numeral (`东门一巷`), with digits (`东门1巷`),
        // as operators often type them.
        var roadAliases: [(String, Int32)] = []
        var typoIndex: [String: [Int32]] = [:]
        for (i, name) in roadNames.enumerated() {
            roadAliases.append((name, Int32(i)))
            let digits = Gazetteer.withDigits(name)
            if digits != name { roadAliases.append((digits, Int32(i))) }
            // One character mistyped (a homophone from the input method): the name with each character blanked.
            let chars = Array(name.unicodeScalars)
            if chars.count >= 3 {
                for j in chars.indices {
                    var key = chars
                    key[j] = "*"
                    typoIndex[AddressText.string(key), default: []].append(Int32(i))
                }
            }
        }
        roadMatcher = NameMatcher(names: roadAliases)
        self.typoIndex = typoIndex
        var known = Set<Unicode.Scalar>()
        for e in entries { known.formUnion(e.fullAddress.unicodeScalars) }
        for w in ["附近", "旁边", "对面", "门口", "周边", "一带", "边上", "后面", "前面", "里面", "楼下", "侧", "靠近", "临近", "接近", "位于",
                  "交叉口", "十字路口", "丁字路口", "交汇处", "交界处", "与", "和", "及", "角", "米", "约", "往", "向", "点", "处", "内", "栋", "楼", "室", "单元", "层", "座",
                  "零〇一二三四五六七八九十百千两"] {
            known.formUnion(w.unicodeScalars)
        }
        knownScalars = known
        poiMatcher = NameMatcher(names: poiNames.enumerated().map { ($1, Int32($0)) })

        // Towns and communities from the grids; a town's centre is the mean of its plates.
        var townOrder: [String] = [], townSums: [String: (Double, Double, Int)] = [:]
        var communityList: [(name: String, town: Int)] = []
        var seenCommunity = Set<String>()
        for g in grids {
            if townSums[g.townName] == nil { townOrder.append(g.townName); townSums[g.townName] = (0, 0, 0) }
        }
        for e in entries {
            if let s = townSums[e.townName] { townSums[e.townName] = (s.0 + e.coordinate.lat, s.1 + e.coordinate.lon, s.2 + 1) }
        }
        var townInfos: [TownInfo] = []
        for name in townOrder {
            let s = townSums[name]!
            let centre = s.2 > 0 ? Coordinate(lat: s.0 / Double(s.2), lon: s.1 / Double(s.2)) : grids.first { $0.townName == name }!.polygon.centroid
            townInfos.append(TownInfo(name: name, centre: centre))
        }
        for g in grids where seenCommunity.insert(g.communityCode).inserted {
            communityList.append((g.communityName, townOrder.firstIndex(of: g.townName) ?? 0))
        }
        towns = townInfos
        communities = communityList
        // Towns by their names and without 镇/街道 (`华士`, `澄江`), as operators shorten them.
        var townNames: [(String, Int32)] = []
        for (i, t) in townInfos.enumerated() {
            townNames.append((t.name, Int32(i)))
            for suffix in ["街道", "镇"] where t.name.hasSuffix(suffix) && t.name.count > suffix.count + 1 {
                townNames.append((String(t.name.dropLast(suffix.count)), Int32(i)))
            }
        }
        townMatcher = NameMatcher(names: townNames)
        communityMatcher = NameMatcher(names: communityList.enumerated().map { ($1.name, Int32($0)) })
    }

    // MARK: - Resolving

    /// Words after a place that say "near it", not "at it".
    private static let landmarkWords: [[Unicode.Scalar]] = ["附近", "旁边", "对面", "门口", "周边", "一带", "边上", "后面", "前面", "里面", "楼下",
                                                           "东侧", "西侧", "南侧", "北侧", "东面", "西面", "南面", "北面", "旁", "内", "处"]
        .map { Array($0.unicodeScalars) }
    private static let beforeNumberWords: [[Unicode.Scalar]] = ["靠近", "临近", "接近", "近", "在", "距", "离"].map { Array($0.unicodeScalars) }
    private static let nearWords: [[Unicode.Scalar]] = ["靠近", "临近", "位于", "在"].map { Array($0.unicodeScalars) }
    private static let intersectionWords: [[Unicode.Scalar]] = ["交叉口", "交叉路口", "十字路口", "丁字路口", "路口", "交汇处", "交界处", "交口", "交汇", "交界", "交叉"]
        .map { Array($0.unicodeScalars) }
    private static let corners: [(word: [Unicode.Scalar], bearing: Double)] = [
        ("东北", 45), ("东南", 135), ("西南", 225), ("西北", 315), ("东", 90), ("南", 180), ("西", 270), ("北", 0),
    ].map { (Array($0.0.unicodeScalars), $0.1) }

    /// Resolves an address as typed (see the type's documentation):
    /// 1. the whole text, normalised, is a gazetteer address (with or without its town);
    /// 2. two roads and `交叉口`/`路口`: the point where their plates come closest (offset toward a named corner);
    /// 3. a road and a number: that plate (a building/unit of an estate there when named), or the nearest
    ///    existing number on the road, preferring the same side;
    /// 4. a road alone: its middle plate;
    /// 5. a place name (estate, building, shop, factory), also inside a longer text;
    /// 6. a town or community alone: town level, no grid.
    /// `附近`/`旁`/`对面`/`门口` lower the confidence. A road in several towns with no town in the text is
    /// decided by the number (else by size) and flagged `ambiguousTown`.
    public func resolve(_ text: String) -> AddressMatch {
        var text = text
        if text.unicodeScalars.contains(where: { $0.value >= 0x3400 && !knownScalars.contains($0) }),
           let simplified = text.applyingTransform(StringTransform("Traditional-Simplified"), reverse: false) {
            text = simplified
        }
        let normalized = AddressText.normalize(text)
        var rest = AddressText.stripAdminPrefix(normalized)
        if rest.isEmpty { return .none }
        if let i = byFullKey[AddressText.string(rest)] { return match(Int(i), .doorPlate, .fullAddress, 1.0, ambiguous: false) }

        // Town and community prefixes.
        var town: Int? = nil
        if let t = townMatcher.longest(in: rest, at: rest.startIndex),
           // A shortened town that begins a longer road or place name (`澄江中路`) is that road or place.
           t.length == towns[Int(t.id)].name.unicodeScalars.count
            || max(roadMatcher.longest(in: rest, at: rest.startIndex)?.length ?? 0, poiMatcher.longest(in: rest, at: rest.startIndex)?.length ?? 0) <= t.length {
            town = Int(t.id)
            rest = rest.dropFirst(t.length)
        }
        var community: Int? = nil
        if let c = communityMatcher.longest(in: rest, at: rest.startIndex), town == nil || communities[Int(c.id)].town == town,
           (poiMatcher.longest(in: rest, at: rest.startIndex)?.length ?? 0) <= c.length {
            // (A place named after the community, `七房村村民委员会`, is kept whole.)
            community = Int(c.id)
            rest = rest.dropFirst(c.length)
        }
        if town == nil, let community { town = communities[community].town }
        let townName = town.map { towns[$0].name }

        // Landmark words anywhere lower the confidence; strip them from the end.
        var factor = 1.0
        var trimmed = true
        while trimmed {
            trimmed = false
            for w in Gazetteer.landmarkWords where rest.count > w.count && rest.suffix(w.count).elementsEqual(w) {
                rest = rest.dropLast(w.count); factor = 0.8; trimmed = true; break
            }
        }
        for w in Gazetteer.nearWords where rest.starts(with: w) && rest.count > w.count { rest = rest.dropFirst(w.count); factor = min(factor, 0.9) }
        if rest.isEmpty {
            return townOnly(town, community: community)
        }
        if townName != nil || community != nil, let i = byKeyWithoutTown[AddressText.string(rest)] {
            if let pick = pick(i, town: townName) { return match(Int(pick.0), .doorPlate, .fullAddress, 1.0 * factor, ambiguous: pick.1) }
        } else if let i = byKeyWithoutTown[AddressText.string(rest)], let pick = pick(i, town: townName) {
            var m = match(Int(pick.0), .doorPlate, .fullAddress, (pick.1 ? 0.6 : 0.95) * factor, ambiguous: pick.1)
            if pick.1 { m.candidates = otherGrids(i, than: m.gridCode) }
            return m
        }

        // Roads in the text.
        let roadHits = roadMatcher.all(in: rest)
        // A place whose name starts with a road's (`人民东路社区党群服务中心`, `老街水果店`) is the place.
        if let p = poiMatcher.longest(in: rest, at: rest.startIndex), p.length > (roadHits.first.map { $0.start == rest.startIndex ? $0.length : 0 } ?? 0),
           let m = poiMatch(rest, town: townName, factor: factor) {
            return m
        }
        if roadHits.count >= 2, let m = intersection(rest, roadHits, town: townName, factor: factor) { return m }
        var roadResult: AddressMatch? = nil
        if let first = roadHits.first {
            let road = roadNames[Int(first.id)]
            let after = rest[(first.start + first.length)...]
            roadResult = roadMatch(road, after: after, town: townName, factor: factor)
            if let m = roadResult, m.precision == .doorPlate { return m }
        }
        // No road, or a road without that number: perhaps one character of the road was mistyped.
        // (When a real road was found, only a homophone of another road counts: a number past a road's end is not a typo.)
        if let typo = mistypedRoad(in: rest, town: townName, soundingOnly: !roadHits.isEmpty),
           roadHits.isEmpty || typo.road != roadNames[Int(roadHits[0].id)],
           var m = roadMatch(typo.road, after: rest[typo.end...], town: townName, factor: factor), m.precision == .doorPlate {
            m.confidence *= 0.8
            return m
        }
        if let roadResult { return roadResult }
        if let m = poiMatch(rest, town: townName, factor: factor) { return m }
        if town != nil { return townOnly(town, community: community) }
        return .none
    }

    /// The stretch of a road named in `text` that lies in grid `gridCode`: the mean of that road's plates in
    /// the grid and how far the farthest of them is from it. The first road named that has plates in the
    /// grid counts (`巡查发现陶湾路…` from a worker of a grid that road crosses); `nil` when none has.
    public func roadStretch(in text: String, gridCode: String) -> (centre: Coordinate, extentMeters: Double)? {
        let normalized = AddressText.normalize(text)
        for hit in roadMatcher.all(in: normalized[...]) {
            guard let road = roads[roadNames[Int(hit.id)]] else { continue }
            let points = road.plates.compactMap { p in entries[Int(p)].gridCode == gridCode ? entries[Int(p)].coordinate : nil }
            guard !points.isEmpty else { continue }
            let n = Double(points.count)
            let centre = Coordinate(lat: points.map(\.lat).reduce(0, +) / n, lon: points.map(\.lon).reduce(0, +) / n)
            return (centre, points.map { centre.distance(to: $0) }.max() ?? 0)
        }
        return nil
    }

    /// `东门一巷` → `东门1巷`.
    static func withDigits(_ name: String) -> String {
        let digit: [Unicode.Scalar: Unicode.Scalar] = ["一": "1", "二": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"]
        return AddressText.string(name.unicodeScalars.map { digit[$0] ?? $0 })
    }

    /// A road written with one wrong character, followed by a number that road has: the road and
    /// where its name ends in `rest`. Only an unambiguous reading counts.
    private func mistypedRoad(in rest: ArraySlice<Unicode.Scalar>, town: String?, soundingOnly: Bool) -> (road: String, end: Int)? {
        var found: [(road: String, end: Int)] = []
        var i = rest.startIndex
        while i < rest.endIndex {
            for length in 3...8 where i + length <= rest.endIndex {
                let window = Array(rest[i..<(i + length)])
                for j in window.indices {
                    var key = window
                    key[j] = "*"
                    for id in typoIndex[AddressText.string(key)] ?? [] {
                        let name = roadNames[Int(id)]
                        guard let road = roads[name], let n = AddressText.leadingNumber(rest[(i + length)...]),
                              let plates = byPlate["\(name)|\(n.value)"], !plates.isEmpty,
                              town == nil || road.towns[town!] != nil else { continue }
                        if !found.contains(where: { $0.road == name }) { found.append((name, i + length)) }
                    }
                }
            }
            i += 1
        }
        if found.count == 1 && !soundingOnly { return found[0] }
        // Several roads differ from the text by one character: the one where that character sounds the same.
        let sounding = found.filter { f in
            let typed = Array(rest[(f.end - f.road.unicodeScalars.count)..<f.end])
            return zip(typed, f.road.unicodeScalars).allSatisfy { a, b in a == b || Gazetteer.soundsAlike(a, b) }
        }
        return sounding.count == 1 ? sounding[0] : nil
    }

    /// Whether two characters read the same, tones aside (ICU's Han-Latin transliteration).
    static func soundsAlike(_ a: Unicode.Scalar, _ b: Unicode.Scalar) -> Bool {
        func reading(_ s: Unicode.Scalar) -> String? {
            String(Character(s)).applyingTransform(StringTransform("Han-Latin; Latin-ASCII"), reverse: false)
        }
        guard let x = reading(a), let y = reading(b), x.unicodeScalars.allSatisfy(\.isASCII) else { return false }
        return x == y
    }

    /// The grids of `list` other than `grid`, in list order, without repeats.
    private func otherGrids(_ list: [Int32], than grid: String?) -> [String] {
        var seen = Set([grid ?? ""])
        return list.map { entries[Int($0)].gridCode }.filter { seen.insert($0).inserted }
    }

    private func pick(_ list: [Int32], town: String?) -> (Int32, Bool)? {
        if let town {
            if let hit = list.first(where: { entries[Int($0)].townName == town }) { return (hit, false) }
            return nil
        }
        guard let first = list.first else { return nil }
        let ambiguous = list.contains { entries[Int($0)].townName != entries[Int(first)].townName }
        return (first, ambiguous)
    }

    private func match(_ i: Int, _ precision: AddressMatch.Precision, _ method: AddressMatch.Method, _ confidence: Double, ambiguous: Bool) -> AddressMatch {
        let e = entries[i]
        var m = AddressMatch(precision: precision, method: method, confidence: confidence, coordinate: e.coordinate, gridCode: e.gridCode,
                             townName: e.townName, addressID: e.addressID, ambiguousTown: ambiguous)
        m.spreadMeters = Double(spread[i])
        return m
    }

    private func townOnly(_ town: Int?, community: Int?) -> AddressMatch {
        guard let town else { return .none }
        return AddressMatch(precision: .town, method: community == nil ? .town : .community, confidence: 0.2, coordinate: towns[town].centre,
                            gridCode: nil, townName: towns[town].name, addressID: nil, ambiguousTown: false)
    }

    /// A road followed by an optional number and an optional place/building text.
    private func roadMatch(_ name: String, after: ArraySlice<Unicode.Scalar>, town: String?, factor: Double) -> AddressMatch? {
        guard let road = roads[name] else { return nil }
        var rest = after
        var number: Int? = nil
        // `…路靠近18号`, `…路近18号`: the words between the road and its number.
        for w in Gazetteer.beforeNumberWords where rest.starts(with: w) && AddressText.leadingNumber(rest.dropFirst(w.count)) != nil {
            rest = rest.dropFirst(w.count)
            break
        }
        if let n = AddressText.leadingNumber(rest) {
            let next = rest.dropFirst(n.length).first
            // Digits directly followed by a building word belong to the building, not the door.
            if next == nil || !"幢栋单室楼层座".unicodeScalars.contains(next!) {
                number = n.value
                rest = rest.dropFirst(n.length)
                if rest.first == "号" { rest = rest.dropFirst() }
                // `18-1号`, `18之1号`, and ranges `18-20号`, `18至20号`, `18到20号`: the first number.
                if let dash = rest.first, "-之至到".unicodeScalars.contains(dash), let sub = AddressText.leadingNumber(rest.dropFirst()) {
                    rest = rest.dropFirst(1 + sub.length)
                    if rest.first == "号" { rest = rest.dropFirst() }
                }
            }
        }
        // Restrict to the named town when the road runs through it.
        let inTown = town.flatMap { road.towns[$0] != nil ? $0 : nil }
        var ambiguous = inTown == nil && road.towns.count > 1
        let townPenalty = (town != nil && inTown == nil) ? 0.8 : 1.0

        guard let number else {
            // A place after the road (人民东路靠近福星花园) is better than the road's middle.
            if !rest.isEmpty, let m = poiMatch(rest, town: inTown ?? town, factor: factor * 0.95, road: name) { return m }
            let candidates = road.plates.indices.filter { inTown == nil || entries[Int(road.plates[$0])].townName == inTown }
            var townPick = inTown
            if townPick == nil, road.towns.count > 1 {
                townPick = road.towns.max { a, b in a.value != b.value ? a.value < b.value : a.key > b.key }?.key
            }
            let inPick = candidates.filter { townPick == nil || entries[Int(road.plates[$0])].townName == townPick }
            guard !inPick.isEmpty else { return nil }
            let mid = road.plates[inPick[inPick.count / 2]]
            return match(Int(mid), .road, .roadMiddle, (ambiguous ? 0.25 : 0.4) * factor * townPenalty, ambiguous: ambiguous)
        }

        // The plate itself.
        let platesHere = (byPlate["\(name)|\(number)"] ?? []).filter { inTown == nil || entries[Int($0)].townName == inTown }
        if !platesHere.isEmpty {
            let townsHere = Set(platesHere.map { entries[Int($0)].townName })
            ambiguous = townsHere.count > 1
            let confidence = (ambiguous ? 0.6 : 0.95) * factor * townPenalty
            if let b = building(rest, among: platesHere) {
                return match(Int(b.index), .doorPlate, b.exact ? .doorPlate : .building, confidence * (b.exact ? 1 : 0.95), ambiguous: ambiguous)
            }
            let rep = platesHere.min { a, b in
                let ea = entries[Int(a)], eb = entries[Int(b)]
                func rank(_ e: GazetteerEntry) -> Int { e.poi.isEmpty ? 0 : (e.poi.contains("幢") ? 2 : 1) }
                return rank(ea) != rank(eb) ? rank(ea) < rank(eb) : a < b
            }!
            let hasExtra = !rest.isEmpty
            var m = match(Int(rep), .doorPlate, .doorPlate, confidence * (hasExtra ? 0.9 : 1), ambiguous: ambiguous)
            if ambiguous { m.candidates = otherGrids(platesHere, than: m.gridCode) }
            return m
        }

        // A number that does not exist: the nearest number on the road, same side (parity) preferred.
        var best: Int32? = nil
        var bestScore = Int.max
        var lo = 0, hi = road.numbers.count
        while lo < hi { let mid = (lo + hi) / 2; if Int(road.numbers[mid]) < number { lo = mid + 1 } else { hi = mid } }
        var k = max(0, lo - 12)
        while k < min(road.numbers.count, lo + 12) {
            let p = road.plates[k]
            if inTown == nil || entries[Int(p)].townName == inTown {
                let n = Int(road.numbers[k])
                let score = abs(n - number) * 2 + ((n - number) % 2 == 0 ? 0 : 3)
                if score < bestScore { bestScore = score; best = p }
            }
            k += 1
        }
        if best == nil {
            // Far outside the numbers of the town's part of the road: scan all.
            for (k, p) in road.plates.enumerated() where inTown == nil || entries[Int(p)].townName == inTown {
                let score = abs(Int(road.numbers[k]) - number) * 2
                if score < bestScore { bestScore = score; best = p }
            }
        }
        guard let best else { return nil }
        return match(Int(best), .road, .nearestNumber, (ambiguous ? 0.45 : 0.6) * factor * townPenalty, ambiguous: ambiguous)
    }

    /// A building/unit text (`御景新城1幢2单元`, `1栋`, `3号楼`, `501室`) among the entries of one plate.
    private func building(_ rest: ArraySlice<Unicode.Scalar>, among plates: [Int32]) -> (index: Int32, exact: Bool)? {
        guard !rest.isEmpty else { return nil }
        let text = Gazetteer.canonicalBuilding(rest)
        var candidates = [text]
        // Progressively shorter: drop the room, then the unit, then the building.
        for marker in ["单元", "幢"] {
            if let r = candidates.last!.range(of: marker, options: .backwards) {
                let cut = String(candidates.last![..<r.upperBound])
                if cut != candidates.last! { candidates.append(cut) }
            }
        }
        for (n, c) in candidates.enumerated() {
            for p in plates {
                let poi = entries[Int(p)].poi
                if poi == c || (!c.isEmpty && c.first!.isNumber && poi.hasSuffix(c) && !poi.dropLast(c.count).contains("幢")) {
                    return (p, n == 0 && poi == c)
                }
            }
        }
        // The estate alone (`御景新城12幢` where the building is unknown): its gate.
        for p in plates {
            let poi = entries[Int(p)].poi
            if !poi.isEmpty, !poi.contains("幢"), text.hasPrefix(poi) { return (p, false) }
        }
        return nil
    }

    /// `N栋`/`N号楼`/`N座` → `N幢`; drops a trailing room (`501室`, `5楼`, `5层`).
    static func canonicalBuilding(_ s: ArraySlice<Unicode.Scalar>) -> String {
        var t = AddressText.string(s)
        t = t.replacingOccurrences(of: "号楼", with: "幢").replacingOccurrences(of: "栋", with: "幢").replacingOccurrences(of: "座", with: "幢")
        // Room / floor suffix: digits followed by 室/楼/层 at the end.
        for suffix in ["室", "楼", "层"] where t.hasSuffix(suffix) {
            var u = t.dropLast(suffix.count)
            while let last = u.last, last.isASCII, last.isNumber || last == "-" { u = u.dropLast() }
            t = String(u)
            break
        }
        // A bare room number after a unit (`2单元501`).
        if let r = t.range(of: "单元") {
            let tail = t[r.upperBound...]
            if !tail.isEmpty, tail.allSatisfy({ $0.isASCII && $0.isNumber }) { t = String(t[..<r.upperBound]) }
        }
        return t
    }

    /// A place name: the whole text, the text as estate + building, or a known name inside it.
    private func poiMatch(_ rest: ArraySlice<Unicode.Scalar>, town: String?, factor: Double, road: String? = nil) -> AddressMatch? {
        let text = Gazetteer.canonicalBuilding(rest)
        var tries = [text]
        for marker in ["单元", "幢"] {
            if let r = tries.last!.range(of: marker, options: .backwards) {
                let cut = String(tries.last![..<r.upperBound])
                if cut != tries.last! { tries.append(cut) }
            }
        }
        for (n, t) in tries.enumerated() {
            if let list = byPOI[t], let m = poiPick(list, town: town, road: road, confidence: (n == 0 ? 0.9 : 0.85) * factor, method: n == 0 ? .poi : .building) { return m }
        }
        // A known place inside the text (longest first).
        let hits = poiMatcher.all(in: rest).sorted { $0.length > $1.length }
        for h in hits where h.length >= 3 {
            if let list = byPOI[poiNames[Int(h.id)]], let m = poiPick(list, town: town, road: road, confidence: 0.75 * factor, method: .landmark) { return m }
        }
        return nil
    }

    private func poiPick(_ list: [Int32], town: String?, road: String? = nil, confidence: Double, method: AddressMatch.Method) -> AddressMatch? {
        var list = list
        if let town {
            let inTown = list.filter { entries[Int($0)].townName == town }
            if !inTown.isEmpty { list = inTown }
        }
        // Several places of one name (a chain's shops): the one on the road the text names.
        if let road {
            let onRoad = list.filter { entries[Int($0)].road == road }
            if !onRoad.isEmpty { list = onRoad }
        }
        guard let first = list.first else { return nil }
        // One place, or one estate (all its entries in the same grid): sure. Several same-named shops: ambiguous.
        let ambiguous = list.contains { entries[Int($0)].coordinate.distance(to: entries[Int(first)].coordinate) > 300 }
        let severalTowns = list.contains { entries[Int($0)].townName != entries[Int(first)].townName }
        var m = match(Int(first), .poi, method, ambiguous ? confidence * 0.5 : confidence, ambiguous: ambiguous && severalTowns)
        if ambiguous { m.candidates = otherGrids(list, than: m.gridCode) }
        return m
    }

    /// `A路与B路交叉口(东北角)`: the midpoint of the closest pair of plates (plain plates and estate gates) of the two roads,
    /// moved 15 m toward a named corner; roads more than 1 km apart do not meet.
    private func intersection(_ rest: ArraySlice<Unicode.Scalar>, _ hits: [(id: Int32, start: Int, length: Int)], town: String?, factor: Double) -> AddressMatch? {
        var wordEnd: Int? = nil
        for w in Gazetteer.intersectionWords {
            var i = rest.startIndex
            while i + w.count <= rest.endIndex {
                if rest[i..<(i + w.count)].elementsEqual(w) { wordEnd = i + w.count; break }
                i += 1
            }
            if wordEnd != nil { break }
        }
        guard let wordEnd else { return nil }
        let a = roadNames[Int(hits[0].id)], b = roadNames[Int(hits[1].id)]
        guard a != b, let ra = roads[a], let rb = roads[b] else { return nil }
        func points(_ r: Road) -> [Coordinate] {
            let inTown = r.plates.filter { town == nil || entries[Int($0)].townName == town }
            return (inTown.isEmpty ? r.plates : inTown).map { entries[Int($0)].coordinate }
        }
        let pa = points(ra), pb = points(rb)
        let cosLat = 0.848 // cos(32°): equirectangular scale, enough to compare distances in the city
        var best = Double.infinity
        var pair = (pa[0], pb[0])
        for p in pa {
            for q in pb {
                let dx = (p.lon - q.lon) * cosLat, dy = p.lat - q.lat
                let d = dx * dx + dy * dy
                if d < best { best = d; pair = (p, q) }
            }
        }
        let metres = best.squareRoot() * 111_320
        // Generated roads need not meet exactly at a plate: the further apart, the less sure.
        guard metres < 1_000 else { return nil }
        var point = Coordinate(lat: (pair.0.lat + pair.1.lat) / 2, lon: (pair.0.lon + pair.1.lon) / 2)
        let tail = rest[wordEnd...]
        for c in Gazetteer.corners where tail.starts(with: c.word) {
            point = point.offset(metres: 15, bearing: c.bearing)
            break
        }
        let grid = locate(point)
        let townName = grid.flatMap { townOfGrid[$0] } ?? town
        return AddressMatch(precision: .road, method: .intersection, confidence: (metres < 150 ? 0.7 : metres < 500 ? 0.5 : 0.35) * factor, coordinate: point,
                            gridCode: grid, townName: townName, addressID: nil, ambiguousTown: false)
    }
}

import Foundation
