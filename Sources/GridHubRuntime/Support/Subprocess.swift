import Foundation
import Glibc
import GridHubKafka

/// Runs a command to completion with `posix_spawn` and `waitpid`, its output captured in files.
///
/// Used instead of Foundation's `Process` for short commands: `Process` never reports the exit of a
/// command that leaves a daemon holding its descriptors (`pg_ctl start`), and it has crashed inside
/// `run()` when many commands are launched while a Kafka client churns descriptors.
public enum Subprocess {
    /// What a finished command did.
    public struct Result: Sendable {
        /// The exit status, or 128 + the signal that ended it.
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `argv` (the first element is the executable's path) with `environment` (nil: this
    /// process's) and `stdin` as standard input, for at most `timeout`; blocks the calling thread.
    public static func run(_ argv: [String], environment: [String: String]? = nil, stdin: [UInt8]? = nil, timeout: Duration = .seconds(120)) throws -> Result {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-subprocess-\(UUID().uuidString)").path
        let outPath = base + ".out", errPath = base + ".err", inPath = base + ".in"
        defer { for p in [outPath, errPath, inPath] { unlink(p) } }
        if let stdin { guard FileManager.default.createFile(atPath: inPath, contents: Data(stdin)) else { throw SubprocessError("cannot write \(inPath)") } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin == nil ? "/dev/null" : inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // Nothing else of this process's descriptors (sockets, pipes) reaches the command: PostgreSQL
        // refuses to start when inherited descriptors leave it too few of its own.
        Subprocess.closeFrom3(&actions)
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for a in cArguments { free(a) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var cEnvironment = env.map { strdup($0) } + [nil]
        defer { for e in cEnvironment { free(e) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArguments, &cEnvironment)
        guard spawned == 0 else { throw SubprocessError("cannot start \(argv[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        let deadline = ContinuousClock.now + timeout
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { throw SubprocessError("waitpid failed for \(argv[0])") }
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw SubprocessError("\(argv.joined(separator: " ")) did not finish within \(timeout)")
            }
            usleep(5_000)
        }
        let signalled = (status & 0x7f) != 0
        let code = signalled ? 128 + (status & 0x7f) : (status >> 8) & 0xff
        func read(_ path: String) -> String { (FileManager.default.contents(atPath: path)).map { String(decoding: $0, as: UTF8.self) } ?? "" }
        return Result(status: code, stdout: read(outPath), stderr: read(errPath))
    }

    /// Starts `argv` in a session of its own (no terminal's Ctrl-C reaches it), output discarded, and
    /// returns its process id without waiting: for a watcher that must outlive this process.
    public static func spawnDetached(_ argv: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in Int32(0)...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        Subprocess.closeFrom3(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, 0x80)  // POSIX_SPAWN_SETSID (glibc 2.26+; not exported to Swift)
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for a in cArguments { free(a) } }
        var cEnvironment = ProcessInfo.processInfo.environment.filter { $0.key != "LD_PRELOAD" }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for e in cEnvironment { free(e) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, &cArguments, &cEnvironment)
        guard spawned == 0 else { throw SubprocessError("cannot start \(argv[0]): \(String(cString: strerror(spawned)))") }
        return pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which the Glibc module does not export.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
    }()

    /// Closes every descriptor from 3 up in the spawned command, where the C library can.
    static func closeFrom3(_ actions: inout posix_spawn_file_actions_t) {
        _ = addCloseFrom?(&actions, 3)
    }

    /// ``run(_:environment:stdin:timeout:)`` on a dispatch queue, so async callers never block the
    /// cooperative thread pool.
    public static func run(_ argv: [String], environment: [String: String]? = nil, stdin: [UInt8]? = nil, timeout: Duration = .seconds(120)) async throws -> Result {
        // A command may run for minutes: it is waited for on a thread of its own. On the shared pool
        // (`runBlocking`, as many threads as cores) two long commands starved every file operation of
        // the process.
        try await runOnOwnThread { () throws -> Result in try run(argv, environment: environment, stdin: stdin, timeout: timeout) }
    }
}

/// A command could not be run.
public struct SubprocessError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
