import Foundation
import GridHubRuntime
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A lean HTTP/1.1 load generator for the benchmarks, so that the machine's cores go to the daemon
/// measured rather than to its client: requests are built before the clock starts, and each keep-alive
/// connection sends its next request from the event loop as soon as the answer to the last one is read
/// (no task, pool or per-request state machine per request).
///
/// Every answer is checked: `check` gets its status and body, and a request whose answer fails the
/// check, or whose connection breaks, counts as failed.
struct HTTPLoad: Sendable {
    /// A request ready to write.
    struct Request: @unchecked Sendable {
        // `@unchecked`: the head and body are values, read-only once built.
        var head: HTTPRequestHead
        var body: ByteBuffer
    }

    /// What a phase measured.
    struct Outcome: Sendable {
        /// Requests answered and checked.
        var completed = 0
        var failures = 0
        /// From the moment each request was due (sent at once in a closed loop; its place in the
        /// schedule at a fixed rate, so that a request kept waiting behind another counts its wait) to
        /// its answer read, milliseconds, sorted.
        var latencies: [Double] = []
        var seconds = 0.0
    }

    let host: String
    let port: Int
    let check: @Sendable (HTTPResponseStatus, ByteBuffer) -> Bool
    /// Called on an event loop with each answer: the request's index, whether it passed the check,
    /// when it was due and when its answer was read.
    var answered: (@Sendable (_ index: Int, _ ok: Bool, _ due: ContinuousClock.Instant, _ at: ContinuousClock.Instant) -> Void)? = nil

    /// A load on the server at `address` (`HOST:PORT`, as a daemon prints it).
    init(address: String, check: @escaping @Sendable (HTTPResponseStatus, ByteBuffer) -> Bool) throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw ExternalCommandError("a server listens on \(address), not HOST:PORT")
        }
        self.host = String(address[..<colon])
        self.port = port
        self.check = check
    }

    /// Sends `requests` over `connections` connections, each sending its next request when the last is
    /// answered, until every request is sent or `deadline` passes.
    func closedLoop(_ requests: [Request], connections: Int, deadline: ContinuousClock.Instant) async throws -> Outcome {
        let next = SharedCounter()
        return try await run(connections: connections) { _ in
            { _, _ in
                guard ContinuousClock.now < deadline else { return nil }
                let index = next.value.add(1, ordering: .relaxed).oldValue
                return index < requests.count ? (index, requests[index], .now) : nil
            }
        }
    }

    /// Sends `requests` at `rate` per second, spread over `connections` connections (request `i` on
    /// connection `i % connections`, due at `i / rate` seconds from the start, once every connection is
    /// open; `started` is told that instant). A request whose connection is still waiting for an earlier
    /// answer is sent when it is free, and its latency counts from when it was due. A request never sent
    /// (its connection broke) counts as failed.
    func fixedRate(_ requests: [Request], rate: Int, connections: Int,
                   started: @escaping @Sendable (ContinuousClock.Instant) -> Void = { _ in }) async throws -> Outcome {
        let nanosecondsApart = 1_000_000_000 / Int64(max(1, rate))
        var outcome = try await run(connections: connections) { start in
            started(start)
            return { connection, round in
                let index = connection + round * connections
                guard index < requests.count else { return nil }
                return (index, requests[index], start + .nanoseconds(Int64(index) * nanosecondsApart))
            }
        }
        outcome.failures += max(0, requests.count - outcome.completed - outcome.failures)
        return outcome
    }

    /// Opens `connections` connections, then starts them all with the schedule `schedule` makes of the
    /// start: it gives a connection its next request, its index and when it is due (given the
    /// connection's number and how many it sent), or nil when it is done.
    private func run(connections: Int, _ schedule: (ContinuousClock.Instant) -> Schedule) async throws -> Outcome {
        let results = SharedOutcome()
        let group = MultiThreadedEventLoopGroup.singleton
        var channels: [any Channel] = []
        for connection in 0..<connections {
            let check = self.check, answered = self.answered
            let channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            LoadConnection(number: connection, check: check, answered: answered, results: results))
                    }
                }
                .connect(host: host, port: port).get()
            channels.append(channel)
        }
        // Each connection starts once all are open, so the first ones do not run ahead.
        let start = ContinuousClock.now
        let next = schedule(start)
        for channel in channels { channel.pipeline.fireUserInboundEventTriggered(LoadConnection.Go(next: next)) }
        for channel in channels { try? await channel.closeFuture.get() }
        var outcome = results.value.withLock { $0 }
        outcome.seconds = (ContinuousClock.now - start).seconds
        outcome.latencies.sort()
        return outcome
    }
}

