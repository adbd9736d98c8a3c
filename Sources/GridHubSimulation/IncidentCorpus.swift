import Foundation
import GridHubCore

/// A labelled corpus of incidents for measuring deduplication and routing: several source reports of one
/// real problem across channels, with the noise real reports have (paraphrased text, GPS jitter, GCJ-02
/// positions normalised as the adapters do, address-only hotline calls resolved to a nearby door plate,
/// grid workers without a fix, time gaps, unclassified and misclassified items), plus hard negatives:
/// the same item a few hundred metres away, another item at the same door, the same problem again long
/// after the first was closed.
public struct IncidentCorpus: Sendable {
    /// One incident and the problem it reports.
    public struct Entry: Sendable {
        public var incident: Incident
        /// Reports with the same label describe the same problem.
        public var label: Int
        /// The department that must handle the problem (the catalogue's).
        public var department: String
        /// For a 12345 order: how its operator wrote the address (the order is placed from that text alone).
        public var addressKind: AddressCorpus.Kind? = nil
        /// The grid the problem is in.
        public var gridCode: String
        /// Whether what the source sent names the problem (its text or its category); a problem that no
        /// report names can only go to triage.
        public var named = true
    }

    public var entries: [Entry]

    /// A deterministic corpus of about `problems` problems starting at `start`.
    public init(reference: ReferenceData, problems: Int, seed: UInt64, start: Date = Date(timeIntervalSince1970: 1_795_740_000)) {
        var rng = SplitMix64(seed: seed)
        var byGrid: [String: [GazetteerEntry]] = [:]
        for a in reference.gazetteer.entries { byGrid[a.gridCode, default: []].append(a) }
        let corner = Dictionary(AddressCorpus.corners(reference.gazetteer.entries.filter { $0.poi.isEmpty }).map { ($0.0.addressID, $0.1) },
                                uniquingKeysWith: { a, _ in a })
        var lastKind: AddressCorpus.Kind? = nil
        var lastNamed = true
        let items = reference.items
        var entries: [Entry] = []
        var label = 0
        var seq = 0

        func report(_ system: SourceSystem, label: Int, item: CatalogueItem, at place: GazetteerEntry, time: Date, keywordIndex: Int) -> Incident {
            seq += 1
            let recordId = "\(system.rawValue.prefix(2).uppercased())-\(seed)-\(seq)"
            let truth = place.coordinate
            // What the source says, and the item the adapter makes of it with the hub's classifier: the
            // source's own category (a 12345 operator's SQLB path, sometimes only its first level or 其他;
            // the app's type, often 其他; the grid worker's type code, now and then a neighbouring one)
            // and the text, which names the problem in a catalogue word or, one time in twenty, only vaguely.
            let vague = rng.unit() < 0.05
            let keyword = item.keywordsZh[keywordIndex % item.keywordsZh.count]
            let text = vague ? IncidentCorpus.vague(place: place, style: Int(rng.next() % 4))
                             : IncidentCorpus.paraphrase(keyword: keyword, place: place, style: Int(rng.next() % 6))
            let label: String
            switch system {
            case .hotline12345:
                let path = SourceCategoryTables.hotlinePaths.first { $0.item == item.code }?.path
                let roll = rng.unit()
                if let path, roll < 0.7 { label = path }
                else if let path, roll < 0.9 { label = String(path.prefix { $0 != "/" }) }
                else { label = "其他" }
            case .woodpecker:
                label = rng.unit() < 0.7 ? (SourceCategoryTables.woodpeckerTypes.first { $0.item == item.code }?.label ?? "其他") : "其他"
            case .elink, .enforcement:
                var picked = item.code
                if rng.unit() < 0.04, let other = reference.relatedItems(of: item.code).randomElement(using: &rng) { picked = other.code }
                // The type is required (4 digits, elink.md); for a problem without a type of its own the
                // worker picks its family's 其他 (`0499 环境卫生/其他`), or `0799 其他/其他`.
                label = SourceCategoryTables.elinkTypes.first { $0.item == picked }?.code ?? SourceCategoryTables.elinkOtherType(group: item.groupZh).code
            }
            lastNamed = !vague || reference.classifier.meaning(of: label, source: Classifier.Source(rawValue: system.rawValue)!).isItem
            let itemCode = reference.classifier.classify(source: Classifier.Source(rawValue: system.rawValue), label: label, text: text)?.itemCode
            let location: Location
            switch system {
            case .woodpecker:
                // Phone GPS (±25 m) in GCJ-02, normalised back to WGS-84 as the adapter does.
                let fix = truth.offset(metres: abs(rng.gaussian()) * 25, bearing: rng.unit() * 360)
                let gcj = ChinaCoordinates.wgs84ToGCJ02(fix)
                let wgs = ChinaCoordinates.gcj02ToWGS84(gcj)
                location = Location(lat: wgs.lat, lon: wgs.lon, gridCode: reference.gridCode(at: wgs), address: place.fullAddress,
                                    positioning: Positioning(method: .gps, reportedCoordinateSystem: .gcj02))
            case .elink:
                if rng.unit() < 0.2 {
                    location = SourceSupport.location(workerGrid: place.gridCode, description: text, reference: reference)
                } else {
                    let fix = truth.offset(metres: abs(rng.gaussian()) * 15, bearing: rng.unit() * 360)
                    location = Location(lat: fix.lat, lon: fix.lon, gridCode: reference.gridCode(at: fix), address: nil, positioning: Positioning(method: .gps))
                }
            case .hotline12345:
                // The operator types the door plate or one next to it, in one of the ways operators write
                // addresses; the order is placed from that text alone, as the adapter places it.
                let nearby = (byGrid[place.gridCode] ?? [place]).filter { $0.coordinate.distance(to: truth) < 70 }
                let typed = rng.unit() < 0.5 ? place : (nearby.randomElement(using: &rng) ?? place)
                var kind = IncidentCorpus.operatorKinds.last!.kind
                var roll = rng.unit()
                for (k, w) in IncidentCorpus.operatorKinds {
                    if roll < w { kind = k; break }
                    roll -= w
                }
                let text = AddressCorpus.write(typed, as: kind, corner: corner[typed.addressID], using: &rng) ?? typed.fullAddress
                lastKind = kind
                location = SourceSupport.location(address: text, match: reference.resolve(address: text))
            case .enforcement:
                // The officer types the door plate or one next to it; the gazetteer places it.
                let nearby = (byGrid[place.gridCode] ?? [place]).filter { $0.coordinate.distance(to: truth) < 70 }
                let typed = rng.unit() < 0.5 ? place : (nearby.randomElement(using: &rng) ?? place)
                location = Location(lat: typed.coordinate.lat, lon: typed.coordinate.lon, gridCode: typed.gridCode, address: typed.fullAddress,
                                    positioning: Positioning(method: .addressMatch, precision: .doorPlate, confidence: 0.9))
            }
            return Incident(source: SourceRef(system: system, recordId: recordId, version: 1, category: label.isEmpty ? nil : label), reportedAt: time, receivedAt: time,
                            itemCode: itemCode, description: text, location: location, urgent: false, resolvedOnSite: false)
        }

        let city = CityModel(reference: reference)
        for _ in 0..<problems {
            // The same problems `gridhub dev`'s city reports: where people live, any catalogue item.
            let problem = city.problem(using: &rng)
            let place = problem.place
            let item = problem.item
            let t0 = start.addingTimeInterval(Double(rng.next() % (20 * 86_400)))
            label += 1
            let channels: [SourceSystem] = [.woodpecker, .hotline12345, .elink].shuffled(using: &rng)
            let n = 1 + Int(rng.next() % 3)
            for (k, system) in channels.prefix(n).enumerated() {
                let time = t0.addingTimeInterval(k == 0 ? 0 : rng.unit() * 6 * 3600)
                lastKind = nil
                let incident = report(system, label: label, item: item, at: place, time: time, keywordIndex: k)
                entries.append(Entry(incident: incident, label: label, department: item.department, addressKind: lastKind, gridCode: place.gridCode, named: lastNamed))
            }
            // Hard negatives, four problems in nine.
            let kind = rng.next() % 9
            if kind == 0 {
                // The same item 400-900 m away, the same day.
                let far = place.coordinate.offset(metres: 400 + rng.unit() * 500, bearing: rng.unit() * 360)
                if let grid = reference.gridCode(at: far), let spot = (byGrid[grid] ?? []).min(by: { $0.coordinate.distance(to: far) < $1.coordinate.distance(to: far) }),
                   spot.coordinate.distance(to: place.coordinate) > 350 {
                    label += 1
                    let incident = report(.woodpecker, label: label, item: item, at: spot, time: t0.addingTimeInterval(rng.unit() * 3600), keywordIndex: 0)
                    entries.append(Entry(incident: incident, label: label, department: item.department, gridCode: spot.gridCode, named: lastNamed))
                }
            } else if kind == 1 {
                // Another item of another group at the same door.
                if let other = items.filter({ $0.groupZh != item.groupZh }).randomElement(using: &rng) {
                    label += 1
                    lastKind = nil
                    let incident = report(.hotline12345, label: label, item: other, at: place, time: t0.addingTimeInterval(rng.unit() * 3600), keywordIndex: 1)
                    entries.append(Entry(incident: incident, label: label, department: other.department, addressKind: lastKind, gridCode: place.gridCode, named: lastNamed))
                }
            } else if kind == 3 {
                // Another item of the same group at the same door: a neighbouring problem, not this one.
                if let other = reference.relatedItems(of: item.code).randomElement(using: &rng) {
                    label += 1
                    let incident = report(.woodpecker, label: label, item: other, at: place, time: t0.addingTimeInterval(rng.unit() * 3600), keywordIndex: 0)
                    entries.append(Entry(incident: incident, label: label, department: other.department, gridCode: place.gridCode, named: lastNamed))
                }
            } else if kind == 2 {
                // The same problem again, ten days later.
                label += 1
                let incident = report(.woodpecker, label: label, item: item, at: place, time: t0.addingTimeInterval(10 * 86_400), keywordIndex: 2)
                entries.append(Entry(incident: incident, label: label, department: item.department, gridCode: place.gridCode, named: lastNamed))
            }
        }
        self.entries = entries.sorted { $0.incident.reportedAt < $1.incident.reportedAt }
    }

