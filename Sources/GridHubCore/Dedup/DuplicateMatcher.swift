import Foundation

/// What the matcher needs to know about an existing case to decide whether a new report belongs to it.
/// The router keeps these facts in indexed columns, so candidates come from an index, not a scan.
public struct DedupCandidate: Sendable, Hashable {
    /// The case.
    public var caseId: String
    /// The case's item, `nil` when unclassified.
    public var itemCode: String?
    /// The case's position (WGS-84), `nil` when it has none.
    public var position: Coordinate?
    /// How uncertain that position is, in metres (see ``DuplicateMatcher/uncertainty(of:reference:)``).
    public var uncertaintyMeters: Double
    /// The text of the report that opened the case, as the character bigrams the text score compares
    /// (computed once per candidate, not once per comparison).
    public var text: TextFeatures
    /// The earliest and latest `reportedAt` of the case's reports.
    public var firstReportedAt: Date
    public var lastReportedAt: Date
    /// When the case was closed, `nil` while it is not closed.
    public var closedAt: Date?
    /// For a case without an item: the groups of the catalogue that its first report's source category
    /// names (a 12345 operator's first level only, `城乡建设`; a 综治e通 family's 其他), empty when it names none.
    public var groups: [String] = []

    /// A candidate.
    public init(caseId: String, itemCode: String?, position: Coordinate?, uncertaintyMeters: Double, text: String,
                firstReportedAt: Date, lastReportedAt: Date, closedAt: Date?, groups: [String] = []) {
        self.groups = groups
        self.caseId = caseId
        self.itemCode = itemCode
        self.position = position
        self.uncertaintyMeters = uncertaintyMeters
        self.text = TextFeatures(text)
        self.firstReportedAt = firstReportedAt
        self.lastReportedAt = lastReportedAt
        self.closedAt = closedAt
    }
}

/// The thresholds of duplicate detection. Precision first: a wrong merge hides a problem from the city.
public struct DedupPolicy: Sendable, Hashable {
    /// Reports further apart in time than this (from the case's nearest report) are different cases.
    public var maxTimeGap: TimeInterval = 72 * 3600
    /// A closed case still takes reports made up to this long after it was closed (late reports of the
    /// same problem); later ones open a new case.
    public var closedGrace: TimeInterval = 12 * 3600
    /// Distance allowed on top of the two positions' uncertainties, in metres.
    public var baseDistance: Double = 100
    /// With coarse positions (summed uncertainty above this), the same item also needs some common text.
    public var coarseUncertainty: Double = 300
    /// Text score the same item needs when positions are coarse.
    public var coarseTextScore: Double = 0.12
    /// Text score an unclassified report needs (with a tighter distance).
    public var unclassifiedTextScore: Double = 0.3
    /// A new case of the same item at the same place as a case closed longer ago than ``closedGrace``
    /// but within this records that earlier case (``Case/recurrenceOf``): the problem came back.
    public var recurrenceWindow: TimeInterval = 30 * 86_400
    /// The same item twice in one grid within this is one problem, however coarse the positions.
    public var sameGridGap: TimeInterval = 24 * 3600
    /// A merge whose item evidence is only words in common (``MergeEvidence/ItemRelation/unclassified``)
    /// or a category's group (``MergeEvidence/ItemRelation/categoryGroup``) needs reports within this.
    public var weakEvidenceGap: TimeInterval = 24 * 3600

    /// The defaults.
    public init() {}
}

/// The decision for one report: merge into a case (with the evidence an operator sees) or open a new one.
public struct DedupDecision: Sendable, Hashable {
    /// The case to merge into.
    public var caseId: String
    /// Why.
    public var evidence: MergeEvidence
    /// Lower is a better match (used to choose among several candidates).
    public var rank: Double
}

