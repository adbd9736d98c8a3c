import Dispatch
import Foundation
import Synchronization

/// Which versions of which source records an adapter has put on Kafka: the memory that makes a
/// retried or re-pushed record produce no second incident, across restarts.
///
/// An append-only file of `key<TAB>version` lines in the adapter's state directory, read at start.
/// ``record(_:)`` returns only after the lines are on disk (`fsync`); concurrent callers share one
/// write and one `fsync` (group commit). A line torn by a crash is ignored on load.
public final class DeliveryLedger: Sendable {
    private let state: Mutex<State>
    private let queue = DispatchQueue(label: "gridhub.ingest.ledger")
    private let fileDescriptor: Int32
    public let path: String

    private struct State {
        var versions: [String: Int] = [:]
        var pending: [(entries: [(String, Int)], continuation: CheckedContinuation<Void, any Error>)] = []
        var flushScheduled = false
    }

    /// Opens (creating if needed) the ledger file `ledger.log` in `directory`.
    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("ledger.log")
        path = file.path
        var versions: [String: Int] = [:]
        if let data = FileManager.default.contents(atPath: path) {
            for line in data.split(separator: UInt8(ascii: "\n")) {
                guard let tab = line.lastIndex(of: UInt8(ascii: "\t")),
                      let version = Int(String(decoding: line[line.index(after: tab)...], as: UTF8.self)) else { continue }
                let key = String(decoding: line[..<tab], as: UTF8.self)
                versions[key] = max(versions[key] ?? 0, version)
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
        fileDescriptor = fd
        state = Mutex(State(versions: versions))
    }

    deinit { close(fileDescriptor) }

    /// The highest version recorded for `key`, if any.
    public func version(of key: String) -> Int? { state.withLock { $0.versions[key] } }

    /// Whether `version` of `key` (or a later one) has been recorded.
    public func contains(_ key: String, version: Int) -> Bool { (self.version(of: key) ?? Int.min) >= version }

    /// Number of records known.
    public var count: Int { state.withLock { $0.versions.count } }

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
        var text = ""
        for (entries, _) in batch {
            for (key, version) in entries { text += "\(key)\t\(version)\n" }
        }
        var error: (any Error)? = nil
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fileDescriptor, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                error = LedgerError(message: "cannot write \(path): errno \(errno)")
                break
            }
            written += n
        }
        if error == nil && fsync(fileDescriptor) != 0 { error = LedgerError(message: "cannot fsync \(path): errno \(errno)") }
        if error == nil {
            state.withLock { s in
                for (entries, _) in batch {
                    for (key, version) in entries { s.versions[key] = max(s.versions[key] ?? 0, version) }
                }
            }
        }
        for (_, continuation) in batch {
            if let error { continuation.resume(throwing: error) } else { continuation.resume() }
        }
    }
}

/// The ledger file could not be read or written.
public struct LedgerError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
