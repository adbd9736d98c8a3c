import Dispatch
import Foundation
import GridHubCore
import GridHubServices
import Logging
import ServiceLifecycle

/// Runs blocking file work on a dispatch queue, off the cooperative pool.
func onFileQueue<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .utility).async {
            do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
        }
    }
}

/// The enforcement adapter's inbound side: reads `inbox/ZFAJ_*.csv` once its `.ok` marker exists
/// (GBK, RFC 4180), puts every row on Kafka (incidents; feedback for cases on the hub's dispatches),
/// dead-letters broken rows with file name, line and reason, and moves the file out of the inbox
/// (`processed/` or `failed/` in the state directory) only after every row is durably handled. A
/// crash re-reads the file; the delivery ledger keeps rows from being stored twice.
public final class EnforcementInbox: Service, Sendable {
    public struct Configuration: Sendable {
        public var inbox: URL
        public var processed: URL
        public var failed: URL
        /// The enforcement department's code (`departments.csv`), for feedback and `ce_source`.
        public var department: String = "urban-mgmt"
        public var pollInterval: Duration = .milliseconds(500)
        public init(inbox: URL, stateDirectory: URL) {
            self.inbox = inbox
            processed = stateDirectory.appendingPathComponent("processed")
            failed = stateDirectory.appendingPathComponent("failed")
        }
    }

    static let stage = "adapter.enforcement"
    private let configuration: Configuration
    private let pipeline: IngestPipeline
    private let reference: ReferenceData
    private let logger: Logger
    private let files: MetricsCounter
    private let rows: MetricsCounter

    public init(configuration: Configuration, pipeline: IngestPipeline, reference: ReferenceData, metrics: DaemonMetrics, logger: Logger) {
        self.configuration = configuration
        self.pipeline = pipeline
        self.reference = reference
        self.logger = logger
        files = metrics.counter("enforcement", "files", help: "Export files fully handled.", labels: [("adapter", "enforcement")])
        rows = metrics.counter("enforcement", "rows", help: "Export rows handled (stored or dead-lettered).", labels: [("adapter", "enforcement")])
    }

    public func run() async throws {
        for dir in [configuration.processed, configuration.failed] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                for file in try await readyFiles() {
                    if Task.isShuttingDownGracefully { break }
                    try await handle(file)
                }
            } catch {
                logger.error("inbox scan failed", metadata: ["error": .string("\(error)")])
            }
            try? await Task.sleep(for: configuration.pollInterval)
        }
    }

    /// CSV files of the inbox whose `.ok` marker exists, oldest name first.
    func readyFiles() async throws -> [URL] {
        let inbox = configuration.inbox
        return try await onFileQueue {
            let names = try FileManager.default.contentsOfDirectory(atPath: inbox.path)
            let set = Set(names)
            return names.filter { $0.hasPrefix("ZFAJ_") && $0.hasSuffix(".csv") && set.contains($0 + ".ok") }.sorted().map { inbox.appendingPathComponent($0) }
        }
    }

    /// Handles one file completely, or leaves it in the inbox (Kafka busy) to be read again.
    func handle(_ file: URL) async throws {
        let name = file.lastPathComponent
        let bytes = try await onFileQueue { Array(try Data(contentsOf: file)) }
        let fileHeaders: [(key: String, value: [UInt8])] = [("enforcement.file", Array(name.utf8))]
        func deadLetter(_ original: [UInt8], line: Int?, _ problem: SourceRecordProblem, key: String? = nil) async -> Bool {
            var headers = fileHeaders
            if let line { headers.append(("enforcement.line", Array(String(line).utf8))) }
            let origin = line.map { "file \(name) line \($0)" } ?? "file \(name)"
            let outcome = await pipeline.deadLetter(original: original, headers: headers, key: key.map { Array($0.utf8) }, stage: Self.stage,
                                                    reason: "\(origin): \(problem.reason)", origin: origin, reasonCode: problem.code, once: true)
            if case .accepted = outcome { return true }
            return false
        }
        // A stray UTF-8 file (GBK text is practically never valid UTF-8 once it holds Chinese).
        let isUTF8 = String(validating: bytes, as: UTF8.self) != nil && bytes.contains { $0 >= 0x80 }
        guard !isUTF8, let text = TextEncoding.gbk.decode(bytes) else {
            let problem = SourceRecordProblem("encoding", isUTF8 ? "the file is UTF-8, not GBK" : "the file is not valid GBK")
            if await deadLetter(bytes, line: nil, problem) { try await move(file, to: configuration.failed) }
            return
        }
        let table: CSVTable
        do { table = try CSVTable(parsing: text) } catch {
            if await deadLetter(bytes, line: error.line, SourceRecordProblem("malformed", error.message)) { try await move(file, to: configuration.failed) }
            return
        }
        guard table.header == Enforcement.columns else {
            if await deadLetter(bytes, line: 1, SourceRecordProblem("columns", "the header is not the export's")) { try await move(file, to: configuration.failed) }
            return
        }
        let now = Date()
        var incidents: [Incident] = []
        var feedbacks: [(Feedback, Int)] = []
        for row in table.rows {
            do {
                let c = try Enforcement.Case(fields: row.fields, header: table.header)
                switch c.meaning(reference: reference, department: configuration.department, receivedAt: now) {
                case .incident(let incident): incidents.append(incident)
                case .feedback(let feedback): feedbacks.append((feedback, c.version))
                }
            } catch {
                let original = TextEncoding.gbk.encode(Enforcement.csvLine(row.fields)) ?? Array(Enforcement.csvLine(row.fields).utf8)
                guard await deadLetter(original, line: row.line, error, key: row.fields.first) else { return }
            }
            rows.increment()
        }
        for outcome in await pipeline.publish(incidents) {
            if case .busy(let reason) = outcome {
                logger.info("export file not stored; will retry", metadata: ["enforcement.file": .string(name), "kafka.error.reason": .string(reason)])
                return
            }
        }
        for (feedback, version) in feedbacks {
            if case .busy = await pipeline.publish(feedback: feedback, version: version, eventSource: CloudEvent.departmentSource(configuration.department)) { return }
        }
        try await move(file, to: configuration.processed)
        files.increment()
        logger.info("export file handled", metadata: ["enforcement.file": .string(name), "enforcement.rows": .stringConvertible(table.rows.count)])
    }

    /// Moves the CSV out of the inbox, then its marker (a crash in between leaves a marker without a CSV, which is ignored).
    private func move(_ file: URL, to dir: URL) async throws {
        try await onFileQueue {
            let target = dir.appendingPathComponent(file.lastPathComponent)
            try? FileManager.default.removeItem(at: target)
            try FileManager.default.moveItem(at: file, to: target)
            let marker = file.appendingPathExtension("ok")
            try? FileManager.default.removeItem(at: dir.appendingPathComponent(marker.lastPathComponent))
            try? FileManager.default.moveItem(at: marker, to: dir.appendingPathComponent(marker.lastPathComponent))
        }
    }
}

