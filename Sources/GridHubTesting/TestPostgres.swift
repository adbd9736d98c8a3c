import Dispatch
import Foundation
import GridHubRuntime
import Synchronization

/// A throw-away PostgreSQL server for one test process: `initdb` into a temporary directory (as the
/// `postgres` OS user when the tests run as root, since the server refuses to run as root), listening
/// on a free loopback port with trust authentication and its unix socket in that directory. Started on
/// first use, stopped and removed when the test process exits (a small watcher process does that, so a
/// crashed test run leaves nothing behind). Every test takes a fresh database from ``makeDatabase()``.
public enum TestPostgres {
    /// A running server.
    public struct Server: Sendable {
        public var directory: String
        public var port: Int
        /// `postgres://postgres@127.0.0.1:<port>/postgres`.
        public var adminURL: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }
    }

    /// The one start of this process's server, which every caller awaits.
    private static let starting = Mutex<Task<Server, any Error>?>(nil)

    /// The server of this test process, started on first call.
    public static func server() async throws -> Server {
        let task = starting.withLock { task in
            if task == nil { task = Task { try await start() } }
            return task!
        }
        return try await task.value
    }

    /// A new, empty database on the shared server; returns its URL for `GRIDHUB_DATABASE_URL`.
    public static func makeDatabase(prefix: String = "t") async throws -> String {
        let server = try await server()
        let name = "\(prefix)_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))"
        let psql = try binary("psql")
        let result = try await runCommand(psql, ["-h", "127.0.0.1", "-p", "\(server.port)", "-U", "postgres", "-d", "postgres",
                                                 "-v", "ON_ERROR_STOP=1", "-q", "-c", "CREATE DATABASE \(name)"])
        guard result.status == 0 else { throw HarnessError("CREATE DATABASE failed: \(result.stderr)") }
        return "postgres://postgres@127.0.0.1:\(server.port)/\(name)"
    }

    /// Runs SQL on a database and returns psql's unaligned output (`|`-separated, no header).
    public static func query(_ url: String, _ sql: String) async throws -> [[String]] {
        let psql = try binary("psql")
        let result = try await runCommand(psql, [url, "-v", "ON_ERROR_STOP=1", "-A", "-t", "-q", "-c", sql])
        guard result.status == 0 else { throw HarnessError("psql failed: \(result.stderr)") }
        return result.stdout.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
    }

    /// The directory of the newest PostgreSQL server binaries (`/usr/lib/postgresql/<v>/bin`).
    public static func binary(_ name: String) throws(HarnessError) -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        for v in versions {
            let path = "\(root)/\(v)/bin/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        if let found = GridHubPaths.which(name) { return found }
        throw HarnessError("PostgreSQL's \(name) not found (install Debian's postgresql; scripts/test does)")
    }

    private static func start() async throws -> Server {
        let initdb = try binary("initdb"), pgctl = try binary("pg_ctl")
        let dir = "/tmp/gridhub-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw HarnessError("cannot create \(dir): \(error)")
        }
        let asRoot = getuid() == 0
        if asRoot { _ = await run("/bin/chown", ["postgres:postgres", dir]) }
        func asServerUser(_ command: [String]) -> [String] { asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + command : command }
        let data = "\(dir)/data"
        let initResult = await run(asServerUser([initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]))
        guard initResult.status == 0 else { throw HarnessError("initdb failed: \(initResult.output)") }
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...60_000)
            let options = "-p \(port) -k \(dir) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 -c shared_buffers=256MB"
            let startResult = await run(asServerUser([pgctl, "-D", data, "-o", options, "-l", "\(dir)/server.log", "-w", "-t", "30", "start"]))
            if startResult.status == 0 {
                // Stop and remove the server when this process ends, however it ends.
                let stop = (asRoot ? "/usr/sbin/runuser -u postgres -- " : "") + "\(pgctl) -D \(data) -m immediate stop"
                let watcher = "while [ -d /proc/\(getpid()) ]; do sleep 1; done; \(stop) >/dev/null 2>&1; rm -rf \(dir)"
                _ = try? ExternalCommand.spawnDetached(["/bin/sh", "-c", watcher])
                return Server(directory: dir, port: port)
            }
        }
        throw HarnessError("the test PostgreSQL did not start: \((try? String(contentsOfFile: "\(dir)/server.log", encoding: .utf8)) ?? "")")
    }

    private static func run(_ executable: String, _ arguments: [String]) async -> (status: Int32, output: String) {
        await run([executable] + arguments)
    }

    private static func run(_ command: [String]) async -> (status: Int32, output: String) {
        do {
            let result = try await ExternalCommand.run(command, timeout: .seconds(120))
            return (result.status, result.stdout + result.stderr)
        } catch {
            return (-1, "\(error)")
        }
    }
}
