import Configuration
import Foundation

/// A daemon's configuration: its file, a JSON object whose keys are the command's long flag names
/// (`"listen": "0.0.0.0:8080"`, `"hotline-url": "http://…"`), named by `--config FILE` or
/// `GRIDHUB_CONFIG`; and the environment, where `GRIDHUB_OPT_<FLAG>` sets a flag (`GRIDHUB_OPT_LISTEN`,
/// `GRIDHUB_OPT_HOTLINE_URL`: upper-cased, dashes as underscores), for containers configured only
/// through their environment. Flags on the command line win, then the environment, then the file.
///
/// The layering is apple/swift-configuration's: a `ConfigReader` over the environment (its provider's
/// key scheme turns `gridhub.opt.hotline-url` into `GRIDHUB_OPT_HOTLINE_URL`) and the file. What it does
/// not offer is ours: the file is read strictly (a value must be a string or a number), and every key
/// of the file and every `GRIDHUB_OPT_*` variable must be one of the command's flags (``checkKeys(allowed:)``)
/// — a misspelt setting that is silently ignored is an outage found late.
public struct ConfigFile: Sendable {
    public static let environmentVariable = EnvironmentSetting.configFile.name
    /// The prefix of a flag set in the environment.
    public static let optionPrefix = EnvironmentSetting.options.name
    /// The file, nil when none is named.
    public let path: String?
    /// The flags the file sets.
    public let fileKeys: Set<String>
    /// The flags set in the environment, by flag name, with the variable that set each.
    public let fromEnvironment: [String: String]
    private let reader: ConfigReader

    /// The configuration of `fileValues` (flag name → value, from the file at `path`) with `environment`'s
    /// `GRIDHUB_OPT_*` variables over them.
    public init(fileValues: [String: String] = [:], path: String? = nil, environment: [String: String] = [:]) {
        self.path = path
        fileKeys = Set(fileValues.keys)
        var fromEnvironment: [String: String] = [:]
        for name in environment.keys where name.hasPrefix(Self.optionPrefix) && name.count > Self.optionPrefix.count {
            fromEnvironment[Self.flag(ofVariable: name)] = name
        }
        self.fromEnvironment = fromEnvironment
        let file = InMemoryProvider(name: path ?? "no configuration file", values: Dictionary(uniqueKeysWithValues: fileValues.map { flag, value in
            (AbsoluteConfigKey([flag]), ConfigValue(.string(value), isSecret: false))
        }))
        let variables = EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: ConfigKey(["gridhub", "opt"]))
        reader = ConfigReader(providers: [variables, file])
    }

    /// `GRIDHUB_OPT_HOTLINE_URL` → `hotline-url`.
    static func flag(ofVariable name: String) -> String {
        String(name.dropFirst(optionPrefix.count)).lowercased().replacingOccurrences(of: "_", with: "-")
    }

    /// Loads `path` (or `GRIDHUB_CONFIG` when nil; no file means an empty one) under `environment`.
    public static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ConfigFile {
        guard let path = path ?? environment[environmentVariable], !path.isEmpty else { return ConfigFile(environment: environment) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigFileError(message: "cannot read configuration file \(path): \(error.localizedDescription)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ConfigFileError(message: "configuration file \(path) is not a JSON object of flag names to values")
        }
        var values: [String: String] = [:]
        for (key, value) in object {
            switch value {
            case let s as String: values[key] = s
            case let n as NSNumber: values[key] = n.stringValue
            default: throw ConfigFileError(message: "configuration file \(path): \"\(key)\" must be a string or a number")
            }
        }
        return ConfigFile(fileValues: values, path: path, environment: environment)
    }

    /// Refuses keys that are not among `flags` (the command's long flag names): a misspelt key would
    /// otherwise be ignored without a word, and the daemon would run on a default nobody chose.
    public func checkKeys(allowed flags: Set<String>) throws {
        let misspelt = fromEnvironment.filter { !flags.contains($0.key) }.map(\.value).sorted()
        guard misspelt.isEmpty else {
            throw ConfigFileError(message: "unknown \(misspelt.joined(separator: ", ")): this command's flags are \(flags.sorted().map { Self.optionPrefix + $0.uppercased().replacingOccurrences(of: "-", with: "_") }.joined(separator: ", "))")
        }
        let unknown = fileKeys.filter { !flags.contains($0) }.sorted()
        guard !unknown.isEmpty else { return }
        let keys = unknown.map { "\"\($0)\"" }.joined(separator: ", ")
        throw ConfigFileError(message: "configuration file \(path ?? "-"): unknown key\(unknown.count == 1 ? "" : "s") \(keys); this command takes \(flags.sorted().joined(separator: ", "))")
    }

    /// The flags the file or the environment set, each with its value (the environment's over the file's).
    public var values: [String: String] {
        Dictionary(uniqueKeysWithValues: fileKeys.union(fromEnvironment.keys).compactMap { flag in value(flag, commandLine: nil).map { (flag, $0) } })
    }

    /// The flag's value: the command line's when given, else the environment's, else the file's.
    public func value(_ flag: String, commandLine: String?) -> String? {
        commandLine ?? reader.string(forKey: ConfigKey([flag]))
    }

    /// A required value; the error names the flag and the file.
    public func require(_ flag: String, commandLine: String?) throws -> String {
        guard let v = value(flag, commandLine: commandLine), !v.isEmpty else {
            throw ConfigFileError(message: "--\(flag) is required (on the command line or as \"\(flag)\" in the configuration file)")
        }
        return v
    }

    /// A required listen address.
    public func address(_ flag: String, commandLine: String?) throws -> ListenAddress {
        let text = try require(flag, commandLine: commandLine)
        guard let address = ListenAddress(text) else { throw ConfigFileError(message: "--\(flag) must be HOST:PORT, not \(text)") }
        return address
    }
}

/// A configuration problem, said in one sentence.
public struct ConfigFileError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
