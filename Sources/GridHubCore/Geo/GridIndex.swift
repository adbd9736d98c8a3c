/// A spatial index answering "which grid contains this point" for a set of non-overlapping polygons.
///
/// A uniform cell raster over the polygons' extent: each cell lists the polygons whose bounding box
/// overlaps it. Cells that no polygon edge passes through are entirely inside one polygon (or
/// outside all), and answer without any point-in-polygon test; the other cells test their few
/// candidates (bounding box first, then even-odd crossing). Vertices are stored in flat arrays.
public struct GridIndex: Sendable {
    /// Polygon vertex longitudes/latitudes, ring after ring (no closing vertex).
    private let xs: [Double]
    private let ys: [Double]
    /// `ringStart[k]..<ringStart[k+1]` are polygon k's vertices.
    private let ringStart: [Int32]
    /// minLon, minLat, maxLon, maxLat per polygon.
    private let boxes: [Double]
    private let originLon: Double
    private let originLat: Double
    private let cellSize: Double
    private let columns: Int
    private let rows: Int
    /// Per cell: the polygon covering it entirely (≥ 0), `-1` when candidates must be tested, `-2` when no polygon touches it.
    private let cellOwner: [Int32]
    private let cellStart: [Int32]
    private let cellItems: [Int32]
    private let neighbourStart: [Int32]
    private let neighbourItems: [Int32]

    /// The number of polygons.
    public let count: Int

    /// Builds the index over `polygons` (their order gives the indices returned).
    /// `cellSize` is in degrees; `neighbourTolerance` (metres) is how close two polygons must come to be neighbours.
    public init(polygons: [GeoPolygon], cellSize: Double = 0.002, neighbourTolerance: Double = 5) {
        count = polygons.count
        var xs: [Double] = [], ys: [Double] = [], starts: [Int32] = [0], boxes: [Double] = []
        var minLon = Double.infinity, minLat = Double.infinity, maxLon = -Double.infinity, maxLat = -Double.infinity
        for p in polygons {
            for c in p.ring { xs.append(c.lon); ys.append(c.lat) }
            starts.append(Int32(xs.count))
            boxes += [p.bounds.minLon, p.bounds.minLat, p.bounds.maxLon, p.bounds.maxLat]
            minLon = min(minLon, p.bounds.minLon); minLat = min(minLat, p.bounds.minLat)
            maxLon = max(maxLon, p.bounds.maxLon); maxLat = max(maxLat, p.bounds.maxLat)
        }
        if polygons.isEmpty { minLon = 0; minLat = 0; maxLon = 0; maxLat = 0 }
        self.xs = xs; self.ys = ys; self.ringStart = starts; self.boxes = boxes
        self.cellSize = cellSize
        originLon = minLon; originLat = minLat
        let columns = max(1, Int(((maxLon - minLon) / cellSize).rounded(.up)) + 1)
        let rows = max(1, Int(((maxLat - minLat) / cellSize).rounded(.up)) + 1)
        self.columns = columns; self.rows = rows
        let cellCount = columns * rows

        func col(_ lon: Double) -> Int { min(columns - 1, max(0, Int((lon - minLon) / cellSize))) }
        func row(_ lat: Double) -> Int { min(rows - 1, max(0, Int((lat - minLat) / cellSize))) }

        // Candidates by bounding box, in polygon order (so the first hit matches a linear scan).
        var lists = [[Int32]](repeating: [], count: cellCount)
        var edgy = [Bool](repeating: false, count: cellCount)
        for k in 0..<polygons.count {
            let b = polygons[k].bounds
            for r in row(b.minLat)...row(b.maxLat) {
                for c in col(b.minLon)...col(b.maxLon) { lists[r * columns + c].append(Int32(k)) }
            }
            // Cells an edge may cross (conservatively: the edge's bounding box).
            let ring = polygons[k].ring
            var j = ring.count - 1
            for i in 0..<ring.count {
                let a = ring[j], e = ring[i]
                for r in row(min(a.lat, e.lat))...row(max(a.lat, e.lat)) {
                    for c in col(min(a.lon, e.lon))...col(max(a.lon, e.lon)) { edgy[r * columns + c] = true }
                }
                j = i
            }
        }
        var owner = [Int32](repeating: -1, count: cellCount)
        var cellStart: [Int32] = [0]
        var cellItems: [Int32] = []
        cellStart.reserveCapacity(cellCount + 1)
        for cell in 0..<cellCount {
            let list = lists[cell]
            if list.isEmpty {
                owner[cell] = -2
            } else if !edgy[cell] {
                let r = cell / columns, c = cell % columns
                let centre = Coordinate(lat: minLat + (Double(r) + 0.5) * cellSize, lon: minLon + (Double(c) + 0.5) * cellSize)
                owner[cell] = list.first(where: { polygons[Int($0)].contains(centre) }) ?? -2
            } else {
                cellItems += list
            }
            cellStart.append(Int32(cellItems.count))
        }
        self.cellOwner = owner
        self.cellStart = cellStart
        self.cellItems = cellItems

        // Neighbours: polygons whose boundaries share a vertex or come within the tolerance.
        let tolLat = neighbourTolerance / 111_320.0
        let tolLon = tolLat / max(0.1, cos((minLat + maxLat) / 2 * Double.pi / 180))
        var nStart: [Int32] = [0]
        var nItems: [Int32] = []
        for k in 0..<polygons.count {
            let b = polygons[k].bounds.expanded(by: max(tolLat, tolLon))
            var candidates = Set<Int32>()
            for r in row(b.minLat)...row(b.maxLat) {
                for c in col(b.minLon)...col(b.maxLon) { candidates.formUnion(lists[r * columns + c]) }
            }
            var found: [Int32] = []
            for other in candidates.sorted() where Int(other) != k {
                let o = polygons[Int(other)]
                guard o.bounds.maxLon >= b.minLon, o.bounds.minLon <= b.maxLon, o.bounds.maxLat >= b.minLat, o.bounds.minLat <= b.maxLat else { continue }
                if GridIndex.near(polygons[k], o, tolLon: tolLon, tolLat: tolLat) { found.append(other) }
            }
            nItems += found
            nStart.append(Int32(nItems.count))
        }
        neighbourStart = nStart
        neighbourItems = nItems
    }

