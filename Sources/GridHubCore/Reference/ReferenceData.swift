import Foundation

/// All reference data of the hub in one immutable value: departments, the item catalogue, the grids
/// with their spatial index, towns and communities, the gazetteer and the classifier.
///
/// Built from the contents of the four files (the caller reads them); every problem is a
/// `ReferenceDataError` naming the file and line.
public struct ReferenceData: Sendable {
    public let departments: [Department]
    public let items: [CatalogueItem]
    public let grids: [Grid]
    public let towns: [Town]
    public let communities: [Community]
    public let gazetteer: Gazetteer
    public let gridIndex: GridIndex
    public let classifier: Classifier

    private let departmentByCode: [String: Int]
    private let itemByCode: [String: Int]
    private let gridByCode: [String: Int]
    private let townByCode: [String: Int]
    private let communityByCode: [String: Int]

    /// The file names inside the reference directory, in load order.
    public static let fileNames = (departments: "departments.csv", items: "items.csv", grids: "grids.geojson", addresses: "addresses.csv")

    /// Parses and cross-checks the four files' contents and builds every index.
    public init(departmentsCSV: String, itemsCSV: String, gridsGeoJSON: Data, addressesCSV: String) throws(ReferenceDataError) {
        let departments = try Department.parse(csv: departmentsCSV)
        var depIndex: [String: Int] = [:]
        for (i, d) in departments.enumerated() {
            guard depIndex.updateValue(i, forKey: d.code) == nil else {
                throw ReferenceDataError(file: "departments.csv", line: i + 2, message: "department code '\(d.code)' appears twice")
            }
        }
        let items = try CatalogueItem.parse(csv: itemsCSV, departments: departments)
        let grids = try Grid.parse(geoJSON: gridsGeoJSON)
        let gridByCode = Dictionary(uniqueKeysWithValues: grids.enumerated().map { ($1.gridCode, $0) })
        let entries = try GazetteerEntry.parse(csv: addressesCSV, gridCodes: Set(gridByCode.keys))
        let index = GridIndex(polygons: grids.map(\.polygon))
        let codes = grids.map(\.gridCode)
        self.init(departments: departments, items: items, grids: grids, entries: entries, index: index,
                  locate: { c in index.polygonIndex(containing: c).map { codes[$0] } })
    }

    private init(departments: [Department], items: [CatalogueItem], grids: [Grid], entries: [GazetteerEntry], index: GridIndex,
                 locate: @escaping @Sendable (Coordinate) -> String?) {
        self.departments = departments
        self.items = items
        self.grids = grids
        gridIndex = index
        departmentByCode = Dictionary(uniqueKeysWithValues: departments.enumerated().map { ($1.code, $0) })
        itemByCode = Dictionary(uniqueKeysWithValues: items.enumerated().map { ($1.code, $0) })
        gridByCode = Dictionary(uniqueKeysWithValues: grids.enumerated().map { ($1.gridCode, $0) })

        var towns: [Town] = [], communities: [Community] = []
        var townAt: [String: Int] = [:], communityAt: [String: Int] = [:]
        for g in grids {
            if townAt[g.townCode] == nil {
                townAt[g.townCode] = towns.count
                towns.append(Town(code: g.townCode, name: g.townName, communityCodes: [], gridCodes: [], population: 0))
            }
            let t = townAt[g.townCode]!
            towns[t].gridCodes.append(g.gridCode)
            towns[t].population += g.population
            if communityAt[g.communityCode] == nil {
                communityAt[g.communityCode] = communities.count
                communities.append(Community(code: g.communityCode, name: g.communityName, townCode: g.townCode, gridCodes: [], population: 0))
                towns[t].communityCodes.append(g.communityCode)
            }
            let c = communityAt[g.communityCode]!
            communities[c].gridCodes.append(g.gridCode)
            communities[c].population += g.population
        }
        self.towns = towns
        self.communities = communities
        townByCode = townAt
        communityByCode = communityAt
        gazetteer = Gazetteer(entries: entries, grids: grids, locate: locate)
        classifier = Classifier(items: items)
    }

    // MARK: - Look-ups

    public func department(code: String) -> Department? { departmentByCode[code].map { departments[$0] } }
    public func item(code: String) -> CatalogueItem? { itemByCode[code].map { items[$0] } }
    public func grid(code: String) -> Grid? { gridByCode[code].map { grids[$0] } }
    public func town(code: String) -> Town? { townByCode[code].map { towns[$0] } }
    public func community(code: String) -> Community? { communityByCode[code].map { communities[$0] } }

    /// The grid containing a WGS-84 point; `nil` outside the city.
    public func grid(at point: Coordinate) -> Grid? { gridIndex.polygonIndex(containing: point).map { grids[$0] } }

    /// The code of the grid containing a WGS-84 point; `nil` outside the city.
    public func gridCode(at point: Coordinate) -> String? { gridIndex.polygonIndex(containing: point).map { grids[$0].gridCode } }

    /// Grids sharing a boundary point with `gridCode`'s grid or within 5 m of it; empty for an unknown code.
    public func neighbours(of gridCode: String) -> [Grid] {
        guard let k = gridByCode[gridCode] else { return [] }
        return gridIndex.neighbourIndices(of: k).map { grids[$0] }
    }

    /// Resolves an address text with the gazetteer (see `Gazetteer.resolve(_:)`).
    public func resolve(address: String) -> AddressMatch { gazetteer.resolve(address) }

    /// Items of the same group as `code` (without `code` itself), for deduplicating related reports.
    public func relatedItems(of code: String) -> [CatalogueItem] { classifier.relatedItems(of: code).compactMap { item(code: $0) } }
}
