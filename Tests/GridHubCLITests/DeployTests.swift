import Foundation
@testable import gridhub
import GridHubRuntime
import GridHubTesting
import Testing

/// `Deploy/` is what ops install: systemd units, configuration files, environment files. They must
/// start commands that exist with keys those commands take.
@Suite("Deployment files", .timeLimit(.minutes(2)))
struct DeployTests {
    static let deploy = GridHubPaths.packageRoot.appendingPathComponent("Deploy")

    /// The unit's `ExecStart` arguments (after the binary), `EnvironmentFile`s and `StateDirectory`.
    static func unit(_ name: String) throws -> (arguments: [String], environmentFiles: [String]) {
        let text = try String(contentsOf: deploy.appendingPathComponent("systemd/\(name)"), encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        let exec = try #require(lines.first { $0.hasPrefix("ExecStart=") })
        var arguments = exec.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
        #expect(arguments.removeFirst() == "/usr/local/bin/gridhub")
        let files = lines.filter { $0.hasPrefix("EnvironmentFile=") }.map { String($0.dropFirst("EnvironmentFile=".count)) }
        return (arguments, files)
    }

    /// The library a unit preloads (`Environment=LD_PRELOAD=`), if it does.
    static func preload(of unit: String) throws -> String? {
        let text = try String(contentsOf: deploy.appendingPathComponent("systemd/\(unit)"), encoding: .utf8)
        return text.split(separator: "\n").first { $0.hasPrefix("Environment=LD_PRELOAD=") }.map { String($0.dropFirst("Environment=LD_PRELOAD=".count)) }
    }

    /// The first line `process` logged that contains `text`, waiting for it up to `within`.
    static func logLine(of process: ChildProcess, containing text: String, within: Duration) async throws -> String? {
        func line() -> String? { process.standardError.split(separator: "\n").first { $0.contains(text) }.map(String.init) }
        try await waitUntil(timeout: within) { line() != nil }
        return line()
    }

    @Test("the router's unit runs it on jemalloc: the library it preloads is installed, and the router says at start that it runs on it")
    func routerAllocator() async throws {
        let preload = try #require(try Self.preload(of: "gridhub-router.service"))
        // Nothing to connect to: the allocator is said before any connection.
        let closed = try freeLoopbackPort()
        let router = try ChildProcess(GridHubPaths.executable, ["router", "--admin-listen", "127.0.0.1:0"], environment: [
            "LD_PRELOAD": preload,
            "GRIDHUB_BOOTSTRAP": "127.0.0.1:\(closed)",
            "GRIDHUB_DATABASE_URL": "postgres://gridhub@127.0.0.1:\(closed)/gridhub",
            "GRIDHUB_REFERENCE_DIR": Self.deploy.appendingPathComponent("reference").path,
            "GRIDHUB_LOG_LEVEL": "info",
        ])
        defer { router.signal(SIGKILL) }
        #expect(try await router.firstLine(timeout: .seconds(60)).hasPrefix("GRIDHUB_LISTEN="))
        let logged = try #require(try await Self.logLine(of: router, containing: "router starting", within: .seconds(20)),
                                  "\(router.standardError.suffix(2_000))")
        #expect(logged.contains("gridhub.allocator") && logged.contains("jemalloc"), "\(logged)")
        #expect(!router.standardError.contains("cannot be preloaded"), "\(router.standardError.suffix(2_000))")
        router.signal(SIGTERM)
        #expect(try await router.waitForExit(timeout: .seconds(60)) == 0)
    }