    /// Whether any vertex of one ring lies within the tolerance of the other ring's boundary (scaled to metres).
    private static func near(_ a: GeoPolygon, _ b: GeoPolygon, tolLon: Double, tolLat: Double) -> Bool {
        func check(_ p: GeoPolygon, _ q: GeoPolygon) -> Bool {
            let ring = q.ring
            for v in p.ring {
                var j = ring.count - 1
                for i in 0..<ring.count {
                    // Work in units of the tolerance so the threshold is 1.
                    let ax = (ring[j].lon - v.lon) / tolLon, ay = (ring[j].lat - v.lat) / tolLat
                    let bx = (ring[i].lon - v.lon) / tolLon, by = (ring[i].lat - v.lat) / tolLat
                    let dx = bx - ax, dy = by - ay
                    let len2 = dx * dx + dy * dy
                    var t = len2 > 0 ? -(ax * dx + ay * dy) / len2 : 0
                    t = min(1, max(0, t))
                    let px = ax + t * dx, py = ay + t * dy
                    if px * px + py * py <= 1 { return true }
                    j = i
                }
            }
            return false
        }
        return check(a, b) || check(b, a)
    }

    /// The index of the polygon containing `point`, or `nil` when none does.
    @inlinable
    public func polygonIndex(containing point: Coordinate) -> Int? {
        polygonIndex(lon: point.lon, lat: point.lat)
    }

    /// The index of the polygon containing (`lon`, `lat`), or `nil` when none does.
    public func polygonIndex(lon: Double, lat: Double) -> Int? {
        let fx = (lon - originLon) / cellSize
        let fy = (lat - originLat) / cellSize
        guard fx >= 0, fy >= 0, fx < Double(columns), fy < Double(rows) else { return nil }
        let cell = Int(fy) * columns + Int(fx)
        let o = cellOwner[cell]
        if o >= 0 { return Int(o) }
        if o == -2 { return nil }
        let start = Int(cellStart[cell]), end = Int(cellStart[cell + 1])
        for n in start..<end {
            let k = Int(cellItems[n])
            if contains(k, lon: lon, lat: lat) { return k }
        }
        return nil
    }

    /// Point-in-polygon for polygon `k` (bounding box, then even-odd crossing).
    public func contains(_ k: Int, lon: Double, lat: Double) -> Bool {
        let b = k * 4
        guard lon >= boxes[b], lat >= boxes[b + 1], lon <= boxes[b + 2], lat <= boxes[b + 3] else { return false }
        let s = Int(ringStart[k]), e = Int(ringStart[k + 1])
        var inside = false
        var j = e - 1
        for i in s..<e {
            let ay = ys[i], by = ys[j]
            if (ay > lat) != (by > lat) {
                let x = (xs[j] - xs[i]) * (lat - ay) / (by - ay) + xs[i]
                if lon < x { inside.toggle() }
            }
            j = i
        }
        return inside
    }

    /// The indices of polygons sharing a boundary point with polygon `k` or within the tolerance of it, ascending.
    public func neighbourIndices(of k: Int) -> [Int] {
        guard k >= 0, k < count else { return [] }
        return neighbourStart[k] == neighbourStart[k + 1] ? [] : neighbourItems[Int(neighbourStart[k])..<Int(neighbourStart[k + 1])].map { Int($0) }
    }
}

import Foundation
