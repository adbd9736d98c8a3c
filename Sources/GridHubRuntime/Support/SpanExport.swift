import Foundation
import GridHubCore
import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// Spans exported through OpenTelemetry (OTLP over HTTP, swift-otel) when a collector is configured:
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, and the standard
/// `OTEL_*` variables for the rest (service name, sampler, headers). Without them nothing is exported
/// and the trace context still travels on every record (``TraceContext``).
///
/// The spans are the ones the records name: a record's `traceparent` is the context of the span that
/// wrote it, so a collector shows the adapter's request, each record it published, and the router's
/// work on it as one trace.
public enum SpanExport {
    private static let active = Atomic<Bool>(false)

    /// Whether spans are being exported.
    public static var isActive: Bool { active.load(ordering: .relaxed) }

    /// The variables that switch it on.
    public static let endpointVariables = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]

    /// Bootstraps the tracer when a collector is configured; returns the service that exports the
    /// spans (run it with the daemon's other services; it flushes on shutdown), or nil.
    public static func bootstrapIfConfigured(serviceName: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (any Service)? {
        guard endpointVariables.contains(where: { !(environment[$0] ?? "").isEmpty }), environment["OTEL_TRACES_EXPORTER"] != "none" else { return nil }
        guard !isActive else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        active.store(true, ordering: .relaxed)
        return backend.service
    }

    /// Starts a span whose parent is the `traceparent` (nil: a new trace; when exporting, the task's
    /// current span if there is one). Returns the span (end it) and the `traceparent` naming it.
    /// Without export, a ``TraceContext`` child stands for it and the span does nothing.
    public static func start(_ name: String, parent traceparent: String?, kind: SpanKind) -> (span: any Span, traceparent: String) {
        guard isActive else {
            let context = TraceContext(header: traceparent)?.child() ?? .start()
            return (NoOpTracer.NoOpSpan(context: .topLevel), context.header)
        }
        var context = ServiceContext.current ?? .topLevel
        if let traceparent, TraceContext(header: traceparent) != nil {
            context = .topLevel
            InstrumentationSystem.instrument.extract(["traceparent": traceparent], into: &context, using: DictionaryExtractor())
        }
        let span = InstrumentationSystem.tracer.startSpan(name, context: context, ofKind: kind)
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(span.context, into: &carrier, using: DictionaryInjector())
        return (span, carrier["traceparent"] ?? (TraceContext(header: traceparent)?.child() ?? .start()).header)
    }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
