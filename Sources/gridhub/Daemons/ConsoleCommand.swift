import ArgumentParser
import Foundation
import GridHubConsole
import GridHubCore
import GridHubRuntime
import Logging

/// `gridhub console`: the command centre's web console (a daemon like the others).
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Run the command centre's web console: the map of grids, queues, cases and their commands, the assessment, dead letters.",
        discussion: """
            Reads GRIDHUB_DATABASE_URL (the router's database; read only), GRIDHUB_BOOTSTRAP (commands are sent on \
            gridhub.commands.v1) and the users file (--users or GRIDHUB_CONSOLE_USERS). /healthz, /readyz and /metrics are \
            served on the same address.
            """,
        subcommands: [Serve.self, Passwd.self],
        defaultSubcommand: Serve.self
    )

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the console (the default).")
        @Option(help: "HOST:PORT to listen on (port 0 picks a free one; the bound address is printed as GRIDHUB_LISTEN=…).") var listen: String?
        @Option(help: "The users file (default: GRIDHUB_CONSOLE_USERS).") var users: String?
        @Option(help: "PEM certificate chain: serve HTTPS instead of HTTP (with --tls-key).") var tlsCertificate: String?
        @Option(help: "PEM private key of --tls-certificate.") var tlsKey: String?
        @Option(help: "Configuration file (JSON object of flag names to values).") var config: String?
        @Option(help: "Folder of the reference data (default: Deploy/reference, or GRIDHUB_REFERENCE_DIR).") var referenceDir: String?

        func run() async throws {
            Runtime.bootstrapLogging()
            let url = try DaemonSupport.secret(.databaseURL)
            let context = try DaemonSupport.context(configPath: config, label: "gridhub.console", command: self)
            let address = try DaemonSupport.address(context, "listen", listen)
            let reference = try DaemonSupport.reference(context, referenceDir)
            let usersPath = try DaemonSupport.requiredFile(context, "users", users, or: .consoleUsers,
                                                           what: "the console needs its users file (make password hashes with gridhub console passwd)")
            let table: ConsoleUsers
            do { table = try ConsoleUsers.load(path: usersPath, reference: reference) } catch { throw CommandFailure(error.description) }
            var configuration = Console.Configuration(listen: address, databaseURL: url, kafka: context.kafka)
            // Overdue by the router's clock, rehearsals included.
            let clockOffset = try DaemonSupport.number(.clockOffsetSeconds) ?? 0
            configuration.now = { Date().addingTimeInterval(clockOffset) }
            configuration.tls = try DaemonSupport.tls(context, certificate: tlsCertificate, key: tlsKey)
            let console = try Console(configuration: configuration, reference: reference, users: table, logger: context.logger)
            let logger = context.logger
            try await context.run(try console.services(readiness: context.readiness, metrics: context.metrics) { port in
                DaemonSupport.announce(address.host, port, logger: logger)
            })
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a users-file entry for an operator; the password is read from standard input (one line).")
        @Argument(help: "The login name.") var name: String
        @Option(help: "city, or a town's 9-digit code (its operators see only that town).") var scope: String = "city"

        func run() async throws {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else { throw CommandFailure("give the password on standard input") }
            let entry = ConsoleUser(name: name, password: ConsoleUsers.hash(password: password), scope: scope)
            let data = try JSONEncoder().encode(entry)
            StandardOutput.writeLine(String(decoding: data, as: UTF8.self))
        }
    }
}
