import Foundation
import GridHubKafka
@testable import GridHubRouter
import GridHubServices
import GridHubTesting
import ServiceLifecycle
import Testing

/// `/readyz` of the router: ready only when Kafka and PostgreSQL both answer, and saying which does not.
@Suite("Router readiness", .timeLimit(.minutes(2)))
struct ReadinessTests {
    /// Runs a router with these endpoints until its readiness problems satisfy `done` (or 20 s pass),
    /// and returns the last problems seen and how long the graceful shutdown then took.
    static func problems(databaseURL: String, kafka: KafkaClientConfiguration, world: RouterWorld,
                         until done: @Sendable ([String]) -> Bool) async throws -> (problems: [String], shutdown: Duration) {
        var config = RouterDaemon.Configuration(databaseURL: databaseURL, kafka: kafka)
        config.consumer.groupID = "readiness-\(UUID().uuidString.prefix(6))"
        let daemon = try RouterDaemon(configuration: config, environment: world.environment(), metrics: DaemonMetrics(), logger: TestKafka.quietLogger)
        let readiness = Readiness()
        daemon.register(in: readiness)
        let services = ServiceGroup(configuration: .init(services: daemon.services.map { .init(service: $0) }, logger: TestKafka.quietLogger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            var seen: [String] = []
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                seen = await readiness.problems()
                if done(seen) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            let stopping = ContinuousClock.now
            await services.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            return (seen, ContinuousClock.now - stopping)
        }
    }

    @Test("ready with Kafka and PostgreSQL; not ready, saying which, when either does not answer; stops promptly without its database")
    func readiness() async throws {
        let world = try await RouterWorld()
        let good = TestKafka.client(world.cluster)
        let ready = try await Self.problems(databaseURL: world.databaseURL, kafka: good, world: world) { $0.isEmpty }.problems
        #expect(ready.isEmpty, "\(ready)")

        let noKafka = KafkaClientConfiguration(bootstrapServers: "127.0.0.1:9", properties: ["message.timeout.ms": "2000"])
        let withoutKafka = try await Self.problems(databaseURL: world.databaseURL, kafka: noKafka, world: world) { p in
            p.contains { $0.hasPrefix("kafka: Kafka unreachable") } && !p.contains { $0.hasPrefix("database: ") }
        }.problems
        #expect(withoutKafka.contains { $0.hasPrefix("kafka: Kafka unreachable") }, "\(withoutKafka)")
        #expect(!withoutKafka.contains { $0.hasPrefix("database: ") }, "\(withoutKafka)")

        // The pool waits for a connection as long as the database is unreachable: the check says so.
        let (withoutDatabase, shutdown) = try await Self.problems(databaseURL: "postgres://gridhub@127.0.0.1:9/gridhub", kafka: good, world: world) { p in
            p.contains { $0.hasPrefix("database: no answer from PostgreSQL") } && !p.contains { $0.hasPrefix("kafka: ") }
        }
        // And it still stops when told to (it used to wait a minute for the pool's connection).
        #expect(shutdown < .seconds(20), "graceful shutdown took \(shutdown)")
        #expect(withoutDatabase.contains { $0.hasPrefix("database: no answer from PostgreSQL for ") }, "\(withoutDatabase)")
        #expect(!withoutDatabase.contains { $0.hasPrefix("kafka: ") }, "\(withoutDatabase)")
    }
}