/// The enforcement adapter's way back: status changes and new dispatches as GBK status files in the
/// outbox, each appearing complete or not at all (write a temporary file, fsync, rename, then the
/// `.ok` marker). A batch's file name is derived from its first record, so a batch re-read after a
/// crash finds its file already written and does not write it twice.
public struct EnforcementOutboxSink: OutboundSink {
    public var outbox: URL
    public var reference: ReferenceData

    public init(outbox: URL, reference: ReferenceData) {
        self.outbox = outbox
        self.reference = reference
    }

    public func deliver(_ items: [OutboundItem]) async throws -> [OutboundResult] {
        var lines: [Enforcement.StatusLine] = []
        for item in items {
            switch item.payload {
            case .status(let s): lines.append(Enforcement.StatusLine(status: s, departmentName: s.department.flatMap { reference.department(code: $0)?.nameZh } ?? ""))
            case .dispatch(let d): lines.append(Enforcement.StatusLine(dispatch: d, departmentName: reference.department(code: d.department)?.nameZh ?? d.department))
            }
        }
        guard let first = items.first?.record, let bytes = TextEncoding.gbk.encode(Enforcement.statusCSV(lines)) else {
            return items.map { _ in .rejected(reason: "the status text cannot be written in GBK") }
        }
        let stamp = SourceSupport.formatLocalTime(Date(timeIntervalSince1970: Double(first.timestampMilliseconds ?? 0) / 1000))
            .replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "").replacingOccurrences(of: " ", with: "")
        var hasher = SHA256()
        hasher.update(Array("\(first.topic)/\(first.partition)/\(first.offset)".utf8))
        let seq = hasher.finalize().prefix(4).hexString
        let name = "GRIDHUB_\(stamp)_\(seq).csv"
        let outbox = self.outbox
        // A full disk or a missing mount is transient: retry until it works (or the daemon stops).
        var attempt = 0
        while true {
            do {
                try await Self.writeFile(bytes, name: name, outbox: outbox)
                return items.map { _ in .delivered }
            } catch {
                try await Task.sleep(for: Backoff(initial: .milliseconds(500), maximum: .seconds(30)).delay(attempt: attempt))
                attempt += 1
            }
        }
    }

    static func writeFile(_ bytes: [UInt8], name: String, outbox: URL) async throws {
        try await onFileQueue {
            let final = outbox.appendingPathComponent(name)
            let marker = outbox.appendingPathComponent(name + ".ok")
            if FileManager.default.fileExists(atPath: marker.path) { return }
            let temp = outbox.appendingPathComponent(".\(name).tmp")
            let fd = open(temp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw OutboxError(message: "cannot create \(temp.path): errno \(errno)") }
            defer { close(fd) }
            var written = 0
            while written < bytes.count {
                let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n < 0 { if errno == EINTR { continue }; throw OutboxError(message: "cannot write \(temp.path): errno \(errno)") }
                written += n
            }
            guard fsync(fd) == 0 else { throw OutboxError(message: "cannot fsync \(temp.path): errno \(errno)") }
            guard rename(temp.path, final.path) == 0 else { throw OutboxError(message: "cannot rename \(temp.path): errno \(errno)") }
            guard FileManager.default.createFile(atPath: marker.path, contents: Data()) else { throw OutboxError(message: "cannot create \(marker.path)") }
        }
    }
}

/// A status file could not be written.
struct OutboxError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
