import Foundation

/// A simple polygon (one exterior ring, no holes) in WGS-84.
public struct GeoPolygon: Sendable, Hashable, Codable {
    /// The ring's vertices, without repeating the first one at the end.
    public var ring: [Coordinate]
    public var bounds: GeoBox

    public init(ring: [Coordinate]) {
        var r = ring
        if r.count > 1, r.first == r.last { r.removeLast() }
        self.ring = r
        var box = GeoBox(minLon: .infinity, minLat: .infinity, maxLon: -.infinity, maxLat: -.infinity)
        for c in r {
            box.minLon = min(box.minLon, c.lon); box.maxLon = max(box.maxLon, c.lon)
            box.minLat = min(box.minLat, c.lat); box.maxLat = max(box.maxLat, c.lat)
        }
        bounds = box
    }

    /// Even-odd point-in-polygon test.
    public func contains(_ p: Coordinate) -> Bool {
        guard bounds.contains(p) else { return false }
        var inside = false
        var j = ring.count - 1
        for i in 0..<ring.count {
            let a = ring[i], b = ring[j]
            if (a.lat > p.lat) != (b.lat > p.lat) {
                let x = (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon
                if p.lon < x { inside.toggle() }
            }
            j = i
        }
        return inside
    }

    /// The area-weighted centroid (falls back to the vertex mean for degenerate rings).
    public var centroid: Coordinate {
        var a2 = 0.0, cx = 0.0, cy = 0.0
        let ox = ring.first?.lon ?? 0, oy = ring.first?.lat ?? 0
        var j = ring.count - 1
        for i in 0..<ring.count {
            let x0 = ring[j].lon - ox, y0 = ring[j].lat - oy
            let x1 = ring[i].lon - ox, y1 = ring[i].lat - oy
            let cross = x0 * y1 - x1 * y0
            a2 += cross; cx += (x0 + x1) * cross; cy += (y0 + y1) * cross
            j = i
        }
        if abs(a2) < 1e-18 {
            let n = Double(max(ring.count, 1))
            return Coordinate(lat: ring.reduce(0) { $0 + $1.lat } / n, lon: ring.reduce(0) { $0 + $1.lon } / n)
        }
        return Coordinate(lat: oy + cy / (3 * a2), lon: ox + cx / (3 * a2))
    }
}

/// A third-level grid (网格) of `reference/grids.geojson`, the smallest unit of governance.
public struct Grid: Sendable, Hashable, Codable, Identifiable {
    /// 15 digits: community code + 3-digit serial.
    public var gridCode: String
    /// `<community_name>第<serial>网格`.
    public var name: String
    /// 12 digits: town code + 3-digit community number.
    public var communityCode: String
    public var communityName: String
    /// 9 digits: `320281` + 3-digit town number.
    public var townCode: String
    public var townName: String
    public var households: Int
    public var population: Int
    public var polygon: GeoPolygon

    public var id: String { gridCode }

    public init(gridCode: String, name: String, communityCode: String, communityName: String, townCode: String,
                townName: String, households: Int, population: Int, polygon: GeoPolygon) {
        self.gridCode = gridCode
        self.name = name
        self.communityCode = communityCode
        self.communityName = communityName
        self.townCode = townCode
        self.townName = townName
        self.households = households
        self.population = population
        self.polygon = polygon
    }

    /// Parses the `grids.geojson` FeatureCollection (Polygon features; holes are refused).
    public static func parse(geoJSON data: Data) throws(ReferenceDataError) -> [Grid] {
        let file = "grids.geojson"
        let root: JSONTree
        do { root = try JSONReader.read([UInt8](data)) } catch {
            throw ReferenceDataError(file: file, line: error.line, message: error.message)
        }
        guard root["type"]?.string == "FeatureCollection", let features = root["features"]?.array else {
            throw ReferenceDataError(file: file, line: 1, message: "expected a FeatureCollection with a features array")
        }
        var grids: [Grid] = []
        grids.reserveCapacity(features.count)
        var seen = Set<String>()
        for (index, feature) in features.enumerated() {
            // One feature per line in the file: line = index + 2; the message also names the feature.
            func fail(_ message: String) -> ReferenceDataError {
                ReferenceDataError(file: file, line: index + 2, message: "feature \(index + 1): \(message)")
            }
            guard let p = feature["properties"] else { throw fail("no properties") }
            func text(_ key: String) throws(ReferenceDataError) -> String {
                guard let s = p[key]?.string, !s.isEmpty else { throw fail("property \(key) is missing or not a string") }
                return s
            }
            func int(_ key: String) throws(ReferenceDataError) -> Int {
                guard let n = p[key]?.number, n == n.rounded(), n >= 0 else { throw fail("property \(key) is missing or not a count") }
                return Int(n)
            }
            let code = try text("grid_code")
            guard code.utf8.count == 15, code.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw fail("grid_code '\(code)' is not 15 digits") }
            guard seen.insert(code).inserted else { throw fail("grid_code \(code) appears twice") }
            let community = try text("community_code"), town = try text("town_code")
            guard code.hasPrefix(community), community.hasPrefix(town) else { throw fail("grid \(code) is not inside community \(community) / town \(town)") }
            guard let geometry = feature["geometry"], geometry["type"]?.string == "Polygon", let rings = geometry["coordinates"]?.array else {
                throw fail("geometry is not a Polygon")
            }
            guard rings.count == 1, let ring = rings[0].array else { throw fail("the polygon must have exactly one ring (no holes)") }
            var points: [Coordinate] = []
            points.reserveCapacity(ring.count)
            for position in ring {
                guard let pair = position.array, pair.count >= 2, let lon = pair[0].number, let lat = pair[1].number else {
                    throw fail("a position is not [lon, lat]")
                }
                points.append(Coordinate(lat: lat, lon: lon))
            }
            let polygon = GeoPolygon(ring: points)
            guard polygon.ring.count >= 3 else { throw fail("the ring has fewer than 3 distinct vertices") }
            grids.append(Grid(gridCode: code, name: try text("grid_name"), communityCode: community,
                              communityName: try text("community_name"), townCode: town, townName: try text("town_name"),
                              households: try int("households"), population: try int("population"), polygon: polygon))
        }
        return grids
    }
}

/// A town or street office (镇/街道), derived from its grids.
public struct Town: Sendable, Hashable, Codable, Identifiable {
    /// 9 digits.
    public var code: String
    public var name: String
    public var communityCodes: [String]
    public var gridCodes: [String]
    public var population: Int
    public var id: String { code }
}

/// A village or community (村/社区), derived from its grids.
public struct Community: Sendable, Hashable, Codable, Identifiable {
    /// 12 digits.
    public var code: String
    public var name: String
    public var townCode: String
    public var gridCodes: [String]
    public var population: Int
    public var id: String { code }
}
