import ArgumentParser
import Foundation
import GridHubAdapters
import GridHubCore
import GridHubRuntime
import Logging
import ServiceLifecycle

/// `gridhub adapter woodpecker`: polls City Woodpecker's open API and posts replies.
struct WoodpeckerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "woodpecker",
        abstract: "Poll City Woodpecker's open API for new and changed reports; reply to citizens in the app.",
        discussion: "Token from GRIDHUB_WOODPECKER_TOKEN; Kafka from GRIDHUB_BOOTSTRAP. Every flag may come from --config FILE (flags win)."
    )

    @Option(help: "JSON configuration file (keys are flag names).") var config: String?
    @Option(help: "Base URL of the Woodpecker open API.") var api: String?
    @Option(help: "HOST:PORT for /healthz, /readyz, /metrics.") var adminListen: String?
    @Option(help: "State directory (ledgers, cursor).") var stateDir: String?
    @Option(help: "Folder of the reference data.") var referenceDir: String?

    func run() async throws {
        Runtime.bootstrapLogging()
        let context = try DaemonSupport.context(configPath: config, label: "gridhub.adapter.woodpecker", command: self)
        let address = try DaemonSupport.address(context, "admin-listen", DaemonSupport.value(context, "admin-listen", adminListen) ?? "127.0.0.1:0")
        let settings = AdapterDaemons.WoodpeckerSettings(apiURL: try DaemonSupport.require(context, "api", api),
                                                         token: try DaemonSupport.secret(.woodpeckerToken), adminListen: address)
        let reference = try DaemonSupport.reference(context, referenceDir)
        let runtime = try DaemonSupport.runtime(context, system: .woodpecker, stateDir: stateDir)
        let logger = context.logger
        try await context.run(try AdapterDaemons.services(settings, runtime: runtime, reference: reference, logger: logger) { port in
            DaemonSupport.announce(address.host, port, logger: logger)
        })
    }
}
