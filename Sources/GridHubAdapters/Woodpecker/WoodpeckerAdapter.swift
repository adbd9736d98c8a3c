import AsyncHTTPClient
import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// The Woodpecker adapter's poller: `GET /open/v2/reports?cursor=…&limit=…` with the app token. The
/// cursor (kept on disk, written atomically) advances only past pages whose reports are all on
/// Kafka. Reports seen twice and edits map to one incident id (revision = version); 429 waits for
/// `Retry-After`; 5xx and timeouts back off exponentially with jitter; a bad token stops polling and
/// makes the adapter unready with a clear log line; an expired cursor (40010) restarts from the
/// oldest retained report (the ledger absorbs what was already stored).
public final class WoodpeckerPoller: Service, Sendable {
    public struct Configuration: Sendable {
        public var apiURL: String
        public var token: String
        public var limit = 200
        /// Pause between polls once caught up.
        public var idleInterval: Duration = .seconds(2)
        /// Shortest time between two polls while catching up: the API allows 10 requests per second per
        /// token (replies share the token, so polls stay well below it).
        public var minInterval: Duration = .milliseconds(150)
        public var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(60))
        public var requestTimeout: TimeAmount = .seconds(15)
        public init(apiURL: String, token: String) {
            var base = apiURL
            while base.hasSuffix("/") { base.removeLast() }
            self.apiURL = base
            self.token = token
        }
    }

    static let stage = "adapter.woodpecker"
    private let configuration: Configuration
    private let pipeline: IngestPipeline
    private let reference: ReferenceData
    private let client: HTTPClient
    private let cursorFile: URL
    private let logger: Logger
    private let problem = ProblemBox()
    private let polls: MetricsCounter
    private let failures: MetricsCounter

    public init(configuration: Configuration, pipeline: IngestPipeline, reference: ReferenceData, stateDirectory: URL, readiness: Readiness,
                metrics: DaemonMetrics, client: HTTPClient = .shared, logger: Logger) {
        self.configuration = configuration
        self.pipeline = pipeline
        self.reference = reference
        self.client = client
        self.cursorFile = stateDirectory.appendingPathComponent("cursor")
        self.logger = logger
        polls = metrics.counter("woodpecker", "polls", help: "Pages fetched.", labels: [("adapter", "woodpecker")])
        failures = metrics.counter("woodpecker", "poll_failures", help: "Polls that failed (429, 5xx, timeouts).", labels: [("adapter", "woodpecker")])
        let problem = self.problem
        readiness.add("woodpecker") { problem.value.withLock { $0 } }
    }

    /// The cursor kept on disk, if any.
    public var storedCursor: String? {
        (try? String(contentsOf: cursorFile, encoding: .utf8)).flatMap { $0.isEmpty ? nil : $0 }
    }

    public func run() async throws {
        let start = storedCursor
        try? await cancelWhenGracefulShutdown {
            var cursor = start
            var attempt = 0
            while !Task.isCancelled {
                let started = ContinuousClock.now
                switch await self.pollOnce(cursor: cursor) {
                case .page(let next, let hasMore):
                    attempt = 0
                    if let next, next != cursor {
                        try await self.store(cursor: next)
                        cursor = next
                    }
                    if hasMore {
                        try await Task.sleep(until: started + self.configuration.minInterval, clock: .continuous)
                    } else {
                        try await Task.sleep(for: self.configuration.idleInterval)
                    }
                case .retryAfter(let wait):
                    self.failures.increment()
                    try await Task.sleep(for: wait)
                case .backoff(let reason):
                    self.failures.increment()
                    if attempt % 5 == 0 { self.logger.info("woodpecker poll failed; backing off", metadata: ["woodpecker.reason": .string(reason)]) }
                    try await Task.sleep(for: self.configuration.backoff.delay(attempt: attempt))
                    attempt += 1
                case .cursorExpired:
                    self.logger.warning("woodpecker cursor expired (40010); restarting from the oldest retained report")
                    try await self.store(cursor: "")
                    cursor = nil
                case .badToken(let message):
                    self.problem.value.withLock { $0 = "Woodpecker refused the token: \(message)" }
                    self.logger.critical("woodpecker refused the app token; polling stopped: set GRIDHUB_WOODPECKER_TOKEN to a valid token and restart",
                                         metadata: ["woodpecker.message": .string(message)])
                    // Stay up, unready, until shut down: a restart with the right token resumes.
                    try await Task.sleep(for: .seconds(365 * 24 * 3600))
                }
            }
        }
    }

    enum PollResult {
        case page(next: String?, hasMore: Bool)
        case retryAfter(Duration)
        case backoff(String)
        case cursorExpired
        case badToken(String)
    }

    func pollOnce(cursor: String?) async -> PollResult {
        var url = "\(configuration.apiURL)/open/v2/reports?limit=\(configuration.limit)"
        if let cursor, !cursor.isEmpty {
            url += "&cursor=" + (cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? cursor)
        }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(configuration.token)")
        let response: HTTPClientResponse
        let body: [UInt8]
        do {
            response = try await client.execute(request, timeout: configuration.requestTimeout)
            body = Array(try await response.body.collect(upTo: 16 << 20).readableBytesView)
        } catch {
            return .backoff("\(error)")
        }
        polls.increment()
        let page = try? Woodpecker.page(body)
        if response.status == .tooManyRequests {
            let seconds = response.headers.first(name: "Retry-After").flatMap { Double($0) } ?? 1
            return .retryAfter(.milliseconds(Int64(max(0.05, seconds) * 1000)))
        }
        if response.status == .unauthorized || page?.code == 40100 { return .badToken(page?.message ?? "HTTP 401") }
        if page?.code == 40010 { return .cursorExpired }
        guard response.status.code / 100 == 2, let page else { return .backoff("HTTP \(response.status.code)") }
        guard page.code == 0 else { return .backoff("code \(page.code): \(page.message)") }
        // Store every report (a broken one on the dead-letter topic) before the cursor may advance.
        var incidents: [Incident] = []
        let now = Date()
        for item in page.items {
            switch item.report {
            case .success(let report): incidents.append(report.incident(reference: reference, receivedAt: now))
            case .failure(let problem):
                if case .busy(let reason) = await pipeline.deadLetter(original: item.json, stage: Self.stage, reason: problem.reason,
                                                                       origin: "GET /open/v2/reports", reasonCode: problem.code, once: true) {
                    return .backoff(reason)
                }
            }
        }
        // The same report twice in one page: its highest revision is enough.
        var newest: [String: Int] = [:]
        for (i, incident) in incidents.enumerated() where (newest[incident.source.recordId].map { incidents[$0].source.version < incident.source.version } ?? true) {
            newest[incident.source.recordId] = i
        }
        let unique = incidents.enumerated().filter { newest[$0.element.source.recordId] == $0.offset }.map(\.element)
        for outcome in await pipeline.publish(unique) {
            if case .busy(let reason) = outcome { return .backoff(reason) }
        }
        return .page(next: page.nextCursor, hasMore: page.hasMore)
    }

    /// Writes the cursor atomically (temporary file, fsync, rename).
    func store(cursor: String) async throws {
        let file = cursorFile
        try await runBlocking {
            let temp = file.appendingPathExtension("tmp")
            let fd = open(temp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw OutboxError(message: "cannot write \(temp.path): errno \(errno)") }
            let bytes = Array(cursor.utf8)
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            let synced = fsync(fd) == 0
            close(fd)
            guard n == bytes.count, synced, rename(temp.path, file.path) == 0 else { throw OutboxError(message: "cannot store the cursor in \(file.path)") }
        }
    }
}

