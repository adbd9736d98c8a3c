import Foundation
@testable import gridhub
import GridHubRuntime
import GridHubSimulation
import GridHubTesting
import Testing

/// docs/configuration.md is the one page of every setting: kept in step with what the code reads.
@Suite("Configuration documentation")
struct ConfigurationDocsTests {
    static let page: String = (try? String(contentsOf: GridHubPaths.packageRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)) ?? ""

    /// `GRIDHUB_…` names in `text`.
    static func names(in text: String) -> Set<String> {
        let pattern = try! NSRegularExpression(pattern: "GRIDHUB_[A-Z0-9_]+")
        return Set(pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { Range($0.range, in: text).map { String(text[$0]) } })
    }

    /// Whether `name` is a setting, a secret's `_FILE` form, one of the Kafka properties, or printed.
    static func known(_ name: String) -> Bool {
        let exact = EnvironmentSetting.all.filter { !$0.isPrefix }.map(\.name)
        if exact.contains(name) || EnvironmentSetting.printedNames.contains(name) { return true }
        if EnvironmentSetting.all.contains(where: { $0.isSecret && name == $0.name + "_FILE" }) { return true }
        return EnvironmentSetting.all.contains { $0.isPrefix && name.hasPrefix($0.name) }
    }

    @Test("every environment variable the code reads has its row, and the page names no variable the code does not read")
    func environment() {
        #expect(!Self.page.isEmpty)
        for setting in EnvironmentSetting.all {
            let row = setting.isPrefix ? "| `\(setting.name)<PROPERTY>` |" : "| `\(setting.name)` |"
            #expect(Self.page.contains(row), "docs/configuration.md has no row for \(setting.name)")
        }
        for name in Self.names(in: Self.page) {
            #expect(Self.known(name), "docs/configuration.md names \(name), which no command reads")
        }
    }

    @Test("the sources name no GRIDHUB_ variable outside the catalogue of settings")
    func sources() throws {
        let sources = GridHubPaths.packageRoot.appendingPathComponent("Sources")
        let files = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)).compactMap { $0 as? URL }
            .filter { $0.pathExtension == "swift" && !$0.path.contains("/GridHubTesting/") }
        #expect(files.count > 50)
        for file in files {
            for name in Self.names(in: try String(contentsOf: file, encoding: .utf8)) {
                #expect(Self.known(name), "\(file.lastPathComponent) reads \(name), which is not an EnvironmentSetting (and so not documented)")
            }
        }
    }

    @Test("every flag of every daemon has its row in the daemon's section", arguments: [
        ("gridhub router", DaemonSupport.configKeys(of: RouterCommand())),
        ("gridhub adapter hotline12345", DaemonSupport.configKeys(of: Hotline12345Command())),
        ("gridhub adapter elink", DaemonSupport.configKeys(of: ElinkCommand())),
        ("gridhub adapter woodpecker", DaemonSupport.configKeys(of: WoodpeckerCommand())),
        ("gridhub adapter enforcement", DaemonSupport.configKeys(of: EnforcementCommand())),
        ("gridhub console", DaemonSupport.configKeys(of: ConsoleCommand.Serve())),
        ("gridhub gateway", DaemonSupport.configKeys(of: GatewayCommand.Serve())),
    ])
    func flags(command: String, keys: Set<String>) throws {
        let heading = "### `\(command)`"
        let start = try #require(Self.page.range(of: heading), "no section \(heading)")
        let rest = Self.page[start.upperBound...]
        let section = rest.range(of: "\n#").map { rest[..<$0.lowerBound] } ?? rest
        #expect(!keys.isEmpty)
        for key in keys.union(["config"]) {
            #expect(section.contains("| `--\(key)` |"), "\(command): --\(key) has no row")
        }
        let documented = Set(section.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `--"), let end = line.dropFirst(5).firstIndex(of: "`") else { return nil }
            return String(line[line.index(line.startIndex, offsetBy: 5)..<end])
        })
        #expect(documented == keys.union(["config"]), "\(command): documented \(documented.sorted()), flags \(keys.sorted())")
    }
}

