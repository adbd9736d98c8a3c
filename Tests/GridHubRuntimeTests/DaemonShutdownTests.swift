import GridHubRuntime
import GridHubTesting
import ServiceLifecycle
import Testing

/// A daemon's graceful shutdown is bounded: what does not stop when asked is cancelled.
@Suite("Daemon shutdown", .timeLimit(.minutes(1)))
struct DaemonShutdownTests {
    /// Ignores graceful shutdown; stops only when cancelled (as a service stuck on a dependency would).
    struct Stubborn: Service {
        let cancelled = Locked(false)
        func run() async throws {
            while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
            cancelled.withLock { $0 = true }
        }
    }

    /// Stops as soon as it is asked.
    struct Polite: Service {
        let cancelled = Locked(false)
        func run() async throws {
            try? await gracefulShutdown()
            cancelled.withLock { $0 = Task.isCancelled }
        }
    }

    /// Runs `service` in a daemon's group with `limit`, asks it to stop, and returns how long it took.
    static func stop(_ service: some Service, limit: Duration) async throws -> Duration {
        let group = DaemonContext.serviceGroup([.init(service: service)], logger: TestKafka.quietLogger, gracefulShutdownLimit: limit)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(200))
            let asked = ContinuousClock.now
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return ContinuousClock.now - asked
        }
    }

    @Test("a service that ignores the graceful shutdown is cancelled once the limit has passed; one that listens ends by itself, not cancelled")
    func bounded() async throws {
        let stubborn = Stubborn()
        let took = try await Self.stop(stubborn, limit: .seconds(2))
        #expect(stubborn.cancelled.value && took >= .seconds(2), "cancelled: \(stubborn.cancelled.value), after \(took)")

        // With a limit far away, a service that listens is not cut short.
        let polite = Polite()
        let politeTook = try await Self.stop(polite, limit: .seconds(40))
        #expect(!polite.cancelled.value && politeTook < .seconds(40), "cancelled: \(polite.cancelled.value), after \(politeTook)")
    }
}
