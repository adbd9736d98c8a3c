import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// `gridhub console`: the command centre's web console. It reads the router's database (cases) and
/// the dead-letter topic, and writes only commands (and the replay of a dead letter born on a topic).
/// Every page needs a login; a town's operators see their town's grids and cases, the city's all.
public final class Console: Sendable {
    public struct Configuration: Sendable {
        public var listen: ListenAddress
        public var databaseURL: String
        public var kafka: KafkaClientConfiguration
        /// The router's clock (overdue means due before it); `gridhub dev` gives its simulated one.
        public var now: @Sendable () -> Date = { Date() }
        /// HTTPS instead of HTTP when given.
        public var tls: TLSFiles?
        public init(listen: ListenAddress, databaseURL: String, kafka: KafkaClientConfiguration) {
            self.listen = listen
            self.databaseURL = databaseURL
            self.kafka = kafka
        }
    }

    let configuration: Configuration
    let reference: ReferenceData
    let users: ConsoleUsers
    let sessions = ConsoleSessions()
    let store: ConsoleStore
    let commands: CommandPublisher
    let map: GridMap
    let logger: Logger
    private let statsCache = Mutex<[String: (at: ContinuousClock.Instant, rows: [Assessment.Row], flags: [ReportMixAnomaly.Flag])]>([:])

    public init(configuration: Configuration, reference: ReferenceData, users: ConsoleUsers, logger: Logger) throws {
        self.configuration = configuration
        self.reference = reference
        self.users = users
        self.logger = logger
        store = try ConsoleStore(databaseURL: configuration.databaseURL, logger: logger)
        commands = try CommandPublisher(client: configuration.kafka, logger: logger)
        map = GridMap(reference: reference)
    }

    /// The console's services: the database pool, the command publisher, the web server.
    public func services(readiness: Readiness, metrics: DaemonMetrics, onListening: @escaping @Sendable (Int) -> Void = { _ in }) throws -> [any Service] {
        let router = Router()
        AdminRoutes.add(to: router, readiness: readiness, metrics: metrics)
        addRoutes(to: router)
        let app = Application(router: router, server: try HTTPLimits().server(tls: configuration.tls),
                              configuration: .init(address: .hostname(configuration.listen.host, port: configuration.listen.port), serverName: "gridhub-console"),
                              onServerRunning: { channel in onListening(channel.localAddress?.port ?? self.configuration.listen.port) }, logger: logger)
        return [store.service, commands, app]
    }

    // MARK: routes

