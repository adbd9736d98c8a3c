import Foundation
import Glibc

/// Short commands (`initdb`, `pg_ctl`, `psql`, `gridhub topics create`) run to completion with
/// `posix_spawn`, their output captured in files rather than pipes: `pg_ctl start` leaves the server
/// it starts running, and a pipe held open by a process that stays would never reach its end.
///
/// The command's files are opened in the child by the spawn's file actions, so this process opens and
/// closes no descriptor for a command (docs/architecture.md, "Libraries").
public enum ExternalCommand {
    /// What a finished command did.
    public struct Result: Sendable {
        /// The exit status, or 128 + the signal that ended it.
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `argv` (the first element is the executable's path) with `environment` (nil: this
    /// process's) and `stdin` as standard input. A command still running after `timeout`, or when the
    /// calling task is cancelled, is killed and the call throws. Waits without holding a thread: the
    /// exit is polled between short sleeps.
    public static func run(_ argv: [String], environment: [String: String]? = nil, stdin: [UInt8]? = nil,
                           timeout: Duration = .seconds(120)) async throws -> Result {
        guard let executable = argv.first else { throw ExternalCommandError("no command to run") }
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-command-\(UUID().uuidString)").path
        let outPath = base + ".out", errPath = base + ".err", inPath = base + ".in"
        defer { for p in [outPath, errPath, inPath] { unlink(p) } }
        if let stdin, !FileManager.default.createFile(atPath: inPath, contents: Data(stdin), attributes: [.posixPermissions: 0o600]) {
            throw ExternalCommandError("cannot write \(inPath)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin == nil ? "/dev/null" : inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // Nothing else of this process's descriptors (sockets, pipes) reaches the command: PostgreSQL
        // refuses to start when inherited descriptors leave it too few of its own.
        closeInheritedDescriptors(&actions)
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for a in cArguments { free(a) } }
        var cEnvironment = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for e in cEnvironment { free(e) } }
        var attributes = defaultSignalsAttributes()
        defer { posix_spawnattr_destroy(&attributes) }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, &cArguments, &cEnvironment)
        guard spawned == 0 else { throw ExternalCommandError("cannot run \(executable): \(String(cString: strerror(spawned)))") }

        var status: Int32 = 0
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(1)
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { throw ExternalCommandError("cannot wait for \(executable): \(String(cString: strerror(errno)))") }
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw ExternalCommandError("\(argv.joined(separator: " ")) did not finish within \(timeout)")
            }
            do {
                try await Task.sleep(for: pause)
            } catch {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw error
            }
            pause = min(pause * 2, .milliseconds(20))
        }
        let signal = status & 0x7f
        let code = signal != 0 ? 128 + signal : (status >> 8) & 0xff
        func read(_ path: String) -> String { FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? "" }
        return Result(status: code, stdout: read(outPath), stderr: read(errPath))
    }

    /// Starts `argv` in a session of its own (no terminal's Ctrl-C reaches it), output discarded, and
    /// returns its process id without waiting: for a watcher that must outlive this process.
    ///
    /// Not waited for: a watcher that stops the private PostgreSQL after this process is killed must
    /// outlive it.
    public static func spawnDetached(_ argv: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in Int32(0)...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        closeInheritedDescriptors(&actions)
        var attributes = defaultSignalsAttributes(flags: 0x80)  // POSIX_SPAWN_SETSID (glibc 2.26+; not exported to Swift)
        defer { posix_spawnattr_destroy(&attributes) }
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for a in cArguments { free(a) } }
        var cEnvironment = ProcessInfo.processInfo.environment.filter { $0.key != "LD_PRELOAD" }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for e in cEnvironment { free(e) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, &cArguments, &cEnvironment)
        guard spawned == 0 else { throw ExternalCommandError("cannot start \(argv[0]): \(String(cString: strerror(spawned)))") }
        return pid
    }

    /// Spawn attributes that give the command every signal's default action and no blocked signal, as
    /// a command started from a shell has: this process may ignore or block some (a daemon's signal
    /// handling), and a command that inherited that could not be stopped with SIGTERM.
    static func defaultSignalsAttributes(flags: Int32 = 0) -> posix_spawnattr_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(flags | Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK)))
        return attributes
    }

    /// Adds a file action that closes every descriptor from 3 up, so that nothing of this process's
    /// (sockets, pipes) reaches the child.
    static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        _ = addCloseFrom?(&actions, 3)
    }

    /// Adds a file action that changes the child's working directory; false if the C library has none.
    static func changeDirectory(_ actions: inout posix_spawn_file_actions_t, _ path: String) -> Bool {
        guard let addChdir else { return false }
        return addChdir(&actions, path) == 0
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which the Glibc module does not export.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
    }()
}

/// glibc's `posix_spawn_file_actions_addchdir_np` (2.29+), which the Glibc module does not export.
private let addChdir: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32).self)
}()

/// A command could not be run.
public struct ExternalCommandError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
