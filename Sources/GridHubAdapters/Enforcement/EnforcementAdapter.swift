import Dispatch
import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging
import ServiceLifecycle
import Synchronization

/// The enforcement adapter's inbound side: reads `inbox/ZFAJ_*.csv` once its `.ok` marker exists
/// (GBK, RFC 4180), puts every row on Kafka (incidents; feedback for cases on the hub's dispatches),
/// dead-letters broken rows with file name, line and reason, and moves the file out of the inbox
/// (`processed/` or `failed/` in the state directory) only after every row is durably handled. A
/// crash re-reads the file; the delivery ledger keeps rows from being stored twice.
///
/// The inbox is a file-transfer share that others write to, so it is read defensively:
/// - only regular files are read, opened without following symbolic links; a symlink, directory,
///   FIFO or device named like an export is dead-lettered (its name, not its content) and set aside;
/// - a name that is not UTF-8 is dead-lettered (as hex) and ignored;
/// - a file is streamed a chunk at a time and published in batches, so memory follows the longest
///   row, not the file; a row longer than ``Configuration/maxRowBytes`` is dead-lettered (its start);
/// - one entry's trouble (a file that vanished, an I/O error) never holds back the others: after
///   ``Configuration/maxAttempts`` failed reads a file is set aside and reported.
public final class EnforcementInbox: Service, Sendable {
    public struct Configuration: Sendable {
        public var inbox: URL
        public var processed: URL
        public var failed: URL
        /// The enforcement department's code (`departments.csv`), for feedback and `ce_source`.
        public var department: String = "urban-mgmt"
        public var pollInterval: Duration = .milliseconds(500)
        /// The longest row read whole; a longer one is dead-lettered (its first bytes).
        public var maxRowBytes = 256 * 1024
        /// Rows published to Kafka at a time.
        public var batchRows = 500
        /// Failed reads of one file (I/O errors) before it is set aside.
        public var maxAttempts = 5
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
    private let rejectedEntries: MetricsCounter
    /// Entries not to look at again in this process: set aside but not movable, or with unusable names.
    private let ignored = Mutex<Set<InboxEntry.Identity>>([])
    /// Failed reads per entry.
    private let failures = Mutex<[InboxEntry.Identity: Int]>([:])

    public init(configuration: Configuration, pipeline: IngestPipeline, reference: ReferenceData, metrics: DaemonMetrics, logger: Logger) {
        self.configuration = configuration
        self.pipeline = pipeline
        self.reference = reference
        self.logger = logger
        files = metrics.counter("enforcement", "files", help: "Export files fully handled.", labels: [("adapter", "enforcement")])
        rows = metrics.counter("enforcement", "rows", help: "Export rows handled (stored or dead-lettered).", labels: [("adapter", "enforcement")])
        rejectedEntries = metrics.counter("enforcement", "rejected_entries", help: "Inbox entries set aside unread (not regular files, names not UTF-8, unreadable).",
                                          labels: [("adapter", "enforcement")])
    }

