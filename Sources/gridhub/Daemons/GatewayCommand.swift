import ArgumentParser
import Foundation
import GridHubCore
import GridHubGateway
import GridHubRuntime
import Logging

/// `gridhub gateway`: the department gateway (a daemon like the others).
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Run the department gateway: open dispatches (list, SSE stream) and feedback over HTTP with per-department keys, Open311 GeoReport v2.",
        discussion: """
            Reads GRIDHUB_DATABASE_URL (the router's database; read only), GRIDHUB_BOOTSTRAP (feedback is written to \
            gridhub.feedback.v1) and the keys file (--keys or GRIDHUB_GATEWAY_KEYS; make keys with gridhub gateway key). The \
            API: Schemas/gateway.openapi.yaml, served at /openapi.yaml.
            """,
        subcommands: [Serve.self, Key.self],
        defaultSubcommand: Serve.self
    )

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the gateway (the default).")
        @Option(help: "HOST:PORT to listen on (port 0 picks a free one; the bound address is printed as GRIDHUB_LISTEN=…).") var listen: String?
        @Option(help: "The keys file (default: GRIDHUB_GATEWAY_KEYS).") var keys: String?
        @Option(help: "The OpenAPI document to serve at /openapi.yaml (default: Schemas/gateway.openapi.yaml here, or /usr/share/gridhub/gateway.openapi.yaml).") var openapi: String?
        @Option(help: "PEM certificate chain: serve HTTPS instead of HTTP (with --tls-key).") var tlsCertificate: String?
        @Option(help: "PEM private key of --tls-certificate.") var tlsKey: String?
        @Option(help: "Configuration file (JSON object of flag names to values).") var config: String?
        @Option(help: "Folder of the reference data (default: Deploy/reference, or GRIDHUB_REFERENCE_DIR).") var referenceDir: String?

        func run() async throws {
            Runtime.bootstrapLogging()
            let url = try DaemonSupport.secret(.databaseURL)
            let context = try DaemonSupport.context(configPath: config, label: "gridhub.gateway", command: self)
            let address = try DaemonSupport.address(context, "listen", listen)
            let reference = try DaemonSupport.reference(context, referenceDir)
            let keysPath = try DaemonSupport.requiredFile(context, "keys", keys, or: .gatewayKeys,
                                                          what: "the gateway needs its keys file (make keys with gridhub gateway key)")
            var configuration = Gateway.Configuration(listen: address, databaseURL: url, kafka: context.kafka)
            let table: GatewayKeys
            do { table = try GatewayKeys.load(path: keysPath, reference: reference) } catch { throw CommandFailure(error.message) }
            configuration.tls = try DaemonSupport.tls(context, certificate: tlsCertificate, key: tlsKey)
            let candidates = [DaemonSupport.value(context, "openapi", openapi), "Schemas/gateway.openapi.yaml", "/usr/share/gridhub/gateway.openapi.yaml"].compactMap { $0 }
            let document = candidates.lazy.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.first
            let gateway = try Gateway(configuration: configuration, reference: reference, keys: table, openAPI: document, logger: context.logger)
            let logger = context.logger
            try await context.run(try gateway.services(readiness: context.readiness, metrics: context.metrics) { port in
                DaemonSupport.announce(address.host, port, logger: logger)
            })
        }
    }

    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a department's API key: prints the key (give it to the department) and the keys-file entry (only its hash).")
        @Argument(help: "A department code of departments.csv.") var department: String

        func run() async throws {
            let (key, entry) = GatewayKeys.make(department: department)
            StandardOutput.writeLine("key: \(key)")
            StandardOutput.writeLine("entry: " + String(decoding: try JSONEncoder().encode(entry), as: UTF8.self))
        }
    }
}