/// Decides whether a report is a duplicate of an open (or recently closed) case, from place, time, item
/// and text in that order of weight. Pure: the candidates are handed in.
public struct DuplicateMatcher: Sendable {
    /// The thresholds.
    public var policy: DedupPolicy
    private let groupOfItem: [String: String]
    /// Each item's name and catalogue keywords, as bigrams (those of two characters or more).
    private let wordsOfItem: [String: [TextFeatures]]
    /// The same words in one list, each with its item (whether a text names any other item is asked
    /// for many candidates of every report).
    private let everyWord: [(item: String, word: TextFeatures)]
    /// What a source's category means, for a report without an item.
    private let classifier: Classifier?

    /// A matcher that knows which items belong to one group of the catalogue, and the words that name each;
    /// with `classifier`, also which groups an unclassified report's source category names.
    public init(items: [CatalogueItem], classifier: Classifier? = nil, policy: DedupPolicy = DedupPolicy()) {
        self.policy = policy
        self.classifier = classifier
        groupOfItem = Dictionary(items.map { ($0.code, $0.groupZh) }, uniquingKeysWith: { a, _ in a })
        wordsOfItem = Dictionary(items.map { item in
            (item.code, ([item.nameZh] + item.keywordsZh).map(TextFeatures.init).filter { !$0.bigrams.isEmpty })
        }, uniquingKeysWith: { a, _ in a })
        everyWord = wordsOfItem.sorted { $0.key < $1.key }.flatMap { item, words in words.map { (item, $0) } }
    }

    /// The groups of the catalogue that `incident`'s source category names when it names no item (a 12345
    /// operator's first level only, a 综治e通 family's 其他 such as `0499`); empty otherwise.
    public func categoryGroups(of incident: Incident) -> [String] {
        guard let classifier, let category = incident.source.category, let source = Classifier.Source(rawValue: incident.source.system.rawValue),
              case .general(let groups) = classifier.meaning(of: category, source: source) else { return [] }
        return groups
    }

    /// Whether `text` names an item of the catalogue other than `item`.
    func namesAnotherItem(_ text: TextFeatures, than item: String?) -> Bool {
        everyWord.contains { $0.item != item && text.contains($0.word) }
    }

    /// Whether `text` names `item`: holds every bigram of its name or of one of its catalogue keywords.
    func names(_ text: TextFeatures, item: String?) -> Bool {
        guard let item, let words = wordsOfItem[item] else { return false }
        return words.contains { text.contains($0) }
    }

    /// The best case among `candidates` for `incident`, or `nil` when none is close enough on every count.
    public func decide(_ incident: Incident, position: Coordinate?, uncertaintyMeters: Double, candidates: [DedupCandidate]) -> DedupDecision? {
        decide(incident, text: TextFeatures(incident.description), position: position, uncertaintyMeters: uncertaintyMeters, candidates: candidates)
    }

    /// ``decide(_:position:uncertaintyMeters:candidates:)`` with the incident's text features computed
    /// already; `better` is the best decision so far (from other candidate lists), kept unless beaten.
    /// `sameGrid`: the candidates are cases of the report's own grid.
    public func decide(_ incident: Incident, text: TextFeatures, position: Coordinate?, uncertaintyMeters: Double,
                       candidates: [DedupCandidate], sameGrid: Bool = false, better: DedupDecision? = nil) -> DedupDecision? {
        var best = better
        guard let p = position else { return best }
        candidates.withUnsafeBufferPointer { candidates in
            for i in candidates.indices {
                // The place test of ``score`` first, on two fields read in place: most candidates fail it,
                // and taking the whole candidate would copy (retain) its strings and text features.
                guard let q = candidates[i].position else { continue }
                let limit = policy.baseDistance + uncertaintyMeters + candidates[i].uncertaintyMeters
                guard abs(p.lat - q.lat) * 110_500 <= limit, p.distance(to: q) <= limit,
                      case .merge(let decision) = evaluate(incident, text: text, position: position, uncertaintyMeters: uncertaintyMeters,
                                                           against: candidates[i], sameGrid: sameGrid) else { continue }
                if best == nil || decision.rank < best!.rank || (decision.rank == best!.rank && decision.caseId < best!.caseId) {
                    best = decision
                }
            }
        }
        return best
    }