/// Replies to the citizen in the app: `POST /open/v2/reports/{id}/replies`, in order per report.
public struct WoodpeckerReplySink: OutboundSink {
    public var apiURL: String
    public var token: String
    public var reference: ReferenceData
    public var client: HTTPClient
    public var logger: Logger
    public var backoff = Backoff()

    public init(apiURL: String, token: String, reference: ReferenceData, client: HTTPClient = .shared, logger: Logger) {
        var base = apiURL
        while base.hasSuffix("/") { base.removeLast() }
        self.apiURL = base
        self.token = token
        self.reference = reference
        self.client = client
        self.logger = logger
    }

    public func deliver(_ items: [OutboundItem]) async throws -> [OutboundResult] {
        try await PerKeyDelivery.deliver(items, concurrency: 8, backoff: backoff, logger: logger) { item in await self.attempt(item) }
    }

    func attempt(_ item: OutboundItem) async -> PerKeyDelivery.Attempt {
        guard case .status(let status) = item.payload,
              let reply = Woodpecker.reply(status, departmentName: status.department.flatMap { reference.department(code: $0)?.nameZh }),
              let body = try? JSONSerialization.data(withJSONObject: reply, options: [.sortedKeys]) else { return .done(.skipped) }
        let id = status.recordId.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? status.recordId
        var request = HTTPClientRequest(url: "\(apiURL)/open/v2/reports/\(id)/replies")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        request.body = .bytes(ByteBuffer(bytes: Array(body)))
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            let answer = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            let code = ((try? JSONSerialization.jsonObject(with: Data(answer))) as? [String: Any]).flatMap { ($0["code"] as? NSNumber)?.intValue }
            switch response.status.code {
            case 200..<300 where code == 0: return .done(.delivered)
            case 429, 500..<600, 401: return .retry(reason: "HTTP \(response.status.code)")
            case 400..<500: return .done(.rejected(reason: "Woodpecker refused the reply: HTTP \(response.status.code)"))
            default: return .retry(reason: "HTTP \(response.status.code) code \(code.map(String.init) ?? "?")")
            }
        } catch {
            return .retry(reason: "\(error)")
        }
    }
}

/// The adapter's readiness problem, shared with the readiness check.
final class ProblemBox: Sendable {
    let value = Mutex<String?>(nil)
}
