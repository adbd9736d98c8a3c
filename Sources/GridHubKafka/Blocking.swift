import Foundation
import Dispatch
import Synchronization

/// Runs short blocking work (a librdkafka call, file-system work) on a dispatch queue and suspends the
/// caller until it returns, so the cooperative thread pool is never blocked. The one such helper of the
/// package: a serial `queue` also orders the calls made on one C handle. Not for waits of minutes (a
/// child process): the global queues have about as many threads as cores, and a long wait holds one.
package func runBlocking<T: Sendable, E: Error>(on queue: DispatchQueue = .global(qos: .utility), _ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
        queue.async {
            do throws(E) {
                continuation.resume(returning: .success(try body()))
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
    }
    return try result.get()
}

/// A counting semaphore for async code: ``acquire()`` suspends while no permit is free.
/// Waiters are served in order.
final class AsyncPermits: Sendable {
    private struct State {
        var available: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var waiterHead = 0
        var nextID: UInt64 = 0
    }

    private let state: Mutex<State>
    let capacity: Int

    init(_ count: Int) {
        precondition(count > 0, "AsyncPermits needs at least one permit")
        capacity = count
        state = Mutex(State(available: count))
    }

    /// Takes a permit without waiting, if one is free.
    func tryAcquire() -> Bool {
        state.withLock { s in
            guard s.available > 0 else { return false }
            s.available -= 1
            return true
        }
    }

    /// Takes a permit, waiting for one when none is free.
    func acquire() async {
        if tryAcquire() { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.available > 0 {
                    s.available -= 1
                    return true
                }
                s.nextID += 1
                s.waiters.append((s.nextID, continuation))
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Returns a permit, handing it to the oldest waiter if there is one.
    func release(_ count: Int = 1) {
        var toResume: [CheckedContinuation<Void, Never>] = []
        state.withLock { s in
            var remaining = count
            while remaining > 0, s.waiterHead < s.waiters.count {
                toResume.append(s.waiters[s.waiterHead].continuation)
                s.waiterHead += 1
                remaining -= 1
            }
            if s.waiterHead > 64, s.waiterHead * 2 > s.waiters.count {
                s.waiters.removeFirst(s.waiterHead)
                s.waiterHead = 0
            }
            s.available += remaining
        }
        for c in toResume { c.resume() }
    }

    /// Permits currently free.
    var available: Int { state.withLock { $0.available } }
    /// Callers currently waiting.
    var waiting: Int { state.withLock { $0.waiters.count - $0.waiterHead } }
}

/// Runs blocking work that may wait for seconds or minutes (an admin request to a cluster that does
/// not answer, a child process) on a thread of its own, so that it never holds one of the few global
/// dispatch threads that short blocking work of the whole process shares.
package func runOnOwnThread<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
        let thread = Thread {
            do throws(E) { continuation.resume(returning: .success(try body())) } catch { continuation.resume(returning: .failure(error)) }
        }
        thread.name = "gridhub-blocking-wait"
        thread.start()
    }
    return try result.get()
}

/// Runs `operation` and returns its result, or nil once `limit` has passed without one: the operation
/// is then left to finish (or not) on its own. For waits that cannot be cancelled (a librdkafka call
/// against a cluster that is gone) where the caller must go on, as a shutdown must.
package func abandoning<T: Sendable>(after limit: Duration, _ operation: @escaping @Sendable () async -> T) async -> T? {
    await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
        let once = ResumeOnce<T?>(continuation)
        Task { once.resume(await operation()) }
        Task {
            try? await Task.sleep(for: limit)
            once.resume(nil)
        }
    }
}