    /// How often 12345 operators write an address each way (the kinds a kind cannot be written for,
    /// such as an intersection away from a corner, fall back to the full address).
    static let operatorKinds: [(kind: AddressCorpus.Kind, weight: Double)] = [
        (.full, 0.20), (.noCity, 0.14), (.noTown, 0.12), (.shortTown, 0.05), (.fullWidth, 0.05), (.chineseNumber, 0.03),
        (.nearNumber, 0.12), (.numberRange, 0.05), (.intersection, 0.06), (.estateBuilding, 0.03), (.placeName, 0.04),
        (.roadPlace, 0.03), (.laneDigits, 0.02), (.typo, 0.04), (.traditional, 0.02),
    ]

    static func paraphrase(keyword: String, place: GazetteerEntry, style: Int) -> String {
        let spot = place.poi.isEmpty ? "\(place.road)\(place.number)号" : place.poi
        switch style {
        case 0: return "\(spot)\(keyword)，好几天了没人管"
        case 1: return "反映\(place.road)附近\(keyword)的问题，请尽快处理"
        case 2: return "\(keyword)，地点在\(spot)门口"
        case 3: return "市民来电：\(spot)一带\(keyword)，影响居民生活"
        case 4: return "巡查发现\(place.road)\(keyword)"
        default: return "\(keyword)！！在\(place.road)这边，希望有关部门来看看"
        }
    }

