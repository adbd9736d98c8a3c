import Crypto
import Foundation
import GridHubCore
import GridHubKafka
import GridHubRouter
import GridHubRuntime
import Hummingbird
import HTTPTypes
import Logging
import PostgresNIO
import ServiceLifecycle

/// `gridhub gateway`: GridHub over HTTP for departments whose systems cannot speak Kafka, and Open311
/// GeoReport v2 for public-facing systems. A department, by its API key, lists and streams (SSE) its
/// open dispatches and posts feedback, which the gateway writes to `gridhub.feedback.v1` exactly as a
/// department's Kafka client would (`ce_source` `/department/<code>`): the router applies or refuses
/// it. The API is described by `Schemas/gateway.openapi.yaml` (also served at `/openapi.yaml`).
public final class Gateway: Sendable {
    public struct Configuration: Sendable {
        public var listen: ListenAddress
        public var databaseURL: String
        public var kafka: KafkaClientConfiguration
        public var tls: TLSFiles?
        public init(listen: ListenAddress, databaseURL: String, kafka: KafkaClientConfiguration) {
            self.listen = listen
            self.databaseURL = databaseURL
            self.kafka = kafka
        }
    }

    let configuration: Configuration
    let reference: ReferenceData
    let keys: GatewayKeys
    let client: PostgresClient
    let producer: KafkaProducer
    let logger: Logger
    let openAPI: String?

