import Dispatch
import Foundation
import GridHubCore
import Logging
import Synchronization

/// A private PostgreSQL server in a data directory of its own, for `gridhub dev` and the tests:
/// created with `initdb` on first use, started with `pg_ctl` on a loopback port, stopped on demand.
///
/// Debian's PostgreSQL server refuses to run as root; when run as root, the server runs as the
/// `postgres` OS user and the data directory is given to that user. When that user cannot reach the
/// configured data directory (it lies in a folder only its owner may enter, as `mktemp -d` makes),
/// the cluster lives in `/var/tmp/gridhub-postgres-<hash>` instead and the configured path becomes a
/// symbolic link to it.
///
/// A server is never left behind to block the next start: ``start()`` first stops a server still
/// running on the data directory (a run that crashed), and a detached watcher stops the server when
/// this process ends without ``stop()`` (a crash, `kill -9`).
public final class PostgresInstance: Sendable {
    /// Settings of the instance.
    public struct Configuration: Sendable {
        /// The data directory (created when missing).
        public var dataDirectory: URL
        /// The TCP port on 127.0.0.1.
        public var port: Int
        /// The database to create and name in ``PostgresInstance/url``.
        public var database: String = "gridhub"
        /// The superuser created by `initdb` (trust authentication on loopback only).
        public var user: String = "gridhub"
        /// Further server settings (`name → value`, passed as `-c name=value`), e.g. `shared_buffers`.
        public var settings: [String: String] = [:]

        public init(dataDirectory: URL, port: Int) {
            self.dataDirectory = dataDirectory
            self.port = port
        }
    }

