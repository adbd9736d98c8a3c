import ArgumentParser
import Foundation
import GridHubAdapters
import GridHubCore
import GridHubRuntime
import Logging
import ServiceLifecycle

/// `gridhub adapter enforcement`: reads the enforcement system's export files, writes its status files.
struct EnforcementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enforcement",
        abstract: "Read the enforcement system's case exports from an inbox; write status files to its outbox.",
        discussion: "Kafka from GRIDHUB_BOOTSTRAP. Every flag may come from --config FILE (flags win)."
    )

    @Option(help: "JSON configuration file (keys are flag names).") var config: String?
    @Option(help: "Folder the enforcement system exports ZFAJ_*.csv (+ .ok) into.") var inbox: String?
    @Option(help: "Folder the hub writes GRIDHUB_*.csv (+ .ok) status files into.") var outbox: String?
    @Option(help: "HOST:PORT for /healthz, /readyz, /metrics.") var adminListen: String?
    @Option(help: "State directory (ledgers; processed/ and failed/ export files).") var stateDir: String?
    @Option(help: "The enforcement department's code in departments.csv.") var department: String?
    @Option(help: "Folder of the reference data.") var referenceDir: String?

    func run() async throws {
        Runtime.bootstrapLogging()
        let context = try DaemonSupport.context(configPath: config, label: "gridhub.adapter.enforcement", command: self)
        let address = try DaemonSupport.address(context, "admin-listen", DaemonSupport.value(context, "admin-listen", adminListen) ?? "127.0.0.1:0")
        var settings = AdapterDaemons.EnforcementSettings(inbox: URL(fileURLWithPath: try DaemonSupport.require(context, "inbox", inbox)),
                                                          outbox: URL(fileURLWithPath: try DaemonSupport.require(context, "outbox", outbox)),
                                                          adminListen: address)
        settings.department = DaemonSupport.value(context, "department", department) ?? settings.department
        let reference = try DaemonSupport.reference(context, referenceDir)
        guard reference.department(code: settings.department) != nil else { throw CommandFailure("--department \(settings.department) is not in departments.csv") }
        let runtime = try DaemonSupport.runtime(context, system: .enforcement, stateDir: stateDir)
        let logger = context.logger
        try await context.run(try AdapterDaemons.services(settings, runtime: runtime, reference: reference, logger: logger) { port in
            DaemonSupport.announce(address.host, port, logger: logger)
        })
    }
}