/// Secrets from the environment or from the file `<NAME>_FILE` names.
@Suite("Environment settings")
struct EnvironmentSettingTests {
    @Test("a secret comes from the variable or from the file its _FILE names (one line break dropped); both, an unreadable or an empty file are refused, naming the variable")
    func secretFromFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-secret-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("s3cret\n".utf8).write(to: file)
        let setting = EnvironmentSetting.hotlineSecret
        #expect(try setting.value(in: ["GRIDHUB_HOTLINE_SECRET": "direct"]) == "direct")
        #expect(try setting.value(in: ["GRIDHUB_HOTLINE_SECRET_FILE": file.path]) == "s3cret")
        #expect(try setting.value(in: [:]) == nil)
        #expect(try setting.value(in: ["GRIDHUB_HOTLINE_SECRET": ""]) == nil)
        func problem(_ environment: [String: String]) -> String? {
            do { _ = try setting.required(in: environment); return nil } catch { return error.description }
        }
        #expect(problem(["GRIDHUB_HOTLINE_SECRET": "a", "GRIDHUB_HOTLINE_SECRET_FILE": file.path])?.hasPrefix("GRIDHUB_HOTLINE_SECRET is set and so is GRIDHUB_HOTLINE_SECRET_FILE") == true)
        #expect(problem(["GRIDHUB_HOTLINE_SECRET_FILE": "/nonexistent/secret"])?.contains("cannot be read") == true)
        #expect(problem([:])?.hasPrefix("GRIDHUB_HOTLINE_SECRET is not set") == true)
        try Data("\n".utf8).write(to: file)
        #expect(problem(["GRIDHUB_HOTLINE_SECRET_FILE": file.path])?.contains("empty") == true)
        // Not a secret: its _FILE form means nothing.
        #expect(try EnvironmentSetting.logLevel.value(in: ["GRIDHUB_LOG_LEVEL_FILE": file.path]) == nil)
    }

    @Test("a daemon started with a secret in a file runs; one with an unusable clock offset stops naming the variable")
    func daemonsReadThem() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-secret-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("key-from-file\n".utf8).write(to: file)
        let missing = try await runCommand(GridHubPaths.executable, ["adapter", "elink", "--listen", "127.0.0.1:0"],
                                           environment: ["GRIDHUB_BOOTSTRAP": "127.0.0.1:9", "GRIDHUB_ELINK_API_KEY_FILE": "/nonexistent/key"],
                                           removing: ["GRIDHUB_ELINK_API_KEY"], timeout: .seconds(30))
        #expect(missing.status != 0 && missing.stderr.contains("GRIDHUB_ELINK_API_KEY_FILE names /nonexistent/key, which cannot be read"), "\(missing.stderr)")
        // The key from the file is the key: a batch with it gets past authentication, one with another does not.
        let adapter = try ChildProcess(GridHubPaths.executable, ["adapter", "elink", "--listen", "127.0.0.1:0",
                                                                 "--state-dir", FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-elink-\(UUID().uuidString.prefix(8))").path],
                                       environment: ["GRIDHUB_BOOTSTRAP": "127.0.0.1:9", "GRIDHUB_ELINK_API_KEY_FILE": file.path, "GRIDHUB_LOG_LEVEL": "error"])
        defer { adapter.signal(SIGKILL) }
        let listen = try await adapter.firstLine()
        let url = "http://" + listen.dropFirst("GRIDHUB_LISTEN=".count)
        let platform = ElinkPlatform(hubURL: url, apiKey: "key-from-file")
        let batch = ElinkPlatform.body(batchId: "B-KEY", events: [])
        #expect(try await platform.push(body: batch, apiKey: "key-from-fil").httpStatus == 401)
        #expect(try await platform.push(body: batch, apiKey: "another").httpStatus == 401)
        #expect(try await platform.push(body: batch).httpStatus != 401)
        // Every request is counted by route and status on /metrics (Hummingbird's middleware through swift-metrics).
        let metrics = try await httpGet(url + "/metrics").1
        let counted = metrics.split(separator: "\n").filter { $0.hasPrefix("http_server_request_duration_count{") && $0.contains("http_route=\"/elink/events\"") }
        let requests: Double = counted.reduce(0) { sum, line in sum + (line.split(separator: " ").last.flatMap { Double($0) } ?? 0) }
        #expect(requests == 3, "\(metrics)")
        // Flags from the environment alone, as a container is configured: the adapter runs; a misspelt one is refused, named.
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-elink-env-\(UUID().uuidString.prefix(8))").path
        let fromEnvironment = try ChildProcess(GridHubPaths.executable, ["adapter", "elink"],
                                               environment: ["GRIDHUB_BOOTSTRAP": "127.0.0.1:9", "GRIDHUB_ELINK_API_KEY": "k", "GRIDHUB_LOG_LEVEL": "error",
                                                             "GRIDHUB_OPT_LISTEN": "127.0.0.1:0", "GRIDHUB_OPT_STATE_DIR": state])
        defer { fromEnvironment.signal(SIGKILL) }
        #expect(try await fromEnvironment.firstLine().hasPrefix("GRIDHUB_LISTEN=127.0.0.1:"))
        #expect(FileManager.default.fileExists(atPath: state), "the state folder named by GRIDHUB_OPT_STATE_DIR")
        let misspelt = try await runCommand(GridHubPaths.executable, ["adapter", "elink"],
                                            environment: ["GRIDHUB_BOOTSTRAP": "127.0.0.1:9", "GRIDHUB_ELINK_API_KEY": "k", "GRIDHUB_OPT_LISTN": "127.0.0.1:0"], timeout: .seconds(30))
        #expect(misspelt.status != 0 && misspelt.stderr.contains("unknown GRIDHUB_OPT_LISTN") && misspelt.stderr.contains("GRIDHUB_OPT_LISTEN"), "\(misspelt.stderr)")
        let offset = try await runCommand(GridHubPaths.executable, ["router"],
                                          environment: ["GRIDHUB_BOOTSTRAP": "127.0.0.1:9", "GRIDHUB_DATABASE_URL": "postgres://a:b@127.0.0.1:9/x",
                                                        "GRIDHUB_CLOCK_OFFSET_SECONDS": "soon"], timeout: .seconds(30))
        #expect(offset.status != 0 && offset.stderr.contains("GRIDHUB_CLOCK_OFFSET_SECONDS is soon, not a number"), "\(offset.stderr)")
    }
}
