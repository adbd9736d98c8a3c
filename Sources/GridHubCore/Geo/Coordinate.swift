import Foundation

/// A WGS-84 position in decimal degrees, the coordinate system of the grids and the gazetteer.
public struct Coordinate: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Latitude, degrees north.
    public var lat: Double
    /// Longitude, degrees east.
    public var lon: Double

    public init(lat: Double, lon: Double) {
        self.lat = lat
        self.lon = lon
    }

    public var description: String {
        "(\(Coordinate.format(lat)), \(Coordinate.format(lon)))"
    }

    private static func format(_ v: Double) -> String {
        let scaled = (v * 1_000_000).rounded() / 1_000_000
        return "\(scaled)"
    }

    /// Mean Earth radius in metres (IUGG).
    public static let earthRadius = 6_371_008.8

    /// Great-circle distance in metres (haversine).
    public func distance(to other: Coordinate) -> Double {
        let toRad = Double.pi / 180
        let dLat = (other.lat - lat) * toRad
        let dLon = (other.lon - lon) * toRad
        let s1 = sin(dLat / 2), s2 = sin(dLon / 2)
        let a = s1 * s1 + cos(lat * toRad) * cos(other.lat * toRad) * s2 * s2
        return 2 * Coordinate.earthRadius * asin(min(1, a.squareRoot()))
    }

    /// The point `metres` away in compass direction `bearing` (degrees clockwise from north);
    /// a flat-earth step, accurate for the few hundred metres it is used for.
    public func offset(metres: Double, bearing: Double) -> Coordinate {
        let toRad = Double.pi / 180
        let dNorth = metres * cos(bearing * toRad)
        let dEast = metres * sin(bearing * toRad)
        let dLat = dNorth / Coordinate.earthRadius / toRad
        let dLon = dEast / (Coordinate.earthRadius * cos(lat * toRad)) / toRad
        return Coordinate(lat: lat + dLat, lon: lon + dLon)
    }
}

/// The coordinate system a source reports positions in.
public enum CoordinateSystem: String, Sendable, Hashable, Codable, CaseIterable {
    /// WGS-84 (GPS); CGCS2000 is treated as the same.
    case wgs84
    /// GCJ-02, the obfuscated system of Chinese map SDKs (Gaode, Tencent).
    case gcj02
    /// BD-09, Baidu's system (GCJ-02 with a further offset).
    case bd09

    /// Parses the labels sources use (`wgs84`, `WGS-84`, `gcj02`, `GCJ-02`, `bd09`, `bd09ll`, `cgcs2000`).
    public init?(label: String) {
        let key = label.lowercased().filter { $0 != "-" && $0 != "_" && $0 != " " }
        switch key {
        case "wgs84", "gps", "cgcs2000", "wgs": self = .wgs84
        case "gcj02", "gcj", "amap", "gaode": self = .gcj02
        case "bd09", "bd09ll", "baidu": self = .bd09
        default: return nil
        }
    }
}

/// Why a reported position cannot be used: the incident then has "no position".
public enum PositionProblem: String, Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// NaN or infinite.
    case notFinite
    /// Exactly (0, 0): the device had no fix.
    case zero
    /// Latitude beyond ±90 or longitude beyond ±180.
    case outOfRange
    /// Latitude and longitude were swapped: swapping them back lands in the city.
    case swapped
    /// A valid position, but outside the city's bounding box (with its margin).
    case outsideCity

    public var description: String {
        switch self {
        case .notFinite: "the coordinate is not a finite number"
        case .zero: "the coordinate is 0,0 (no fix)"
        case .outOfRange: "the latitude or longitude is out of range"
        case .swapped: "latitude and longitude are swapped"
        case .outsideCity: "the position lies outside the city"
        }
    }
}

/// A longitude/latitude rectangle.
public struct GeoBox: Sendable, Hashable, Codable {
    public var minLon: Double
    public var minLat: Double
    public var maxLon: Double
    public var maxLat: Double

    public init(minLon: Double, minLat: Double, maxLon: Double, maxLat: Double) {
        self.minLon = minLon
        self.minLat = minLat
        self.maxLon = maxLon
        self.maxLat = maxLat
    }

    /// Jiangyin's extent from `reference/README.md`: lon 119.95-120.55, lat 31.68-32.02.
    public static let jiangyin = GeoBox(minLon: 119.95, minLat: 31.68, maxLon: 120.55, maxLat: 32.02)

    @inlinable
    public func contains(lon: Double, lat: Double) -> Bool {
        lon >= minLon && lon <= maxLon && lat >= minLat && lat <= maxLat
    }

    public func contains(_ c: Coordinate) -> Bool { contains(lon: c.lon, lat: c.lat) }

    /// The box grown by `degrees` on every side.
    public func expanded(by degrees: Double) -> GeoBox {
        GeoBox(minLon: minLon - degrees, minLat: minLat - degrees, maxLon: maxLon + degrees, maxLat: maxLat + degrees)
    }
}

extension Coordinate {
    /// The margin around the city box within which a position is still accepted (≈ 5 km).
    public static let cityMargin = 0.05

    /// Checks a reported position: `nil` when usable, else the reason it is "no position".
    /// `area` is the accepted region (default: the city's box with `cityMargin`).
    public static func problem(lat: Double, lon: Double, area: GeoBox = GeoBox.jiangyin.expanded(by: cityMargin)) -> PositionProblem? {
        guard lat.isFinite, lon.isFinite else { return .notFinite }
        if lat == 0 && lon == 0 { return .zero }
        guard abs(lat) <= 90, abs(lon) <= 180 else {
            return area.contains(lon: lat, lat: lon) ? .swapped : .outOfRange
        }
        if area.contains(lon: lon, lat: lat) { return nil }
        if area.contains(lon: lat, lat: lon) { return .swapped }
        return .outsideCity
    }

    /// Converts a reported position in `system` to WGS-84 after checking it; the problem when it is not usable.
    /// The check runs on the raw values (the offsets are < 2 km, far inside the margin).
    public static func fromReport(lat: Double, lon: Double, system: CoordinateSystem) -> Result<Coordinate, PositionProblem> {
        if let problem = problem(lat: lat, lon: lon) { return .failure(problem) }
        let raw = Coordinate(lat: lat, lon: lon)
        return .success(ChinaCoordinates.toWGS84(raw, from: system))
    }
}
