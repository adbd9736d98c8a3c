import Foundation
import GridHubKafka
@testable import GridHubRouter
import GridHubRuntime
import GridHubTesting
import ServiceLifecycle
import Testing

/// `/readyz` of the router: ready only when Kafka and PostgreSQL both answer, and saying which does not.
@Suite("Router readiness", .timeLimit(.minutes(3)))
struct ReadinessTests {
    /// Runs a router with these endpoints until its readiness problems satisfy `done` (or 60 s pass: a
    /// loaded machine starts a router slowly),
    /// and returns the last problems seen.
    static func problems(databaseURL: String, kafka: KafkaClientConfiguration, world: RouterWorld,
                         until done: @Sendable ([String]) -> Bool) async throws -> [String] {
        var config = RouterDaemon.Configuration(databaseURL: databaseURL, kafka: kafka)
        config.consumer.groupID = "readiness-\(UUID().uuidString.prefix(6))"
        let daemon = try RouterDaemon(configuration: config, environment: world.environment(), metrics: DaemonMetrics(), logger: TestKafka.quietLogger)
        let readiness = Readiness()
        daemon.register(in: readiness)
        let services = ServiceGroup(configuration: .init(services: daemon.services.map { .init(service: $0) }, logger: TestKafka.quietLogger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            var seen: [String] = []
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                seen = await readiness.problems()
                if done(seen) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            await services.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            return seen
        }
    }

    @Test("ready with Kafka and PostgreSQL; not ready, saying which, when Kafka does not answer")
    func readiness() async throws {
        let world = try await RouterWorld()
        let good = TestKafka.client(world.cluster)
        let ready = try await Self.problems(databaseURL: world.databaseURL, kafka: good, world: world) { $0.isEmpty }
        #expect(ready.isEmpty, "\(ready)")

        let noKafka = KafkaClientConfiguration(bootstrapServers: "127.0.0.1:9", properties: ["message.timeout.ms": "2000"])
        let withoutKafka = try await Self.problems(databaseURL: world.databaseURL, kafka: noKafka, world: world) { p in
            p.contains { $0.hasPrefix("kafka: Kafka unreachable") } && !p.contains { $0.hasPrefix("database: ") }
        }
        #expect(withoutKafka.contains { $0.hasPrefix("kafka: Kafka unreachable") }, "\(withoutKafka)")
        #expect(!withoutKafka.contains { $0.hasPrefix("database: ") }, "\(withoutKafka)")
    }

    @Test("the consumer says when it holds its partitions: not while starting, then once its group's first assignment has come")
    func holdsPartitions() async throws {
        let world = try await RouterWorld()
        var config = RouterDaemon.Configuration(databaseURL: world.databaseURL, kafka: TestKafka.client(world.cluster))
        config.consumer.groupID = "partitions-\(UUID().uuidString.prefix(6))"
        let daemon = try RouterDaemon(configuration: config, environment: world.environment(), metrics: DaemonMetrics(), logger: TestKafka.quietLogger)
        let services = ServiceGroup(configuration: .init(services: daemon.services.map { .init(service: $0) }, logger: TestKafka.quietLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            // Migrating and reading the candidates come first: no partitions yet.
            #expect(!daemon.consumer.hasPartitions)
            let deadline = ContinuousClock.now + .seconds(60)
            while !daemon.consumer.hasPartitions && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(daemon.consumer.hasPartitions, "no partitions after 60 s")
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// As ops run it: `gridhub router` with its database unreachable says so on `/readyz`, and a
    /// SIGTERM (`systemctl stop`) still ends it promptly and cleanly. A process of its own, so what
    /// other tests do in this process cannot slow it down.
    @Test("without its database: /readyz says the database does not answer, and SIGTERM stops the router promptly with exit status 0")
    func withoutDatabase() async throws {
        let world = try await RouterWorld()
        // A port nothing listens on: bound once, then released.
        let closed = try freeLoopbackPort()
        let router = try ChildProcess(GridHubPaths.executable, ["router", "--admin-listen", "127.0.0.1:0", "--group", "readiness-\(UUID().uuidString.prefix(6))"], environment: [
            "GRIDHUB_BOOTSTRAP": world.cluster.bootstrapServers,
            "GRIDHUB_DATABASE_URL": "postgres://gridhub@127.0.0.1:\(closed)/gridhub",
            "GRIDHUB_REFERENCE_DIR": GridHubPaths.packageRoot.appendingPathComponent("Deploy/reference").path,
            "GRIDHUB_LOG_LEVEL": "info",
        ])
        defer { router.signal(SIGKILL) }
        let line = try await router.firstLine(timeout: .seconds(60))
        #expect(line.hasPrefix("GRIDHUB_LISTEN="), "\(line)")
        let url = "http://" + line.dropFirst("GRIDHUB_LISTEN=".count) + "/readyz"
        // The pool waits for a connection as long as the database is unreachable: the check says so.
        var answer = (0, "")
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            answer = try await httpGet(url)
            if answer.1.contains("database: no answer from PostgreSQL for ") { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(answer.0 == 503)
        #expect(answer.1.contains("database: no answer from PostgreSQL for "), "\(answer.1)")
        #expect(!answer.1.contains("kafka: "), "\(answer.1)")

        // And it still stops when told to (it used to wait a minute for the pool's connection).
        let stopping = ContinuousClock.now
        router.signal(SIGTERM)
        let status = try await router.waitForExit(timeout: .seconds(90))
        let took = ContinuousClock.now - stopping
        print("router without its database: exit status \(status) \(took) after SIGTERM")
        #expect(status == 0, "exit status \(status): \(router.standardError.suffix(3_000))")
        #expect(took < .seconds(20), "SIGTERM to exit took \(took); the router logged:\n\(router.standardError.suffix(6_000))")
    }
}
