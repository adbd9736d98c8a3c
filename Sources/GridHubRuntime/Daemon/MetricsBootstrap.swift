import Metrics
import Prometheus

extension DaemonMetrics {
    /// Makes swift-metrics report into this registry, for the libraries that record through it
    /// (Hummingbird's request metrics: `http_server_request_duration` by route, method and status, `http_server_active_requests`),
    /// with Prometheus names (dots become underscores). Once per process: a daemon's, or dev's.
    public func bootstrapMetricsSystem() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { name, labels in
            (Self.prometheusName(name), labels.map { (Self.prometheusName($0.0), $0.1) })
        }
        MetricsSystem.bootstrap(factory)
    }

    static func prometheusName(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") ? $0 : "_" })
    }
}
