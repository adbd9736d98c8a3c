import GridHubServices
import GridHubTesting
import ServiceLifecycle
import Testing

/// A daemon's graceful shutdown is bounded: what does not stop when asked is cancelled.
@Suite("Daemon shutdown", .timeLimit(.minutes(1)))
struct DaemonShutdownTests {
    /// Ignores graceful shutdown; stops only when cancelled (as a service stuck on a dependency would).
    struct Stubborn: Service {
        func run() async throws {
            while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// Stops as soon as it is asked.
    struct Polite: Service {
        func run() async throws {
            try? await gracefulShutdown()
        }
    }

    @Test("a service that ignores the graceful shutdown is cancelled once the limit has passed; one that listens stops at once")
    func bounded() async throws {
        for (service, low, high) in [(Stubborn() as any Service, 1.0, 10.0), (Polite(), 0.0, 0.9)] {
            let group = DaemonContext.serviceGroup([service], logger: TestKafka.quietLogger, gracefulShutdownLimit: .seconds(1))
            let took = try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await Task.sleep(for: .milliseconds(200))
                let asked = ContinuousClock.now
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return ContinuousClock.now - asked
            }
            #expect(took >= .seconds(low) && took < .seconds(high), "\(type(of: service)) stopped after \(took)")
        }
    }
}
