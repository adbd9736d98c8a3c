import Foundation
import Testing
@testable import GridHubCore

@Suite("Classification: source labels and text → catalogue item")
struct ClassificationTests {
    static var classifier: Classifier { ReferenceTestData.data.classifier }
    static var items: [CatalogueItem] { ReferenceTestData.data.items }

    @Test("each item's name and each keyword classify to that item")
    func namesAndKeywords() {
        for item in Self.items {
            for word in [item.nameZh] + item.keywordsZh {
                let c = Self.classifier.classify(text: word)
                #expect(c?.itemCode == item.code, "\(word) → \(String(describing: c)), expected \(item.code)")
                let inSentence = Self.classifier.classify(text: "您好，我要反映一下，\(word)，请尽快处理，谢谢")
                #expect(inSentence?.itemCode == item.code, "sentence with \(word)")
            }
        }
    }

    @Test("junk and empty text stay unclassified")
    func junk() {
        for text in ["", "您好", "请尽快处理谢谢", "asdfgh", "12345", "今天天气不错", "我想问一下"] {
            #expect(Self.classifier.classify(text: text) == nil, "\(text)")
        }
        #expect(Self.classifier.classify(source: .woodpecker, label: "其他", text: "随便说说") == nil)
        #expect(Self.classifier.classify(source: .hotline12345, label: "其他", text: nil) == nil)
        #expect(Self.classifier.classify(source: .woodpecker, label: "不存在的类型", text: nil) == nil)
    }

    /// The labels each source spec lists (`sources/*.md`), copied from the specs.
    static let hotlineFirstLevels = ["城乡建设", "环境保护", "交通运输", "公共安全", "劳动保障", "市场监管", "民政事务", "卫生健康", "教育文体", "水电气暖", "其他"]
    static let woodpeckerSpecTypes = ["乱停车", "占道经营", "垃圾堆放", "井盖破损", "路灯故障", "违章搭建", "噪音扰民", "小广告", "绿化破坏", "道路破损", "其他"]
    static let elinkSpecFamilies = [("01", "矛盾纠纷"), ("02", "治安隐患"), ("03", "安全隐患"), ("04", "环境卫生"), ("05", "特殊人群服务"), ("06", "民生服务"), ("07", "其他")]
    static let enforcementSpecCauses = ["违章搭建", "占道经营", "乱堆物料", "非法小广告", "渣土撒漏", "油烟扰民", "噪声扰民", "露天烧烤", "擅自挖掘道路", "违规户外广告"]

