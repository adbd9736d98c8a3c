import Foundation
import GridHubCore

/// Work orders each of a problem of its own: its own door plate and item, as the city's citizens call
/// them in. Orders of one item are 7 919 plates apart in the gazetteer (another road, mostly another
/// town), so most open a case and get a dispatch; the few that land close to another order of their
/// item are one problem to the router.
struct HotlineOrderCorpus: Sendable {
    private let plates: [GazetteerEntry]
    private let paths: [(path: String, item: String?)]

    init(reference: ReferenceData) {
        plates = reference.gazetteer.entries.filter { $0.poi.isEmpty }
        // One SQLB path per item (the table has several for some items).
        var items = Set<String>()
        paths = SourceCategoryTables.hotlinePaths.filter { $0.item.map { items.insert($0).inserted } ?? false }
    }

    /// Order `i` of the corpus, with `id`.
    func order(_ i: Int, id: String) -> Hotline12345.WorkOrder {
        let path = paths[i % paths.count]
        let plate = plates[((i / paths.count) &* 7_919 &+ (i % paths.count) &* 31) % plates.count]
        return Hotline12345.WorkOrder(
            id: id, version: 1, calledAt: Date(), callerName: "张先生", callerPhone: "13812345678", anonymous: false,
            orderType: "投诉", category: path.path, title: "", content: "市民反映\(plate.road)\(plate.number)号有问题，请尽快处理。",
            address: plate.fullAddress, urgent: false, timeLimitDays: nil)
    }
}
