import Synchronization

/// A doorbell for one waiting loop: ``signal()`` wakes the waiter, or the next ``wait(upTo:)`` returns
/// at once if nobody was waiting. Lets a loop sleep until there is work instead of polling.
public final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    public init() {}

    /// Rings: wakes the waiter, or remembers the ring for the next wait.
    public func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter { s.waiter = nil; return w }
            s.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns at the next ring (at once if one came since the last wait), after `timeout`, or when
    /// the task is cancelled, whichever is first. One waiter at a time.
    public func wait(upTo timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.nextRing() }
            await group.next()
            group.cancelAll()
        }
    }

    private func nextRing() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.pending || Task.isCancelled { s.pending = false; return true }
                    s.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in defer { s.waiter = nil }; return s.waiter }
            waiter?.resume()
        }
    }
}

/// Runs `operation` and returns its result, but stops waiting for it (throwing `CancellationError`) as
/// soon as the calling task is cancelled, even when the operation does not react to cancellation (it
/// is cancelled too, and left to end on its own). For shutdown paths that must not hang on a
/// dependency that ignores cancellation (a connection pool that was shut down first, say).
public func abandoningOnCancel<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let task = Task { try await operation() }
    let outcome = AbandonedOutcome<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let cancelled = outcome.state.withLock { o -> Bool in
                if o.cancelled { return true }
                o.continuation = continuation
                return false
            }
            if cancelled { continuation.resume(throwing: CancellationError()); return }
            Task {
                let result = await task.result
                outcome.state.withLock { o -> CheckedContinuation<T, any Error>? in defer { o.continuation = nil }; return o.continuation }?.resume(with: result)
            }
        }
    } onCancel: {
        task.cancel()
        outcome.state.withLock { o -> CheckedContinuation<T, any Error>? in
            o.cancelled = true
            defer { o.continuation = nil }
            return o.continuation
        }?.resume(throwing: CancellationError())
    }
}

/// The one continuation of ``abandoningOnCancel(_:)``, resumed by whichever comes first.
private final class AbandonedOutcome<T: Sendable>: Sendable {
    let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, cancelled: Bool)>((nil, false))
}