    public func run() async throws {
        for dir in [configuration.processed, configuration.failed] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                for entry in try await readyEntries() {
                    if Task.isShuttingDownGracefully { break }
                    await handleEntry(entry)
                }
            } catch {
                logger.error("inbox scan failed", metadata: ["error": .string("\(error)")])
            }
            try? await Task.sleep(for: configuration.pollInterval)
        }
    }

    /// Export entries of the inbox whose `.ok` marker exists, oldest name first, and entries whose
    /// names are not UTF-8 but start like an export (to be reported once).
    func readyEntries() async throws -> [InboxEntry] {
        let inbox = configuration.inbox
        let ignored = self.ignored.withLock { $0 }
        return try await runBlocking {
            let entries = try InboxEntry.list(inbox)
            let names = Set(entries.compactMap(\.name))
            return entries.filter { entry in
                guard !ignored.contains(entry.identity) else { return false }
                guard let name = entry.name else { return entry.rawName.starts(with: Array("ZFAJ_".utf8)) }
                return name.hasPrefix("ZFAJ_") && name.hasSuffix(".csv") && names.contains(name + ".ok")
            }.sorted { $0.rawName.lexicographicallyPrecedes($1.rawName) }
        }
    }

    /// Handles one entry; whatever goes wrong stays with that entry.
    func handleEntry(_ entry: InboxEntry) async {
        guard let name = entry.name else {
            let hex = entry.rawName.hexString
            if await setAside(entry, reason: "the file name (hex \(hex)) is not UTF-8: not read", code: "name", move: false) { return }
            return
        }
        do {
            try await handle(configuration.inbox.appendingPathComponent(name), entry: entry)
            failures.withLock { $0[entry.identity] = nil }
        } catch let error as InboxEntry.Refusal {
            _ = await setAside(entry, reason: "\(name) \(error.reason): not read", code: "notRegularFile", move: true)
        } catch {
            let attempts = failures.withLock { f -> Int in f[entry.identity, default: 0] += 1; return f[entry.identity]! }
            logger.warning("export file could not be read", metadata: ["enforcement.file": .string(name), "error": .string("\(error)"), "attempt": .stringConvertible(attempts)])
            if attempts >= configuration.maxAttempts {
                _ = await setAside(entry, reason: "\(name) could not be read \(attempts) times (\(error)): set aside", code: "unreadable", move: true)
            }
        }
    }

    /// Dead-letters `reason` for an entry that is not read, then moves it (and its marker) to `failed/`,
    /// or, where it cannot be moved, remembers not to look at it again. False when Kafka was busy (the
    /// entry is tried again later).
    private func setAside(_ entry: InboxEntry, reason: String, code: String, move: Bool) async -> Bool {
        let outcome = await pipeline.deadLetter(original: [], headers: [("enforcement.file", entry.rawName)], stage: Self.stage,
                                                reason: reason, origin: "inbox entry", reasonCode: code, once: true)
        guard case .accepted = outcome else { return false }
        rejectedEntries.increment()
        logger.warning("inbox entry set aside", metadata: ["gridhub.error.reason": .string(reason)])
        let failed = configuration.failed
        let moved = move ? ((try? await runBlocking { try InboxEntry.rename(entry.rawName, in: self.configuration.inbox, to: failed) }) ?? false) : false
        if !moved { ignored.withLock { _ = $0.insert(entry.identity) } }
        return true
    }

    /// Handles one file completely, or leaves it in the inbox (Kafka busy) to be read again.
    func handle(_ file: URL, entry: InboxEntry) async throws {
        let name = file.lastPathComponent
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
        guard let reader = try await runBlocking({ try InboxEntry.Reader(file) }) else {
            logger.info("export file vanished before it was read", metadata: ["enforcement.file": .string(name)])
            return
        }
        var splitter = CSVRecordSplitter(limit: configuration.maxRowBytes)
        var header: [String]? = nil
        var fileStart: [UInt8] = []
        var incidents: [Incident] = []
        var feedbacks: [(Feedback, Int)] = []
        var total = 0
        /// Publishes what has been read so far; false when Kafka is busy.
        func flush() async -> Bool {
            for outcome in await pipeline.publish(incidents) {
                if case .busy(let reason) = outcome {
                    logger.info("export file not stored; will retry", metadata: ["enforcement.file": .string(name), "kafka.error.reason": .string(reason)])
                    return false
                }
            }
            incidents.removeAll(keepingCapacity: true)
            for (feedback, version) in feedbacks {
                if case .busy = await pipeline.publish(feedback: feedback, version: version, eventSource: CloudEvent.departmentSource(configuration.department)) { return false }
            }
            feedbacks.removeAll(keepingCapacity: true)
            return true
        }
        /// The whole file is unusable: its start is kept as the dead letter and it goes to `failed/`.
        func refuseFile(line: Int?, _ problem: SourceRecordProblem) async throws {
            if await deadLetter(fileStart, line: line, problem) { try await move(file, to: configuration.failed) }
        }
        var done = false
        while !done {
            let chunk = try await runBlocking { try reader.read() }
            if fileStart.count < configuration.maxRowBytes { fileStart += chunk.prefix(configuration.maxRowBytes - fileStart.count) }
            var records = splitter.feed(chunk)
            if chunk.isEmpty {
                done = true
                if let last = splitter.finish() { records.append(last) }
            }
            for record in records {
                guard let header else {
                    if record.bytes.allSatisfy({ $0 == UInt8(ascii: "\r") }) { continue }
                    // The header decides the file's encoding (it is Chinese text): a stray UTF-8 export is
                    // valid UTF-8, and GBK text practically never is.
                    let isUTF8 = String(validating: record.bytes, as: UTF8.self) != nil && record.bytes.contains { $0 >= 0x80 }
                    guard !isUTF8, !record.truncated, let text = TextEncoding.gbk.decode(record.bytes) else {
                        return try await refuseFile(line: nil, SourceRecordProblem("encoding", isUTF8 ? "the file is UTF-8, not GBK" : "the file is not valid GBK"))
                    }
                    guard (try? CSVTable.fields(ofRecord: text, line: record.line)) == Enforcement.columns else {
                        return try await refuseFile(line: 1, SourceRecordProblem("columns", "the header is not the export's"))
                    }
                    header = Enforcement.columns
                    continue
                }
                if record.truncated {
                    guard await deadLetter(record.bytes, line: record.line, SourceRecordProblem("tooLarge", "the row is longer than \(configuration.maxRowBytes) bytes")) else { return }
                    rows.increment()
                    continue
                }
                guard let text = TextEncoding.gbk.decode(record.bytes) else {
                    guard await deadLetter(record.bytes, line: record.line, SourceRecordProblem("encoding", "the row is not valid GBK")) else { return }
                    rows.increment()
                    continue
                }
                let fields: [String]
                do {
                    guard let parsed = try CSVTable.fields(ofRecord: text, line: record.line) else { continue }
                    fields = parsed
                } catch {
                    guard await deadLetter(record.bytes, line: error.line, SourceRecordProblem("malformed", error.message)) else { return }
                    rows.increment()
                    continue
                }
                do {
                    let c = try Enforcement.Case(fields: fields, header: header)
                    switch c.meaning(reference: reference, department: configuration.department, receivedAt: Date()) {
                    case .incident(let incident): incidents.append(incident)
                    case .feedback(let feedback): feedbacks.append((feedback, c.version))
                    }
                } catch {
                    let original = TextEncoding.gbk.encode(Enforcement.csvLine(fields)) ?? Array(Enforcement.csvLine(fields).utf8)
                    guard await deadLetter(original, line: record.line, error, key: fields.first) else { return }
                }
                rows.increment()
                total += 1
                if incidents.count + feedbacks.count >= configuration.batchRows {
                    guard await flush() else { return }
                }
            }
        }
        guard header != nil else { return try await refuseFile(line: 1, SourceRecordProblem("columns", "the file is empty: no header row")) }
        guard await flush() else { return }
        try await move(file, to: configuration.processed)
        files.increment()
        logger.info("export file handled", metadata: ["enforcement.file": .string(name), "enforcement.rows": .stringConvertible(total)])
    }

    /// Moves the CSV out of the inbox, then its marker (a crash in between leaves a marker without a CSV,
    /// which is ignored). A file that cannot be moved (the share refuses) is not read again by this process.
    private func move(_ file: URL, to dir: URL) async throws {
        let moved = try await runBlocking {
            let name = Array(file.lastPathComponent.utf8)
            return try InboxEntry.rename(name, in: file.deletingLastPathComponent(), to: dir)
        }
        if !moved, let entry = try? await runBlocking({ try InboxEntry.list(file.deletingLastPathComponent()) })
            .first(where: { $0.name == file.lastPathComponent }) {
            logger.error("export file handled but could not be moved out of the inbox; it will not be read again until the adapter restarts",
                         metadata: ["enforcement.file": .string(file.lastPathComponent)])
            ignored.withLock { _ = $0.insert(entry.identity) }
        }
    }
}

/// The enforcement adapter's way back: status changes and new dispatches as GBK status files in the
/// outbox (a character GBK cannot hold is written `[U+XXXX]`), each appearing complete or not at all (write a temporary file, fsync, rename, then the
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
        guard let first = items.first?.record else { return [] }
        // Every row is written: a character GBK lacks (an emoji, a rare name character) becomes [U+XXXX].
        let bytes = TextEncoding.gbk.encodeReplacing(Enforcement.statusCSV(lines)).bytes
        let stamp = SourceSupport.formatLocalTime(Date(timeIntervalSince1970: Double(first.timestampMilliseconds ?? 0) / 1000))
            .replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "").replacingOccurrences(of: " ", with: "")
        let seq = ContentDigest.sha256(Array("\(first.topic)/\(first.partition)/\(first.offset)".utf8)).prefix(4).hexString
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
        try await runBlocking {
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
