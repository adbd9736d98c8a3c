import Foundation

/// Helpers shared by the source translations: local times, address placement, validation problems.
public enum SourceSupport {
    /// The JSON text of one element of a parsed body (an event, an item) for its dead letter. Any
    /// element a parser produced can be written, including a bare number or string (Foundation's
    /// writer stops the process on a top-level value that is not an array or object unless fragments
    /// are allowed, which is how `{"events":[1]}` once crashed the 综治e通 adapter).
    public static func jsonBytes(of element: Any, sortedKeys: Bool = true) -> [UInt8] {
        guard JSONSerialization.isValidJSONObject([element]) else { return Array("\(element)".utf8) }
        var options: JSONSerialization.WritingOptions = [.fragmentsAllowed, .withoutEscapingSlashes]
        if sortedKeys { options.insert(.sortedKeys) }
        return (try? JSONSerialization.data(withJSONObject: element, options: options)).map { Array($0) } ?? []
    }

    /// Parses the sources' local time `yyyy-MM-dd HH:mm:ss` (Asia/Shanghai, no zone; no daylight saving).
    public static func parseLocalTime(_ text: String) -> Date? {
        let t = text.trimmingWhitespace()
        var bytes = Array(t.utf8)
        guard bytes.count == 19, bytes[10] == UInt8(ascii: " ") else { return nil }
        bytes[10] = UInt8(ascii: "T")
        return RFC3339.parse(String(decoding: bytes + Array("+08:00".utf8), as: UTF8.self))
    }

    /// Formats a time as the sources' local `yyyy-MM-dd HH:mm:ss` (Asia/Shanghai).
    public static func formatLocalTime(_ date: Date) -> String {
        let seconds = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
        var bytes = Array(RFC3339.format(seconds).utf8.prefix(19))
        if bytes.count == 19 { bytes[10] = UInt8(ascii: " ") }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The location of an address text placed by the gazetteer (or unplaced).
    public static func location(address: String, match: AddressMatch) -> Location {
        let precision: Positioning.Precision?
        switch match.precision {
        case .doorPlate: precision = .doorPlate
        case .poi: precision = .poi
        case .road: precision = match.method == .intersection ? .intersection : .road
        case .town: precision = match.method == .community ? .community : .town
        case .none: precision = nil
        }
        guard let precision else { return .unknown(address: address.isEmpty ? nil : address) }
        let extent = match.spreadMeters > 0 ? match.spreadMeters.rounded() : nil
        return Location(
            lat: match.coordinate?.lat, lon: match.coordinate?.lon, gridCode: match.gridCode, address: address,
            positioning: Positioning(method: .addressMatch, precision: precision, confidence: min(1, max(0, match.confidence)),
                                     candidates: match.candidates, extentMeters: extent))
    }

    /// A grid worker's report without a device fix. The worker's grid is where the problem usually is, not
    /// always; when the description names a door plate or a place (`澄虞路1238号门口…`, `星河一品7幢…`) that
    /// the gazetteer finds without doubt in that grid or a grid next to it, the report is placed there, as an
    /// address match of the description (confidence lowered a tenth: the text was not written as an address).
    /// Else, when it names a road that crosses the worker's grid, the report is placed on that road's stretch
    /// in the grid (precision `road`, the stretch's extent). Otherwise the location is the worker's grid
    /// alone (`workerGrid`; no grid for a code not in the city).
    public static func location(workerGrid: String, description: String, reference: ReferenceData) -> Location {
        let grid = Location(lat: nil, lon: nil, gridCode: reference.grid(code: workerGrid) != nil ? workerGrid : nil, address: nil,
                            positioning: Positioning(method: .workerGrid))
        guard grid.gridCode != nil else { return grid }
        let match = reference.resolve(address: description)
        guard match.precision == .doorPlate || match.precision == .poi, match.candidates.isEmpty, !match.ambiguousTown,
              match.coordinate != nil, let found = match.gridCode,
              found == workerGrid || reference.neighbours(of: workerGrid).contains(where: { $0.gridCode == found }) else {
            guard let stretch = reference.gazetteer.roadStretch(in: description, gridCode: workerGrid) else { return grid }
            return Location(lat: stretch.centre.lat, lon: stretch.centre.lon, gridCode: workerGrid, address: nil,
                            positioning: Positioning(method: .addressMatch, precision: .road, confidence: 0.5, extentMeters: stretch.extentMeters.rounded()))
        }
        // As an address match, without an address (the description is not one) and a tenth less sure.
        var placed = location(address: "", match: match)
        placed.address = nil
        placed.positioning.confidence = min(1, max(0, match.confidence * 0.9))
        return placed
    }

    /// The location of a device position already converted to WGS-84.
    public static func location(gps point: Coordinate, reported system: Positioning.CoordinateSystem, address: String?, reference: ReferenceData) -> Location {
        Location(lat: point.lat, lon: point.lon, gridCode: reference.gridCode(at: point), address: address,
                 positioning: Positioning(method: .gps, reportedCoordinateSystem: system))
    }
}

/// Why a source record cannot become an incident: the sentence for the dead letter and the answer.
public struct SourceRecordProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// A readable sentence (no personal data).
    public var reason: String
    /// A short, bounded reason code for metrics (`malformed`, `missingField`, `invalidField`, `encoding`, `tooLarge`).
    public var code: String
    public init(_ code: String, _ reason: String) {
        self.code = code
        self.reason = reason
    }
    public var description: String { reason }

    static func missing(_ field: String) -> SourceRecordProblem { SourceRecordProblem("missingField", "required field \(field) is missing or empty") }
    static func invalid(_ field: String, _ why: String) -> SourceRecordProblem { SourceRecordProblem("invalidField", "field \(field) \(why)") }
}
