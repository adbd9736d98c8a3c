/// A classification: the catalogue item a report is about, and how sure.
public struct Classification: Sendable, Hashable, Codable {
    /// How the item was found.
    public enum Method: String, Sendable, Hashable, Codable {
        /// The source's own category label mapped to the item; the text did not contradict it.
        case label
        /// Keywords of the text (and of an unmapped label).
        case text
        /// Label and text agree.
        case labelAndText
    }

    /// A code of `items.csv`.
    public var itemCode: String
    /// 0…1.
    public var confidence: Double
    public var method: Method

    public init(itemCode: String, confidence: Double, method: Method) {
        self.itemCode = itemCode
        self.confidence = confidence
        self.method = method
    }
}

/// Maps a source's category label and a report's free text to a catalogue item.
///
/// The label goes through the source's table (`SourceCategoryTables`); the text is scanned for the
/// items' names and keywords (longest match wins where two overlap, each keyword belongs to one
/// item). The label counts like a 4-character keyword, and a first-level hotline label favours
/// its item groups. Nothing recognisable gives `nil`: an item is never guessed.
public struct Classifier: Sendable {
    /// The source system whose label is given.
    public enum Source: String, Sendable, Hashable, Codable, CaseIterable {
        case hotline12345, woodpecker, elink, enforcement
    }

    /// What a source label says on its own.
    public enum LabelMeaning: Sendable, Hashable {
        /// The label names this item.
        case item(String)
        /// The label is known but general (`其他`, a first level): it favours these item groups.
        case general(groups: [String])
        /// The label is not in the source's table.
        case unknown

        /// Whether the label names one item.
        public var isItem: Bool {
            if case .item = self { return true }
            return false
        }
    }

    private let items: [CatalogueItem]
    private let itemIndex: [String: Int]
    private let keywordItem: [Int32]
    private let matcher: NameMatcher
    private let hotline: [String: String?]
    private let hotlineLeaf: [String: String?]
    private let hotlineFirst: [String: [String]]
    private let woodpecker: [String: String?]
    private let elinkByCode: [String: String?]
    private let elinkByName: [String: String?]
    private let enforcement: [String: String?]
    private let groupMembers: [String: [String]]

    public init(items: [CatalogueItem]) {
        self.items = items
        itemIndex = Dictionary(uniqueKeysWithValues: items.enumerated().map { ($1.code, $0) })
        var words: [(String, Int32)] = []
        var owner: [Int32] = []
        for (i, item) in items.enumerated() {
            for w in Set([item.nameZh] + item.keywordsZh) {
                words.append((Classifier.fold(w), Int32(owner.count)))
                owner.append(Int32(i))
            }
        }
        keywordItem = owner
        matcher = NameMatcher(names: words)
        var hotline: [String: String?] = [:], leaf: [String: String?] = [:]
        for (path, item) in SourceCategoryTables.hotlinePaths {
            hotline[path] = item
            let last = String(path.split(separator: "/").last!)
            if leaf[last] == nil { leaf[last] = item }
        }
        self.hotline = hotline
        hotlineLeaf = leaf
        hotlineFirst = Dictionary(uniqueKeysWithValues: SourceCategoryTables.hotlineFirstLevels.map { ($0.label, $0.groups) })
        woodpecker = Dictionary(uniqueKeysWithValues: SourceCategoryTables.woodpeckerTypes.map { ($0.label, $0.item) })
        elinkByCode = Dictionary(SourceCategoryTables.elinkTypes.map { ($0.code, $0.item) }, uniquingKeysWith: { a, _ in a })
        elinkByName = Dictionary(SourceCategoryTables.elinkTypes.map { ($0.name, $0.item) }, uniquingKeysWith: { a, _ in a })
        enforcement = Dictionary(uniqueKeysWithValues: SourceCategoryTables.enforcementCauses.map { ($0.label, $0.item) })
        var groups: [String: [String]] = [:]
        for item in items { groups[item.groupZh, default: []].append(item.code) }
        groupMembers = groups
    }

    /// Full-width to half-width, Latin upper-cased, spaces dropped.
    static func fold(_ text: String) -> String {
        var v = String.UnicodeScalarView()
        for var s in text.unicodeScalars {
            if s.value >= 0xFF01 && s.value <= 0xFF5E, let h = Unicode.Scalar(s.value - 0xFEE0) { s = h }
            if s.value >= 0x61 && s.value <= 0x7A, let u = Unicode.Scalar(s.value - 0x20) { s = u }
            if s == " " || s == "\u{3000}" || s == "\t" || s == "\n" || s == "\r" { continue }
            v.append(s)
        }
        return String(v)
    }

