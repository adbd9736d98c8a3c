import Foundation
import GridHubKafka
import GridHubRuntime
import Logging
import Prometheus
import PostgresNIO
import ServiceLifecycle

/// The router's consumer lag per topic, on `/metrics` as `gridhub_router_consumer_lag_records{topic}`:
/// records on Kafka the router has not applied yet — each partition's end offset less the next offset
/// the router stored in `consumed_offsets` (its offsets live in PostgreSQL with its state, not in
/// Kafka's group offsets, so the usual group-lag tools do not see them). Looked at every ``interval``.
public final class ConsumerLagWatch: Service, Sendable {
    let store: RouterStore
    /// Asks where each partition ends (the router's publisher's, so no client of its own).
    let admin: KafkaAdmin
    let topics: [String]
    let gauges: [String: Gauge]
    let interval: Duration
    let logger: Logger

    public init(store: RouterStore, admin: KafkaAdmin, topics: [String], metrics: DaemonMetrics, logger: Logger, interval: Duration = .seconds(10)) {
        self.store = store
        self.admin = admin
        self.topics = topics
        var gauges: [String: Gauge] = [:]
        for topic in topics {
            gauges[topic] = metrics.gauge("router", "consumer_lag", unit: "records", help: "Records on Kafka the router has not applied yet, by topic.", labels: [("topic", topic)])
        }
        self.gauges = gauges
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return }
            do {
                for (topic, lag) in try await cancelWhenGracefulShutdown({ try await self.lag() }) { gauges[topic]?.record(lag) }
            } catch {
                logger.debug("consumer lag not measured", metadata: [RouterLogKeys.reason: .string("\(error)")])
            }
        }
    }

    /// Records not applied yet, by topic.
    public func lag() async throws -> [String: Int64] {
        var next: [String: Int64] = [:]
        for try await (topic, partition, offset) in try await store.client.query(
            "SELECT topic, partition, next_offset FROM consumed_offsets WHERE topic = ANY(\(topics)::text[])", logger: logger).decode((String, Int32, Int64).self) {
            next["\(topic)/\(partition)"] = offset
        }
        var lag: [String: Int64] = [:]
        for topic in topics {
            var total: Int64 = 0
            for end in try await admin.endOffsets(topic: topic) {
                total += max(0, end.offset - (next["\(topic)/\(end.partition)"] ?? 0))
            }
            lag[topic] = total
        }
        return lag
    }
}