    static let cookie = "gridhub_session"

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/login") { _, _ in Self.html(ConsolePages.login(error: nil)) }
        router.post("/login") { request, _ in try await self.login(request) }
        router.post("/logout") { request, _ in
            let form = try await Self.form(request)
            if let s = self.sessions.session(request.cookies[Self.cookie]?.value), form["token"] == s.formToken {
                self.sessions.end(request.cookies[Self.cookie]?.value)
            }
            return Self.redirect("/login", cookie: "\(Self.cookie)=; \(self.cookieAttributes); Max-Age=0")
        }
        router.get("/") { request, _ in try await self.page(request) { try await self.overview($0) } }
        router.get("/api/overview") { request, _ in try await self.page(request) { try await self.overviewJSON($0) } }
        router.get("/cases") { request, _ in try await self.page(request) { try await self.caseList(request, $0) } }
        router.get("/cases/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await self.page(request) { try await self.casePage(id, request, $0) }
        }
        router.get("/cases/:id/live") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await self.page(request) { try await self.caseLive(id, request, $0) }
        }
        router.post("/cases/:id/commands") { request, context in
            let id = context.parameters.get("id") ?? ""
            return try await self.page(request) { try await self.command(id, request, $0) }
        }
        router.get("/stats") { request, _ in try await self.page(request) { try await self.stats(request, $0) } }
        router.get("/deadletters") { request, _ in try await self.page(request) { try await self.deadLetters(nil, $0) } }
        router.post("/deadletters/:position/replay") { request, context in
            let position = context.parameters.get("position") ?? ""
            return try await self.page(request) { try await self.replay(position, request, $0) }
        }
    }

    /// Runs `body` for a logged-in operator; sends anyone else to the login page.
    private func page(_ request: Request, _ body: (ConsoleSessions.Session) async throws -> Response) async throws -> Response {
        guard let session = sessions.session(request.cookies[Self.cookie]?.value) else {
            if request.uri.path.hasPrefix("/api/") || request.uri.path.hasSuffix("/live") { return Response(status: .unauthorized) }
            return Self.redirect("/login")
        }
        return try await body(session)
    }

    private func login(_ request: Request) async throws -> Response {
        let form = try await Self.form(request)
        let name = form["user"] ?? "", password = form["password"] ?? ""
        guard let (user, scope) = users.authenticate(name: name, password: password) else {
            logger.notice("console login refused", metadata: ["console.user": .string(String(name.prefix(64)))])
            return Self.html(ConsolePages.login(error: "用户或密码错误 wrong user or password"), status: .unauthorized)
        }
        let (token, _) = sessions.start(user: user.name, scope: scope)
        logger.info("console login", metadata: ["console.user": .string(user.name), "console.scope": .string(scope.description)])
        return Self.redirect("/", cookie: "\(Self.cookie)=\(token); \(cookieAttributes)")
    }

    private func overview(_ session: ConsoleSessions.Session) async throws -> Response {
        let counts = try await store.openCounts(scope: session.scope, now: configuration.now())
        let (rows, flags) = try await assessment(scope: session.scope, by: session.scope == .city ? .department : .grid, days: 30)
        return Self.html(ConsolePages.overview(map: map, counts: counts, scope: session.scope, reference: reference, stats: rows, flags: flags, session: session))
    }

    private func overviewJSON(_ session: ConsoleSessions.Session) async throws -> Response {
        let counts = try await store.openCounts(scope: session.scope, now: configuration.now())
        var grids: [String: String] = [:]
        for (code, c) in ConsolePages.perGrid(counts) { grids[code] = GridMap.colourClass(open: c.open, overdue: c.overdue) }
        // Grids whose cases all closed since the page was drawn go back to "none".
        for shape in map.shapes where grids[shape.gridCode] == nil && session.scope.covers(gridCode: shape.gridCode) { grids[shape.gridCode] = "none" }
        let object: [String: Any] = [
            "grids": grids, "open": counts.reduce(0) { $0 + $1.open }, "overdue": counts.reduce(0) { $0 + $1.overdue },
            "queues": ConsolePages.queueTable(ConsolePages.queues(counts), reference: reference),
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private func caseList(_ request: Request, _ session: ConsoleSessions.Session) async throws -> Response {
        var filter = ConsoleStore.Filter()
        let q = request.uri.queryParameters
        filter.department = q["department"].map(String.init).flatMap { $0 == "—" ? nil : $0 }
        filter.level = q["level"].map(String.init).flatMap { $0 == "—" ? nil : $0 }
        filter.gridCode = q["grid"].map(String.init)
        filter.overdueOnly = q["overdue"] == "1"
        let now = configuration.now()
        let cases = try await store.openCases(filter, scope: session.scope, now: now)
        var title = filter.overdueOnly ? "超期案件 overdue cases" : "在办案件 open cases"
        if let d = filter.department { title += " · \(reference.department(code: d)?.nameZh ?? d)" }
        if let l = filter.level { title += " · \(l)" }
        if let g = filter.gridCode { title += " · \(reference.grid(code: g)?.name ?? g)" }
        return Self.html(ConsolePages.caseList(cases, title: title, reference: reference, now: now, session: session))
    }

    private func visibleCase(_ id: String, _ session: ConsoleSessions.Session) async throws -> Case? {
        guard let c = try await store.case(id), session.scope.covers(gridCode: c.gridCode) else { return nil }
        return c
    }

    private func casePage(_ id: String, _ request: Request, _ session: ConsoleSessions.Session) async throws -> Response {
        guard let c = try await visibleCase(id, session) else { return Self.html(ConsolePages.layout(title: "no case", session: session, body: "<section>No case \(ConsolePages.escape(id)) in your scope.</section>"), status: .notFound) }
        let sent = request.uri.queryParameters["sent"].map(String.init) ?? ""
        return Self.html(ConsolePages.casePage(c, reference: reference, now: configuration.now(), flash: sent, session: session))
    }

    private func caseLive(_ id: String, _ request: Request, _ session: ConsoleSessions.Session) async throws -> Response {
        guard let c = try await visibleCase(id, session) else { return Response(status: .notFound) }
        let outcome = request.uri.queryParameters["sent"].map { sent in (String(sent), commands.outcome(of: String(sent), in: c)) }
        return Self.html(ConsolePages.caseLive(c, reference: reference, now: configuration.now(), outcome: outcome))
    }

    private func command(_ id: String, _ request: Request, _ session: ConsoleSessions.Session) async throws -> Response {
        let form = try await Self.form(request)
        guard form["token"] == session.formToken else { return Response(status: .forbidden) }
        guard try await visibleCase(id, session) != nil else { return Response(status: .notFound) }
        guard let action = form["command"].flatMap(Command.Action.init(rawValue:)) else { return Response(status: .badRequest) }
        let message = form["message"].flatMap { $0.isEmpty ? nil : $0 }
        var dueAt: Date? = nil
        if action == .due {
            guard let due = form["due"].flatMap(RFC3339.parse) else {
                return Self.html(ConsolePages.layout(title: "bad due date", session: session, body: "<section class=\"flash refused\">The due date must be RFC 3339 with an offset, e.g. 2026-12-08T18:00:00+08:00. <a href=\"/cases/\(ConsolePages.escape(id))\">back</a></section>"), status: .badRequest)
            }
            dueAt = due
        }
        let department = (action == .assign || action == .reassign) ? form["department"] : nil
        let command = Command(commandId: UUID().uuidString.lowercased(), caseId: id, action: action, department: department,
                              message: message, dueAt: dueAt, issuedBy: session.user, at: Date())
        try await commands.send(command)
        logger.info("console command sent", metadata: ["console.user": .string(session.user), "gridhub.case": .string(id),
                                                       "gridhub.command": .string(action.rawValue), "gridhub.command.id": .string(command.commandId)])
        return Self.redirect("/cases/\(id)?sent=\(command.commandId)")
    }

    private func stats(_ request: Request, _ session: ConsoleSessions.Session) async throws -> Response {
        let by = request.uri.queryParameters["by"].flatMap { Assessment.Grouping(rawValue: String($0)) } ?? .department
        let days = request.uri.queryParameters["days"].flatMap { Int(String($0)) }.map { min(max($0, 1), 366) } ?? 30
        let (rows, _) = try await assessment(scope: session.scope, by: by, days: days)
        return Self.html(ConsolePages.statsPage(rows, by: by, days: days, session: session))
    }

    /// The assessment rows and the report-mix flags of the last `days` days, recomputed at most every 10 s.
    private func assessment(scope: ConsoleScope, by: Assessment.Grouping, days: Int) async throws -> ([Assessment.Row], [ReportMixAnomaly.Flag]) {
        let key = "\(scope)/\(by.rawValue)/\(days)"
        if let hit = statsCache.withLock({ $0[key] }), ContinuousClock.now - hit.at < .seconds(10) { return (hit.rows, hit.flags) }
        let now = configuration.now()
        let cases = try await store.cases(reportedFrom: now.addingTimeInterval(-Double(days) * 86_400), to: now.addingTimeInterval(60), scope: scope)
        let rows = Assessment(reference: reference).rows(cases, by: by, now: now)
        let flags = ReportMixAnomaly(reference: reference).flags(ReportMixAnomaly.observations(cases))
        statsCache.withLock { $0[key] = (.now, rows, flags) }
        return (rows, flags)
    }

    private func deadLetters(_ flash: String?, _ session: ConsoleSessions.Session) async throws -> Response {
        guard session.scope == .city else { return Self.html(ConsolePages.layout(title: "dead letters", session: session, body: "<section>Dead letters are the city operators'.</section>"), status: .forbidden) }
        let records = try await DeadLetterReader.readAll(configuration.kafka, logger: logger, timeout: .seconds(10))
        return Self.html(ConsolePages.deadLetters(records, flash: flash, session: session))
    }

    private func replay(_ position: String, _ request: Request, _ session: ConsoleSessions.Session) async throws -> Response {
        let form = try await Self.form(request)
        guard form["token"] == session.formToken, session.scope == .city else { return Response(status: .forbidden) }
        guard let (partition, offset) = DeadLetterReader.position(position) else { return Response(status: .badRequest) }
        let records = try await DeadLetterReader.readAll(configuration.kafka, logger: logger, timeout: .seconds(10))
        guard let record = records.first(where: { $0.partition == partition && $0.offset == offset }) else { return try await deadLetters("no dead letter at \(position)", session) }
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: configuration.kafka), logger: logger)
        let answer: String
        do {
            guard case .topic = try DeadLetterReplay.target(of: record) else { throw ReplayError("came in over HTTP: replay it with gridhub deadletters replay --adapter-url") }
            answer = "replayed \(position): " + (try await DeadLetterReplay.replay(record, adapterURL: nil, producer: producer))
        } catch {
            answer = "not replayed: \(error)"
        }
        await producer.shutdown()
        logger.info("console replay", metadata: ["console.user": .string(session.user), "gridhub.deadletter": .string(position), "gridhub.answer": .string(answer)])
        return try await deadLetters(answer, session)
    }

    // MARK: helpers

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                                           HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The session cookie's attributes: `Secure` too when the console speaks HTTPS.
    var cookieAttributes: String { "Path=/; HttpOnly; SameSite=Strict" + (configuration.tls == nil ? "" : "; Secure") }

    static func redirect(_ location: String, cookie: String? = nil) -> Response {
        var headers: HTTPFields = [.location: location]
        if let cookie { headers[.setCookie] = cookie }
        return Response(status: .seeOther, headers: headers)
    }

    /// An `application/x-www-form-urlencoded` body (at most 64 KiB).
    static func form(_ request: Request) async throws -> [String: String] {
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        let text = String(buffer: buffer).replacingOccurrences(of: "+", with: " ")
        var components = URLComponents()
        components.percentEncodedQuery = text
        var out: [String: String] = [:]
        for item in components.queryItems ?? [] where out[item.name] == nil { out[item.name] = item.value ?? "" }
        return out
    }
}
