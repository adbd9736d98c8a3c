import Dispatch
import Foundation
import Synchronization

/// Which versions of which source records an adapter has put on Kafka: the memory that makes a
/// retried or re-pushed record produce no second incident, across restarts.
///
/// An append-only file of `key<TAB>version<TAB>unix-seconds` lines in the adapter's state directory,
/// read at start. ``record(_:)`` returns only after the lines are on disk (`fsync`); concurrent
/// callers share one write and one `fsync` (group commit). A line torn by a crash is ignored on load.
///
/// Bounded: once the file holds more than twice as many lines as it has keys (and at least
/// ``compactionMinimumLines``), it is rewritten with one line per key (a new file, `fsync`, rename),
/// dropping keys not written for ``retention``; and once its oldest key has been past the retention
/// for an eighth of it, so that a ledger of records each written once (most are) does not grow for
/// ever. A source re-pushes a record within days; one re-pushed after the retention would give the
/// router an identical copy, which it recognises by its `ce_id`.
public final class DeliveryLedger: Sendable {
    /// How long a key is remembered after it was last written, unless configured
    /// (`GRIDHUB_LEDGER_RETENTION_DAYS`).
    public static let defaultRetention: TimeInterval = 180 * 24 * 3600
    /// The file is never compacted below this many lines.
    public static let compactionMinimumLines = 10_000

    private let state: Mutex<State>
    private let queue = DispatchQueue(label: "gridhub.ingest.ledger")
    /// The open file; used only on `queue` (and in deinit).
    private let file: FileBox
    /// The clock the ledger stamps lines with (`gridhub dev` gives its simulated one).
    public let now: @Sendable () -> Date
    /// How long a key is remembered after it was last written.
    public let retention: TimeInterval
    private let minimumLines: Int
    public let path: String

    private final class FileBox: @unchecked Sendable {
        var descriptor: Int32
        init(_ descriptor: Int32) { self.descriptor = descriptor }
    }

    private struct Entry {
        var version: Int
        var written: Int64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var lines = 0
        /// The earliest `written` of any entry (exact after a load or a compaction; entries only get newer).
        var oldestWritten = Int64.max
        var pending: [(entries: [(String, Int)], continuation: CheckedContinuation<Void, any Error>)] = []
        var flushScheduled = false
    }

