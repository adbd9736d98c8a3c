import Foundation
import Glibc
import Subprocess
import SystemPackage

/// Short commands (`initdb`, `pg_ctl`, `psql`, `gridhub topics create`) run to completion through
/// swift-subprocess, with their output captured in files rather than pipes: `pg_ctl start` leaves the
/// server it starts running, and a pipe held open by a process that stays would never reach its end.
public enum ExternalCommand {
    /// What a finished command did.
    public struct Result: Sendable {
        /// The exit status, or 128 + the signal that ended it.
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `argv` (the first element is the executable's path) with `environment` (nil: this
    /// process's) and `stdin` as standard input. A command still running after `timeout` is killed
    /// (swift-subprocess ends a command whose task is cancelled) and the call throws.
    public static func run(_ argv: [String], environment: [String: String]? = nil, stdin: [UInt8]? = nil,
                           timeout: Duration = .seconds(120)) async throws -> Result {
        guard let executable = argv.first else { throw ExternalCommandError("no command to run") }
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-command-\(UUID().uuidString)").path
        let outPath = base + ".out", errPath = base + ".err"
        defer { for p in [outPath, errPath] { unlink(p) } }
        func open(_ path: String) throws -> FileDescriptor {
            do {
                return try FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
            } catch { throw ExternalCommandError("cannot create \(path): \(error)") }
        }
        let out = try open(outPath)
        let err: FileDescriptor
        do { err = try open(errPath) } catch { try? out.close(); throw error }
        let env: Environment = environment.map { values in
            .custom(Dictionary(values.map { (Environment.Key(stringLiteral: $0.key), $0.value) }, uniquingKeysWith: { a, _ in a }))
        } ?? .inherit
        let status: TerminationStatus
        do {
            status = try await withThrowingTaskGroup(of: TerminationStatus?.self) { group in
                group.addTask {
                    let arguments = Arguments(Array(argv.dropFirst()))
                    let output = FileDescriptorOutput.fileDescriptor(out, closeAfterSpawningProcess: true)
                    let error = FileDescriptorOutput.fileDescriptor(err, closeAfterSpawningProcess: true)
                    if let stdin {
                        return try await Subprocess.run(.path(FilePath(executable)), arguments: arguments, environment: env,
                                                        input: .array(stdin), output: output, error: error).terminationStatus
                    }
                    return try await Subprocess.run(.path(FilePath(executable)), arguments: arguments, environment: env,
                                                    output: output, error: error).terminationStatus
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let finished = first else {
                    throw ExternalCommandError("\(argv.joined(separator: " ")) did not finish within \(timeout)")
                }
                return finished
            }
        } catch let error as ExternalCommandError {
            throw error
        } catch {
            throw ExternalCommandError("cannot run \(executable): \(error)")
        }
        let code: Int32
        switch status {
        case .exited(let value): code = value
        case .signaled(let signal): code = 128 + signal
        }
        func read(_ path: String) -> String { FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? "" }
        return Result(status: code, stdout: read(outPath), stderr: read(errPath))
    }

    /// Starts `argv` in a session of its own (no terminal's Ctrl-C reaches it), output discarded, and
    /// returns its process id without waiting: for a watcher that must outlive this process.
    ///
    /// Not through swift-subprocess: its `run` waits for the command within its scope, and a watcher
    /// that stops the private PostgreSQL after this process is killed must outlive that scope.
    public static func spawnDetached(_ argv: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in Int32(0)...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        _ = addCloseFrom?(&actions, 3)
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
        guard spawned == 0 else { throw ExternalCommandError("cannot start \(argv[0]): \(String(cString: strerror(spawned)))") }
        return pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which the Glibc module does not export:
    /// nothing of this process's descriptors (sockets, pipes) reaches the watcher.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32).self)
    }()
}

/// A command could not be run.
public struct ExternalCommandError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