    /// The cases among `candidates` that came nearest to taking `incident` without taking it, and why:
    /// those within twice the allowed distance and twice the time gap, nearest first, at most ``NearMiss/kept``.
    public func nearMisses(_ incident: Incident, text: TextFeatures, position: Coordinate, uncertaintyMeters: Double, candidates: [DedupCandidate],
                           sameGrid: Bool = false) -> [NearMiss] {
        var misses: [NearMiss] = []
        candidates.withUnsafeBufferPointer { candidates in
            for i in candidates.indices {
                // The place first, on fields read in place (as in ``decide``): most candidates are far.
                guard let q = candidates[i].position else { continue }
                let limit = policy.baseDistance + uncertaintyMeters + candidates[i].uncertaintyMeters
                guard abs(position.lat - q.lat) * 110_500 <= 2 * limit,
                      case .keptApart(let miss) = evaluate(incident, text: text, position: position, uncertaintyMeters: uncertaintyMeters,
                                                           against: candidates[i], sameGrid: sameGrid),
                      (miss.distanceMeters ?? 0) <= 2 * limit, miss.timeGapSeconds <= 2 * policy.maxTimeGap else { continue }
                misses.append(miss)
            }
        }
        misses.sort { a, b in (a.distanceMeters ?? 0, a.caseId) < (b.distanceMeters ?? 0, b.caseId) }
        return Array(misses.prefix(NearMiss.kept))
    }

    /// The earlier case of the problem a new case reports again: among `closed` cases, the most recently
    /// closed one of the same item, within the duplicate distance, closed between ``DedupPolicy/closedGrace``
    /// and ``DedupPolicy/recurrenceWindow`` before the report. `nil` for an unclassified report.
    public func recurrence(of incident: Incident, position: Coordinate?, uncertaintyMeters: Double, among closed: [DedupCandidate]) -> String? {
        guard let item = incident.itemCode, let p = position else { return nil }
        var best: (caseId: String, closedAt: Date)? = nil
        for c in closed where c.itemCode == item {
            guard let q = c.position, let closedAt = c.closedAt else { continue }
            let age = incident.reportedAt.timeIntervalSince(closedAt)
            guard age > policy.closedGrace, age <= policy.recurrenceWindow,
                  p.distance(to: q) <= policy.baseDistance + uncertaintyMeters + c.uncertaintyMeters else { continue }
            if best == nil || closedAt > best!.closedAt || (closedAt == best!.closedAt && c.caseId < best!.caseId) { best = (c.caseId, closedAt) }
        }
        return best?.caseId
    }

    /// The merge decision against one candidate, or `nil` for "not the same problem".
    public func score(_ incident: Incident, position: Coordinate?, uncertaintyMeters: Double, against c: DedupCandidate) -> DedupDecision? {
        score(incident, text: TextFeatures(incident.description), position: position, uncertaintyMeters: uncertaintyMeters, against: c)
    }

    func score(_ incident: Incident, text features: TextFeatures, position: Coordinate?, uncertaintyMeters: Double, against c: DedupCandidate) -> DedupDecision? {
        if case .merge(let decision) = evaluate(incident, text: features, position: position, uncertaintyMeters: uncertaintyMeters, against: c) { return decision }
        return nil
    }

    /// What the matcher made of one candidate: a merge, or why not (with the same evidence).
    public enum Outcome: Sendable, Hashable {
        case merge(DedupDecision)
        case keptApart(NearMiss)
    }

    /// The merge decision against one candidate, or the reason it was kept apart.
    /// `sameGrid`: the case is in the report's own grid.
    public func evaluate(_ incident: Incident, position: Coordinate?, uncertaintyMeters: Double, against c: DedupCandidate, sameGrid: Bool = false) -> Outcome {
        evaluate(incident, text: TextFeatures(incident.description), position: position, uncertaintyMeters: uncertaintyMeters, against: c, sameGrid: sameGrid)
    }

