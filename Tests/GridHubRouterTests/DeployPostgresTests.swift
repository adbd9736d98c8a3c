import Foundation
@testable import GridHubRouter
import GridHubRuntime
import GridHubTesting
import PostgresNIO
import Testing

/// `Deploy/postgresql/`: the settings ops put in the server's configuration, and the role the router
/// runs as.
@Suite("Deployment: PostgreSQL", .timeLimit(.minutes(2)))
struct DeployPostgresTests {
    @Test("gridhub.conf is valid for PostgreSQL 15 and in effect; the role setup.sql creates can migrate the router's schema")
    func settingsAndRole() async throws {
        let deploy = GridHubPaths.packageRoot.appendingPathComponent("Deploy/postgresql")
        let settings = try PostgresInstance.settings(fromConfigurationFile: deploy.appendingPathComponent("gridhub.conf").path)
        #expect(settings.count >= 10)
        #expect(settings["fsync"] == "on" && settings["synchronous_commit"] == "on", "the exactly-once guarantee needs durable commits")

        let dir = URL(fileURLWithPath: "/tmp/gridhub-pg-deploy-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        var configuration = PostgresInstance.Configuration(dataDirectory: dir, port: try freeLoopbackPort())
        configuration.user = "postgres"
        configuration.database = "postgres"
        configuration.settings = settings
        let server = try PostgresInstance(configuration: configuration, logger: TestKafka.quietLogger)
        try await server.start()
        do {
            let port = String(configuration.port)
            for (name, value) in settings {
                let shown = try await runCommand("/usr/bin/psql", ["-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres", "-tAc", "SHOW \(name)"])
                #expect(shown.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == value, "\(name): \(shown.stdout) \(shown.stderr)")
            }
            let setup = try await runCommand("/usr/bin/psql", ["-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                                                              "-f", deploy.appendingPathComponent("setup.sql").path])
            #expect(setup.status == 0, "setup.sql: \(setup.stderr)")

            // The router, connected as that role, creates its tables.
            let url = "postgres://gridhub@127.0.0.1:\(port)/gridhub"
            let client = PostgresClient(configuration: try RouterStore.configuration(url: url), backgroundLogger: TestKafka.quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await client.run() }
                try await RouterStore(client: client, logger: TestKafka.quietLogger).migrate()
                tasks.cancelAll()
            }
            let owners = try await TestPostgres.query(url, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
            #expect(owners == [["gridhub"]])
            let steps = try await TestPostgres.query(url, "SELECT count(*) FROM router_schema")
            #expect(steps == [[String(RouterStore.migrations.count)]])
        } catch {
            try? await server.stop()
            throw error
        }
        try await server.stop()
    }
}
