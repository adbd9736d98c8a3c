import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

/// The limits every HTTP server of the hub puts on its clients, so that slow or idle connections
/// cannot hold it: a request head must arrive within `headTimeout` of the connection's start (or of
/// the previous response), a body within `bodyTimeout` of its head, and at most `maxConnections` are
/// open at once (a connection beyond that is answered 503 and closed). A client sending its first
/// request's headers a byte at a time is answered 408 and disconnected after `headTimeout`, not
/// served a minute later; a kept-alive connection idle that long is closed quietly.
public struct HTTPLimits: Sendable {
    public var headTimeout: TimeAmount = .seconds(10)
    public var bodyTimeout: TimeAmount = .seconds(60)
    public var maxConnections = 2_048

    public init() {}

    /// Hummingbird's HTTP/1 server with these limits (one shared connection count per server).
    public func server() -> HTTPServerBuilder {
        let open = OpenConnections()
        let limits = self
        return .http1(configuration: .init(additionalChannelHandlers: [SlowClientGuard(limits: limits, open: open)], idleTimeout: limits.headTimeout))
    }

    /// The same server behind TLS when `tls` names a certificate and key (HTTPS), else plain HTTP.
    public func server(tls: TLSFiles?) throws -> HTTPServerBuilder {
        guard let tls else { return server() }
        return try .tls(server(), tlsConfiguration: tls.serverConfiguration())
    }
}

/// The number of connections open on one server.
final class OpenConnections: Sendable {
    private let count = Mutex(0)
    /// Counts a new connection; false when the server is full (it is not counted).
    func open(limit: Int) -> Bool { count.withLock { c in guard c < limit else { return false }; c += 1; return true } }
    func close() { count.withLock { $0 -= 1 } }
}

/// Enforces ``HTTPLimits`` on one connection, between HTTP parsing and the request handling.
final class SlowClientGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: HTTPLimits
    private let open: OpenConnections
    private var counted = false
    private var timer: Scheduled<Void>?
    /// Whether a request is between its head and its response's end (the responder owns the connection).
    private var inRequest = false

    init(limits: HTTPLimits, open: OpenConnections) {
        self.limits = limits
        self.open = open
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { started(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        started(context)
        context.fireChannelActive()
    }

    private func started(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        guard open.open(limit: limits.maxConnections) else {
            answer(context, status: .serviceUnavailable, "too many connections\n")
            return
        }
        counted = true
        arm(context, after: limits.headTimeout, answering: true)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if counted { open.close(); counted = false }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            inRequest = true
            arm(context, after: limits.bodyTimeout, answering: false)
        case .end:
            timer?.cancel()
            timer = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            inRequest = false
            // Keep-alive: the next request's head is due within the head timeout; an idle kept-alive
            // connection is closed quietly (a client may be about to reuse it: no unasked-for 408).
            arm(context, after: limits.headTimeout, answering: false)
        }
        context.write(data, promise: promise)
    }

    /// Closes the connection after `delay` unless re-armed or cancelled; answers 408 first when no
    /// request is in progress (otherwise the responder owns the response and the connection just closes).
    private func arm(_ context: ChannelHandlerContext, after delay: TimeAmount, answering: Bool) {
        timer?.cancel()
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: delay) {
            let (handler, context) = bound.value
            handler.timer = nil
            if answering && !handler.inRequest {
                handler.answer(context, status: .requestTimeout, "the request did not arrive in time\n")
            } else {
                context.close(promise: nil)
            }
        }
    }

    /// Writes a complete plain-text response and closes the connection.
    private func answer(_ context: ChannelHandlerContext, status: HTTPResponse.Status, _ text: String) {
        var head = HTTPResponse(status: status)
        head.headerFields[.contentType] = "text/plain; charset=utf-8"
        head.headerFields[.contentLength] = String(text.utf8.count)
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(string: text))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
