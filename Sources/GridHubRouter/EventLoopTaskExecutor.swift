import NIOCore

/// Runs a task's jobs on one NIO event loop: a database connection's, for work that is mostly statements
/// on that connection.
///
/// On Swift's shared pool, every statement crosses threads twice: the task hands the statement to the
/// connection's event loop (waking it), and the loop hands the answer back to the pool (waking a pool
/// thread). At the small transactions of a quiet or moderately busy router that was a large part of their
/// cost: about a hundred thread wake-ups per transaction. On the loop, both are plain calls
/// (`docs/performance.md`, "Stop 33").
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
