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
///
/// A permit that is free is taken and given back with one atomic operation each (a producer takes one
/// per record it sends); the lock is only taken when a caller has to wait, or a permit is given back
/// while one waits. Waiters that queued are served in order.
final class AsyncPermits: Sendable {
    /// Free permits minus callers that have to wait for one: negative while some wait.
    private let balance: Atomic<Int>
    private let waiters = Mutex(Waiters())
    let capacity: Int

    private struct Waiters {
        var queue: [CheckedContinuation<Void, Never>] = []
        var head = 0
        /// Permits given back for a caller that had counted itself as waiting but had not queued yet:
        /// it takes one of these instead of queueing.
        var handedOver = 0
    }

    init(_ count: Int) {
        precondition(count > 0, "AsyncPermits needs at least one permit")
        capacity = count
        balance = Atomic(count)
    }

    /// Takes a permit, waiting for one when none is free.
    func acquire() async {
        if balance.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue > 0 { return }
        // Counted as waiting: a permit given back from now on is handed to a waiter.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = waiters.withLock { w -> Bool in
                if w.handedOver > 0 {
                    w.handedOver -= 1
                    return true
                }
                w.queue.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Takes `count` permits if that many are free now, else none.
    func tryAcquire(_ count: Int) -> Bool {
        var free = balance.load(ordering: .relaxed)
        while free >= count {
            let (taken, now) = balance.compareExchange(expected: free, desired: free - count, ordering: .acquiringAndReleasing)
            if taken { return true }
            free = now
        }
        return false
    }

    /// Returns permits, handing each to the oldest waiter while there are waiters.
    func release(_ count: Int = 1) {
        for _ in 0..<count {
            if balance.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue >= 0 { continue }
            // A caller waits (or is about to queue): the permit is its.
            let next = waiters.withLock { w -> CheckedContinuation<Void, Never>? in
                guard w.head < w.queue.count else {
                    w.handedOver += 1
                    return nil
                }
                let c = w.queue[w.head]
                w.head += 1
                if w.head > 64, w.head * 2 > w.queue.count {
                    w.queue.removeFirst(w.head)
                    w.head = 0
                }
                return c
            }
            next?.resume()
        }
    }

    /// Permits currently free.
    var available: Int { max(0, balance.load(ordering: .relaxed)) }
    /// Callers currently waiting.
    var waiting: Int { max(0, -balance.load(ordering: .relaxed)) }
}

/// Runs blocking work that may wait for seconds or minutes (an admin request to a cluster that does
/// not answer, a child process) on a thread of its own, so that it never holds one of the few global
/// dispatch threads that short blocking work of the whole process shares.
///
/// The thread is a worker of libdispatch's overcommitting pool, reached through a serial queue made for
/// this call: the pool starts a thread when none is free, and keeps a finished one a few seconds for
/// the next call. (A thread made and ended per call showed in an idle adapter's profile: its health
/// probe asks the cluster every half second.)
package func runOnOwnThread<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    try await runBlocking(on: DispatchQueue(label: "gridhub.blocking-wait"), body)
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
