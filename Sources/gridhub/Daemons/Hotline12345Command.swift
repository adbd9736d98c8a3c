import ArgumentParser
import Foundation
import GridHubAdapters
import GridHubCore
import GridHubRuntime
import Logging
import ServiceLifecycle

/// `gridhub adapter hotline12345`: the 12345 hotline adapter daemon.
struct Hotline12345Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hotline12345",
        abstract: "Serve the 12345 hotline's push endpoints and report results back to the hotline.",
        discussion: "Secret from GRIDHUB_HOTLINE_SECRET; Kafka from GRIDHUB_BOOTSTRAP. Every flag may come from --config FILE (flags win)."
    )

    @Option(help: "JSON configuration file (keys are flag names).") var config: String?
    @Option(help: "HOST:PORT to listen on (port 0 picks one).") var listen: String?
    @Option(name: .customLong("hotline-url"), help: "Base URL of the hotline platform, for results (POST {url}/api/v1/gd/fk).") var hotlineURL: String?
    @Option(help: "PEM certificate chain: serve HTTPS instead of HTTP (with --tls-key).") var tlsCertificate: String?
    @Option(help: "PEM private key of --tls-certificate.") var tlsKey: String?
    @Option(help: "State directory (delivery ledger, outbound ledger).") var stateDir: String?
    @Option(help: "Folder of the reference data.") var referenceDir: String?

    func run() async throws {
        Runtime.bootstrapLogging()
        let context = try DaemonSupport.context(configPath: config, label: "gridhub.adapter.hotline12345", command: self)
        var settings = AdapterDaemons.Hotline12345Settings(
            listen: try DaemonSupport.address(context, "listen", listen),
            hotlineURL: try DaemonSupport.require(context, "hotline-url", hotlineURL),
            secret: Array(try DaemonSupport.secret(.hotlineSecret).utf8))
        settings.tls = try DaemonSupport.tls(context, certificate: tlsCertificate, key: tlsKey)
        let reference = try DaemonSupport.reference(context, referenceDir)
        let runtime = try DaemonSupport.runtime(context, system: .hotline12345, stateDir: stateDir)
        let logger = context.logger, host = settings.listen.host
        try await context.run(try AdapterDaemons.services(settings, runtime: runtime, reference: reference, logger: logger) { port in
            DaemonSupport.announce(host, port, logger: logger)
        })
    }
}
