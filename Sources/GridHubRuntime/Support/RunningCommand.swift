import Foundation
import Glibc
import Synchronization

/// A long-running child process started with `posix_spawn`: its standard output comes through a pipe
/// (read it with ``readStandardOutput(_:)``), its standard error through another pipe or into a file.
///
/// Why not Foundation's `Process`: on Linux it registers a run loop on the calling thread (a thread of
/// Swift's concurrency pool), keeps a run-loop thread of its own for every child, waits for a child's
/// exit with a blocking `waitpid` on that thread, and emulates close-on-exec by adding a close action
/// for every descriptor number up to the highest open one. This does one `posix_spawn` and polls the
/// exit with `waitpid(WNOHANG)` (docs/architecture.md, "Libraries").
///
/// The process is reaped once, under a lock, and never signalled after it was reaped (its id may be
/// another process's by then). Released while still running, it is killed and reaped.
public final class RunningCommand: Sendable {
    /// What ended the process.
    public enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    public let pid: pid_t
    public let argv: [String]
    private let stdoutFD: Int32
    private let stderrFD: Int32?
    private let ending = Mutex<Ending?>(nil)

    /// Starts `argv` (the first element is the executable's path) with `environment` (nil: this
    /// process's), in `currentDirectory` if given, standard input from `/dev/null`. Standard error goes
    /// to `standardErrorPath` when given, else through a pipe read by ``readStandardError(_:)``.
    public init(_ argv: [String], environment: [String: String]? = nil, currentDirectory: String? = nil,
                standardErrorPath: String? = nil) throws {
        guard let executable = argv.first else { throw ExternalCommandError("no command to run") }
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        guard Self.makePipe(&out) else { throw ExternalCommandError("cannot make a pipe: \(String(cString: strerror(errno)))") }
        if standardErrorPath == nil, !Self.makePipe(&err) {
            close(out[0]); close(out[1])
            throw ExternalCommandError("cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        defer { close(out[1]); if err[1] >= 0 { close(err[1]) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        if let standardErrorPath {
            posix_spawn_file_actions_addopen(&actions, 2, standardErrorPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        }
        ExternalCommand.closeInheritedDescriptors(&actions)
        if let currentDirectory {
            guard ExternalCommand.changeDirectory(&actions, currentDirectory) else {
                close(out[0]); if err[0] >= 0 { close(err[0]) }
                throw ExternalCommandError("cannot start \(executable) in \(currentDirectory): this C library cannot change directory in a spawn")
            }
        }
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for a in cArguments { free(a) } }
        var cEnvironment = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for e in cEnvironment { free(e) } }
        var attributes = ExternalCommand.defaultSignalsAttributes()
        defer { posix_spawnattr_destroy(&attributes) }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, &cArguments, &cEnvironment)
        guard spawned == 0 else {
            close(out[0]); if err[0] >= 0 { close(err[0]) }
            throw ExternalCommandError("cannot run \(executable): \(String(cString: strerror(spawned)))")
        }
        self.pid = pid
        self.argv = argv
        stdoutFD = out[0]
        stderrFD = err[0] >= 0 ? err[0] : nil
    }

    deinit {
        let reaped = ending.withLock { $0 != nil }
        if !reaped {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
    }

    /// How it ended, or nil while it runs (polls without waiting).
    public var ended: Ending? {
        ending.withLock { ending in
            if let ending { return ending }
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            guard reaped == pid else {
                // Reaped by someone else (ECHILD): it has ended, how is unknown.
                if reaped < 0 && errno == ECHILD { ending = .exited(-1) }
                return ending
            }
            let signal = status & 0x7f
            ending = signal != 0 ? .signalled(signal) : .exited((status >> 8) & 0xff)
            return ending
        }
    }

    public var isRunning: Bool { ended == nil }

    /// Sends `signal`, unless the process has ended and been reaped.
    public func signal(_ signal: Int32) {
        ending.withLock { if $0 == nil { kill(pid, signal) } }
    }

    /// Waits, polling, until the process ends or `timeout` passes (then kills it and throws).
    @discardableResult
    public func wait(timeout: Duration) async throws -> Ending {
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(1)
        while true {
            if let ended { return ended }
            if ContinuousClock.now >= deadline {
                signal(SIGKILL)
                throw ExternalCommandError("\(argv.joined(separator: " ")) did not exit within \(timeout)")
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(20))
        }
    }

    /// SIGTERM, and SIGKILL if it has not ended `grace` later; then reaped.
    public func stop(grace: Duration = .seconds(15)) async {
        signal(SIGTERM)
        if (try? await wait(timeout: grace)) == nil {
            signal(SIGKILL)
            _ = try? await wait(timeout: .seconds(5))
        }
    }

    /// Reads standard output to its end on a thread of its own (blocking reads), handing each chunk to
    /// `onData` and then nil at its end. Call once.
    public func readStandardOutput(_ onData: @escaping @Sendable ([UInt8]?) -> Void) {
        Self.read(stdoutFD, name: "gridhub-child-out", onData)
    }

    /// As ``readStandardOutput(_:)`` for standard error (when it was not sent to a file).
    public func readStandardError(_ onData: @escaping @Sendable ([UInt8]?) -> Void) {
        guard let stderrFD else { onData(nil); return }
        Self.read(stderrFD, name: "gridhub-child-err", onData)
    }

    /// A pipe whose ends close on exec (`pipe2` is not exported to Swift; every spawn here also closes
    /// what it does not hand on, so the moment between `pipe` and `fcntl` leaks nothing).
    private static func makePipe(_ fds: inout [Int32]) -> Bool {
        guard pipe(&fds) == 0 else { return false }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    /// A plain thread rather than libdispatch's event loop (Foundation's `readabilityHandler`), which
    /// crashes on Linux when descriptors are closed and reused as quickly as a Kafka client does.
    private static func read(_ fd: Int32, name: String, _ onData: @escaping @Sendable ([UInt8]?) -> Void) {
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                onData(Array(buffer[0..<n]))
            }
            close(fd)
            onData(nil)
        }
        thread.name = name
        thread.start()
    }
}