    func evaluate(_ incident: Incident, text features: TextFeatures, position: Coordinate?, uncertaintyMeters: Double, against c: DedupCandidate,
                  sameGrid: Bool = false) -> Outcome {
        func apart(_ reason: NearMiss.Reason, distance: Double?, limit: Double, gap: TimeInterval, relation: NearMiss.ItemRelation, text: Double) -> Outcome {
            .keptApart(NearMiss(caseId: c.caseId, reason: reason, distanceMeters: distance.map { ($0 * 10).rounded() / 10 }, limitMeters: limit.rounded(),
                                timeGapSeconds: gap.rounded(), itemRelation: relation, textScore: (text * 1000).rounded() / 1000))
        }
        // Place: both must be placed; text alone never merges.
        let uncertainty = uncertaintyMeters + c.uncertaintyMeters
        let limit = policy.baseDistance + uncertainty
        // Time: the gap to the case's nearest report; a closed case only shortly after closing.
        let t = incident.reportedAt
        let gap: TimeInterval
        if t < c.firstReportedAt { gap = c.firstReportedAt.timeIntervalSince(t) }
        else if t > c.lastReportedAt { gap = t.timeIntervalSince(c.lastReportedAt) }
        else { gap = 0 }
        guard let p = position, let q = c.position else {
            return apart(.notPlaced, distance: nil, limit: limit, gap: gap, relation: .unknown, text: 0)
        }
        // A degree of latitude is at least 110.5 km anywhere: most candidates fail this before any trigonometry.
        guard abs(p.lat - q.lat) * 110_500 <= limit else { return apart(.tooFar, distance: abs(p.lat - q.lat) * 110_500, limit: limit, gap: gap, relation: .unknown, text: 0) }
        let distance = p.distance(to: q)
        guard distance <= limit else { return apart(.tooFar, distance: distance, limit: limit, gap: gap, relation: .unknown, text: 0) }
        guard gap <= policy.maxTimeGap else { return apart(.tooLongApart, distance: distance, limit: limit, gap: gap, relation: .unknown, text: 0) }
        if let closed = c.closedAt, t.timeIntervalSince(closed) > policy.closedGrace {
            return apart(.closedBefore, distance: distance, limit: limit, gap: gap, relation: .unknown, text: 0)
        }
        // Item, then text.
        let text = features.similarity(to: c.text)
        let relation: MergeEvidence.ItemRelation
        let tight = distance <= policy.baseDistance * 0.6 + uncertainty / 2
        // Whether one report's text names the other's item (false for a side without an item).
        var namesTheOther: Bool { names(features, item: c.itemCode) || names(c.text, item: incident.itemCode) }
        switch (incident.itemCode, c.itemCode) {
        case let (a?, b?) where a == b:
            relation = .sameItem
            // Coarse positions (a grid worker's grid, a road) need words in common, unless both are in one
            // grid within a day: one item reported twice in one grid in a day is one problem.
            if uncertainty > policy.coarseUncertainty && text < policy.coarseTextScore && !(sameGrid && gap <= policy.sameGridGap) {
                return apart(.coarseWithoutCommonText, distance: distance, limit: limit, gap: gap, relation: .sameItem, text: text)
            }
        case let (a?, b?):
            guard let ga = groupOfItem[a], ga == groupOfItem[b] else {
                return apart(.otherItem, distance: distance, limit: limit, gap: gap, relation: .otherGroup, text: text)
            }
            guard tight else { return apart(.notCloseEnough, distance: distance, limit: limit, gap: gap, relation: .sameGroup, text: text) }
            // Related items: one report was classified next to the other only if its text names the other's
            // item. Words in common are no evidence here: reports of neighbouring problems at one address
            // share the address and the phrasing, and differ only in the words that name the problem.
            guard namesTheOther else { return apart(.otherItem, distance: distance, limit: limit, gap: gap, relation: .sameGroup, text: text) }
            relation = .sameGroup
        case (nil, _?), (_?, nil):
            // One side unclassified: its text names the other's item, or its source's category names the
            // group of the other's item, or the texts have enough words in common.
            guard tight else { return apart(.notCloseEnough, distance: distance, limit: limit, gap: gap, relation: .unclassified, text: text) }
            let unclassifiedText = incident.itemCode == nil ? features : c.text
            let groups = incident.itemCode == nil ? categoryGroups(of: incident) : c.groups
            let otherItem = incident.itemCode ?? c.itemCode
            // A category that names a group (a 12345 operator's first level only) says what the problem is
            // not: an item of another group is another problem, whatever the texts share.
            let inGroup = groupOfItem[otherItem ?? ""].map(groups.contains) ?? false
            if !groups.isEmpty && !inGroup {
                return apart(.otherItem, distance: distance, limit: limit, gap: gap, relation: .otherGroup, text: text)
            }
            // Words in common, or the category's group, count only when the unclassified text names no other
            // item: reports of two problems at one door share the address's words.
            if namesTheOther { relation = .namedItem }
            else if namesAnotherItem(unclassifiedText, than: otherItem) {
                return apart(.tooLittleCommonText, distance: distance, limit: limit, gap: gap, relation: .unclassified, text: text)
            }
            else if inGroup { relation = .categoryGroup }
            else if text >= policy.unclassifiedTextScore {
                relation = .unclassified
            }
            else { return apart(.tooLittleCommonText, distance: distance, limit: limit, gap: gap, relation: .unclassified, text: text) }
        case (nil, nil):
            relation = .unclassified
            guard tight else { return apart(.notCloseEnough, distance: distance, limit: limit, gap: gap, relation: .unclassified, text: text) }
            // Two categories that name groups, none in common: two problems.
            let (mine, theirs) = (categoryGroups(of: incident), c.groups)
            if !mine.isEmpty && !theirs.isEmpty && !mine.contains(where: theirs.contains) {
                return apart(.otherItem, distance: distance, limit: limit, gap: gap, relation: .otherGroup, text: text)
            }
            guard text >= policy.unclassifiedTextScore, !namesAnotherItem(features, than: nil) || !namesAnotherItem(c.text, than: nil) else { return apart(.tooLittleCommonText, distance: distance, limit: limit, gap: gap, relation: .unclassified, text: text) }
        }
        // Evidence of the item that rests on words in common or on a category's group holds only within
        // a day: a report days later that names nothing is as likely another problem at that door.
        if relation == .unclassified || relation == .categoryGroup, gap > policy.weakEvidenceGap {
            return apart(.tooLongApart, distance: distance, limit: limit, gap: gap, relation: .unclassified, text: text)
        }
        let itemPenalty: Double = relation == .sameItem ? 0 : 0.5
        let rank = distance / limit + gap / policy.maxTimeGap * 0.5 + itemPenalty - text * 0.5
        let evidence = MergeEvidence(
            distanceMeters: (distance * 10).rounded() / 10, timeGapSeconds: gap.rounded(), itemRelation: relation,
            textScore: (text * 1000).rounded() / 1000, uncertaintyMeters: uncertainty.rounded())
        return .merge(DedupDecision(caseId: c.caseId, evidence: evidence, rank: rank))
    }

