import GridHubKafka
import Logging
import ServiceLifecycle
import Synchronization

/// What `/readyz` answers: ready only when every registered check passes.
public final class Readiness: Sendable {
    private let checks = Mutex<[(name: String, check: @Sendable () async -> String?)]>([])

    public init() {}

    /// Adds a check: it returns nil when fine, or why not.
    public func add(_ name: String, _ check: @escaping @Sendable () async -> String?) {
        checks.withLock { $0.append((name, check)) }
    }

    /// The reasons for not being ready (empty when ready).
    public func problems() async -> [String] {
        var result: [String] = []
        for (name, check) in checks.withLock({ $0 }) {
            if let problem = await check() { result.append("\(name): \(problem)") }
        }
        return result
    }
}

/// Watches whether the Kafka cluster answers, for readiness and for answering "busy" at once instead
/// of after a delivery timeout. Probes the cluster's metadata every `interval`.
///
/// Before the first probe has answered the daemon is not ready (``problem()``), but it is not known to be
/// unreachable either (``isKnownUnreachable``): a request that comes in then is tried on Kafka, not
/// refused as busy. A source pushing the moment the adapter listens would otherwise be told to retry.
///
/// Asked over the daemon's producer (``KafkaAdmin/init(sharing:)``): the answer is about the connections
/// the daemon's records take, and a probe costs no client of its own (threads, and a connection to
/// each broker).
public final class KafkaReachability: Service, Sendable {
    private let admin: KafkaAdmin
    private let interval: Duration
    private let logger: Logger
    private let state = Mutex<(reachable: Bool, reason: String?, probed: Bool)>((false, "not checked yet", false))

    public init(admin: KafkaAdmin, interval: Duration = .seconds(1), logger: Logger) {
        self.admin = admin
        self.interval = interval
        self.logger = logger
    }

    /// Whether the last probe reached the cluster (false before the first).
    public var isReachable: Bool { state.withLock { $0.reachable } }

    /// Whether the last probe failed to reach the cluster (false before the first).
    public var isKnownUnreachable: Bool { state.withLock { $0.probed && !$0.reachable } }

    /// nil when reachable, else why not: for ``Readiness``.
    public func problem() -> String? {
        state.withLock { $0.reachable ? nil : ($0.reason ?? "unreachable") }
    }

    /// Probes once now.
    public func probe() async {
        do {
            _ = try await admin.listBrokers(timeout: .milliseconds(1_500))
            let was = state.withLock { s -> Bool in let w = s.reachable; s = (true, nil, true); return w }
            if !was { logger.info("kafka reachable") }
        } catch {
            let was = state.withLock { s -> Bool in let w = s.reachable; s = (false, "Kafka unreachable: \(error.message)", true); return w }
            if was { logger.info("kafka unreachable", metadata: ["kafka.error.reason": .string(error.message)]) }
        }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await probe()
            try? await Task.sleep(for: interval)
        }
    }
}
