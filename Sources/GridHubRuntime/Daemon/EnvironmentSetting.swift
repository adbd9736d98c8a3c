import Foundation
import GridHubKafka

/// Every environment variable a `gridhub` command reads: the one place they are named, each with what
/// it is for. `docs/configuration.md` documents every one (a test keeps the two in step, and another
/// finds no `GRIDHUB_` name in the sources that is not here).
///
/// A secret may instead be given as the path of a file holding it, in `<NAME>_FILE` (how container
/// platforms hand secrets over); giving both is refused, so that nobody wonders which one wins.
public struct EnvironmentSetting: Sendable, Hashable, CustomStringConvertible {
    /// The variable's name (for ``kafkaProperties``, the prefix of a family of names).
    public let name: String
    /// What it is for, in one line (the documentation says more).
    public let summary: String
    /// May come from the file named by `<name>_FILE`; never logged.
    public let isSecret: Bool
    /// `name` is a prefix: every variable starting with it belongs to this setting.
    public let isPrefix: Bool

    public var description: String { name }

    init(_ name: String, _ summary: String, secret: Bool = false, prefix: Bool = false) {
        self.name = name
        self.summary = summary
        self.isSecret = secret
        self.isPrefix = prefix
    }

    public static let bootstrap = EnvironmentSetting(KafkaEnvironment.bootstrapVariable, "the Kafka bootstrap servers, host:port[,host:port…]")
    public static let kafkaProperties = EnvironmentSetting(KafkaEnvironment.propertyPrefix, "any librdkafka property, upper-cased with dots as underscores", prefix: true)
    public static let databaseURL = EnvironmentSetting("GRIDHUB_DATABASE_URL", "the router's PostgreSQL, postgres://user:pass@host:port/db", secret: true)
    public static let hotlineSecret = EnvironmentSetting("GRIDHUB_HOTLINE_SECRET", "the 12345 platform's shared signing secret", secret: true)
    public static let elinkAPIKey = EnvironmentSetting("GRIDHUB_ELINK_API_KEY", "the API key 综治e通 presents on every batch", secret: true)
    public static let woodpeckerToken = EnvironmentSetting("GRIDHUB_WOODPECKER_TOKEN", "the City Woodpecker open API's bearer token", secret: true)
    public static let options = EnvironmentSetting("GRIDHUB_OPT_", "a daemon's flag set in the environment: GRIDHUB_OPT_<FLAG>, upper-cased with dashes as underscores (GRIDHUB_OPT_HOTLINE_URL=http://…)", prefix: true)
    public static let configFile = EnvironmentSetting("GRIDHUB_CONFIG", "a daemon's JSON configuration file (keys are its flag names)")
    public static let referenceDirectory = EnvironmentSetting("GRIDHUB_REFERENCE_DIR", "the folder of the reference data")
    public static let stateDirectory = EnvironmentSetting("GRIDHUB_STATE_DIR", "the parent of every adapter's state directory")
    public static let logLevel = EnvironmentSetting("GRIDHUB_LOG_LEVEL", "trace, debug, info, notice, warning, error or critical")
    public static let consoleUsers = EnvironmentSetting("GRIDHUB_CONSOLE_USERS", "the console's users file (JSON: name, PBKDF2 password hash, scope city or a town code)")
    public static let gatewayKeys = EnvironmentSetting("GRIDHUB_GATEWAY_KEYS", "the gateway's keys file (JSON: department, SHA-256 of its API key)")
    public static let ledgerRetentionDays = EnvironmentSetting("GRIDHUB_LEDGER_RETENTION_DAYS", "how long an adapter remembers a record it put on Kafka (days, default 180; longer than any source re-pushes)")
    public static let clockOffsetSeconds = EnvironmentSetting("GRIDHUB_CLOCK_OFFSET_SECONDS", "seconds added to the router's clock (tests and rehearsals only)")

    /// Every setting.
    public static let all: [EnvironmentSetting] = [
        bootstrap, kafkaProperties, options, databaseURL, hotlineSecret, elinkAPIKey, woodpeckerToken,
        configFile, referenceDirectory, stateDirectory, logLevel, consoleUsers, gatewayKeys, ledgerRetentionDays, clockOffsetSeconds,
    ]

    /// Names the commands print, not read (`GRIDHUB_LISTEN=host:port` on a daemon's first line).
    public static let printedNames: Set<String> = ["GRIDHUB_LISTEN"]

    /// The value, nil when not set (or empty); a secret's from `<name>_FILE` when that is set instead
    /// (the file's contents, one trailing line break dropped).
    public func value(in environment: [String: String] = ProcessInfo.processInfo.environment) throws(SettingError) -> String? {
        let direct = environment[name].flatMap { $0.isEmpty ? nil : $0 }
        guard isSecret, let path = environment[name + "_FILE"], !path.isEmpty else { return direct }
        guard direct == nil else { throw SettingError(self, "is set and so is \(name)_FILE: give one of them") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SettingError(self, "\(name)_FILE names \(path), which cannot be read")
        }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        if text.hasSuffix("\r") { text.removeLast() }
        guard !text.isEmpty else { throw SettingError(self, "\(name)_FILE names \(path), which is empty") }
        return text
    }

    /// The value, or an error naming the variable and saying what it is for.
    public func required(in environment: [String: String] = ProcessInfo.processInfo.environment) throws(SettingError) -> String {
        guard let value = try value(in: environment) else {
            throw SettingError(self, "is not set: it is \(summary)" + (isSecret ? " (or give a file holding it in \(name)_FILE)" : ""))
        }
        return value
    }
}

/// A setting from the environment is missing or unusable; the message names the variable.
public struct SettingError: Error, Sendable, CustomStringConvertible {
    /// The variable.
    public let setting: String
    /// What is wrong with it.
    public let problem: String

    public init(_ setting: EnvironmentSetting, _ problem: String) {
        self.setting = setting.name
        self.problem = problem
    }

    public var description: String { "\(setting) \(problem)" }
}
