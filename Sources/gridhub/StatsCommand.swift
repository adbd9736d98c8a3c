import ArgumentParser
import Foundation
import GridHubCore
import GridHubRouter
import GridHubRuntime
import Logging

/// `gridhub stats`: the assessment figures (考核: 响应率, 办结率, 满意率 …) from the router's database.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Assessment figures from the router's database (GRIDHUB_DATABASE_URL): received, dispatched, 响应率, 办结率, 满意率, overdue, returned, reopened, time to resolve.",
        discussion: "Cases whose first report was made in [--from, --to), grouped by --by. Definitions: docs/assessment.md."
    )

    @Option(help: "Start of the period: RFC 3339 or YYYY-MM-DD (China Standard Time); default: 30 days ago.") var from: String?
    @Option(help: "End of the period (excluded): RFC 3339 or YYYY-MM-DD; default: now, or just after the last case when the hub's clock runs ahead of this machine's (a gridhub dev run), with a note.") var to: String?
    @Option(help: "Group by department, town, community, grid, item or source.") var by: String = "department"
    @Flag(help: "One JSON object: the period, the grouping and the rows.") var json = false
    @Flag(help: "CSV with a header row.") var csv = false
    @Option(help: "Folder of the reference data (names of departments, towns, grids, items).") var referenceDir: String?

    func validate() throws {
        guard Assessment.Grouping(rawValue: by) != nil else { throw ValidationError("--by must be one of \(Assessment.Grouping.allCases.map(\.rawValue).joined(separator: ", "))") }
        guard !(json && csv) else { throw ValidationError("--json and --csv exclude each other") }
        for text in [from, to].compactMap({ $0 }) where Self.time(text) == nil {
            throw ValidationError("\(text) is not a time: use RFC 3339 (2026-12-01T00:00:00+08:00) or a day (2026-12-01)")
        }
    }

    static func time(_ text: String) -> Date? {
        RFC3339.parse(text) ?? WorkingCalendar.Day(iso: text)?.start
    }

    func run() async throws {
        Runtime.bootstrapLogging()
        let logger = Logger(label: "gridhub.stats")
        let url = try DaemonSupport.secret(.databaseURL)
        let reference = try ReferenceLocation.load(from: try ReferenceLocation.directory(explicit: referenceDir))
        let now = Date()
        let start = from.flatMap(Self.time) ?? now.addingTimeInterval(-30 * 86_400)
        var end = to.flatMap(Self.time) ?? now
        // Without --to, cases first reported after this machine's now are counted too, and said so: the
        // hub's clock runs ahead of it (a `gridhub dev` run's simulated time, a source's clock set wrong).
        if to == nil, case let (ahead, last?) = try await RouterStore.firstReports(databaseURL: url, from: now, logger: logger), ahead > 0 {
            end = Date(millisecondsSince1970: last.millisecondsSince1970 + 1)
            FileHandle.standardError.write(Data(("note: \(ahead) case(s) first reported after this machine's time (\(RFC3339.format(now))), the last at \(RFC3339.format(last)): "
                + "the hub's clock runs ahead of it (a gridhub dev run's simulated time?). They are counted: the period ends at \(RFC3339.format(end)). Give --to to end it elsewhere.\n").utf8))
        }
        let cases = try await RouterStore.cases(databaseURL: url, reportedFrom: start, to: end, logger: logger)
        let grouping = Assessment.Grouping(rawValue: by)!
        let rows = Assessment(reference: reference).rows(cases, by: grouping, now: now)
        if json {
            struct Output: Encodable { var from: Date, to: Date, by: String, cases: Int, rows: [Assessment.Row] }
            let data = try GridHubJSON.encoder().encode(Output(from: start, to: end, by: by, cases: cases.count, rows: rows))
            StandardOutput.writeLine(String(decoding: data, as: UTF8.self))
            return
        }
        func percent(_ v: Double?) -> String { v.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
        func hours(_ v: Double?) -> String { v.map { String(format: "%.1f", $0) } ?? "-" }
        let header = ["group", "name", "cases", "reports", "dispatched", "responded_in_time", "response_rate", "resolved_in_time", "resolution_rate",
                      "surveys", "satisfaction_rate", "overdue", "returned", "reopened", "median_hours_to_resolve", "p90_hours_to_resolve"]
        let table = rows.map { r in
            [r.group, r.name, "\(r.cases)", "\(r.reports)", "\(r.dispatched)", "\(r.respondedInTime)", percent(r.responseRate), "\(r.resolvedInTime)",
             percent(r.resolutionRate), "\(r.surveys)", percent(r.satisfactionRate), "\(r.overdue)", "\(r.returned)", "\(r.reopened)",
             hours(r.medianHoursToResolve), hours(r.p90HoursToResolve)]
        }
        if csv {
            StandardOutput.writeLine(header.joined(separator: ","))
            for row in table { StandardOutput.writeLine(row.map { $0.contains(",") || $0.contains("\"") ? "\"\($0.replacingOccurrences(of: "\"", with: "\"\""))\"" : $0 }.joined(separator: ",")) }
            return
        }
        StandardOutput.writeLine("\(cases.count) cases first reported \(RFC3339.format(start)) – \(RFC3339.format(end)), by \(by)")
        // Columns as a terminal shows them: a department's name in 汉字 takes two per character.
        var widths = header.map(\.terminalColumns)
        for row in table { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.terminalColumns) } }
        func line(_ cells: [String]) -> String { cells.enumerated().map { $1.padded(toColumns: widths[$0]) }.joined(separator: "  ") }
        StandardOutput.writeLine(line(header))
        for row in table { StandardOutput.writeLine(line(row)) }
    }
}
