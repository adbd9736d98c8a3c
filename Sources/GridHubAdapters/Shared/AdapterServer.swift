import GridHubRuntime
import Hummingbird
import Logging
import ServiceLifecycle

/// The HTTP server of a push adapter: its source endpoints plus `/healthz`, `/readyz`, `/metrics`.
/// As a `Service`, it stops accepting on graceful shutdown and lets in-flight requests finish. Slow
/// and idle clients are cut off by ``HTTPLimits``.
public enum AdapterServer {
    /// An application listening on `address`; `onListening` gets the bound port (port 0 picks one).
    public static func application(
        address: ListenAddress, runtime: AdapterRuntime, logger: Logger, limits: HTTPLimits = HTTPLimits(), tls: TLSFiles? = nil,
        routes: @escaping (Router<BasicRequestContext>) -> Void,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol & Service {
        let router = Router()
        AdminRoutes.add(to: router, readiness: runtime.readiness, metrics: runtime.metrics)
        routes(router)
        return Application(
            router: router,
            server: try limits.server(tls: tls),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "gridhub-\(runtime.system.rawValue)"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? address.port) },
            logger: logger)
    }
}
