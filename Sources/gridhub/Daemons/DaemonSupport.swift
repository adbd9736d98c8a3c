import ArgumentParser
import Foundation
import GridHubAdapters
import GridHubCore
import GridHubRuntime
import Logging

/// What the adapter commands share: the daemon context (config file + Kafka environment), state
/// directory, reference data, and the secrets read from the environment.
enum DaemonSupport {
    /// The context, or a clear failure (a daemon without `GRIDHUB_BOOTSTRAP` refuses to start, and a
    /// configuration file with a key that is not one of `command`'s flags is refused).
    static func context(configPath: String?, label: String, command: some ParsableArguments) throws -> DaemonContext {
        do {
            let context = try DaemonContext.fromEnvironment(configPath: configPath, label: label)
            try context.config.checkKeys(allowed: configKeys(of: command))
            return context
        } catch let error as ConfigFileError {
            throw CommandFailure(error.message)
        }
    }

    /// The keys a configuration file may hold for `command`: its long option names (``ArgumentParser``'s
    /// names from the properties, `adminListen` → `admin-listen`, `hotlineURL` → `hotline-url`), but
    /// not `config` itself.
    static func configKeys(of command: some ParsableArguments) -> Set<String> {
        var keys: Set<String> = []
        for child in Mirror(reflecting: command).children {
            // Options only: a flag such as `--check` is an action, not configuration.
            guard var name = child.label, String(describing: type(of: child.value)).hasPrefix("Option<") else { continue }
            if name.hasPrefix("_") { name.removeFirst() }
            keys.insert(kebabCase(name))
        }
        keys.remove("config")
        return keys
    }

    /// `adminListen` → `admin-listen`; a run of capitals is one word (`hotlineURL` → `hotline-url`).
    static func kebabCase(_ name: String) -> String {
        let chars = Array(name)
        var out = ""
        for (i, c) in chars.enumerated() {
            if c.isUppercase, i > 0 {
                let previousLower = chars[i - 1].isLowercase || chars[i - 1].isNumber
                let nextLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if previousLower || (chars[i - 1].isUppercase && nextLower) { out.append("-") }
            }
            out.append(Character(c.lowercased()))
        }
        return out
    }

    /// A value from the configuration, the command line winning.
    static func value(_ context: DaemonContext, _ flag: String, _ commandLine: String?) -> String? {
        context.config.value(flag, commandLine: commandLine)
    }

    static func require(_ context: DaemonContext, _ flag: String, _ commandLine: String?) throws -> String {
        do { return try context.config.require(flag, commandLine: commandLine) } catch let error as ConfigFileError { throw CommandFailure(error.message) }
    }

    static func address(_ context: DaemonContext, _ flag: String, _ commandLine: String?) throws -> ListenAddress {
        do { return try context.config.address(flag, commandLine: commandLine) } catch let error as ConfigFileError { throw CommandFailure(error.message) }
    }

    /// `--tls-certificate` and `--tls-key` (or their keys): both, or neither, and both files usable; a
    /// clear failure otherwise. The files are read here, before the reference data and Kafka, so a
    /// daemon given a wrong file says so at once.
    static func tls(_ context: DaemonContext, certificate: String?, key: String?) throws -> TLSFiles? {
        do {
            let files = try TLSFiles.from(certificate: value(context, "tls-certificate", certificate), key: value(context, "tls-key", key))
            _ = try files?.serverConfiguration()
            return files
        } catch { throw CommandFailure(error.message) }
    }

    /// A file named by a flag, else by an environment setting; a clear failure naming both when neither.
    static func requiredFile(_ context: DaemonContext, _ flag: String, _ commandLine: String?, or setting: EnvironmentSetting, what: String) throws -> String {
        if let path = value(context, flag, commandLine) { return path }
        if let path = try? setting.value() { return path }
        throw CommandFailure("\(what): --\(flag) or \(setting.name)")
    }

    /// A secret from the environment (or the file `<NAME>_FILE` names), or a clear failure naming the variable.
    static func secret(_ setting: EnvironmentSetting) throws -> String {
        do { return try setting.required() } catch { throw CommandFailure(error.description) }
    }

    /// A secret that may be absent (nil), or a clear failure naming the variable when it is unusable.
    static func optionalSecret(_ setting: EnvironmentSetting) throws -> String? {
        do { return try setting.value() } catch { throw CommandFailure(error.description) }
    }

    /// A number from the environment, nil when unset, or a clear failure naming the variable.
    static func number(_ setting: EnvironmentSetting) throws -> Double? {
        do throws(SettingError) {
            guard let text = try setting.value() else { return nil }
            guard let number = Double(text), number.isFinite else { throw SettingError(setting, "is \(text), not a number") }
            return number
        } catch { throw CommandFailure(error.description) }
    }

    static func reference(_ context: DaemonContext, _ commandLine: String?) throws -> ReferenceData {
        let directory = try ReferenceLocation.directory(explicit: value(context, "reference-dir", commandLine))
        return try ReferenceLocation.load(from: directory)
    }

    static func runtime(_ context: DaemonContext, system: SourceSystem, stateDir: String?) throws -> AdapterRuntime {
        let directory = AdapterRuntime.stateDirectory(flag: value(context, "state-dir", stateDir), adapter: system.rawValue)
        context.logger.info("adapter starting", metadata: ["gridhub.adapter": .string(system.rawValue), "gridhub.allocator": .string(MemoryAllocator.current)])
        return try AdapterRuntime(system: system, kafka: context.kafka, stateDirectory: directory, metrics: context.metrics,
                                  readiness: context.readiness, logger: context.logger, ledgerRetention: ledgerRetention())
    }

    /// `GRIDHUB_LEDGER_RETENTION_DAYS` in seconds, the default when unset, or a clear failure.
    static func ledgerRetention() throws -> TimeInterval {
        guard let days = try number(.ledgerRetentionDays) else { return DeliveryLedger.defaultRetention }
        guard days > 0 else { throw CommandFailure("\(EnvironmentSetting.ledgerRetentionDays.name) is \(days), not a positive number of days") }
        return days * 24 * 3600
    }

    /// Prints the bound address on stdout (`GRIDHUB_LISTEN=host:port`) and logs it.
    static func announce(_ host: String, _ port: Int, logger: Logger) {
        StandardOutput.writeLine("GRIDHUB_LISTEN=\(host):\(port)")
        logger.info("listening", metadata: ["http.host": .string(host), "http.port": .stringConvertible(port)])
    }
}
