/// Where an incident (or a case) is: WGS-84 position, grid, address, and how the position was found.
public struct Location: Sendable, Hashable, Codable {
    /// WGS-84 latitude in decimal degrees, or `nil` when the place could not be located.
    public var lat: Double?
    /// WGS-84 longitude in decimal degrees, or `nil` when the place could not be located.
    public var lon: Double?
    /// The 15-digit third-level grid code, or `nil` when no grid could be found.
    public var gridCode: String?
    /// The address text as reported (or as matched), or `nil` when the source gave none.
    public var address: String?
    /// How the position and grid were obtained.
    public var positioning: Positioning

    /// A location; `lat`/`lon` must be both set or both `nil`.
    public init(lat: Double?, lon: Double?, gridCode: String?, address: String?, positioning: Positioning) {
        self.lat = lat
        self.lon = lon
        self.gridCode = gridCode
        self.address = address
        self.positioning = positioning
    }

    /// A location that could not be placed at all.
    public static func unknown(address: String?) -> Location {
        Location(lat: nil, lon: nil, gridCode: nil, address: address, positioning: Positioning(method: .none))
    }

    enum CodingKeys: String, CodingKey { case lat, lon, gridCode, address, positioning }

    /// Strict decoding: unknown keys, half a coordinate pair and malformed grid codes are errors.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lat = try c.decodeIfPresent(Double.self, forKey: .lat, in: -90...90)
        lon = try c.decodeIfPresent(Double.self, forKey: .lon, in: -180...180)
        guard (lat == nil) == (lon == nil) else {
            throw DecodingError.dataCorruptedError(forKey: .lat, in: c, debugDescription: "lat and lon must be both set or both null")
        }
        gridCode = try c.decodeIfPresent(String.self, forKey: .gridCode, satisfying: FieldCheck.isGridCode, "a 15-digit grid code")
        address = try c.decodeIfPresent(String.self, forKey: .address)
        positioning = try c.decode(Positioning.self, forKey: .positioning)
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeNullable(lat, forKey: .lat)
        try c.encodeNullable(lon, forKey: .lon)
        try c.encodeNullable(gridCode, forKey: .gridCode)
        try c.encodeNullable(address, forKey: .address)
        try c.encode(positioning, forKey: .positioning)
    }
}

/// How a location's position and grid were obtained.
public struct Positioning: Sendable, Hashable, Codable {
    /// The method that placed the report.
    public enum Method: String, Sendable, Hashable, Codable, CaseIterable {
        /// A device position (phone or PAD GPS), converted to WGS-84 when needed.
        case gps
        /// The address text matched against the door-plate gazetteer.
        case addressMatch
        /// Only the reporting grid worker's own grid is known (the problem is usually, not always, there).
        case workerGrid
        /// Nothing could place the report.
        case none
    }

    /// How precisely an address matched the gazetteer.
    public enum Precision: String, Sendable, Hashable, Codable, CaseIterable {
        /// A door plate (road and number).
        case doorPlate
        /// A named place: estate building, shop, factory, service centre.
        case poi
        /// A road intersection or a described spot near one.
        case intersection
        /// Only the road (position along it estimated or its middle).
        case road
        /// Only the community.
        case community
        /// Only the town or street office.
        case town
    }

    /// A coordinate reference system a source reported in.
    public enum CoordinateSystem: String, Sendable, Hashable, Codable, CaseIterable {
        /// WGS-84 (also CGCS2000, treated as WGS-84).
        case wgs84
        /// GCJ-02, the Chinese map datum (about 0.5 km off around Jiangyin).
        case gcj02
        /// BD-09, Baidu's datum (about 1.4 km off around Jiangyin).
        case bd09
    }

    /// The method.
    public var method: Method
    /// For ``Method/addressMatch``: how precise the match was; `nil` otherwise.
    public var precision: Precision?
    /// For ``Method/addressMatch``: the matcher's confidence, 0…1; `nil` otherwise.
    public var confidence: Double?
    /// For ``Method/gps``: the datum the source reported in (the written position is always WGS-84).
    public var reportedCoordinateSystem: CoordinateSystem?
    /// For an ambiguous ``Method/addressMatch``: the other grids the address could be in (several
    /// places of one name, a road in several towns), at most ``maxCandidates``; empty when it is not ambiguous.
    public var candidates: [String]
    /// For an ``Method/addressMatch`` of an area rather than a point: how far the spot may lie from the
    /// position, in metres (the buildings of an estate behind one door plate, a road's stretch in a grid);
    /// `nil` for a point.
    public var extentMeters: Double?

