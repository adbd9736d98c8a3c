import Hummingbird

/// `GET /healthz` (alive), `GET /readyz` (ready to work: 200, or 503 with the reasons) and
/// `GET /metrics` (Prometheus text), added to a daemon's router.
public enum AdminRoutes {
    public static func add<Context: RequestContext>(to router: Router<Context>, readiness: Readiness, metrics: DaemonMetrics) {
        // Every request counted and timed (through swift-metrics into `metrics`, once bootstrapped),
        // and logged at debug level.
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: LogRequestsMiddleware(.debug))
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("/readyz") { _, _ in
            let problems = await readiness.problems()
            let body = problems.isEmpty ? "ready\n" : problems.joined(separator: "\n") + "\n"
            return Response(
                status: problems.isEmpty ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        }
    }

    /// A server with only the admin routes, for daemons without an HTTP port of their own
    /// (`--admin-listen`).
    public static func application(address: ListenAddress, readiness: Readiness, metrics: DaemonMetrics, logger: Logger, onListening: @escaping @Sendable (Int) -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        add(to: router, readiness: readiness, metrics: metrics)
        return Application(
            router: router, server: HTTPLimits().server(), configuration: .init(address: .hostname(address.host, port: address.port), serverName: "gridhub"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? address.port) }, logger: logger)
    }
}

import Logging
