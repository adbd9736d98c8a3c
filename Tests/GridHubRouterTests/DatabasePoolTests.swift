import Foundation
import Glibc
import GridHubRouter
import GridHubTesting
import PostgresNIO
import ServiceLifecycle
import Testing

@Suite("The database pool as a service", .timeLimit(.minutes(2)))
struct DatabasePoolTests {
    @Test("it serves queries while it runs and ends at once on shutdown")
    func servesAndStops() async throws {
        let url = try await TestPostgres.makeDatabase(prefix: "pool")
        let client = PostgresClient(configuration: try RouterStore.configuration(url: url, maximumConnections: 2), backgroundLogger: TestKafka.quietLogger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: DatabasePool(client, stopLimit: .seconds(30), logger: TestKafka.quietLogger))],
                                                      logger: TestKafka.quietLogger))
        let runner = Task { try await group.run() }
        var answer = 0
        for try await n in try await client.query("SELECT 41 + 1").decode(Int.self) { answer = n }
        #expect(answer == 42)
        let stopping = ContinuousClock.now
        await group.triggerGracefulShutdown()
        #expect(await ended(runner, within: .seconds(20)))
        #expect(ContinuousClock.now - stopping < .seconds(20))
    }

    @Test("its end after shutdown is bounded even while the pool is still connecting to a server that never answers")
    func boundedWhileConnecting() async throws {
        // A listener that accepts connections and never says a word.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 } }
        #expect(bound && listen(fd, 16) == 0)
        let port = Int(UInt16(bigEndian: address.sin_port))

        let client = PostgresClient(configuration: try RouterStore.configuration(url: "postgres://gridhub@127.0.0.1:\(port)/nothing", maximumConnections: 1),
                                    backgroundLogger: TestKafka.quietLogger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: DatabasePool(client, stopLimit: .seconds(2), logger: TestKafka.quietLogger))],
                                                      logger: TestKafka.quietLogger))
        let runner = Task { try await group.run() }
        let query = Task { try? await client.query("SELECT 1") }
        try await Task.sleep(for: .milliseconds(500))
        let stopping = ContinuousClock.now
        await group.triggerGracefulShutdown()
        // The pool's stop limit is 2 s; 45 s is a bound, not a wait (a CI run with the whole suite
        // starting at once took 22.5 s).
        #expect(await ended(runner, within: .seconds(45)), "the pool's service did not end")
        #expect(ContinuousClock.now - stopping < .seconds(45))
        query.cancel()
    }
}