    /// A report's position and its uncertainty in metres: a device fix is good to a few tens of metres,
    /// a gazetteer match as good as its precision (or as wide as the area it names: an estate behind one
    /// plate, a road's stretch in a grid), a worker's grid or a bare grid code as good as the grid (its
    /// centroid stands in). `nil` when the report cannot be placed.
    public static func position(of location: Location, reference: ReferenceData?) -> (Coordinate, Double)? {
        let gridCentroid: Coordinate? = location.gridCode.flatMap { reference?.grid(code: $0)?.polygon.centroid }
        switch location.positioning.method {
        case .gps:
            if let lat = location.lat, let lon = location.lon { return (Coordinate(lat: lat, lon: lon), 40) }
        case .addressMatch:
            if let lat = location.lat, let lon = location.lon {
                let radius: Double
                switch location.positioning.precision {
                case .doorPlate?: radius = 50
                case .poi?: radius = 80
                case .intersection?: radius = 120
                case .road?: radius = location.positioning.extentMeters.map { max($0, 100) } ?? 400
                case .community?: radius = 1_000
                case .town?, nil: return nil
                }
                // A guess among several places (a name many places share) is as uncertain as the spread of
                // its candidates: it merges only with words in common, not on place alone.
                let unsure = !location.positioning.candidates.isEmpty || (location.positioning.confidence ?? 1) < 0.5
                // An area (an estate behind one door plate) is as uncertain as it is wide.
                let area = max(radius, location.positioning.extentMeters ?? 0)
                return (Coordinate(lat: lat, lon: lon), unsure ? max(area, 400) : area)
            }
        case .workerGrid, .none:
            break
        }
        if let lat = location.lat, let lon = location.lon, location.positioning.method == .workerGrid {
            return (Coordinate(lat: lat, lon: lon), 150)
        }
        if let c = gridCentroid { return (c, 450) }
        return nil
    }