    /// A description that names no catalogue item: the source's category has to say what it is.
    static func vague(place: GazetteerEntry, style: Int) -> String {
        let spot = place.poi.isEmpty ? "\(place.road)\(place.number)号" : place.poi
        switch style {
        case 0: return "\(spot)这里有问题，请尽快派人来处理"
        case 1: return "反映\(place.road)附近的情况，影响居民生活"
        case 2: return "\(spot)门口的情况很久了，没人管"
        default: return "市民来电反映\(place.road)一带存在问题"
        }
    }

    /// Pairwise precision and recall of a clustering (incident index → cluster id) against the labels.
    public func pairwiseScores(clusterOf: [String: String]) -> (precision: Double, recall: Double, truePairs: Int, predictedPairs: Int) {
        var tp = 0, fp = 0, fn = 0
        for i in 0..<entries.count {
            for j in (i + 1)..<entries.count {
                let same = entries[i].label == entries[j].label
                let merged = clusterOf[entries[i].incident.incidentId] != nil && clusterOf[entries[i].incident.incidentId] == clusterOf[entries[j].incident.incidentId]
                if same && merged { tp += 1 } else if merged { fp += 1 } else if same { fn += 1 }
            }
        }
        let precision = tp + fp == 0 ? 1 : Double(tp) / Double(tp + fp)
        let recall = tp + fn == 0 ? 1 : Double(tp) / Double(tp + fn)
        return (precision, recall, tp + fn, tp + fp)
    }
}
