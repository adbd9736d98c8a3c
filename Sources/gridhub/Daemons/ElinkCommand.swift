import ArgumentParser
import Foundation
import GridHubAdapters
import GridHubCore
import GridHubRuntime
import Logging
import ServiceLifecycle

/// `gridhub adapter elink`: the 综治e通 adapter daemon.
struct ElinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "elink",
        abstract: "Serve 综治e通's event-batch push endpoint.",
        discussion: "API key from GRIDHUB_ELINK_API_KEY; Kafka from GRIDHUB_BOOTSTRAP. Every flag may come from --config FILE (flags win). "
            + "Status goes back to 综治e通 on gridhub.status.elink.v1, which the platform reads itself."
    )

    @Option(help: "JSON configuration file (keys are flag names).") var config: String?
    @Option(help: "HOST:PORT to listen on (port 0 picks one).") var listen: String?
    @Option(help: "PEM certificate chain: serve HTTPS instead of HTTP (with --tls-key).") var tlsCertificate: String?
    @Option(help: "PEM private key of --tls-certificate.") var tlsKey: String?
    @Option(help: "State directory (delivery ledger).") var stateDir: String?
    @Option(help: "Folder of the reference data.") var referenceDir: String?

    func run() async throws {
        Runtime.bootstrapLogging()
        let context = try DaemonSupport.context(configPath: config, label: "gridhub.adapter.elink", command: self)
        var settings = AdapterDaemons.ElinkSettings(listen: try DaemonSupport.address(context, "listen", listen),
                                                    apiKey: try DaemonSupport.secret(.elinkAPIKey))
        settings.tls = try DaemonSupport.tls(context, certificate: tlsCertificate, key: tlsKey)
        let reference = try DaemonSupport.reference(context, referenceDir)
        let runtime = try DaemonSupport.runtime(context, system: .elink, stateDir: stateDir)
        let logger = context.logger, host = settings.listen.host
        try await context.run(AdapterDaemons.services(settings, runtime: runtime, reference: reference, logger: logger) { port in
            DaemonSupport.announce(host, port, logger: logger)
        })
    }
}