    /// Character-bigram Jaccard similarity of two texts (letters, digits and CJK characters only), 0…1.
    /// Short Chinese complaints share few words but many bigrams when they describe the same thing.
    public static func textSimilarity(_ a: String, _ b: String) -> Double {
        TextFeatures(a).similarity(to: TextFeatures(b))
    }
}

/// A text as the set of its character bigrams (letters, digits and CJK characters only), sorted, so
/// two texts compare by one merge pass.
public struct TextFeatures: Sendable, Hashable {
    /// Each bigram as two Unicode scalar values in one integer, ascending, without repeats.
    public let bigrams: [UInt64]

    public init(_ text: String) {
        var previous: UInt32? = nil
        var all: [UInt64] = []
        all.reserveCapacity(text.utf8.count / 2)
        for s in text.unicodeScalars where s.properties.isAlphabetic || s.properties.numericType != nil {
            if let p = previous { all.append(UInt64(p) << 32 | UInt64(s.value)) }
            previous = s.value
        }
        all.sort()
        var unique: [UInt64] = []
        unique.reserveCapacity(all.count)
        for b in all where unique.last != b { unique.append(b) }
        bigrams = unique
    }

    /// Whether every bigram of `other` is one of this text's too.
    public func contains(_ other: TextFeatures) -> Bool {
        bigrams.withUnsafeBufferPointer { x in
            other.bigrams.withUnsafeBufferPointer { y in
                guard let first = y.first else { return true }
                // The first bigram by binary search: most words a text is asked about miss there.
                var low = 0, high = x.count
                while low < high {
                    let middle = (low + high) / 2
                    if x[middle] < first { low = middle + 1 } else { high = middle }
                }
                var i = low
                for b in y {
                    while i < x.count && x[i] < b { i += 1 }
                    guard i < x.count && x[i] == b else { return false }
                    i += 1
                }
                return true
            }
        }
    }

    /// Jaccard similarity of the two bigram sets, 0…1 (0 when either text has no bigram).
    public func similarity(to other: TextFeatures) -> Double {
        let x = bigrams, y = other.bigrams
        if x.isEmpty || y.isEmpty { return 0 }
        var i = 0, j = 0, common = 0
        while i < x.count && j < y.count {
            if x[i] == y[j] { common += 1; i += 1; j += 1 } else if x[i] < y[j] { i += 1 } else { j += 1 }
        }
        return Double(common) / Double(x.count + y.count - common)
    }
}