    public let configuration: Configuration
    private let logger: Logger
    private let binDirectory: URL
    /// The watcher's process id while the server runs.
    private let watcher = Mutex<pid_t?>(nil)
    /// ``dataDirectory()``, once decided.
    private let resolvedDataDirectory = Mutex<URL?>(nil)

    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        guard let bin = PostgresInstance.findBinDirectory() else {
            throw PostgresInstanceError(message: "PostgreSQL server binaries not found under /usr/lib/postgresql: apt-get install postgresql")
        }
        binDirectory = bin
    }

    /// The `name = value` settings of a `postgresql.conf`-style file (`Deploy/postgresql/gridhub.conf`):
    /// comments after `#`, blank lines skipped; quoted values lose their quotes.
    public static func settings(fromConfigurationFile path: String) throws -> [String: String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw PostgresInstanceError(message: "cannot read PostgreSQL settings \(path): \(error.localizedDescription)")
        }
        var settings: [String: String] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0].trimmingCharacters(in: .whitespaces)
            guard !content.isEmpty else { continue }
            let parts = content.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw PostgresInstanceError(message: "\(path):\(number + 1): expected name = value, not \(content)")
            }
            var value = parts[1]
            if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") { value = String(value.dropFirst().dropLast()) }
            settings[parts[0]] = value
        }
        return settings
    }

    /// `postgres://user@127.0.0.1:port/database`, the form `GRIDHUB_DATABASE_URL` takes.
    public var url: String { "postgres://\(configuration.user)@127.0.0.1:\(configuration.port)/\(configuration.database)" }

    /// The directory the cluster lives in: the configured one, or (as root, when the `postgres` user
    /// cannot reach it) a directory under `/var/tmp` that the configured path links to. Decided once.
    public func dataDirectory() async -> URL {
        if let decided = resolvedDataDirectory.withLock({ $0 }) { return decided }
        let resolved = await Self.resolveDataDirectory(configuration.dataDirectory)
        return resolvedDataDirectory.withLock { decided in
            if decided == nil { decided = resolved }
            return decided!
        }
    }

    /// Where the cluster of `configured` lives (see ``dataDirectory()``). The folder it is configured in is
    /// made first: a folder that does not exist yet cannot be entered, and a cluster moved to `/var/tmp`
    /// for that reason outlived every benchmark run that removed its own folder (4.5 GB each).
    static func resolveDataDirectory(_ configured: URL) async -> URL {
        guard getuid() == 0 else { return configured }
        try? FileManager.default.createDirectory(at: configured.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard await !postgresUserCanEnter(configured.deletingLastPathComponent()) else { return configured }
        return URL(fileURLWithPath: "/var/tmp/gridhub-postgres-\(ContentDigest.sha256(Array(configured.path.utf8)).prefix(6).hexString)")
    }

    /// Whether the `postgres` OS user can enter `directory` (search permission on it and every parent).
    /// A check that could not run (a busy machine) counts as yes: only a refused `cd` moves the cluster.
    static func postgresUserCanEnter(_ directory: URL) async -> Bool {
        guard let result = try? await ExternalCommand.run(["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "/bin/sh", "-c", "cd -- \"$1\"", "sh", directory.path],
                                                       timeout: .seconds(60)) else { return true }
        return result.status == 0
    }

    /// Creates the cluster if needed, starts the server, and creates the database if needed.
    public func start() async throws {
        let dir = await dataDirectory()
        let asPostgres = getuid() == 0
        if dir != configuration.dataDirectory {
            logger.info("the postgres user cannot enter the state directory; the private cluster lives elsewhere",
                        metadata: ["postgres.data": .string(dir.path), "postgres.link": .string(configuration.dataDirectory.path)])
            try FileManager.default.createDirectory(at: configuration.dataDirectory.deletingLastPathComponent(), withIntermediateDirectories: true)
            // Only a link (or nothing) is replaced: a real directory at the configured path is never deleted.
            let link = try? FileManager.default.destinationOfSymbolicLink(atPath: configuration.dataDirectory.path)
            if link != dir.path {
                if link != nil { try FileManager.default.removeItem(at: configuration.dataDirectory) }
                if !FileManager.default.fileExists(atPath: configuration.dataDirectory.path) {
                    try FileManager.default.createSymbolicLink(at: configuration.dataDirectory, withDestinationURL: dir)
                }
            }
        }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if asPostgres { try await run("/bin/chown", ["-R", "postgres:postgres", dir.path], asPostgres: false) }
        try await stopLeftover(in: dir, asPostgres: asPostgres)
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("PG_VERSION").path) {
            logger.info("creating the private PostgreSQL cluster", metadata: ["postgres.data": .string(dir.path)])
            try await run(binDirectory.appendingPathComponent("initdb").path,
                    ["-D", dir.path, "-U", configuration.user, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], asPostgres: asPostgres)
        }
        do {
            try await run(binDirectory.appendingPathComponent("pg_ctl").path, [
                "-D", dir.path, "-l", dir.appendingPathComponent("server.log").path, "-w", "-t", "60",
                "-o", "-p \(configuration.port) -k \(dir.path) -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=100"
                    + configuration.settings.sorted { $0.key < $1.key }.map { " -c \($0.key)=\($0.value)" }.joined(),
                "start",
            ], asPostgres: asPostgres)
        } catch {
            // pg_ctl only says "Examine the log output": say what the server said.
            let log = (try? String(contentsOf: dir.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
            throw PostgresInstanceError(message: "\(error); the server's log ends: \(log.suffix(1_500))")
        }
        startWatcher(dataDirectory: dir)
        let exists = try await run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(configuration.port), "-U", configuration.user, "-d", "postgres", "-tAc",
                                               "SELECT 1 FROM pg_database WHERE datname = '\(configuration.database)'"], asPostgres: false)
        if !exists.contains("1") {
            try await run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(configuration.port), "-U", configuration.user, "-d", "postgres", "-c",
                                      "CREATE DATABASE \"\(configuration.database)\""], asPostgres: false)
        }
        logger.info("private PostgreSQL running", metadata: ["postgres.port": .stringConvertible(configuration.port)])
    }

    /// Stops a server still running on the data directory (an earlier run crashed) and deletes the
    /// cluster, so that ``start()`` creates a new one.
    public func discardCluster() async throws {
        let dir = await dataDirectory()
        try await stopLeftover(in: dir, asPostgres: getuid() == 0)
        if FileManager.default.fileExists(atPath: dir.path) { try FileManager.default.removeItem(at: dir) }
    }

    /// Stops the server (fast shutdown: open sessions are ended, committed data is kept).
    public func stop() async throws {
        try await run(binDirectory.appendingPathComponent("pg_ctl").path, ["-D", await dataDirectory().path, "-m", "fast", "-w", "stop"], asPostgres: getuid() == 0)
        // Only once the server is down: if stopping failed, the watcher still stops it when this process ends.
        stopWatcher()
    }

    /// The process id of the running server (its postmaster), if it runs.
    public func serverProcess() async -> pid_t? { Self.runningServer(in: await dataDirectory()) }

    /// The process id of the server running on `dir`, from its `postmaster.pid`, if that process lives.
    static func runningServer(in dir: URL) -> pid_t? {
        guard let text = try? String(contentsOf: dir.appendingPathComponent("postmaster.pid"), encoding: .utf8),
              let first = text.split(separator: "\n").first, let pid = pid_t(first.trimmingCharacters(in: .whitespaces)), pid > 0,
              kill(pid, 0) == 0 || errno == EPERM else { return nil }
        return pid
    }

    /// Stops a server that an earlier run left running on `dir` (it crashed before stopping it).
    private func stopLeftover(in dir: URL, asPostgres: Bool) async throws {
        guard let pid = Self.runningServer(in: dir) else { return }
        logger.warning("stopping a PostgreSQL server left running on the data directory by an earlier run",
                       metadata: ["postgres.data": .string(dir.path), "postgres.pid": .stringConvertible(pid)])
        try await run(binDirectory.appendingPathComponent("pg_ctl").path, ["-D", dir.path, "-m", "fast", "-w", "-t", "60", "stop"], asPostgres: asPostgres)
    }

    /// Starts a detached watcher that stops the server (SIGINT: fast shutdown) once this process has
    /// ended, unless ``stop()`` ended the watcher first. It checks `postmaster.pid` still names the
    /// server it watches, so it never stops a server that a later run started on the same directory.
    private func startWatcher(dataDirectory dir: URL) {
        guard let server = Self.runningServer(in: dir) else { return }
        // Alive means running, not a zombie its parent has not reaped yet (/proc/PID/stat's state field).
        let script = "alive() { s=$(cat /proc/$1/stat 2>/dev/null) || return 1; s=${s##*) }; [ \"${s%% *}\" != Z ]; }; "
            + "while alive \(getpid()); do sleep 1; done; "
            + "[ \"$(head -n 1 \"$1/postmaster.pid\" 2>/dev/null)\" = \"\(server)\" ] && kill -INT \(server)"
        do {
            let pid = try ExternalCommand.spawnDetached(["/bin/sh", "-c", script, "gridhub-postgres-watcher", dir.path])
            watcher.withLock { $0 = pid }
        } catch {
            logger.warning("no watcher for the private PostgreSQL: a crash would leave it running until the next start", metadata: ["error": .string("\(error)")])
        }
    }

    private func stopWatcher() {
        guard let pid = watcher.withLock({ w -> pid_t? in defer { w = nil }; return w }) else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    /// The newest `/usr/lib/postgresql/<version>/bin` with an `initdb`.
    static func findBinDirectory() -> URL? {
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return versions.compactMap(Int.init).sorted(by: >).lazy
            .map { root.appendingPathComponent("\($0)/bin") }
            .first { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("initdb").path) }
    }

    /// Runs a command to completion (off the cooperative pool); throws with its output when it fails.
    /// As root, the command runs as the `postgres` user through `setpriv`, which execs rather than
    /// waiting as a parent.
    @discardableResult
    private func run(_ executable: String, _ arguments: [String], asPostgres: Bool) async throws -> String {
        let argv = asPostgres
            ? ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", executable] + arguments
            : [executable] + arguments
        // The server is not ours to tune: an allocator preloaded into this process (LD_PRELOAD, see
        // Deploy/README.md) stays out of it, as it would on the city's database server.
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "LD_PRELOAD")
        let result = try await ExternalCommand.run(argv, environment: environment, timeout: .seconds(120))
        guard result.status == 0 else {
            throw PostgresInstanceError(message: "\((executable as NSString).lastPathComponent) failed (status \(result.status)): \((result.stdout + result.stderr).suffix(800))")
        }
        return result.stdout + result.stderr
    }
}

/// The private PostgreSQL could not be created, started or stopped.
public struct PostgresInstanceError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