    public init(configuration: Configuration, reference: ReferenceData, keys: GatewayKeys, openAPI: String?, logger: Logger) throws {
        self.configuration = configuration
        self.reference = reference
        self.keys = keys
        self.openAPI = openAPI
        self.logger = logger
        client = PostgresClient(configuration: try RouterStore.configuration(url: configuration.databaseURL, maximumConnections: 4), backgroundLogger: logger)
        producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: configuration.kafka), logger: logger)
    }

    /// The gateway's services: the database pool, the producer (flushed last), the web server.
    public func services(readiness: Readiness, metrics: DaemonMetrics, onListening: @escaping @Sendable (Int) -> Void = { _ in }) throws -> [any Service] {
        let router = Router()
        AdminRoutes.add(to: router, readiness: readiness, metrics: metrics)
        addRoutes(to: router)
        let app = Application(router: router, server: try HTTPLimits().server(tls: configuration.tls),
                              configuration: .init(address: .hostname(configuration.listen.host, port: configuration.listen.port), serverName: "gridhub-gateway"),
                              onServerRunning: { channel in onListening(channel.localAddress?.port ?? self.configuration.listen.port) }, logger: logger)
        return [DatabasePool(client, logger: logger), FlushOnShutdown(producer: producer), app]
    }

    /// Keeps the producer until shutdown, then flushes it (after the server has stopped taking posts).
    struct FlushOnShutdown: Service {
        let producer: KafkaProducer
        func run() async throws {
            try? await gracefulShutdown()
            await producer.shutdown(timeout: .seconds(10))
        }
    }

    // MARK: routes

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/openapi.yaml") { _, _ in
            guard let text = self.openAPI else { return Response(status: .notFound) }
            return Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/v1/dispatches") { request, _ in
            try await self.authorized(request) { department in try Self.json(["dispatches": try await self.openDispatches(department)]) }
        }
        router.get("/v1/dispatches/stream") { request, _ in
            try await self.authorized(request) { department in self.stream(department) }
        }
        router.post("/v1/feedback") { request, _ in
            try await self.authorized(request) { department in try await self.feedback(request, department: department) }
        }
        router.get("/open311/v2/services.json") { _, _ in try Self.json(self.services()) }
        router.get("/open311/v2/requests.json") { request, _ in try await self.requests(request) }
        router.get("/open311/v2/requests/:id") { _, context in
            let name = context.parameters.get("id") ?? ""
            guard name.hasSuffix(".json") else { return Response(status: .notFound) }
            return try await self.request(String(name.dropLast(5)))
        }
    }

    private func authorized(_ request: Request, _ body: (String) async throws -> Response) async throws -> Response {
        var key = request.headers[HTTPField.Name("X-Api-Key")!]
        if key == nil, let auth = request.headers[.authorization], auth.lowercased().hasPrefix("bearer ") { key = String(auth.dropFirst(7)) }
        guard let key, let department = keys.department(forKey: key) else {
            return try Self.json(["error": "a department's API key is needed (X-Api-Key or Authorization: Bearer)"], status: .unauthorized)
        }
        return try await body(department)
    }

    // MARK: departments

    /// The department's open work: its cases dispatched, accepted or in progress, earliest due first.
    func openDispatches(_ department: String) async throws -> [[String: Any]] {
        let rows = try await client.query("""
            SELECT doc FROM cases WHERE department = \(department) AND status IN ('dispatched', 'accepted', 'inProgress')
            ORDER BY deadline_ms NULLS LAST LIMIT 1000
            """, logger: logger)
        let decoder = GridHubJSON.decoder()
        var out: [[String: Any]] = []
        for try await doc in rows.decode(ByteBuffer.self) {
            let c = try Case.decoded(from: Array(doc.readableBytesView), decoder: decoder)
            out.append(Self.dispatchView(c, reference: reference))
        }
        return out
    }

    static func dispatchView(_ c: Case, reference: ReferenceData) -> [String: Any] {
        var view: [String: Any] = ["dispatchId": c.currentDispatchId ?? NSNull(), "caseId": c.caseId, "status": c.status.rawValue,
                                   "level": c.level?.rawValue ?? NSNull(), "itemCode": c.itemCode ?? NSNull(),
                                   "itemName": c.itemCode.flatMap { reference.item(code: $0)?.nameZh } ?? NSNull(),
                                   "gridCode": c.gridCode ?? NSNull(), "description": c.description, "urgent": c.urgent,
                                   "dueAt": c.dueAt.map(RFC3339.format) ?? NSNull(), "reports": c.reports.count]
        view["location"] = ["lat": c.location.lat ?? NSNull(), "lon": c.location.lon ?? NSNull(), "address": c.location.address ?? NSNull()] as [String: Any]
        return view
    }

    /// Server-sent events of the department's topic from now on: each dispatch (`event: dispatch`)
    /// and alert (`event: alert`) as its JSON data, and a comment every 15 s to keep proxies open.
    func stream(_ department: String) -> Response {
        let topic = Topics.dispatch(department: department)
        let kafka = configuration.kafka, logger = self.logger
        let body = ResponseBody { writer in
            let admin = try KafkaAdmin(configuration: kafka, logger: logger)
            let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: kafka), logger: logger)
            try consumer.assign(try await admin.endOffsets(topic: topic))
            try await writer.write(ByteBuffer(string: ": streaming \(topic)\n\n"))
            var lastBeat = ContinuousClock.now
            do {
                while !Task.isCancelled {
                    for record in try await consumer.poll(timeout: .milliseconds(500)) {
                        let type = record.headers.string(CloudEventHeader.type) == EventType.alert.rawValue ? "alert" : "dispatch"
                        let id = record.headers.string(CloudEventHeader.id) ?? ""
                        let data = String(decoding: record.value, as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
                        try await writer.write(ByteBuffer(string: "event: \(type)\nid: \(id)\ndata: \(data)\n\n"))
                    }
                    if ContinuousClock.now - lastBeat > .seconds(15) {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        lastBeat = .now
                    }
                }
            } catch {
                // The client went away (or the gateway stops): close the consumer below.
            }
            await consumer.close(timeout: .seconds(5))
            try? await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// `{"dispatchId", "status", "note"}` → a feedback record from the key's department.
    func feedback(_ request: Request, department: String) async throws -> Response {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        struct Posted: Decodable { var dispatchId: String; var status: FeedbackStatus; var note: String? }
        let posted: Posted
        do { posted = try JSONDecoder().decode(Posted.self, from: Data(buffer.readableBytesView)) } catch {
            return try Self.json(["error": "the body must be {\"dispatchId\", \"status\" (accepted, inProgress, resolved, returned), \"note\"}: \(error)"], status: .badRequest)
        }
        let feedback = Feedback(dispatchId: posted.dispatchId, department: department, status: posted.status, note: posted.note, at: Date())
        let id = UUID().uuidString.lowercased()
        let event = try CloudEvent(id: id, source: CloudEvent.departmentSource(department), type: .feedback, time: feedback.at,
                                   subject: feedback.dispatchId, traceparent: request.headers[.traceparent], payload: feedback)
        do {
            _ = try await producer.send(ProducerRecord(topic: Topics.feedback, key: feedback.dispatchId, value: event.data,
                                                       headers: event.headers.map { KafkaHeader(key: $0.key, value: $0.value) }))
        } catch {
            return try Self.json(["error": "not stored, try again: \(error.message)"], status: .serviceUnavailable)
        }
        logger.info("feedback posted", metadata: ["gridhub.department": .string(department), "gridhub.dispatch": .string(feedback.dispatchId),
                                                  "gridhub.feedback.status": .string(feedback.status.rawValue)])
        return try Self.json(["feedbackId": id, "accepted": true], status: .accepted)
    }

    // MARK: Open311 GeoReport v2

    func services() -> [[String: Any]] {
        reference.items.map { item in
            ["service_code": item.code, "service_name": item.nameZh, "description": item.keywordsZh.joined(separator: "、"),
             "metadata": false, "type": "realtime", "keywords": item.keywordsZh.joined(separator: ","), "group": item.groupZh]
        }
    }

    static func georeport(_ c: Case, reference: ReferenceData) -> [String: Any] {
        let open = ![.closed, .returned, .resolved].contains(c.status)
        var r: [String: Any] = [
            "service_request_id": c.caseId, "status": open ? "open" : "closed", "status_notes": c.status.rawValue,
            "service_code": c.itemCode ?? NSNull(), "service_name": c.itemCode.flatMap { reference.item(code: $0)?.nameZh } ?? NSNull(),
            "description": c.description, "agency_responsible": c.department.flatMap { reference.department(code: $0)?.nameZh } ?? NSNull(),
            "requested_datetime": RFC3339.format(c.openedAt), "updated_datetime": RFC3339.format(c.updatedAt),
            "expected_datetime": c.dueAt.map(RFC3339.format) ?? NSNull(), "address": c.location.address ?? NSNull(),
        ]
        r["lat"] = c.location.lat ?? NSNull()
        r["long"] = c.location.lon ?? NSNull()
        return r
    }

    func requests(_ request: Request) async throws -> Response {
        let q = request.uri.queryParameters
        let serviceCode = q["service_code"].map(String.init)
        let status = q["status"].map(String.init)
        guard status == nil || status == "open" || status == "closed" else { return try Self.json([["code": 400, "description": "status is open or closed"]], status: .badRequest) }
        let rows = try await client.query("""
            SELECT doc FROM cases WHERE (\(serviceCode)::text IS NULL OR item_code = \(serviceCode)::text)
              AND (\(status)::text IS NULL OR (\(status)::text = 'open') = (status NOT IN ('closed', 'returned', 'resolved')))
            ORDER BY first_ms DESC LIMIT 200
            """, logger: logger)
        let decoder = GridHubJSON.decoder()
        var out: [[String: Any]] = []
        for try await doc in rows.decode(ByteBuffer.self) { out.append(Self.georeport(try Case.decoded(from: Array(doc.readableBytesView), decoder: decoder), reference: reference)) }
        return try Self.json(out)
    }

    func request(_ id: String) async throws -> Response {
        let rows = try await client.query("SELECT doc FROM cases WHERE case_id = \(id)", logger: logger)
        for try await doc in rows.decode(ByteBuffer.self) {
            return try Self.json([Self.georeport(try Case.decoded(from: Array(doc.readableBytesView), decoder: GridHubJSON.decoder()), reference: reference)])
        }
        return try Self.json([["code": 404, "description": "no service request \(id)"]], status: .notFound)
    }

    static func json(_ object: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The departments' API keys (a JSON file: `{"keys": [{"department", "sha256"}]}`), stored as SHA-256
/// hashes of the keys (random 32-byte keys: a hash is enough, no stretching needed).
public struct GatewayKeys: Sendable {
    private let byHash: [String: String]

    public struct Entry: Codable, Sendable {
        public var department: String
        public var sha256: String
        public init(department: String, sha256: String) {
            self.department = department
            self.sha256 = sha256
        }
    }

    public init(_ entries: [Entry], reference: ReferenceData) throws(ConfigFileError) {
        var table: [String: String] = [:]
        for e in entries {
            guard reference.department(code: e.department) != nil else { throw ConfigFileError(message: "key for \(e.department): not a department of departments.csv") }
            guard e.sha256.count == 64, e.sha256.allSatisfy(\.isHexDigit) else { throw ConfigFileError(message: "key for \(e.department): sha256 must be 64 hex digits") }
            table[e.sha256.lowercased()] = e.department
        }
        guard !table.isEmpty else { throw ConfigFileError(message: "the keys file names no key") }
        byHash = table
    }

    public static func load(path: String, reference: ReferenceData) throws(ConfigFileError) -> GatewayKeys {
        struct File: Decodable { var keys: [Entry] }
        guard let data = FileManager.default.contents(atPath: path), let file = try? JSONDecoder().decode(File.self, from: data) else {
            throw ConfigFileError(message: "the keys file \(path) is not readable as {\"keys\": [{\"department\", \"sha256\"}]}")
        }
        return try GatewayKeys(file.keys, reference: reference)
    }

    public static func hash(_ key: String) -> String { SHA256.hash(data: Array(key.utf8)).map { String(format: "%02x", $0) }.joined() }

    /// A new random key (64 hex digits) and its entry.
    public static func make(department: String) -> (key: String, entry: Entry) {
        var generator = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        return (key, Entry(department: department, sha256: hash(key)))
    }

    /// The department whose key this is.
    public func department(forKey key: String) -> String? { byHash[Self.hash(key)] }
}
