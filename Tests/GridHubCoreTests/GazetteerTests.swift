import Foundation
import Testing
@testable import GridHubCore

@Suite("Gazetteer: address text → position and grid")
struct GazetteerTests {
    static var data: ReferenceData { ReferenceTestData.data }
    static var entries: [GazetteerEntry] { ReferenceTestData.data.gazetteer.entries }

    static func fullWidth(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { c in
            c.value >= 0x21 && c.value <= 0x7E ? Unicode.Scalar(c.value + 0xFEE0)! : c
        }))
    }

    /// `<road><number>号<poi>` keys that name one plate in one town only.
    static let uniqueWithoutTown: Set<String> = {
        var count: [String: Int] = [:]
        for e in entries { count["\(e.road)\(e.number)号\(e.poi)", default: 0] += 1 }
        return Set(count.filter { $0.value == 1 }.keys)
    }()

    @Test("every gazetteer address resolves to its own plate and grid, exact precision")
    func everyAddress() {
        var failures = 0
        for e in Self.entries {
            let m = Self.data.resolve(address: e.fullAddress)
            if m.precision != .doorPlate || m.gridCode != e.gridCode || m.addressID != e.addressID || m.confidence < 1 {
                failures += 1
                if failures <= 5 { Issue.record("\(e.fullAddress) → \(m)") }
            }
        }
        #expect(failures == 0)
    }

    @Test("with province/city prefix, without the city, full-width digits, missing 号: same plate")
    func prefixesAndDigits() {
        var failures = 0
        for (k, e) in Self.entries.enumerated() where k % 7 == 0 {
            let bare = String(e.fullAddress.dropFirst(3)) // without 江阴市
            let variants = [
                "江苏省无锡市" + e.fullAddress,
                "江苏省" + e.fullAddress,
                bare,
                " " + Self.fullWidth(e.fullAddress) + " ",
                e.townName + e.road + Self.fullWidth("\(e.number)") + "号" + e.poi,
                e.poi.isEmpty ? "江阴市\(e.townName)\(e.road)\(e.number)" : "\(e.townName)\(e.road)\(e.number)\(e.poi)",
            ]
            for v in variants {
                let m = Self.data.resolve(address: v)
                if m.precision != .doorPlate || m.gridCode != e.gridCode {
                    failures += 1
                    if failures <= 5 { Issue.record("\(v) → \(m)") }
                }
            }
        }
        #expect(failures == 0)
    }

    @Test("without city and town: the right grid, or the town flagged ambiguous")
    func withoutTown() {
        var failures = 0, ambiguous = 0
        for (k, e) in Self.entries.enumerated() where k % 5 == 0 {
            let text = "\(e.road)\(e.number)号\(e.poi)"
            let m = Self.data.resolve(address: text)
            if Self.uniqueWithoutTown.contains(text) {
                if m.gridCode != e.gridCode || m.precision != .doorPlate { failures += 1; if failures <= 5 { Issue.record("\(text) → \(m)") } }
            } else {
                #expect(m.ambiguousTown || m.gridCode == e.gridCode, "\(text) → \(m)")
                ambiguous += 1
            }
        }
        #expect(failures == 0)
        #expect(ambiguous < 100)
    }

    @Test("estate buildings as operators write them (poi column alone, 栋, 号楼, rooms)")
    func buildings() {
        var byPOI: [String: [GazetteerEntry]] = [:]
        for e in Self.entries where !e.poi.isEmpty { byPOI[e.poi, default: []].append(e) }
        var checked = 0, failures = 0
        for (poi, list) in byPOI where poi.contains("幢") && list.count == 1 {
            let e = list[0]
            var variants = [poi, "江阴市" + poi, e.townName + poi]
            if !poi.contains("单元") {
                variants.append(poi.replacingOccurrences(of: "幢", with: "栋"))
                variants.append(poi.replacingOccurrences(of: "幢", with: "号楼") + "502室")
                variants.append(e.road + "\(e.number)号" + poi.replacingOccurrences(of: "幢", with: "栋") + "3楼")
            } else {
                variants.append(poi + "301室")
                variants.append(poi + "301")
            }
            for v in variants {
                let m = Self.data.resolve(address: v)
                if m.gridCode != e.gridCode || m.precision > .poi { failures += 1; if failures <= 5 { Issue.record("\(v) → \(m), expected \(e.gridCode)") } }
                checked += 1
            }
        }
        #expect(checked > 5_000)
        #expect(failures == 0)
    }

    @Test("a landmark with 附近/旁/对面/门口 resolves to the place with lower confidence")
    func landmarks() {
        var byPOI: [String: [GazetteerEntry]] = [:]
        for e in Self.entries where !e.poi.isEmpty { byPOI[e.poi, default: []].append(e) }
        let words = ["附近", "旁", "对面", "门口", "旁边"]
        var n = 0
        for (poi, list) in byPOI.sorted(by: { $0.key < $1.key }) where list.count == 1 && !poi.contains("幢") {
            let e = list[0]
            let text = poi + words[n % words.count]
            let m = Self.data.resolve(address: text)
            #expect(m.gridCode == e.gridCode, "\(text) → \(m)")
            #expect(m.confidence < 0.9 && m.confidence > 0.3)
            let onRoad = Self.data.resolve(address: "江阴市\(e.road)靠近\(poi)")
            #expect(onRoad.gridCode == e.gridCode, "\(e.road)靠近\(poi) → \(onRoad)")
            n += 1
        }
        #expect(n > 500)
    }

    @Test("the spec's examples")
    func specExamples() {
        let data = Self.data
        let plate = data.resolve(address: "江阴市澄江街道人民东路188号")
        #expect(plate.precision == .doorPlate && plate.gridCode == "320281001006002")
        #expect(data.resolve(address: "人民东路１８８号").gridCode == "320281001006002")
        #expect(data.resolve(address: "人民东路一百八十八号").gridCode == "320281001006002")
        #expect(data.resolve(address: "澄江街道人民东路188").gridCode == "320281001006002")
        let building = data.resolve(address: "福星花园2幢")
        #expect(building.gridCode == "320281001021002" && building.precision == .poi)
        let gate = data.resolve(address: "福星花园")
        #expect(gate.gridCode == "320281001025008")
        let cross = data.resolve(address: "人民东路与虹桥南路交叉口东北角")
        #expect(cross.method == .intersection && cross.precision == .road && cross.gridCode != nil)
        let woodpecker = data.resolve(address: "江苏省无锡市江阴市环城西路靠近福星花园")
        #expect(woodpecker.gridCode == "320281001025008")
    }

    @Test("intersections of two roads land next to the plates where the roads meet")
    func intersections() {
        // Road pairs whose plates come within 60 m: the match must lie between those plates.
        var byRoad: [String: [GazetteerEntry]] = [:]
        for e in Self.entries where !e.poi.contains("幢") { byRoad[e.road, default: []].append(e) }
        let roads = byRoad.keys.sorted().filter { !$0.hasSuffix("巷") && !$0.hasSuffix("弄") && byRoad[$0]!.count > 20 }
        var checked = 0
        outer: for (i, a) in roads.enumerated() {
            for b in roads[(i + 1)...] {
                var best = Double.infinity, pair: (GazetteerEntry, GazetteerEntry)? = nil
                for p in byRoad[a]! { for q in byRoad[b]! { let d = p.coordinate.distance(to: q.coordinate); if d < best { best = d; pair = (p, q) } } }
                guard best < 60, let (p, q) = pair, p.townName == q.townName else { continue }
                for text in ["\(a)与\(b)交叉口", "\(p.townName)\(a)和\(b)路口西南角"] {
                    let m = Self.data.resolve(address: text)
                    #expect(m.method == .intersection, "\(text) → \(m)")
                    if let c = m.coordinate { #expect(c.distance(to: p.coordinate) < 80 && c.distance(to: q.coordinate) < 80, "\(text)") }
                    #expect(m.gridCode != nil)
                    if m.gridCode != p.gridCode && m.gridCode != q.gridCode, let g = m.gridCode {
                        // Roads are often grid boundaries: then the point is in a neighbour of both.
                        #expect(Self.data.neighbours(of: p.gridCode).contains { $0.gridCode == g } || p.gridCode == g, "\(text)")
                    }
                }
                checked += 1
                if checked >= 40 { break outer }
            }
        }
        #expect(checked >= 10)
    }

    @Test("a number that does not exist gives the nearest number on the same road, road precision")
    func missingNumber() {
        let data = Self.data
        // 人民东路 in 澄江街道: numbers exist up to some N; ask for one beyond.
        let plates = Self.entries.filter { $0.road == "东门一巷" }
        let maxNumber = plates.map(\.number).max()!
        let m = data.resolve(address: "江阴市澄江街道东门一巷\(maxNumber + 2)号")
        #expect(m.precision == .road && m.method == .nearestNumber)
        #expect(m.gridCode == plates.first { $0.number == maxNumber }!.gridCode || m.gridCode == plates.first { $0.number == maxNumber - 1 }!.gridCode)
        #expect(m.confidence < 0.9)
        let road = data.resolve(address: "江阴市澄江街道东门一巷")
        #expect(road.precision == .road && road.method == .roadMiddle && road.gridCode != nil)
    }

    @Test("a road in several towns without a town is flagged; with the town it is not")
    func ambiguousRoad() {
        let data = Self.data
        let m = data.resolve(address: "澄常路")
        #expect(m.ambiguousTown && m.precision == .road)
        let inTown = data.resolve(address: "璜土镇澄常路")
        #expect(!inTown.ambiguousTown && inTown.townName == "璜土镇")
        #expect(inTown.confidence > m.confidence)
    }

    @Test("town only, and junk")
    func townAndJunk() {
        let data = Self.data
        let town = data.resolve(address: "江阴市华士镇")
        #expect(town.precision == .town && town.gridCode == nil && town.townName == "华士镇")
        for junk in ["", "   ", "不知道", "北京市朝阳区建国路88号", "asdf1234", "１２３"] {
            let m = data.resolve(address: junk)
            #expect(m.precision == .none && m.gridCode == nil, "\(junk) → \(m)")
        }
    }

    /// A plain plate of a road with a numeral in its name (`东门一巷`), of a road in one town only.
    static func plate(where keep: (GazetteerEntry) -> Bool) -> GazetteerEntry {
        entries.first { $0.poi.isEmpty && keep($0) && uniqueWithoutTown.contains("\($0.road)\($0.number)号") }!
    }

    @Test("near, next to and ranges of numbers: the plate of the first number, lower confidence for near")
    func nearAndRanges() {
        let e = Self.plate { $0.number > 20 }
        for text in ["\(e.road)靠近\(e.number)号附近", "\(e.road)近\(e.number)号", "\(e.road)\(e.number)号旁", "\(e.road)\(e.number)号对面",
                     "\(e.townName)\(e.road)\(e.number)号东侧约50米"] {
            let m = Self.data.resolve(address: text)
            #expect(m.addressID == e.addressID, "\(text) → \(m)")
        }
        #expect(Self.data.resolve(address: "\(e.road)\(e.number)号旁").confidence < Self.data.resolve(address: "\(e.road)\(e.number)号").confidence)
        for text in ["\(e.road)\(e.number)-\(e.number + 2)号", "\(e.road)\(e.number)、\(e.number + 2)号", "\(e.road)\(e.number)～\(e.number + 2)号",
                     "\(e.road)\(e.number)至\(e.number + 2)号", "\(e.road)\(e.number)号-\(e.number + 2)号"] {
            let m = Self.data.resolve(address: text)
            #expect(m.addressID == e.addressID && m.precision == .doorPlate, "\(text) → \(m)")
        }
    }

    @Test("a lane's numeral as a digit, a shortened town, traditional characters: the same plate")
    func variants() {
        let lane = Self.plate { $0.road.hasSuffix("一巷") }
        let digits = lane.road.replacingOccurrences(of: "一巷", with: "1巷")
        #expect(Self.data.resolve(address: "\(digits)\(lane.number)号").addressID == lane.addressID)
        let e = Self.entries.first { $0.townName == "华士镇" && $0.poi.isEmpty }!
        let m = Self.data.resolve(address: "华士\(e.road)\(e.number)号")
        #expect(m.addressID == e.addressID && m.townName == "华士镇" && !m.ambiguousTown)
        // A shortened town that begins a road's name is the road: 澄江中路 is not 澄江 + 中路.
        let road = Self.entries.first { $0.road == "澄江中路" && $0.poi.isEmpty }!
        #expect(Self.data.resolve(address: "澄江中路\(road.number)号").addressID == road.addressID)
        let east = Self.plate { $0.road.contains("东") }
        let traditional = "\(east.road.replacingOccurrences(of: "东", with: "東"))\(east.number)號"
        #expect(Self.data.resolve(address: traditional).addressID == east.addressID, "\(traditional)")
    }

    @Test("one mistyped road character that sounds the same is read as the road; a number past a real road's end is not a typo")
    func typos() {
        let e = Self.entries.first { $0.road == "澄江中路" && $0.poi.isEmpty }!
        let m = Self.data.resolve(address: "城江中路\(e.number)号")
        #expect(m.gridCode == e.gridCode && m.confidence < 0.95, "\(m)")
        let numbers = Self.entries.filter { $0.road == e.road }.map(\.number)
        let past = Self.data.resolve(address: "澄江中路\(numbers.max()! + 40)号")
        #expect(past.method == .nearestNumber)
    }

    @Test("company names without 江阴市 and 有限公司, a shop on the road the text names, two roads that 交汇")
    func placesAndCrossings() {
        let company = Self.entries.first { $0.poi.hasPrefix("江阴市") && $0.poi.hasSuffix("有限公司") && !$0.poi.contains("幢") }!
        let short = String(company.poi.dropFirst(3).dropLast(4))
        let same = Self.entries.filter { $0.poi == company.poi }
        let m = Self.data.resolve(address: "\(company.townName)\(short)门口")
        #expect(same.contains { $0.gridCode == m.gridCode } && m.method == .landmark || m.method == .poi, "\(short) → \(m)")
        // A chain's shop: the one on the named road.
        var byName: [String: [GazetteerEntry]] = [:]
        for x in Self.entries where !x.poi.isEmpty && !x.poi.contains("幢") { byName[x.poi, default: []].append(x) }
        let chain = byName.values.first { list in list.count > 1 && Set(list.map(\.road)).count == list.count && Set(list.map(\.townName)).count == 1 }!
        for shop in chain {
            let r = Self.data.resolve(address: "\(shop.road)\(shop.poi)旁边")
            #expect(r.addressID == shop.addressID, "\(shop.road)\(shop.poi) → \(r)")
        }
        let a = Self.data.resolve(address: "人民中路、人民东路交汇处")
        #expect(a.method == .intersection)
    }

    @Test("an ambiguous address says so: low confidence and the other grids it could be in, carried on the incident's positioning; the router then needs words in common to merge it")
    func ambiguity() throws {
        var byName: [String: [GazetteerEntry]] = [:]
        for x in Self.entries where !x.poi.isEmpty && !x.poi.contains("幢") { byName[x.poi, default: []].append(x) }
        let chain = byName.values.first { list in Set(list.map(\.gridCode)).count >= 3 && Set(list.map(\.townName)).count >= 2 }!
        let m = Self.data.resolve(address: chain[0].poi + "门口")
        #expect(m.confidence < 0.5)
        #expect(!m.candidates.isEmpty && !m.candidates.contains(m.gridCode ?? ""))
        #expect(Set(m.candidates + [m.gridCode!]).isSubset(of: Set(chain.map(\.gridCode))))
        let location = SourceSupport.location(address: chain[0].poi + "门口", match: m)
        #expect(location.positioning.candidates == Array(m.candidates.prefix(Positioning.maxCandidates)))
        let data = try GridHubJSON.encoder().encode(location)
        #expect(try GridHubJSON.decoder().decode(Location.self, from: data) == location)
        #expect(DuplicateMatcher.position(of: location, reference: Self.data)?.1 ?? 0 >= 400)
        // A plain door plate of one town is not ambiguous.
        let plain = Self.plate { _ in true }
        let sure = Self.data.resolve(address: plain.fullAddress)
        #expect(sure.candidates.isEmpty && SourceSupport.location(address: plain.fullAddress, match: sure).positioning.candidates.isEmpty)
        #expect(!String(decoding: try GridHubJSON.encoder().encode(SourceSupport.location(address: plain.fullAddress, match: sure)), as: UTF8.self).contains("candidates"))
    }

    /// An incident at a location, for the merge checks below.
    static func incident(_ system: SourceSystem, _ id: String, item: String, text: String, location: Location) -> Incident {
        let t = Date(timeIntervalSince1970: 1_795_740_000)
        return Incident(source: SourceRef(system: system, recordId: id, version: 1), reportedAt: t, receivedAt: t, itemCode: item,
                        description: text, location: location, urgent: false, resolvedOnSite: false)
    }

    @Test("an estate's door plate is an area: the match and the incident carry how far its buildings lie, and the router merges a report from its farthest building")
    func estateExtent() throws {
        // The estate behind one door plate whose buildings lie farthest from its gate.
        var byPlate: [String: [GazetteerEntry]] = [:]
        for e in Self.entries { byPlate["\(e.townName)|\(e.road)|\(e.number)", default: []].append(e) }
        let estate = try #require(byPlate.values.filter { $0.count > 3 && !$0.contains { $0.poi.isEmpty } }.max { a, b in
            a.map { a[0].coordinate.distance(to: $0.coordinate) }.max()! < b.map { b[0].coordinate.distance(to: $0.coordinate) }.max()!
        })
        let gate = estate[0]
        let plate = "\(gate.townName)\(gate.road)\(gate.number)号"
        let m = Self.data.resolve(address: plate)
        #expect(m.precision == .doorPlate && m.gridCode == gate.gridCode)
        let farthest = estate.max { m.coordinate!.distance(to: $0.coordinate) < m.coordinate!.distance(to: $1.coordinate) }!
        let spread = m.coordinate!.distance(to: farthest.coordinate)
        #expect(spread > 100)
        #expect(abs(m.spreadMeters - spread) < 1, "\(m.spreadMeters) vs \(spread)")
        // A building named is a point again.
        let building = try #require(estate.first { b in b.poi.contains("幢") && !estate.contains { other in other.poi != b.poi && other.poi.hasPrefix(b.poi) } })
        #expect(Self.data.resolve(address: building.fullAddress).spreadMeters == 0)
        // The incident carries it (and writes it only when there is one), the router allows for it.
        let location = SourceSupport.location(address: plate, match: m)
        #expect(location.positioning.extentMeters == spread.rounded())
        let json = String(decoding: try GridHubJSON.encoder().encode(location), as: UTF8.self)
        #expect(json.contains("\"extentMeters\""))
        #expect(try GridHubJSON.decoder().decode(Location.self, from: Data(json.utf8)) == location)
        // A width that cannot be is refused, as every other field out of its range is.
        for bad in ["-5", "1e9", "\"wide\""] {
            let text = json.replacingOccurrences(of: "\"extentMeters\":\(Int(spread.rounded()))", with: "\"extentMeters\":\(bad)")
            #expect(text != json)
            #expect(throws: (any Error).self, "extentMeters \(bad)") { try GridHubJSON.decoder().decode(Location.self, from: Data(text.utf8)) }
        }
        let plainPlate = Self.plate { _ in true }
        #expect(!String(decoding: try GridHubJSON.encoder().encode(SourceSupport.location(address: plainPlate.fullAddress, match: Self.data.resolve(address: plainPlate.fullAddress))),
                        as: UTF8.self).contains("extentMeters"))
        let (_, radius) = try #require(DuplicateMatcher.position(of: location, reference: Self.data))
        #expect(radius >= spread.rounded())
        // A citizen's app fix at the farthest building, the same item, merges with the order that named only the plate.
        let order = Self.incident(.hotline12345, "HL-ESTATE", item: "SR-057", text: "路面塌陷，地点在\(plate)", location: location)
        let fix = farthest.coordinate
        let app = Self.incident(.woodpecker, "WP-ESTATE", item: "SR-057", text: "这里地面塌陷了",
                                location: Location(lat: fix.lat, lon: fix.lon, gridCode: farthest.gridCode, address: nil, positioning: Positioning(method: .gps)))
        let matcher = DuplicateMatcher(items: Self.data.items)
        let candidate = DedupCandidate(caseId: "c-estate", itemCode: "SR-057", position: m.coordinate, uncertaintyMeters: radius, text: order.description,
                                       firstReportedAt: order.reportedAt, lastReportedAt: order.reportedAt, closedAt: nil)
        #expect(matcher.decide(app, position: fix, uncertaintyMeters: 40, candidates: [candidate])?.caseId == "c-estate")
        // Had the plate been taken for a point (50 m: 100 + 50 + 40 m allowed), the two would have stayed apart.
        #expect(spread > 190)
        var asPoint = candidate
        asPoint.uncertaintyMeters = 50
        #expect(matcher.decide(app, position: fix, uncertaintyMeters: 40, candidates: [asPoint]) == nil)
    }

    @Test("a grid worker's event without a fix is placed at the door plate or place its text names in or beside the worker's grid, else on the road it names in the grid, else in the grid alone")
    func workerWithoutFix() throws {
        let e = Self.plate { $0.number > 5 }
        let grid = e.gridCode
        // A plate in the worker's grid.
        let atPlate = SourceSupport.location(workerGrid: grid, description: "\(e.road)\(e.number)号门口垃圾堆放，好几天了没人管", reference: Self.data)
        #expect(atPlate.positioning.method == .addressMatch && atPlate.positioning.precision == .doorPlate)
        #expect(atPlate.gridCode == grid && atPlate.lat == e.coordinate.lat && atPlate.lon == e.coordinate.lon)
        #expect((atPlate.positioning.confidence ?? 1) < 1)
        // A plate far from the worker's grid (the text tells a story, not the spot): the grid alone.
        let far = try #require(Self.entries.first { x in
            x.poi.isEmpty && Self.uniqueWithoutTown.contains("\(x.road)\(x.number)号") && x.coordinate.distance(to: e.coordinate) > 5_000
                && !Self.data.neighbours(of: grid).contains { $0.gridCode == x.gridCode } && !Self.data.gazetteer.entries.contains { $0.gridCode == grid && $0.road == x.road }
        })
        let elsewhere = SourceSupport.location(workerGrid: grid, description: "\(far.road)\(far.number)号有人反映噪音", reference: Self.data)
        #expect(elsewhere.positioning.method == .workerGrid && elsewhere.gridCode == grid && elsewhere.lat == nil)
        // A road that crosses the grid, without a number: the road's stretch in the grid, as wide as it is.
        let stretch = SourceSupport.location(workerGrid: grid, description: "巡查发现\(e.road)乱堆物料", reference: Self.data)
        #expect(stretch.positioning.method == .addressMatch && stretch.positioning.precision == .road && stretch.gridCode == grid)
        let onRoad = Self.entries.filter { $0.road == e.road && $0.gridCode == grid }
        let centre = Coordinate(lat: try #require(stretch.lat), lon: try #require(stretch.lon))
        let extent = try #require(stretch.positioning.extentMeters)
        #expect(onRoad.allSatisfy { centre.distance(to: $0.coordinate) <= extent + 1 })
        #expect(try #require(DuplicateMatcher.position(of: stretch, reference: Self.data)).1 < 450 || extent >= 450)
        // Nothing named: the worker's grid; a grid not in the city: no grid.
        let nothing = SourceSupport.location(workerGrid: grid, description: "发现有人乱倒垃圾", reference: Self.data)
        #expect(nothing == Location(lat: nil, lon: nil, gridCode: grid, address: nil, positioning: Positioning(method: .workerGrid)))
        #expect(SourceSupport.location(workerGrid: "999999999999999", description: "\(e.road)\(e.number)号", reference: Self.data).gridCode == nil)
        // The 综治e通 translation uses it for an event at 0,0.
        let event = Elink.Event(id: "ZZ-1", typeCode: "0401", typeName: "", description: "\(e.road)\(e.number)号门口垃圾堆放", workerGrid: grid, workerId: "W1",
                                workerName: "", reportedAt: Date(timeIntervalSince1970: 1_795_740_000), position: nil, photos: [], solvedOnSite: false, resolution: "")
        let translated = event.incident(reference: Self.data, receivedAt: Date()).location
        #expect(translated == SourceSupport.location(workerGrid: grid, description: event.description, reference: Self.data))
        #expect(translated.positioning.precision == .doorPlate && translated.lat == e.coordinate.lat)
    }
}
