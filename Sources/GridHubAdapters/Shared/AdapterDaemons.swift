import Foundation
import GridHubCore
import GridHubRuntime
import Logging
import ServiceLifecycle

/// The one way each adapter's services are built: its daemon (`gridhub adapter …`) and `gridhub dev`
/// both call these, so dev is the production wiring plus the simulated city. Each takes the adapter's
/// typed settings (read and checked by the command), its runtime (Kafka pipeline, ledgers, readiness,
/// metrics) and the reference data, and returns every service the adapter runs, its runtime's included.
public enum AdapterDaemons {
    /// `gridhub adapter hotline12345`.
    public struct Hotline12345Settings: Sendable {
        /// Where the push endpoints (and /healthz, /readyz, /metrics) listen.
        public var listen: ListenAddress
        /// HTTPS instead of HTTP when given.
        public var tls: TLSFiles?
        /// The hotline platform's base URL, for results (`POST {url}/api/v1/gd/fk`).
        public var hotlineURL: String
        /// The shared signing secret (`GRIDHUB_HOTLINE_SECRET`).
        public var secret: [UInt8]
        public init(listen: ListenAddress, hotlineURL: String, secret: [UInt8]) {
            self.listen = listen
            self.hotlineURL = hotlineURL
            self.secret = secret
        }
    }

    /// `gridhub adapter elink`.
    public struct ElinkSettings: Sendable {
        public var listen: ListenAddress
        /// HTTPS instead of HTTP when given.
        public var tls: TLSFiles?
        /// The platform's API key (`GRIDHUB_ELINK_API_KEY`).
        public var apiKey: String
        public init(listen: ListenAddress, apiKey: String) {
            self.listen = listen
            self.apiKey = apiKey
        }
    }

    /// `gridhub adapter woodpecker`.
    public struct WoodpeckerSettings: Sendable {
        /// The open API's base URL.
        public var apiURL: String
        /// The API token (`GRIDHUB_WOODPECKER_TOKEN`).
        public var token: String
        /// Where /healthz, /readyz and /metrics listen; nil: served by the caller (`gridhub dev`).
        public var adminListen: ListenAddress?
        /// Pause between polls once caught up.
        public var idleInterval: Duration = .seconds(2)
        public init(apiURL: String, token: String, adminListen: ListenAddress?) {
            self.apiURL = apiURL
            self.token = token
            self.adminListen = adminListen
        }
    }

    /// `gridhub adapter enforcement`.
    public struct EnforcementSettings: Sendable {
        /// Where the enforcement system drops `ZFAJ_*.csv` (+ `.ok`).
        public var inbox: URL
        /// Where the hub writes `GRIDHUB_*.csv` (+ `.ok`) status files.
        public var outbox: URL
        /// Where /healthz, /readyz and /metrics listen; nil: served by the caller (`gridhub dev`).
        public var adminListen: ListenAddress?
        /// The enforcement department's code in `departments.csv`: its dispatches go to the outbox too.
        public var department: String = "urban-mgmt"
        public init(inbox: URL, outbox: URL, adminListen: ListenAddress?) {
            self.inbox = inbox
            self.outbox = outbox
            self.adminListen = adminListen
        }
    }

    /// Called with the port an adapter's HTTP server bound (port 0 picks one).
    public typealias OnListening = @Sendable (Int) -> Void

    public static func services(_ settings: Hotline12345Settings, runtime: AdapterRuntime, reference: ReferenceData, logger: Logger,
                                onListening: @escaping OnListening = { _ in }) throws -> [any Service] {
        let ingest = HotlineIngest(configuration: .init(secret: settings.secret), pipeline: runtime.pipeline, reference: reference, logger: logger)
        let server = try AdapterServer.application(address: settings.listen, runtime: runtime, logger: logger, tls: settings.tls, routes: { ingest.addRoutes(to: $0) }) { onListening($0) }
        let outbound = try HotlineOutbound.service(runtime: runtime, hotlineURL: settings.hotlineURL, secret: settings.secret, reference: reference,
                                                   stateDir: runtime.stateDirectory, logger: logger)
        return runtime.baseServices + [server] + outbound
    }

    public static func services(_ settings: ElinkSettings, runtime: AdapterRuntime, reference: ReferenceData, logger: Logger,
                                onListening: @escaping OnListening = { _ in }) throws -> [any Service] {
        let ingest = ElinkIngest(configuration: .init(apiKey: settings.apiKey), pipeline: runtime.pipeline, reference: reference, logger: logger)
        let server = try AdapterServer.application(address: settings.listen, runtime: runtime, logger: logger, tls: settings.tls, routes: { ingest.addRoutes(to: $0) }) { onListening($0) }
        return runtime.baseServices + [server]
    }

    public static func services(_ settings: WoodpeckerSettings, runtime: AdapterRuntime, reference: ReferenceData, logger: Logger,
                                onListening: @escaping OnListening = { _ in }) throws -> [any Service] {
        var configuration = WoodpeckerPoller.Configuration(apiURL: settings.apiURL, token: settings.token)
        configuration.idleInterval = settings.idleInterval
        let poller = WoodpeckerPoller(configuration: configuration, pipeline: runtime.pipeline, reference: reference,
                                      stateDirectory: runtime.stateDirectory, readiness: runtime.readiness, metrics: runtime.metrics, logger: logger)
        let replies = try StatusDelivery(
            configuration: .init(topics: [SourceSystem.woodpecker.statusTopic], groupID: "gridhub-adapter-woodpecker", stage: "adapter.woodpecker.status"),
            kafka: runtime.kafka, sink: WoodpeckerReplySink(apiURL: settings.apiURL, token: settings.token, reference: reference, logger: logger),
            stateDirectory: runtime.stateDirectory, pipeline: runtime.pipeline, metrics: runtime.metrics, logger: logger)
        return runtime.baseServices + admin(settings.adminListen, runtime: runtime, logger: logger, onListening: onListening) + [poller, replies]
    }

    public static func services(_ settings: EnforcementSettings, runtime: AdapterRuntime, reference: ReferenceData, logger: Logger,
                                onListening: @escaping OnListening = { _ in }) throws -> [any Service] {
        guard reference.department(code: settings.department) != nil else {
            throw ConfigFileError(message: "department \(settings.department) is not in departments.csv")
        }
        var configuration = EnforcementInbox.Configuration(inbox: settings.inbox, stateDirectory: runtime.stateDirectory)
        configuration.department = settings.department
        let reader = EnforcementInbox(configuration: configuration, pipeline: runtime.pipeline, reference: reference, metrics: runtime.metrics, logger: logger)
        // Status for the enforcement system's own cases, and the cases the hub dispatches to the department.
        let status = try StatusDelivery(
            configuration: .init(topics: [SourceSystem.enforcement.statusTopic, Topics.dispatch(department: settings.department)],
                                 groupID: "gridhub-adapter-enforcement", stage: "adapter.enforcement.status"),
            kafka: runtime.kafka, sink: EnforcementOutboxSink(outbox: settings.outbox, reference: reference), stateDirectory: runtime.stateDirectory,
            pipeline: runtime.pipeline, metrics: runtime.metrics, logger: logger)
        return runtime.baseServices + admin(settings.adminListen, runtime: runtime, logger: logger, onListening: onListening) + [reader, status]
    }

    private static func admin(_ address: ListenAddress?, runtime: AdapterRuntime, logger: Logger, onListening: @escaping OnListening) -> [any Service] {
        guard let address else { return [] }
        return [AdminRoutes.application(address: address, readiness: runtime.readiness, metrics: runtime.metrics, logger: logger, onListening: onListening)]
    }
}
