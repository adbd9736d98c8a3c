import ArgumentParser
import Foundation
import GridHubCore
import GridHubRouter
import GridHubRuntime
import Logging

/// `gridhub router`: the router daemon. State in PostgreSQL (`GRIDHUB_DATABASE_URL`).
struct RouterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router",
        abstract: "Run the router: incidents → deduplicated cases → dispatches, feedback, deadlines, surveys, status for every source.",
        discussion: "Reads GRIDHUB_BOOTSTRAP and GRIDHUB_DATABASE_URL (postgres://user:pass@host:port/db)."
    )

    @Option(help: "Serve /healthz, /readyz and /metrics on HOST:PORT.") var adminListen: String?
    @Option(help: "Configuration file (JSON object of flag names to values).") var config: String?
    @Option(help: "Folder of the reference data (default: Deploy/reference, or GRIDHUB_REFERENCE_DIR).") var referenceDir: String?
    @Option(help: "Routing rules file (default: routing.json beside the reference folder, i.e. Deploy/routing.json).") var routingRules: String?
    @Option(help: "Consumer group of the router instances.") var group: String?
    @Flag(help: "Check the configuration file, the reference data and the routing rules, say what is wrong, and exit (nothing is started; no Kafka or database needed).")
    var check = false

    func run() async throws {
        Runtime.bootstrapLogging()
        if check {
            let file: ConfigFile
            do { file = try ConfigFile.load(path: config) } catch let error as ConfigFileError { throw CommandFailure(error.message) }
            let checked = try validated(file)
            StandardOutput.writeLine("ok: \(file.path ?? "no configuration file"), reference data \(checked.directory.path) (\(checked.reference.items.count) items, \(checked.reference.grids.count) grids), routing rules \(checked.rulesPath)")
            return
        }
        let url = try DaemonSupport.secret(.databaseURL)
        let context = try DaemonSupport.context(configPath: config, label: "gridhub.router", command: self)
        let file = context.config
        let checked = try validated(file)
        let clockOffset = try DaemonSupport.number(.clockOffsetSeconds) ?? 0
        let routerEnvironment = RouterEnvironment(reference: checked.reference, rules: checked.rules, now: { Date().addingTimeInterval(clockOffset) })
        var daemonConfig = RouterDaemon.Configuration(databaseURL: url, kafka: context.kafka)
        if let g = file.value("group", commandLine: group) { daemonConfig.consumer.groupID = g }
        let daemon: RouterDaemon
        do { daemon = try RouterDaemon(configuration: daemonConfig, environment: routerEnvironment, metrics: context.metrics, logger: context.logger) } catch {
            throw CommandFailure("\(error)")
        }
        daemon.register(in: context.readiness)
        var services = daemon.services
        if let address = checked.admin {
            let logger = context.logger
            services.append(AdminRoutes.application(address: address, readiness: context.readiness, metrics: context.metrics, logger: logger) { port in
                DaemonSupport.announce(address.host, port, logger: logger)
            })
        }
        context.logger.info("router starting", metadata: ["gridhub.rules": .string(checked.rulesPath), "gridhub.allocator": .string(MemoryAllocator.current)])
        if !checked.rules.calendar.covers(Date()) {
            context.logger.warning("the routing rules' calendar has no holidays for this year: sources' working-day time limits count weekends only until they are added",
                                   metadata: ["gridhub.rules": .string(checked.rulesPath)])
        }
        try await context.run(services)
    }

    /// What the router validates before it starts, and `--check` without starting: the configuration
    /// file's keys, the admin address, the reference data and the routing rules.
    private func validated(_ file: ConfigFile) throws -> (admin: ListenAddress?, directory: URL, reference: ReferenceData, rulesPath: String, rules: RoutingRules) {
        do { try file.checkKeys(allowed: DaemonSupport.configKeys(of: self)) } catch let error as ConfigFileError { throw CommandFailure(error.message) }
        var admin: ListenAddress? = nil
        if let text = file.value("admin-listen", commandLine: adminListen) {
            guard let address = ListenAddress(text) else { throw CommandFailure("--admin-listen must be HOST:PORT, not \(text)") }
            admin = address
        }
        let directory = try ReferenceLocation.directory(explicit: file.value("reference-dir", commandLine: referenceDir))
        let reference = try ReferenceLocation.load(from: directory)
        let rulesPath = file.value("routing-rules", commandLine: routingRules) ?? RouterDaemon.defaultRulesPath(referenceDirectory: directory)
        let rules: RoutingRules
        do { rules = try RouterDaemon.loadRules(path: rulesPath, reference: reference) } catch { throw CommandFailure("\(error)") }
        return (admin, directory, reference, rulesPath, rules)
    }
}
