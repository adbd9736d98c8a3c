import Prometheus

/// The metrics of one daemon: a Prometheus registry that its components create their metrics in
/// once (bounded labels only: adapter, topic, outcome — never an id), served on `GET /metrics`.
public final class DaemonMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    /// A counter named `gridhub_<subsystem>_<name>_total`.
    public func counter(_ subsystem: String, _ name: String, help: String, labels: [(String, String)] = []) -> Counter {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(namespace: "gridhub", subsystem: subsystem, metricName: name, unitName: "total", helpText: help),
            labels: labels)
    }

    /// A gauge named `gridhub_<subsystem>_<name>[_<unit>]`.
    public func gauge(_ subsystem: String, _ name: String, unit: String = "", help: String, labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(
            descriptor: MetricNameDescriptor(namespace: "gridhub", subsystem: subsystem, metricName: name, unitName: unit, helpText: help),
            labels: labels)
    }

    /// A latency histogram named `gridhub_<subsystem>_<name>_seconds`.
    public func latency(_ subsystem: String, _ name: String, help: String, labels: [(String, String)] = [], buckets: [Duration] = DaemonMetrics.latencyBuckets) -> DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(namespace: "gridhub", subsystem: subsystem, metricName: name, unitName: "seconds", helpText: help),
            labels: labels, buckets: buckets)
    }

    /// The Prometheus text exposition of every metric.
    public func render() -> String { registry.emitToString() }

    /// Buckets for latencies from 1 ms to 10 s.
    public static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]
}

/// A counter of ``DaemonMetrics`` (for modules that do not import Prometheus themselves).
public typealias MetricsCounter = Prometheus.Counter
/// A gauge of ``DaemonMetrics``.
public typealias MetricsGauge = Prometheus.Gauge
/// A latency histogram of ``DaemonMetrics``.
public typealias MetricsLatency = Prometheus.DurationHistogram
