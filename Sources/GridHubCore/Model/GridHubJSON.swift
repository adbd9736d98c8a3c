import Foundation

/// The one JSON configuration of the hub: sorted keys (byte-identical re-encodings), RFC 3339 times
/// written in China Standard Time (`+08:00`) with millisecond precision, strict decoding.
///
/// Every value on a GridHub topic is encoded by ``encoder(disclosingPersonalData:)`` and decoded by
/// ``decoder()``. Encoding the same value twice gives the same bytes, which the router relies on when
/// it re-sends a record.
public enum GridHubJSON {
    /// A new encoder: sorted keys, no escaped slashes, RFC 3339 times at `+08:00`.
    ///
    /// - Parameter disclosure: pass ``PersonalDataDisclosure/reveal`` only for a record that goes to a
    ///   department that needs the personal data to do its work; otherwise personal data is masked.
    public static func encoder(disclosingPersonalData disclosure: PersonalDataDisclosure = .mask) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339.format(date))
        }
        encoder.nonConformingFloatEncodingStrategy = .throw
        encoder.userInfo[.personalDataDisclosure] = disclosure
        return encoder
    }

    /// A new decoder that accepts any RFC 3339 time with an offset (`Z` or `±hh:mm`), with or without a fraction.
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = RFC3339.parse(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "'\(text)' is not an RFC 3339 time with an offset")
            }
            return date
        }
        return decoder
    }
}

/// RFC 3339 times as the hub writes and reads them.
///
/// Writing: always the China Standard Time offset `+08:00` (Asia/Shanghai has had no daylight saving
/// since 1991), milliseconds only when the time has a non-zero millisecond part, e.g.
/// `2026-11-27T09:15:32+08:00` or `2026-11-27T09:15:32.250+08:00`. Sub-millisecond parts are dropped,
/// so round trips are exact for times with whole milliseconds (see ``Foundation/Date/wholeMilliseconds``).
/// Reading: any offset or `Z`, 0-9 fraction digits; a time without an offset is refused.
public enum RFC3339 {
    /// The offset the hub writes: China Standard Time, UTC+8.
    public static let chinaStandardTimeOffsetSeconds = 8 * 3600

    /// Formats `date` as `yyyy-MM-ddTHH:mm:ss[.SSS]+08:00`.
    public static func format(_ date: Date) -> String {
        format(millisecondsSince1970: date.millisecondsSince1970, offsetSeconds: chinaStandardTimeOffsetSeconds)
    }

