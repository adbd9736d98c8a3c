import Foundation
import Testing
@testable import GridHubCore

@Suite("Geo: coordinates and point → grid")
struct GeoTests {
    @Test("point → grid agrees with a brute-force polygon check on 10 000 random points")
    func pointToGridMatchesBruteForce() {
        let data = ReferenceTestData.data
        var rng = SplitMix64(seed: 42)
        let box = GeoBox.jiangyin
        var inside = 0
        for _ in 0..<10_000 {
            let p = Coordinate(lat: Double.random(in: box.minLat...box.maxLat, using: &rng),
                               lon: Double.random(in: box.minLon...box.maxLon, using: &rng))
            let brute = data.grids.first { $0.polygon.contains(p) }?.gridCode
            let indexed = data.gridCode(at: p)
            #expect(indexed == brute, "\(p)")
            if brute != nil { inside += 1 }
        }
        #expect(inside > 3000)
    }

    @Test("every door plate lies in its own grid")
    func platesInTheirGrids() {
        let data = ReferenceTestData.data
        var wrong = 0
        for e in data.gazetteer.entries where data.gridCode(at: e.coordinate) != e.gridCode { wrong += 1 }
        #expect(wrong == 0)
    }

    @Test("points outside the city have no grid")
    func outside() {
        let data = ReferenceTestData.data
        #expect(data.grid(at: Coordinate(lat: 31.5, lon: 120.3)) == nil)
        #expect(data.grid(at: Coordinate(lat: 0, lon: 0)) == nil)
        #expect(data.grid(at: Coordinate(lat: .nan, lon: 120.3)) == nil)
        #expect(data.grid(at: Coordinate(lat: 32.1, lon: 120.3)) == nil) // the Yangtze, north of the city
    }

    @Test("GCJ-02 and BD-09 round-trip within 1 m across the city box", arguments: [CoordinateSystem.gcj02, .bd09])
    func roundTrip(system: CoordinateSystem) {
        let box = GeoBox.jiangyin
        var worst = 0.0
        for i in 0...30 {
            for j in 0...20 {
                let w = Coordinate(lat: box.minLat + (box.maxLat - box.minLat) * Double(j) / 20,
                                   lon: box.minLon + (box.maxLon - box.minLon) * Double(i) / 30)
                let shifted = ChinaCoordinates.fromWGS84(w, to: system)
                let offset = w.distance(to: shifted)
                #expect(offset > 300 && offset < 1_600, "offset \(offset) m")
                let back = ChinaCoordinates.toWGS84(shifted, from: system)
                worst = max(worst, back.distance(to: w))
            }
        }
        #expect(worst < 0.01, "worst round-trip error \(worst) m")
    }

    @Test("a known GCJ-02 offset around Jiangyin is about 0.5 km, BD-09 about 1.1-1.4 km")
    func knownOffsets() {
        let w = Coordinate(lat: 31.909184, lon: 120.291635)
        let g = ChinaCoordinates.wgs84ToGCJ02(w)
        let b = ChinaCoordinates.wgs84ToBD09(w)
        #expect(g.lon > w.lon && g.lat < w.lat) // east and slightly south
        #expect((400...700).contains(w.distance(to: g)))
        #expect((1_000...1_600).contains(w.distance(to: b)))
        #expect(ChinaCoordinates.toWGS84(w, from: .wgs84) == w)
        #expect(CoordinateSystem(label: "GCJ-02") == .gcj02)
        #expect(CoordinateSystem(label: "bd09ll") == .bd09)
        #expect(CoordinateSystem(label: "CGCS2000") == .wgs84)
        #expect(CoordinateSystem(label: "utm") == nil)
    }

    @Test("bad coordinates are recognised, with the reason")
    func badCoordinates() {
        #expect(Coordinate.problem(lat: 31.9, lon: 120.29) == nil)
        #expect(Coordinate.problem(lat: 0, lon: 0) == .zero)
        #expect(Coordinate.problem(lat: .nan, lon: 120.29) == .notFinite)
        #expect(Coordinate.problem(lat: 31.9, lon: .infinity) == .notFinite)
        #expect(Coordinate.problem(lat: 120.29, lon: 31.9) == .swapped)
        #expect(Coordinate.problem(lat: 39.9, lon: 116.4) == .outsideCity) // Beijing
        #expect(Coordinate.problem(lat: 95, lon: 200) == .outOfRange)
        #expect(Coordinate.problem(lat: 31.70, lon: 120.56) == nil) // inside the margin
        if case .failure(let p) = Coordinate.fromReport(lat: 0, lon: 0, system: .gcj02) { #expect(p == .zero) } else { Issue.record("0,0 accepted") }
        if case .success(let c) = Coordinate.fromReport(lat: 31.909184, lon: 120.291635, system: .wgs84) {
            #expect(c == Coordinate(lat: 31.909184, lon: 120.291635))
        } else { Issue.record("valid position refused") }
    }

    @Test("haversine distance")
    func distance() {
        let a = Coordinate(lat: 31.9, lon: 120.3)
        #expect(abs(a.distance(to: Coordinate(lat: 32.0, lon: 120.3)) - 11_119.5) < 5)
        #expect(abs(a.distance(to: a.offset(metres: 100, bearing: 45)) - 100) < 0.1)
    }
}