    /// Opens (creating if needed) the ledger file `ledger.log` in `directory`.
    public init(directory: URL, retention: TimeInterval = DeliveryLedger.defaultRetention, now: @escaping @Sendable () -> Date = { Date() },
                compactionMinimumLines: Int = DeliveryLedger.compactionMinimumLines) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("ledger.log")
        path = file.path
        self.now = now
        self.retention = retention
        minimumLines = compactionMinimumLines
        let loadedAt = Int64(now().timeIntervalSince1970)
        var entries: [String: Entry] = [:]
        var lines = 0
        if let data = FileManager.default.contents(atPath: path) {
            for line in data.split(separator: UInt8(ascii: "\n")) {
                let parts = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
                guard parts.count == 2 || parts.count == 3, !parts[0].isEmpty,
                      let version = Int(String(decoding: parts[1], as: UTF8.self)) else { continue }
                // Lines of the earlier two-column format count as written now.
                let written = parts.count == 3 ? Int64(String(decoding: parts[2], as: UTF8.self)) ?? loadedAt : loadedAt
                let key = String(decoding: parts[0], as: UTF8.self)
                let old = entries[key]
                entries[key] = Entry(version: max(old?.version ?? 0, version), written: max(old?.written ?? 0, written))
                lines += 1
            }
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LedgerError(message: "cannot open \(path): errno \(errno)") }
        // A line torn by a crash would glue itself to the next entry: cut it off.
        if let data = FileManager.default.contents(atPath: path), let last = data.last, last != UInt8(ascii: "\n") {
            let keep = data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            guard ftruncate(fd, off_t(keep)) == 0 else {
                close(fd)
                throw LedgerError(message: "cannot truncate the torn last line of \(path): errno \(errno)")
            }
        }
        self.file = FileBox(fd)
        state = Mutex(State(entries: entries, lines: lines, oldestWritten: entries.values.map(\.written).min() ?? .max))
    }

    deinit { close(file.descriptor) }

    /// The highest version recorded for `key`, if any.
    public func version(of key: String) -> Int? { state.withLock { $0.entries[key]?.version } }

    /// Whether `version` of `key` (or a later one) has been recorded.
    public func contains(_ key: String, version: Int) -> Bool { (self.version(of: key) ?? Int.min) >= version }

    /// Number of records known.
    public var count: Int { state.withLock { $0.entries.count } }

    /// Lines in the file (for tests and the compaction rule).
    public var lineCount: Int { state.withLock { $0.lines } }

    /// Returns once the work queued so far (a compaction that follows a write) is done: the file and
    /// ``lineCount`` then agree.
    public func settled() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in queue.async { continuation.resume() } }
    }

    /// Records versions durably; returns once they are on disk.
    public func record(_ entries: [(key: String, version: Int)]) async throws {
        guard !entries.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let schedule = state.withLock { s -> Bool in
                s.pending.append((entries.map { ($0.key, $0.version) }, continuation))
                if s.flushScheduled { return false }
                s.flushScheduled = true
                return true
            }
            if schedule { queue.async { self.flush() } }
        }
    }

    private func flush() {
        let batch = state.withLock { s -> [(entries: [(String, Int)], continuation: CheckedContinuation<Void, any Error>)] in
            let b = s.pending
            s.pending = []
            s.flushScheduled = false
            return b
        }
        guard !batch.isEmpty else { return }
        let written = Int64(now().timeIntervalSince1970)
        var text = ""
        var lines = 0
        for (entries, _) in batch {
            for (key, version) in entries { text += "\(key)\t\(version)\t\(written)\n"; lines += 1 }
        }
        var error: (any Error)? = nil
        do { try writeAll(Array(text.utf8), to: file.descriptor) } catch let e { error = e }
        if error == nil && fsync(file.descriptor) != 0 { error = LedgerError(message: "cannot fsync \(path): errno \(errno)") }
        var compact = false
        if error == nil {
            compact = state.withLock { s -> Bool in
                for (entries, _) in batch {
                    for (key, version) in entries { s.entries[key] = Entry(version: max(s.entries[key]?.version ?? 0, version), written: written) }
                }
                s.lines += lines
                s.oldestWritten = min(s.oldestWritten, written)
                guard s.lines >= minimumLines else { return false }
                let expiredLongEnough = s.oldestWritten < written - Int64(retention + retention / 8)
                return s.lines > 2 * s.entries.count || expiredLongEnough
            }
        }
        for (_, continuation) in batch {
            if let error { continuation.resume(throwing: error) } else { continuation.resume() }
        }
        if compact { compactNow() }
    }

    /// Rewrites the file with one line per key still within the retention. A failure leaves the old
    /// file in place (it only grows on).
    private func compactNow() {
        let horizon = Int64(now().timeIntervalSince1970 - retention)
        let kept = state.withLock { s -> [(String, Entry)] in s.entries.filter { $0.value.written >= horizon }.map { ($0.key, $0.value) } }
        let temp = path + ".compact"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        var text = ""
        text.reserveCapacity(kept.count * 40)
        for (key, entry) in kept { text += "\(key)\t\(entry.version)\t\(entry.written)\n" }
        do { try writeAll(Array(text.utf8), to: fd) } catch {
            close(fd)
            unlink(temp)
            return
        }
        guard fsync(fd) == 0, rename(temp, path) == 0 else {
            close(fd)
            unlink(temp)
            return
        }
        close(fd)
        // The directory entry too, so the rename survives a crash.
        let dir = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 { _ = fsync(dir); close(dir) }
        let reopened = open(path, O_WRONLY | O_APPEND | O_CLOEXEC, 0o644)
        guard reopened >= 0 else { return }
        close(file.descriptor)
        file.descriptor = reopened
        state.withLock { s in
            s.lines = kept.count
            for (key, entry) in s.entries where entry.written < horizon { s.entries[key] = nil }
            s.oldestWritten = s.entries.values.map(\.written).min() ?? .max
        }
    }

    private func writeAll(_ bytes: [UInt8], to fd: Int32) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LedgerError(message: "cannot write \(path): errno \(errno)")
            }
            done += n
        }
    }
}

/// The ledger file could not be read or written.
public struct LedgerError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