    @Test("the 12345 adapter's unit runs it on jemalloc, and the adapter says at start that it runs on it")
    func hotlineAllocator() async throws {
        let preload = try #require(try Self.preload(of: "gridhub-hotline12345.service"))
        let closed = try freeLoopbackPort()
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-deploy-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: state) }
        let adapter = try ChildProcess(GridHubPaths.executable, [
            "adapter", "hotline12345", "--listen", "127.0.0.1:0", "--hotline-url", "http://127.0.0.1:\(closed)", "--state-dir", state.path,
        ], environment: [
            "LD_PRELOAD": preload,
            "GRIDHUB_BOOTSTRAP": "127.0.0.1:\(closed)",
            "GRIDHUB_HOTLINE_SECRET": "deploy-test-secret",
            "GRIDHUB_REFERENCE_DIR": Self.deploy.appendingPathComponent("reference").path,
            "GRIDHUB_LOG_LEVEL": "info",
        ])
        defer { adapter.signal(SIGKILL) }
        let logged = try #require(try await Self.logLine(of: adapter, containing: "adapter starting", within: .seconds(60)),
                                  "\(adapter.standardError.suffix(2_000))")
        #expect(logged.contains("gridhub.allocator") && logged.contains("jemalloc") && logged.contains("hotline12345") &&
                !adapter.standardError.contains("cannot be preloaded"), "\(adapter.standardError.suffix(2_000))")
    }

    @Test("each systemd unit runs a gridhub command that parses, with a configuration file whose every key is a flag of that command")
    func units() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.deploy.appendingPathComponent("systemd").path).filter { $0.hasSuffix(".service") }.sorted()
        #expect(names == ["gridhub-elink.service", "gridhub-enforcement.service", "gridhub-hotline12345.service", "gridhub-router.service", "gridhub-woodpecker.service"])
        for name in names {
            let (arguments, environmentFiles) = try Self.unit(name)
            // The installed paths map onto this folder: /etc/gridhub/X.json → Deploy/config/X.json, X.env → Deploy/env/X.env.
            let local = arguments.map { $0.hasPrefix("/etc/gridhub/") ? Self.deploy.appendingPathComponent("config/" + $0.dropFirst("/etc/gridhub/".count)).path : $0 }
            let command = try GridHub.parseAsRoot(local)
            let configPath = try #require(local.firstIndex(of: "--config").map { local[$0 + 1] })
            let file = try ConfigFile.load(path: configPath, environment: [:])
            #expect(!file.values.isEmpty)
            #expect(throws: Never.self, "\(name)") { try file.checkKeys(allowed: DaemonSupport.configKeys(of: command)) }
            #expect(environmentFiles.first == "/etc/gridhub/gridhub.env", "\(name): Kafka and logging for every daemon")
            for path in environmentFiles {
                #expect(FileManager.default.fileExists(atPath: Self.deploy.appendingPathComponent("env/" + path.dropFirst("/etc/gridhub/".count)).path), "\(name): \(path)")
            }
        }
    }

    @Test("the keys a configuration file may hold are the command's long flag names, not --config itself")
    func configKeys() {
        #expect(DaemonSupport.configKeys(of: RouterCommand()) == ["admin-listen", "reference-dir", "routing-rules", "group"])
        #expect(DaemonSupport.configKeys(of: Hotline12345Command()) == ["listen", "hotline-url", "state-dir", "reference-dir", "tls-certificate", "tls-key"])
        #expect(DaemonSupport.kebabCase("adminListen") == "admin-listen")
        #expect(DaemonSupport.kebabCase("hotlineURL") == "hotline-url")
        #expect(DaemonSupport.kebabCase("urlPath") == "url-path")
        #expect(DaemonSupport.kebabCase("HTTPServer") == "http-server")
    }

    @Test("a daemon refuses a configuration file with a key that is not one of its flags, naming the key")
    func unknownKey() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-config-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("router.json").path
        try Data(#"{"admin-listen": "127.0.0.1:0", "grop": "gridhub-router"}"#.utf8).write(to: URL(fileURLWithPath: path))
        let result = try await runCommand(GridHubPaths.executable, ["router", "--config", path],
                                          environment: ["GRIDHUB_BOOTSTRAP": "127.0.0.1:9", "GRIDHUB_DATABASE_URL": "postgres://gridhub@127.0.0.1:9/gridhub"],
                                          timeout: .seconds(30))
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown key \"grop\""), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("admin-listen, group, reference-dir, routing-rules"), "stderr: \(result.stderr)")
    }

    @Test("gridhub router --check validates the configuration, reference data and routing rules without Kafka or a database")
    func routerCheck() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-check-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let reference = Self.deploy.appendingPathComponent("reference").path
        let good = Self.deploy.appendingPathComponent("routing.json").path
        let clean = ["GRIDHUB_BOOTSTRAP", "GRIDHUB_DATABASE_URL", "GRIDHUB_CONFIG"]
        let ok = try await runCommand(GridHubPaths.executable, ["router", "--check", "--reference-dir", reference, "--routing-rules", good], removing: clean)
        #expect(ok.status == 0, "stderr: \(ok.stderr)")
        #expect(ok.stdout.hasPrefix("ok: "), "stdout: \(ok.stdout)")
        #expect(ok.stdout.contains("150 items") && ok.stdout.contains("1558 grids"), "stdout: \(ok.stdout)")

        // One department code misspelt in an otherwise good file: the error names it and its line.
        var lines = try String(contentsOfFile: good, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let line = try #require(lines.firstIndex { $0.contains("\"urban-mgmt\"") })
        lines[line] = lines[line].replacingOccurrences(of: "\"urban-mgmt\"", with: "\"urban-mgnt\"")
        let bad = dir.appendingPathComponent("routing.json").path
        try lines.joined(separator: "\n").write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try await runCommand(GridHubPaths.executable, ["router", "--check", "--reference-dir", reference, "--routing-rules", bad], removing: clean)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("urban-mgnt") && refused.stderr.contains("line \(line + 1):"), "stderr: \(refused.stderr)")
    }
}
