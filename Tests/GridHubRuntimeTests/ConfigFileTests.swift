import Foundation
import GridHubRuntime
import Testing

@Suite("A daemon's configuration: command line, environment, file")
struct ConfigFileTests {
    static func file(_ json: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-config-\(UUID().uuidString).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("the command line wins over the environment, the environment over the file; a number in the file is its text")
    func layering() throws {
        let path = try Self.file(#"{"listen": "127.0.0.1:8001", "hotline-url": "http://file", "max-body-bytes": 65536}"#)
        defer { unlink(path) }
        let config = try ConfigFile.load(path: path, environment: ["GRIDHUB_OPT_HOTLINE_URL": "http://environment", "HOME": "/root"])
        #expect(config.value("listen", commandLine: nil) == "127.0.0.1:8001")
        #expect(config.value("hotline-url", commandLine: nil) == "http://environment")
        #expect(config.value("hotline-url", commandLine: "http://command-line") == "http://command-line")
        #expect(config.value("max-body-bytes", commandLine: nil) == "65536")
        #expect(config.value("state-dir", commandLine: nil) == nil)
        #expect(config.values == ["listen": "127.0.0.1:8001", "hotline-url": "http://environment", "max-body-bytes": "65536"])
        #expect(try config.address("listen", commandLine: nil).port == 8001)
    }

    @Test("GRIDHUB_CONFIG names the file when --config does not")
    func fileFromEnvironment() throws {
        let path = try Self.file(#"{"listen": "127.0.0.1:8002"}"#)
        defer { unlink(path) }
        let config = try ConfigFile.load(path: nil, environment: ["GRIDHUB_CONFIG": path])
        #expect(config.path == path)
        #expect(config.value("listen", commandLine: nil) == "127.0.0.1:8002")
    }

    @Test("a key or GRIDHUB_OPT_ variable that is no flag of the command is refused, naming it; so are a value that is neither text nor a number and a file that is no object")
    func refusals() throws {
        let path = try Self.file(#"{"listen": "127.0.0.1:8003", "lisen": "x"}"#)
        defer { unlink(path) }
        let flags: Set<String> = ["listen", "hotline-url"]
        let misspeltKey = try ConfigFile.load(path: path, environment: [:])
        #expect(throws: ConfigFileError.self) { try misspeltKey.checkKeys(allowed: flags) }
        do { try misspeltKey.checkKeys(allowed: flags) } catch let error as ConfigFileError { #expect(error.message.contains("\"lisen\"")) }
        let misspeltVariable = ConfigFile(environment: ["GRIDHUB_OPT_HOTLINE_UR": "http://x"])
        do { try misspeltVariable.checkKeys(allowed: flags); Issue.record("accepted GRIDHUB_OPT_HOTLINE_UR") } catch let error as ConfigFileError {
            #expect(error.message.contains("GRIDHUB_OPT_HOTLINE_UR") && error.message.contains("GRIDHUB_OPT_HOTLINE_URL"))
        }
        #expect(throws: Never.self) { try ConfigFile(fileValues: ["listen": "x"], environment: ["GRIDHUB_OPT_HOTLINE_URL": "y"]).checkKeys(allowed: flags) }
        let nested = try Self.file(#"{"listen": {"host": "x"}}"#)
        defer { unlink(nested) }
        #expect(throws: ConfigFileError.self) { try ConfigFile.load(path: nested, environment: [:]) }
        let array = try Self.file(#"["listen"]"#)
        defer { unlink(array) }
        #expect(throws: ConfigFileError.self) { try ConfigFile.load(path: array, environment: [:]) }
        #expect(throws: ConfigFileError.self) { try ConfigFile.load(path: "/nonexistent/gridhub.json", environment: [:]) }
    }

    @Test("a required flag that is set nowhere is refused, naming the flag")
    func required() {
        do { _ = try ConfigFile().require("hotline-url", commandLine: nil); Issue.record("accepted a missing flag") } catch let error as ConfigFileError {
            #expect(error.message.contains("--hotline-url is required"))
        } catch { Issue.record("\(error)") }
    }
}