    /// At most this many other grids are named.
    public static let maxCandidates = 5

    /// A positioning record.
    public init(method: Method, precision: Precision? = nil, confidence: Double? = nil, reportedCoordinateSystem: CoordinateSystem? = nil,
                candidates: [String] = [], extentMeters: Double? = nil) {
        self.method = method
        self.extentMeters = extentMeters
        self.precision = precision
        self.confidence = confidence
        self.reportedCoordinateSystem = reportedCoordinateSystem
        self.candidates = Array(candidates.prefix(Self.maxCandidates))
    }

    enum CodingKeys: String, CodingKey { case method, precision, confidence, reportedCoordinateSystem, candidates, extentMeters }

    /// Strict decoding: unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        method = try c.decode(Method.self, forKey: .method)
        precision = try c.decodeIfPresent(Precision.self, forKey: .precision)
        confidence = try c.decodeIfPresent(Double.self, forKey: .confidence, in: 0...1)
        reportedCoordinateSystem = try c.decodeIfPresent(CoordinateSystem.self, forKey: .reportedCoordinateSystem)
        candidates = try c.decodeIfPresent([String].self, forKey: .candidates) ?? []
        extentMeters = try c.decodeIfPresent(Double.self, forKey: .extentMeters, in: 0...100_000)
        guard candidates.count <= Self.maxCandidates, candidates.allSatisfy(FieldCheck.isGridCode) else {
            throw DecodingError.dataCorruptedError(forKey: .candidates, in: c, debugDescription: "candidates are at most \(Self.maxCandidates) 15-digit grid codes")
        }
    }

    /// Writes every field, `null` where absent.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(method, forKey: .method)
        try c.encodeNullable(precision, forKey: .precision)
        try c.encodeNullable(confidence, forKey: .confidence)
        try c.encodeNullable(reportedCoordinateSystem, forKey: .reportedCoordinateSystem)
        if !candidates.isEmpty { try c.encode(candidates, forKey: .candidates) }
        if let extentMeters { try c.encode(extentMeters, forKey: .extentMeters) }
    }
}

/// Who reported an incident. Name and phone are personal data and encode masked by default.
public struct Reporter: Sendable, Hashable, Codable {
    /// The kind of reporter.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// A citizen (hotline caller, app user).
        case citizen
        /// A grid worker (网格员) of the 综治e通 app.
        case gridWorker
        /// An enforcement officer or squad.
        case officer
    }

    /// The kind of reporter.
    public var kind: Kind
    /// The source's id of the reporter (app user id, worker id), or `nil`.
    public var id: String?
    /// The name (or app nickname), masked unless disclosed; `nil` when unknown or anonymous.
    public var name: PersonName?
    /// The phone number, masked unless disclosed; `nil` when unknown.
    public var phone: PhoneNumber?
    /// The reporter asked to stay anonymous (12345 `NMBZ`): never disclose name or phone to anyone.
    public var anonymous: Bool

    /// A reporter. For an anonymous reporter only the masked name and phone are kept: the clear values
    /// are dropped here, so no later stage can disclose them.
    public init(kind: Kind, id: String? = nil, name: PersonName? = nil, phone: PhoneNumber? = nil, anonymous: Bool = false) {
        self.kind = kind
        self.id = id
        self.name = anonymous ? name?.maskedOnly : name
        self.phone = anonymous ? phone?.maskedOnly : phone
        self.anonymous = anonymous
    }

    enum CodingKeys: String, CodingKey { case kind, id, name, phone, anonymous }

    /// Strict decoding: unknown keys are an error.
    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        id = try c.decodeIfPresent(String.self, forKey: .id)
        name = try c.decodeIfPresent(PersonName.self, forKey: .name)
        phone = try c.decodeIfPresent(PhoneNumber.self, forKey: .phone)
        anonymous = try c.decode(Bool.self, forKey: .anonymous)
        if anonymous {
            name = name?.maskedOnly
            phone = phone?.maskedOnly
        }
    }

    /// Writes every field, `null` where absent; an anonymous reporter's name and phone stay masked
    /// even under disclosure.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encodeNullable(id, forKey: .id)
        if anonymous {
            try c.encodeNullable(name.map { $0.masked }, forKey: .name)
            try c.encodeNullable(phone.map { $0.masked }, forKey: .phone)
        } else {
            try c.encodeNullable(name, forKey: .name)
            try c.encodeNullable(phone, forKey: .phone)
        }
        try c.encode(anonymous, forKey: .anonymous)
    }
}
