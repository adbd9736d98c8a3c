import Dispatch
import Foundation
import Logging

/// A private PostgreSQL server in a data directory of its own, for `gridhub dev` and the tests:
/// created with `initdb` on first use, started with `pg_ctl` on a loopback port, stopped on demand.
///
/// Debian's PostgreSQL server refuses to run as root; when run as root, the server runs as the
/// `postgres` OS user and the data directory is given to that user.
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

    /// Creates the cluster if needed, starts the server, and creates the database if needed.
    public func start() async throws {
        let dir = configuration.dataDirectory
        let asPostgres = getuid() == 0
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if asPostgres { try await run("/bin/chown", ["-R", "postgres:postgres", dir.path], asPostgres: false) }
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("PG_VERSION").path) {
            logger.info("creating the private PostgreSQL cluster", metadata: ["postgres.data": .string(dir.path)])
            try await run(binDirectory.appendingPathComponent("initdb").path,
                    ["-D", dir.path, "-U", configuration.user, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], asPostgres: asPostgres)
        }
        try await run(binDirectory.appendingPathComponent("pg_ctl").path, [
            "-D", dir.path, "-l", dir.appendingPathComponent("server.log").path, "-w", "-t", "60",
            "-o", "-p \(configuration.port) -k \(dir.path) -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=100"
                + configuration.settings.sorted { $0.key < $1.key }.map { " -c \($0.key)=\($0.value)" }.joined(),
            "start",
        ], asPostgres: asPostgres)
        let exists = try await run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(configuration.port), "-U", configuration.user, "-d", "postgres", "-tAc",
                                               "SELECT 1 FROM pg_database WHERE datname = '\(configuration.database)'"], asPostgres: false)
        if !exists.contains("1") {
            try await run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(configuration.port), "-U", configuration.user, "-d", "postgres", "-c",
                                      "CREATE DATABASE \"\(configuration.database)\""], asPostgres: false)
        }
        logger.info("private PostgreSQL running", metadata: ["postgres.port": .stringConvertible(configuration.port)])
    }

    /// Stops the server (fast shutdown: open sessions are ended, committed data is kept).
    public func stop() async throws {
        try await run(binDirectory.appendingPathComponent("pg_ctl").path, ["-D", configuration.dataDirectory.path, "-m", "fast", "-w", "stop"], asPostgres: getuid() == 0)
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
        let result = try await Subprocess.run(argv, environment: environment, timeout: .seconds(120))
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