    @Test("a 12345 label means the same however it is spaced: every path of the table, as the platform sends it and with spaces and empty levels")
    func hotlineLabelSpacing() {
        let c = Self.classifier
        for (path, item) in SourceCategoryTables.hotlinePaths {
            let canonical = c.meaning(of: path, source: .hotline12345)
            if let item { #expect(canonical == .item(item), "\(path)") } else { #expect(!canonical.isItem, "\(path)") }
            let spaced = " " + path.split(separator: "/").joined(separator: " / ") + "/ "
            let emptyLevels = path.replacingOccurrences(of: "/", with: "//")
            #expect(c.meaning(of: spaced, source: .hotline12345) == canonical, "\(spaced)")
            #expect(c.meaning(of: emptyLevels, source: .hotline12345) == canonical, "\(emptyLevels)")
        }
    }

    @Test("the mapping tables cover every label the source specs list")
    func specLabelsCovered() {
        let c = Self.classifier
        for label in Self.hotlineFirstLevels {
            #expect(c.meaning(of: label, source: .hotline12345) != .unknown, "\(label)")
        }
        #expect(c.meaning(of: "城乡建设/市容环境/占道经营", source: .hotline12345) == .item("SR-013"))
        for label in Self.woodpeckerSpecTypes {
            let m = c.meaning(of: label, source: .woodpecker)
            #expect(m != .unknown, "\(label)")
            if label != "其他" { if case .item = m {} else { Issue.record("\(label) → \(m)") } }
        }
        #expect(SourceCategoryTables.woodpeckerTypes.count >= 30)
        for (code, name) in Self.elinkSpecFamilies {
            #expect(c.meaning(of: code, source: .elink) != .unknown, "\(code)")
            #expect(c.meaning(of: name, source: .elink) != .unknown, "\(name)")
        }
        #expect(c.meaning(of: "0301", source: .elink) == .item("SR-058"))
        #expect(c.meaning(of: "安全隐患/消防通道堵塞", source: .elink) == .item("SR-058"))
        for label in Self.enforcementSpecCauses {
            if case .item = c.meaning(of: label, source: .enforcement) {} else { Issue.record("\(label) is not mapped") }
        }
    }

    @Test("a label is read whatever white space surrounds it or its levels: ASCII, ideographic or no-break; none inside a name is touched")
    func labelsTrimmed() {
        let c = Self.classifier
        let path = "城乡建设/市容环境/占道经营"
        for label in [path, " \(path)\t", "\u{3000}\(path)\u{3000}", "\u{00A0}\(path)\n", "城乡建设 / 市容环境 /\u{3000}占道经营"] {
            #expect(c.meaning(of: label, source: .hotline12345) == .item("SR-013"), "\(label.debugDescription)")
        }
        #expect(c.meaning(of: "\u{3000}0301 ", source: .elink) == .item("SR-058"))
        for (text, trimmed) in [("占道经营", "占道经营"), ("\u{3000}占道经营\u{3000}", "占道经营"), (" a b ", "a b"), ("占道 经营", "占道 经营"),
                                ("\u{2003}经营", "经营"), ("经营\u{00A0}", "经营"), ("\u{3000}", ""), ("", ""), ("x", "x"), ("经", "经")] {
            #expect(text.trimmingWhitespace() == trimmed, "\(text.debugDescription)")
        }
    }

    @Test("every item a table names exists in the catalogue")
    func tablesNameRealItems() {
        let codes = Set(Self.items.map(\.code))
        let named = SourceCategoryTables.hotlinePaths.compactMap(\.item) + SourceCategoryTables.woodpeckerTypes.compactMap(\.item)
            + SourceCategoryTables.elinkTypes.compactMap(\.item) + SourceCategoryTables.enforcementCauses.compactMap(\.item)
        for code in named { #expect(codes.contains(code), "\(code)") }
        for (_, groups) in SourceCategoryTables.hotlineFirstLevels {
            for g in groups { #expect(Self.items.contains { $0.groupZh == g }, "\(g)") }
        }
    }

    @Test("the spec examples")
    func specExamples() {
        let c = Self.classifier
        let hotline = c.classify(source: .hotline12345, label: "城乡建设/市容环境/占道经营", text: "人民东路夜市摊贩占道 每天晚上六点以后人民东路188号门口有很多摊贩占用人行道")
        #expect(hotline?.itemCode == "SR-013")
        let elink = c.classify(source: .elink, label: "0301", text: "福星花园12幢楼下消防通道堆放杂物")
        #expect(elink?.itemCode == "SR-058" && elink!.confidence >= 0.9)
        let enforcement = c.classify(source: .enforcement, label: "违章搭建", text: nil)
        #expect(enforcement?.itemCode == "SR-035" && enforcement?.method == .label)
        let general = c.classify(source: .hotline12345, label: "水电气暖", text: "我家小区停水三天了")
        #expect(general?.itemCode == "SR-100" && general?.method == .text)
        let woodpecker = c.classify(source: .woodpecker, label: "其他", text: "路灯坏了好几天，晚上整条路黑")
        #expect(woodpecker?.itemCode == "SR-097")
        let fullWidth = c.classify(text: "楼下ｋｔｖ太吵")
        #expect(fullWidth?.itemCode == "SR-124")
    }

    @Test("a problem without a 综治e通 type of its own goes under its family's 其他, whose groups include the problem's; else 0799")
    func elinkOther() {
        let untyped = Self.items.filter { item in !SourceCategoryTables.elinkTypes.contains { $0.item == item.code } }
        #expect(!untyped.isEmpty)
        for item in untyped {
            let type = SourceCategoryTables.elinkOtherType(group: item.groupZh)
            #expect(type.code.hasSuffix("99") && type.name.contains("其他"), "\(item.code): \(type)")
            guard case .general(let groups) = Self.classifier.meaning(of: type.code, source: .elink) else {
                Issue.record("\(type.code) is not a family's 其他"); continue
            }
            #expect(type.code == "0799" ? groups.isEmpty : groups.contains(item.groupZh), "\(item.code) \(item.groupZh) → \(type.code)")
        }
        #expect(SourceCategoryTables.elinkOtherType(group: "市容环境").code == "0499")
        #expect(SourceCategoryTables.elinkOtherType(group: "消防安全").code == "0399")
        #expect(SourceCategoryTables.elinkOtherType(group: "道路交通").code == "0799")
    }
}
