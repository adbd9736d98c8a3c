import Foundation

/// Working days in Jiangyin (China Standard Time, UTC+8, no daylight saving): Monday to Friday, less
/// the public holidays, plus the weekend days worked in exchange for them (调休). The holidays and the
/// exchanged days are data (`calendar` in `Deploy/routing.json`), published by the State Council each
/// year; a year the data does not cover counts weekends only (the router warns at start).
public struct WorkingCalendar: Sendable, Hashable {
    /// A calendar day in China Standard Time, as days since 1970-01-01.
    public struct Day: Sendable, Hashable, Comparable, CustomStringConvertible {
        public var index: Int

        public init(index: Int) { self.index = index }

        /// The day of `date` in China Standard Time.
        public init(_ date: Date) {
            index = Int(((date.timeIntervalSince1970 + WorkingCalendar.utcOffset) / 86_400).rounded(.down))
        }

        /// `YYYY-MM-DD`; nil when not a valid date.
        public init?(iso text: String) {
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
                  let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m), d >= 1,
                  d <= RFC3339.daysInMonth(year: y, month: m) else { return nil }
            index = RFC3339.daysSince1970(year: y, month: m, day: d)
        }

        /// The year, month and day.
        public var civil: (year: Int, month: Int, day: Int) { RFC3339.civilDate(daysSince1970: index) }

        /// Monday 0 … Sunday 6 (1970-01-01 was a Thursday).
        public var weekday: Int { ((index % 7) + 7 + 3) % 7 }

        /// The first instant of the day.
        public var start: Date { Date(timeIntervalSince1970: Double(index) * 86_400 - WorkingCalendar.utcOffset) }

        public var description: String {
            let (y, m, d) = civil
            return String(format: "%04d-%02d-%02d", y, m, d)
        }

        public static func < (a: Day, b: Day) -> Bool { a.index < b.index }
    }

    /// China Standard Time.
    public static let utcOffset: TimeInterval = 8 * 3_600

    /// Weekdays that are holidays.
    public let holidays: Set<Day>
    /// Weekend days that are worked (调休).
    public let workdays: Set<Day>
    /// The years the data covers (the years of its days).
    public let years: Set<Int>

    /// Weekends only.
    public static let weekendsOnly = WorkingCalendar(holidays: [], workdays: [])

    public init(holidays: Set<Day>, workdays: Set<Day>) {
        self.holidays = holidays
        self.workdays = workdays
        years = Set((holidays.union(workdays)).map { $0.civil.year })
    }

    /// Whether `day` is a working day.
    public func isWorkingDay(_ day: Day) -> Bool {
        if workdays.contains(day) { return true }
        if holidays.contains(day) { return false }
        return day.weekday < 5
    }

    /// The end of the `days`-th working day after the day of `date` (the day itself does not count;
    /// 0 days: the end of that day). A call on Friday with 1 working day is due at the end of Monday.
    public func deadline(workingDays days: Int, after date: Date) -> Date {
        var day = Day(date)
        var left = max(0, days)
        while left > 0 {
            day.index += 1
            if isWorkingDay(day) { left -= 1 }
        }
        return Day(index: day.index + 1).start
    }

    /// Whether the data says anything about the year of `date` (else only weekends count).
    public func covers(_ date: Date) -> Bool { years.contains(Day(date).civil.year) }
}
