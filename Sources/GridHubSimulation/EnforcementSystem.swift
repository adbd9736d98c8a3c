import Foundation
import GridHubCore
import GridHubRuntime
import Synchronization

/// A double of the enforcement case system, from its specification: it exports cases found on
/// patrol as GBK CSV files (RFC 4180 quoting, CRLF, a header row) into the hub's inbox, each followed
/// by its empty `.ok` marker once complete, and imports the status files the hub writes to the outbox
/// (only complete ones: those with their marker).
public final class EnforcementSystem: Sendable {
    public let inbox: URL
    public let outbox: URL
    private let state = Mutex(State())

    private struct State {
        var fileSequence = 0
        /// Status files imported (and deleted), with when: a batch the adapter writes again after a
        /// crash (same name) is recognised for an hour.
        var imported: [String: Date] = [:]
        var statusLines = 0
        /// Exports written with a broken row that the hub had not taken from the inbox when last looked.
        var brokenExports: Set<String> = []
    }

    public init(inbox: URL, outbox: URL) throws {
        self.inbox = inbox
        self.outbox = outbox
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outbox, withIntermediateDirectories: true)
    }

    /// A case row: the export's 14 columns.
    public struct Row: Sendable {
        public var fields: [String]
        public init(fields: [String]) { self.fields = fields }
    }

    /// A case found on patrol at `place`, for cause `cause` (an 案由 of the system's list).
    public static func patrolCase(id: String, cause: String, place: GazetteerEntry, at: Date, withPosition: Bool, squad: String) -> Row {
        let time = SourceSupport.formatLocalTime(at)
        return Row(fields: [
            id, "1", cause, place.fullAddress,
            withPosition ? String(format: "%.6f", place.coordinate.lon) : "", withPosition ? String(format: "%.6f", place.coordinate.lat) : "",
            "王某", time, "巡查发现", "", squad, "立案", "", time,
        ])
    }

    /// Writes one export file (GBK) with `rows`, then its marker. A row given as `broken` has a
    /// wrong column count, as real exports sometimes do.
    @discardableResult
    public func export(_ rows: [Row], broken: Bool = false) throws -> String {
        let sequence = state.withLock { s -> Int in s.fileSequence += 1; return s.fileSequence }
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "Asia/Shanghai")!, from: Date())
        let name = String(format: "ZFAJ_%04d%02d%02d%02d%02d%02d%03d.csv", c.year ?? 2026, c.month ?? 1, c.day ?? 1, c.hour ?? 0, c.minute ?? 0, c.second ?? 0, sequence % 1000)
        var text = Enforcement.csvLine(Enforcement.columns)
        for row in rows { text += Enforcement.csvLine(row.fields) }
        if broken { text += Enforcement.csvLine(["ZF-BROKEN-\(sequence)", "1", "违章搭建"]) }
        guard let bytes = TextEncoding.gbk.encode(text) else { throw SimulationError("the export is not representable in GBK") }
        let file = inbox.appendingPathComponent(name)
        try Data(bytes).write(to: file)
        _ = FileManager.default.createFile(atPath: file.path + ".ok", contents: Data())
        if broken { state.withLock { _ = $0.brokenExports.insert(name) } }
        return name
    }

    /// The exports with a broken row still in the inbox, unread by the hub (one written just before
    /// the hub stopped is read at its next start). Forgets those the hub has taken.
    public func unreadBrokenExports() -> Int {
        let present = Set((try? FileManager.default.contentsOfDirectory(atPath: inbox.path)) ?? [])
        return state.withLock { s in
            s.brokenExports.formIntersection(present)
            return s.brokenExports.count
        }
    }

    /// Reads the complete status files in the outbox not read before; returns how many lines they held.
    @discardableResult
    public func importStatus() -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outbox.path)) ?? []
        var lines = 0
        for marker in names where marker.hasSuffix(".csv.ok") {
            let name = String(marker.dropLast(3))
            if state.withLock({ $0.imported[name] != nil }) {
                // Written again after a crash of the adapter: already imported.
                try? FileManager.default.removeItem(at: outbox.appendingPathComponent(name))
                try? FileManager.default.removeItem(at: outbox.appendingPathComponent(marker))
                continue
            }
            guard let data = FileManager.default.contents(atPath: outbox.appendingPathComponent(name).path),
                  let text = TextEncoding.gbk.decode(data), let table = try? CSVTable(parsing: text) else { continue }
            lines += table.rows.count
            state.withLock { s in
                s.imported[name] = Date()
                s.statusLines += table.rows.count
            }
            // Imported files are taken away, as the real system does, so the outbox does not fill up.
            try? FileManager.default.removeItem(at: outbox.appendingPathComponent(name))
            try? FileManager.default.removeItem(at: outbox.appendingPathComponent(marker))
        }
        let horizon = Date().addingTimeInterval(-3_600)
        state.withLock { s in s.imported = s.imported.filter { $0.value > horizon } }
        return lines
    }

    /// Status lines imported so far.
    public var statusLinesImported: Int { state.withLock { $0.statusLines } }
}

/// The simulation could not do what it was asked.
public struct SimulationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
