import Foundation

/// Conversions between WGS-84 and the two Chinese map systems, GCJ-02 and BD-09.
///
/// The forward transforms are the published public formulas (Krasovsky-ellipsoid constants
/// `a = 6378245`, `e² = 0.00669342162296594323`; Baidu's `x_pi = π·3000/180`). The inverses are
/// iterative: starting from the forward offset subtracted once, each step corrects by the residual
/// of the forward transform, which converges to well under a millimetre in a few steps.
public enum ChinaCoordinates {
    static let semiMajor = 6_378_245.0
    static let eccentricitySquared = 0.00669342162296594323
    static let baiduXPi = Double.pi * 3000.0 / 180.0

    /// Converts a position in `system` to WGS-84 (WGS-84 passes through).
    public static func toWGS84(_ c: Coordinate, from system: CoordinateSystem) -> Coordinate {
        switch system {
        case .wgs84: c
        case .gcj02: gcj02ToWGS84(c)
        case .bd09: bd09ToWGS84(c)
        }
    }

    /// Converts a WGS-84 position to `system`.
    public static func fromWGS84(_ c: Coordinate, to system: CoordinateSystem) -> Coordinate {
        switch system {
        case .wgs84: c
        case .gcj02: wgs84ToGCJ02(c)
        case .bd09: wgs84ToBD09(c)
        }
    }

    /// WGS-84 → GCJ-02 (the forward "Mars" offset).
    public static func wgs84ToGCJ02(_ c: Coordinate) -> Coordinate {
        let x = c.lon - 105.0
        let y = c.lat - 35.0
        var dLat = latitudeShift(x, y)
        var dLon = longitudeShift(x, y)
        let radLat = c.lat / 180.0 * Double.pi
        var magic = sin(radLat)
        magic = 1 - eccentricitySquared * magic * magic
        let sqrtMagic = magic.squareRoot()
        dLat = (dLat * 180.0) / ((semiMajor * (1 - eccentricitySquared)) / (magic * sqrtMagic) * Double.pi)
        dLon = (dLon * 180.0) / (semiMajor / sqrtMagic * cos(radLat) * Double.pi)
        return Coordinate(lat: c.lat + dLat, lon: c.lon + dLon)
    }

    /// GCJ-02 → BD-09.
    public static func gcj02ToBD09(_ c: Coordinate) -> Coordinate {
        let x = c.lon, y = c.lat
        let z = (x * x + y * y).squareRoot() + 0.00002 * sin(y * baiduXPi)
        let theta = atan2(y, x) + 0.000003 * cos(x * baiduXPi)
        return Coordinate(lat: z * sin(theta) + 0.006, lon: z * cos(theta) + 0.0065)
    }

    /// WGS-84 → BD-09.
    public static func wgs84ToBD09(_ c: Coordinate) -> Coordinate { gcj02ToBD09(wgs84ToGCJ02(c)) }

    /// GCJ-02 → WGS-84 by iterating the forward transform.
    public static func gcj02ToWGS84(_ c: Coordinate) -> Coordinate { invert(c, forward: wgs84ToGCJ02) }

    /// BD-09 → WGS-84 by iterating the composed forward transform.
    public static func bd09ToWGS84(_ c: Coordinate) -> Coordinate { invert(c, forward: wgs84ToBD09) }

    /// BD-09 → GCJ-02 by iterating the forward transform.
    public static func bd09ToGCJ02(_ c: Coordinate) -> Coordinate { invert(c, forward: gcj02ToBD09) }

    /// Solves `forward(w) == target` for `w`; the offsets are small and smooth, so a fixed-point
    /// iteration `w -= forward(w) - target` converges quickly.
    static func invert(_ target: Coordinate, forward: (Coordinate) -> Coordinate) -> Coordinate {
        var w = target
        for _ in 0..<30 {
            let f = forward(w)
            let eLat = f.lat - target.lat
            let eLon = f.lon - target.lon
            w.lat -= eLat
            w.lon -= eLon
            if abs(eLat) < 1e-10 && abs(eLon) < 1e-10 { break }
        }
        return w
    }

    private static func latitudeShift(_ x: Double, _ y: Double) -> Double {
        var r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * abs(x).squareRoot()
        r += (20.0 * sin(6.0 * x * Double.pi) + 20.0 * sin(2.0 * x * Double.pi)) * 2.0 / 3.0
        r += (20.0 * sin(y * Double.pi) + 40.0 * sin(y / 3.0 * Double.pi)) * 2.0 / 3.0
        r += (160.0 * sin(y / 12.0 * Double.pi) + 320.0 * sin(y * Double.pi / 30.0)) * 2.0 / 3.0
        return r
    }

    private static func longitudeShift(_ x: Double, _ y: Double) -> Double {
        var r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * abs(x).squareRoot()
        r += (20.0 * sin(6.0 * x * Double.pi) + 20.0 * sin(2.0 * x * Double.pi)) * 2.0 / 3.0
        r += (20.0 * sin(x * Double.pi) + 40.0 * sin(x / 3.0 * Double.pi)) * 2.0 / 3.0
        r += (150.0 * sin(x / 12.0 * Double.pi) + 300.0 * sin(x / 30.0 * Double.pi)) * 2.0 / 3.0
        return r
    }
}
