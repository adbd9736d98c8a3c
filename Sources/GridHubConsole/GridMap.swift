import Foundation
import GridHubCore

/// The city's 1558 grids as SVG paths, projected once at start from the reference data (no map tiles:
/// the console works offline). Each path carries its grid code; the page colours them by open and
/// overdue cases.
public struct GridMap: Sendable {
    public struct Shape: Sendable {
        public var gridCode: String
        public var townCode: String
        public var title: String
        /// The SVG path data (`M x y L … Z`).
        public var path: String
    }

    public let shapes: [Shape]
    public let width: Double
    public let height: Double

    /// Projects the grids into a `width`-wide box: longitude scaled by the cosine of the middle
    /// latitude, north up.
    public init(reference: ReferenceData, width: Double = 900) {
        var box = GeoBox(minLon: .infinity, minLat: .infinity, maxLon: -.infinity, maxLat: -.infinity)
        for grid in reference.grids {
            box.minLon = min(box.minLon, grid.polygon.bounds.minLon); box.maxLon = max(box.maxLon, grid.polygon.bounds.maxLon)
            box.minLat = min(box.minLat, grid.polygon.bounds.minLat); box.maxLat = max(box.maxLat, grid.polygon.bounds.maxLat)
        }
        let squeeze = cos((box.minLat + box.maxLat) / 2 * .pi / 180)
        let spanX = max((box.maxLon - box.minLon) * squeeze, 1e-9)
        let scale = width / spanX
        self.width = width
        height = ((box.maxLat - box.minLat) * scale).rounded(.up)
        shapes = reference.grids.map { grid in
            var path = ""
            for (i, c) in grid.polygon.ring.enumerated() {
                let x = (c.lon - box.minLon) * squeeze * scale
                let y = (box.maxLat - c.lat) * scale
                path += (i == 0 ? "M" : "L") + String(format: "%.1f %.1f", x, y)
            }
            return Shape(gridCode: grid.gridCode, townCode: grid.townCode, title: "\(grid.townName) \(grid.name)", path: path + "Z")
        }
    }

    /// How a grid is coloured: by its overdue cases first, then by how many are open.
    public static func colourClass(open: Int, overdue: Int) -> String {
        if overdue > 0 { return "overdue" }
        switch open {
        case 0: return "none"
        case 1...2: return "few"
        default: return "many"
        }
    }
}