    /// Formats an instant given in milliseconds since 1970 at a fixed UTC offset (a multiple of a minute).
    public static func format(millisecondsSince1970 ms: Int64, offsetSeconds: Int) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        write(millisecondsSince1970: ms, offsetSeconds: offsetSeconds, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `date` as ``format(_:)`` writes it, as UTF-8 bytes (a record's `ce_time` header).
    public static func bytes(_ date: Date) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        write(date, to: &bytes)
        return bytes
    }

    /// Appends `date` as ``format(_:)`` writes it to `bytes` (this runs for every time in every outgoing
    /// record, so no text is made on the way).
    public static func write(_ date: Date, to bytes: inout [UInt8]) {
        write(millisecondsSince1970: date.millisecondsSince1970, offsetSeconds: chinaStandardTimeOffsetSeconds, to: &bytes)
    }

    /// Appends the instant at a fixed UTC offset as ``format(millisecondsSince1970:offsetSeconds:)`` writes it.
    public static func write(millisecondsSince1970 ms: Int64, offsetSeconds: Int, to bytes: inout [UInt8]) {
        let local = ms + Int64(offsetSeconds) * 1000
        let millis = Int(((local % 1000) + 1000) % 1000)
        let seconds = (local - Int64(millis)) / 1000
        let days = Int(floorDiv(seconds, 86_400))
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        let (year, month, day) = civilDate(daysSince1970: days)
        let minutes = abs(offsetSeconds) / 60
        /// `value` in decimal, zero-padded to `width` digits (more when it needs them).
        func put(_ value: Int, _ width: Int) {
            if value < 0 {
                bytes.append(UInt8(ascii: "-"))
                put(-value, max(1, width - 1))
                return
            }
            var divisor = 1, digits = 1
            while digits < width || value / divisor >= 10 { divisor *= 10; digits += 1 }
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        put(year, 4); bytes.append(UInt8(ascii: "-")); put(month, 2); bytes.append(UInt8(ascii: "-")); put(day, 2)
        bytes.append(UInt8(ascii: "T"))
        put(secondOfDay / 3600, 2); bytes.append(UInt8(ascii: ":")); put(secondOfDay / 60 % 60, 2); bytes.append(UInt8(ascii: ":"))
        put(secondOfDay % 60, 2)
        if millis != 0 { bytes.append(UInt8(ascii: ".")); put(millis, 3) }
        if offsetSeconds == 0 {
            bytes.append(UInt8(ascii: "Z"))
        } else {
            bytes.append(offsetSeconds < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            put(minutes / 60, 2); bytes.append(UInt8(ascii: ":")); put(minutes % 60, 2)
        }
    }

    /// Parses an RFC 3339 date-time with an offset; `nil` for anything else (including a missing offset).
    public static func parse(_ text: String) -> Date? {
        guard let ms = parseMilliseconds(text) else { return nil }
        return Date(millisecondsSince1970: ms)
    }

    /// Parses an RFC 3339 date-time with an offset into milliseconds since 1970 (fraction truncated to ms).
    public static func parseMilliseconds(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        var i = 0
        func number(_ width: Int) -> Int? {
            guard i + width <= b.count else { return nil }
            var value = 0
            for k in i..<(i + width) {
                guard b[k] >= 0x30, b[k] <= 0x39 else { return nil }
                value = value * 10 + Int(b[k] - 0x30)
            }
            i += width
            return value
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect(UInt8(ascii: "-")), let month = number(2), expect(UInt8(ascii: "-")),
              let day = number(2) else { return nil }
        guard i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        guard let hour = number(2), expect(UInt8(ascii: ":")), let minute = number(2), expect(UInt8(ascii: ":")),
              let second = number(2) else { return nil }
        var millis = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if digits < 3 { millis = millis * 10 + Int(b[i] - 0x30) }
                digits += 1
                i += 1
            }
            guard (1...9).contains(digits) else { return nil }
            if digits < 3 { for _ in digits..<3 { millis *= 10 } }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let negative = b[i] == UInt8(ascii: "-")
            i += 1
            guard let oh = number(2), expect(UInt8(ascii: ":")), let om = number(2), oh < 24, om < 60 else { return nil }
            offset = (oh * 60 + om) * 60 * (negative ? -1 : 1)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
              hour < 24, minute < 60, second < 61 else { return nil }
        let days = Int64(daysSince1970(year: year, month: month, day: day))
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offset)
        return seconds * 1000 + Int64(millis)
    }

    // MARK: Civil calendar arithmetic (proleptic Gregorian)

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days from 1970-01-01 to the given date, counting with 400-year eras that start on 1 March.
    static func daysSince1970(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of ``daysSince1970(year:month:day:)``.
    static func civilDate(daysSince1970 days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }
}

extension Date {
    /// Milliseconds since 1970-01-01T00:00:00Z, rounded down.
    public var millisecondsSince1970: Int64 {
        Int64((timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// The instant `ms` milliseconds after 1970-01-01T00:00:00Z.
    public init(millisecondsSince1970 ms: Int64) {
        self.init(timeIntervalSince1970: Double(ms) / 1000)
    }

    /// This time with the sub-millisecond part dropped: the precision at which the hub's JSON round-trips.
    public var wholeMilliseconds: Date { Date(millisecondsSince1970: millisecondsSince1970) }
}

// MARK: - Strict decoding

/// A coding key for any string, used to see every key of a JSON object.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

extension Decoder {
    /// Throws `DecodingError.dataCorrupted` when the current JSON object has a key that `Keys` does not
    /// name: the hub's content model is closed, as in its JSON Schemas (`additionalProperties: false`).
    func rejectUnknownKeys<Keys: CodingKey>(_ keys: Keys.Type) throws {
        let present = try self.container(keyedBy: AnyCodingKey.self).allKeys
        // The common case, every key known, without building lists.
        guard present.contains(where: { Keys(stringValue: $0.stringValue) == nil }) else { return }
        let unknown = present.map(\.stringValue).filter { Keys(stringValue: $0) == nil }.sorted()
        throw DecodingError.dataCorrupted(DecodingError.Context(
            codingPath: codingPath,
            debugDescription: "unknown field\(unknown.count == 1 ? "" : "s") \(unknown.map { "'\($0)'" }.joined(separator: ", ")) (the schema is closed)"))
    }
}

extension KeyedEncodingContainer {
    /// Encodes an optional as the value or as an explicit JSON `null`, so every field is always present.
    mutating func encodeNullable<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
}