/// A connection's next request: its index, the request, and when it is due.
private typealias NextRequest = (index: Int, request: HTTPLoad.Request, due: ContinuousClock.Instant)
/// The next request of a connection, given its number and how many it sent; nil when it is done.
private typealias Schedule = @Sendable (_ connection: Int, _ round: Int) -> NextRequest?

/// One connection of an ``HTTPLoad``: sends a request, reads its answer, sends the next; closes when
/// there is none, and adds what it measured to the shared outcome.
private final class LoadConnection: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// The event that starts the connection, with its schedule.
    struct Go { let next: Schedule }

    private let number: Int
    private var next: Schedule = { _, _ in nil }
    private let check: @Sendable (HTTPResponseStatus, ByteBuffer) -> Bool
    private let answered: (@Sendable (Int, Bool, ContinuousClock.Instant, ContinuousClock.Instant) -> Void)?
    private let results: SharedOutcome
    private var round = 0
    /// The request in flight: its index and when it was due.
    private var inFlight: (index: Int, due: ContinuousClock.Instant)? = nil
    private var status: HTTPResponseStatus = .ok
    private var body = ByteBuffer()
    private var measured = HTTPLoad.Outcome()
    private var finished = false

    init(number: Int, check: @escaping @Sendable (HTTPResponseStatus, ByteBuffer) -> Bool,
         answered: (@Sendable (Int, Bool, ContinuousClock.Instant, ContinuousClock.Instant) -> Void)?, results: SharedOutcome) {
        self.number = number
        self.check = check
        self.answered = answered
        self.results = results
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let go = event as? Go else { return context.fireUserInboundEventTriggered(event) }
        next = go.next
        sendNext(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            if let (index, due) = inFlight {
                let now = ContinuousClock.now
                let ok = check(status, body)
                if ok {
                    measured.completed += 1
                    measured.latencies.append((now - due).seconds * 1_000)
                } else {
                    measured.failures += 1
                }
                answered?(index, ok, due, now)
            }
            inFlight = nil
            sendNext(context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A request sent and not answered failed.
        if let (index, due) = inFlight {
            measured.failures += 1
            answered?(index, false, due, .now)
        }
        inFlight = nil
        finish()
        context.fireChannelInactive()
    }

    private func sendNext(_ context: ChannelHandlerContext) {
        guard let (index, request, due) = next(number, round) else {
            finish()
            context.close(promise: nil)
            return
        }
        round += 1
        let wait = ContinuousClock.now.duration(to: due)
        if wait > .zero {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .nanoseconds(Int64(wait.seconds * 1e9))) {
                let (connection, context) = loopBound.value
                connection.send(request, index: index, due: due, context)
            }
        } else {
            send(request, index: index, due: due, context)
        }
    }

    private func send(_ request: HTTPLoad.Request, index: Int, due: ContinuousClock.Instant, _ context: ChannelHandlerContext) {
        inFlight = (index, due)
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        let measured = self.measured
        results.value.withLock { outcome in
            outcome.completed += measured.completed
            outcome.failures += measured.failures
            outcome.latencies += measured.latencies
        }
    }
}

/// What the connections of a load add up, shared between them.
private final class SharedOutcome: Sendable {
    let value = Mutex(HTTPLoad.Outcome())
}

/// The next request of a closed loop, shared by its connections.
private final class SharedCounter: Sendable {
    let value = Atomic<Int>(0)
}
