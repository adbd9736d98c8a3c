import Foundation
@testable import gridhub
import GridHubTesting
import ServiceLifecycle
import Synchronization
import Testing

/// `gridhub dev` starts its simulated city once the hub can take reports (``StartWhen``): the city
/// runs only after the condition holds, runs anyway after the limit, and never starts when the run is
/// stopped first.
@Suite("gridhub dev: the city starts when the hub is ready", .timeLimit(.minutes(1)))
struct StartWhenTests {
    /// A service that notes when it ran, and runs until shut down.
    final class Noting: Service, Sendable {
        let started = Mutex<ContinuousClock.Instant?>(nil)
        func run() async throws {
            started.withLock { $0 = .now }
            try? await gracefulShutdown()
        }
    }

    /// Runs `service` in a group for `body`, then shuts it down.
    static func running(_ service: StartWhen, _ body: () async throws -> Void) async throws {
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: TestKafka.quietLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("the city runs only once the hub is ready")
    func waitsForReady() async throws {
        let city = Noting()
        let ready = Mutex<ContinuousClock.Instant?>(nil)
        try await Self.running(StartWhen(city, logger: TestKafka.quietLogger) { ready.withLock { $0 != nil } }) {
            try await Task.sleep(for: .milliseconds(300))
            #expect(city.started.withLock { $0 } == nil, "the city started before the hub was ready")
            ready.withLock { $0 = .now }
            let deadline = ContinuousClock.now + .seconds(10)
            while city.started.withLock({ $0 }) == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        }
        let started = try #require(city.started.withLock { $0 }, "the city never started")
        #expect(started >= ready.withLock { $0! })
    }

    @Test("a hub that never gets ready: the city starts after the limit anyway")
    func startsAfterLimit() async throws {
        let city = Noting()
        let begun = ContinuousClock.now
        try await Self.running(StartWhen(city, logger: TestKafka.quietLogger, limit: .milliseconds(300)) { false }) {
            let deadline = ContinuousClock.now + .seconds(10)
            while city.started.withLock({ $0 }) == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        }
        let started = try #require(city.started.withLock { $0 }, "the city never started")
        #expect(started - begun >= .milliseconds(300))
    }

    @Test("stopped while waiting: the city never starts, and the wait ends at once")
    func stoppedWhileWaiting() async throws {
        let city = Noting()
        let stopping = ContinuousClock.now + .milliseconds(200)
        try await Self.running(StartWhen(city, logger: TestKafka.quietLogger) { false }) {
            try await Task.sleep(until: stopping)
        }
        #expect(city.started.withLock { $0 } == nil)
        #expect(ContinuousClock.now - stopping < .seconds(5), "the wait outlived the shutdown")
    }
}