    /// What `label` means in `source`'s own list. For the 综治e通 give the code (`0301`) or the name
    /// (`安全隐患/消防通道堵塞`); for the hotline the `SQLB` path.
    public func meaning(of label: String, source: Source) -> LabelMeaning {
        let label = label.trimmingWhitespace()
        func from(_ found: String??, groups: [String] = []) -> LabelMeaning? {
            guard let found else { return nil }
            if let code = found { return .item(code) }
            return .general(groups: groups)
        }
        switch source {
        case .hotline12345:
            // A path of the table as it stands, as the platform sends its labels, names its item
            // without being taken apart (the parts' trimmed join of a table path is the path itself).
            if let found = hotline[label], let code = found { return .item(code) }
            let parts = label.split(separator: "/").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
            guard !parts.isEmpty else { return .unknown }
            let groups = hotlineFirst[parts[0]] ?? []
            // Deepest level first: the full path, then its prefixes.
            for n in stride(from: parts.count, through: 2, by: -1) {
                if let code = hotline[parts[0..<n].joined(separator: "/")] ?? nil { return .item(code) }
            }
            if parts.count >= 2, let code = hotlineLeaf[parts[parts.count - 1]] ?? nil { return .item(code) }
            if hotlineFirst[parts[0]] != nil { return .general(groups: groups) }
            if let code = hotlineLeaf[parts[parts.count - 1]] ?? nil { return .item(code) }
            return .unknown
        case .woodpecker:
            return from(woodpecker[label]) ?? .unknown
        case .elink:
            if let m = from(elinkByCode[label], groups: elinkGroups(label)) { return m }
            if let m = from(elinkByName[label], groups: elinkGroups(label)) { return m }
            // `0301 安全隐患/消防通道堵塞` or just the second-level name.
            if let code = label.split(separator: " ").first, let m = from(elinkByCode[String(code)], groups: elinkGroups(String(code))) { return m }
            if let hit = SourceCategoryTables.elinkTypes.first(where: { $0.name.hasSuffix("/" + label) }) {
                return hit.item.map { .item($0) } ?? .general(groups: elinkGroups(hit.code))
            }
            return .unknown
        case .enforcement:
            return from(enforcement[label]) ?? .unknown
        }
    }

    private func elinkGroups(_ label: String) -> [String] {
        SourceCategoryTables.elinkFamilies.first { label.hasPrefix($0.code) }?.groups ?? []
    }

    /// Classifies a report from its source label (optional) and its text (title + description).
    public func classify(source: Source? = nil, label: String? = nil, text: String?) -> Classification? {
        var meaning = LabelMeaning.unknown
        if let source, let label, !label.isEmpty { meaning = self.meaning(of: label, source: source) }
        var scores = [Double](repeating: 0, count: items.count)
        var textHits = false
        func scan(_ s: String, weight: Double) {
            let scalars = Array(Classifier.fold(s).unicodeScalars)
            for m in matcher.all(in: scalars[...]) {
                scores[Int(keywordItem[Int(m.id)])] += Double(m.length) * weight
                textHits = true
            }
        }
        if let text { scan(text, weight: 1) }
        // An unknown or general label still says something through its words.
        if let label, !label.isEmpty {
            switch meaning {
            case .item: break
            case .general, .unknown: scan(label, weight: 1)
            }
        }
        var labelItem: Int? = nil
        switch meaning {
        case .item(let code):
            if let i = itemIndex[code] { labelItem = i; scores[i] += 4 }
        case .general(let groups):
            if !groups.isEmpty {
                for g in groups { for code in groupMembers[g] ?? [] { let i = itemIndex[code]!; if scores[i] > 0 { scores[i] += 1 } } }
            }
        case .unknown: break
        }
        var best = -1, bestScore = 0.0, second = 0.0
        for (i, s) in scores.enumerated() where s > 0 {
            if s > bestScore || (s == bestScore && i == labelItem) {
                if best >= 0 { second = max(second, bestScore) }
                best = i; bestScore = s
            } else {
                second = max(second, s)
            }
        }
        guard best >= 0 else { return nil }
        let code = items[best].code
        if best == labelItem {
            let agreed = bestScore > 4
            return Classification(itemCode: code, confidence: agreed ? 0.95 : (second > 0 ? 0.7 : 0.85), method: agreed ? .labelAndText : .label)
        }
        var confidence = min(0.9, 0.45 + 0.08 * bestScore)
        if second > 0 { confidence *= bestScore >= 2 * second ? 0.9 : 0.7 }
        if labelItem != nil { confidence *= 0.8 }
        _ = textHits
        return Classification(itemCode: code, confidence: (confidence * 100).rounded() / 100, method: .text)
    }

    /// Items of the same group (`group_zh`) as `code`, without `code`; empty for an unknown code.
    public func relatedItems(of code: String) -> [String] {
        guard let i = itemIndex[code] else { return [] }
        return (groupMembers[items[i].groupZh] ?? []).filter { $0 != code }
    }
}

import Foundation
