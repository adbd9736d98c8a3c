import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// A `PostgresClient` (connection pool) run as a service whose end is bounded: it stops at graceful
/// shutdown or cancellation like the client itself, and if the pool has not ended `stopLimit` after
/// that, the service ends without it (logged).
///
/// Why: PostgresNIO 1.33's pool sometimes never returns from `run()` once told to stop, with no session
/// open on the server (seen in CI: the router's every other service had ended, `pg_stat_activity` was
/// empty, and the pool's `run()` was still waiting a minute later; the pool's shutdown has been reworked
/// several times, e.g. vapor/postgres-nio#599, #656, #659). A daemon puts its pool first among its
/// services, so the pool stops last, once nothing uses it; giving up on it then loses nothing, and the
/// process exits after.
public struct DatabasePool: Service {
    public let client: PostgresClient
    private let stopLimit: Duration
    private let logger: Logger

    public init(_ client: PostgresClient, stopLimit: Duration = .seconds(10), logger: Logger) {
        self.client = client
        self.stopLimit = stopLimit
        self.logger = logger
    }

    public func run() async {
        let pool = PoolRun(client)
        let stopLimit = self.stopLimit, logger = self.logger
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler { await pool.ended() } onCancel: { pool.stop(within: stopLimit, logger: logger) }
        } onGracefulShutdown: { pool.stop(within: stopLimit, logger: logger) }
    }

    /// Runs `body` with a client whose pool runs meanwhile (a command's short-lived connection); then
    /// stops the pool, waiting for its end at most `stopLimit`.
    public static func withClient<T: Sendable>(_ configuration: PostgresClient.Configuration, stopLimit: Duration = .seconds(10), logger: Logger,
                                               _ body: (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let pool = PoolRun(client)
        // A query before the pool's run() has begun works, but PostgresNIO warns about it in the log.
        await pool.started()
        let result: T
        do {
            result = try await body(client)
        } catch {
            pool.stop(within: stopLimit, logger: logger)
            await pool.ended()
            throw error
        }
        pool.stop(within: stopLimit, logger: logger)
        await pool.ended()
        return result
    }
}

/// A pool's `run()` in a task of its own, and one wait for its end that a stop bounds.
private final class PoolRun: Sendable {
    private let task: Task<Void, Never>
    private let state = Mutex<(continuation: CheckedContinuation<Void, Never>?, finished: Bool, stopping: Bool)>((nil, false, false))
    private let begun: AsyncStream<Void>

    init(_ client: PostgresClient) {
        let (begun, began) = AsyncStream<Void>.makeStream()
        self.begun = begun
        task = Task {
            began.finish()
            await client.run()
        }
        Task { [task, self] in
            await task.value
            self.finish()
        }
    }

    /// Returns once the task that runs the pool has begun.
    func started() async {
        for await _ in begun {}
    }

    /// Returns when the pool has ended, or `limit` after ``stop(within:logger:)``. Awaited once.
    func ended() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.finished { return true }
                s.continuation = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Tells the pool to stop (cancelling its run), and stops waiting for it `limit` later.
    func stop(within limit: Duration, logger: Logger) {
        let first = state.withLock { s -> Bool in defer { s.stopping = true }; return !s.stopping }
        guard first else { return }
        task.cancel()
        Task {
            try? await Task.sleep(for: limit)
            if self.finish() { logger.warning("the database pool did not stop within \(limit): going on without it") }
        }
    }

    /// Ends the wait if it has not ended; true if this call did.
    @discardableResult
    private func finish() -> Bool {
        let ending = state.withLock { s -> (Bool, CheckedContinuation<Void, Never>?) in
            if s.finished { return (false, nil) }
            s.finished = true
            defer { s.continuation = nil }
            return (true, s.continuation)
        }
        ending.1?.resume()
        return ending.0
    }
}
