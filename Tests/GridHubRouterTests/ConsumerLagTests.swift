import Foundation
import GridHubCore
import GridHubKafka
import GridHubRouter
import GridHubRuntime
import GridHubTesting
import PostgresNIO
import Testing

/// The router's consumer lag (`gridhub_router_consumer_lag_records`): records on Kafka it has not
/// applied, from its own offsets in PostgreSQL.
@Suite("Router consumer lag", .timeLimit(.minutes(2)))
struct ConsumerLagTests {
    @Test("none once the router has applied what there is; the records published while it is down, by topic")
    func lag() async throws {
        let world = try await RouterWorld()
        let first = (0..<4).map { Make.incident(.woodpecker, "WP-LAG-\($0)", item: "SR-001", at: Make.place(2000 + $0 * 300).coordinate, minutes: Double($0) * 500, text: "垃圾成堆") }
        try await world.withRouter { daemon in
            try await world.publish(first)
            try await world.waitForReports(first.count)
            #expect(try await waitUntil(timeout: .seconds(20)) { try await daemon.lag.lag()[Topics.incidents] == 0 })
        }
        // The router is down: what arrives now waits.
        let more = (4..<7).map { Make.incident(.woodpecker, "WP-LAG-\($0)", item: "SR-001", at: Make.place(2000 + $0 * 300).coordinate, minutes: Double($0) * 500, text: "垃圾成堆") }
        try await world.publish(more)
        let client = PostgresClient(configuration: try RouterStore.configuration(url: world.databaseURL, maximumConnections: 1), backgroundLogger: TestKafka.quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            let admin = try KafkaAdmin(configuration: TestKafka.client(world.cluster), logger: TestKafka.quietLogger)
            let watch = ConsumerLagWatch(store: RouterStore(client: client, logger: TestKafka.quietLogger), admin: admin,
                                         topics: [Topics.incidents, Topics.feedback], metrics: DaemonMetrics(), logger: TestKafka.quietLogger)
            let lag = try await watch.lag()
            #expect(lag[Topics.incidents] == 3 && lag[Topics.feedback] == 0, "\(lag)")
            group.cancelAll()
        }
    }
}
