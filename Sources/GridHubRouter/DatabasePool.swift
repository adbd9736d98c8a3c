import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// A `PostgresClient` (connection pool) run as a service whose end is bounded: it stops at graceful
/// shutdown or cancellation like the client itself, and if the pool has not ended `limit` after that,
/// the service ends without it (logged).
///
/// Why: PostgresNIO 1.33's pool sometimes never returns from `run()` once told to stop, with no session
/// open on the server (seen in CI: the router's every other service had ended, `pg_stat_activity` was
/// empty, and the pool's `run()` was still waiting a minute later; the project's tracker has shutdown
/// fixes after 1.33, e.g. vapor/postgres-nio#599, #659). A daemon puts its pool first among its
/// services, so the pool stops last, once nothing uses it; giving up on it then loses nothing, and the
/// process exits after.
public struct DatabasePool: Service {
    public let client: PostgresClient
    private let limit: Duration
    private let logger: Logger

    public init(_ client: PostgresClient, stopLimit limit: Duration = .seconds(10), logger: Logger) {
        self.client = client
        self.limit = limit
        self.logger = logger
    }

    public func run() async {
        let client = self.client
        let pool = Task { await client.run() }
        let waiter = PoolWaiter()
        let limit = self.limit, logger = self.logger
        @Sendable func stop() {
            pool.cancel()
            Task {
                try? await Task.sleep(for: limit)
                if waiter.finish() {
                    logger.warning("the database pool did not stop within \(limit) of the shutdown: going on without it")
                }
            }
        }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    waiter.install(continuation)
                    Task {
                        await pool.value
                        waiter.finish()
                    }
                }
            } onCancel: { stop() }
        } onGracefulShutdown: { stop() }
    }
}

/// Resumes the service's wait once: when the pool ends or when the service stops waiting for it.
private final class PoolWaiter: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Void, Never>?, finished: Bool)>((nil, false))

    func install(_ continuation: CheckedContinuation<Void, Never>) {
        let resumeNow = state.withLock { s -> Bool in
            if s.finished { return true }
            s.continuation = continuation
            return false
        }
        if resumeNow { continuation.resume() }
    }

    /// Resumes the wait if it has not been; true if this call did.
    @discardableResult
    func finish() -> Bool {
        let continuation = state.withLock { s -> CheckedContinuation<Void, Never>?? in
            if s.finished { return nil }
            s.finished = true
            defer { s.continuation = nil }
            return .some(s.continuation)
        }
        guard let continuation else { return false }
        continuation?.resume()
        return true
    }
}
