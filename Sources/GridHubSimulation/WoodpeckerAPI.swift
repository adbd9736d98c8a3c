import Foundation
import GridHubCore
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A double of City Woodpecker's open API, built from its spec: reports in change order behind an
/// opaque cursor, pages that repeat the previous page's last item (at-least-once), edits and
/// withdrawals that re-appear after the cursor, 429 with `Retry-After`, spells of 502, a token check,
/// cursor expiry (40010), and a replies endpoint that records what it receives.
public final class WoodpeckerAPI: Sendable {
    public struct Faults: Sendable {
        /// Answer 429 (Retry-After: 1) to every n-th poll (0: never).
        public var tooManyEvery = 0
        /// Answer 502 to the next n polls.
        public var badGateway = 0
        /// Answer 40010 to any cursor below this change index.
        public var expireBelow = 0
        public init() {}
    }

    private struct State {
        /// The retained changes; `changes[0]` is change number `dropped`.
        var changes: [Woodpecker.Report] = []
        var dropped = 0
        var faults = Faults()
        var polls = 0
        var replies = RecentList<(reportId: String, body: [String: String])>(capacity: 10_000)
        var refusedTokens = 0
    }

    public let token: String
    /// Changes kept (the real API keeps 30 days): older ones are dropped, and a cursor pointing before
    /// them is expired (40010), as the spec says.
    public let retainedChanges: Int
    private let state = Mutex(State())

    public init(token: String, retainedChanges: Int = 10_000) {
        self.token = token
        self.retainedChanges = retainedChanges
    }

    /// Adds a report, or a new revision of one (an edit or a withdrawal): it appears after the cursor again.
    public func publish(_ report: Woodpecker.Report) {
        state.withLock { s in
            s.changes.append(report)
            if s.changes.count > retainedChanges + retainedChanges / 10 {
                let cut = s.changes.count - retainedChanges
                s.changes.removeFirst(cut)
                s.dropped += cut
            }
        }
    }

    public func setFaults(_ faults: Faults) { state.withLock { $0.faults = faults } }
    public var polls: Int { state.withLock { $0.polls } }
    public var refusedTokens: Int { state.withLock { $0.refusedTokens } }
    /// The last 10 000 replies received, in arrival order: report id and the reply's fields as text.
    public var replies: [(reportId: String, body: [String: String])] { state.withLock { $0.replies.elements } }

    /// Replies received in all.
    public var repliesCount: Int { state.withLock { $0.replies.total } }

    /// The cursor after `index` changes (for tests).
    public static func cursorText(_ index: Int) -> String { cursor(index) }

    static func cursor(_ index: Int) -> String { Data("{\"i\":\(index)}".utf8).base64EncodedString() }
    static func index(_ cursor: String) -> Int? {
        guard let data = Data(base64Encoded: cursor), let text = String(data: data, encoding: .utf8) else { return nil }
        return Int(text.dropFirst(5).dropLast())
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any], headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json; charset=utf-8"
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: Array(data))))
    }

    public func server(port: Int = 0, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol & Service {
        let router = Router()
        let token = self.token
        router.get("/open/v2/reports") { request, _ -> Response in
            guard request.headers[.authorization] == "Bearer \(token)" else {
                self.state.withLock { $0.refusedTokens += 1 }
                return Self.json(.unauthorized, ["code": 40100, "message": "invalid token", "data": NSNull()])
            }
            let limit = min(200, max(1, Int(request.uri.queryParameters["limit"].map(String.init) ?? "50") ?? 50))
            let cursor = request.uri.queryParameters["cursor"].map(String.init)
            return self.state.withLock { s -> Response in
                s.polls += 1
                if s.faults.badGateway > 0 { s.faults.badGateway -= 1; return Response(status: .badGateway) }
                if s.faults.tooManyEvery > 0 && s.polls % s.faults.tooManyEvery == 0 {
                    return Self.json(.tooManyRequests, ["code": 42900, "message": "too many requests", "data": NSNull()], headers: [.retryAfter: "1"])
                }
                var start = 0
                if let cursor {
                    guard let i = Self.index(cursor) else { return Self.json(.badRequest, ["code": 40000, "message": "bad cursor", "data": NSNull()]) }
                    // A cursor this API never issued (a consumer that kept one from an earlier run of the
                    // double) is as unusable as one past the retention: the consumer starts over.
                    if i < s.faults.expireBelow || i - 1 < s.dropped && i > 0 || i < 0 || i > s.dropped + s.changes.count {
                        return Self.json(.ok, ["code": 40010, "message": "cursor expired", "data": NSNull()])
                    }
                    // At-least-once: the page starts with the previous page's last item again.
                    start = max(0, i - 1)
                }
                start = max(start, s.dropped)
                let count = s.dropped + s.changes.count
                let end = min(count, start + limit)
                let items = s.changes[(start - s.dropped)..<(end - s.dropped)].map(\.object)
                let data: [String: Any] = ["items": items, "nextCursor": Self.cursor(end), "hasMore": end < count]
                return Self.json(.ok, ["code": 0, "message": "ok", "data": data])
            }
        }
        router.post("/open/v2/reports/{id}/replies") { request, context -> Response in
            guard request.headers[.authorization] == "Bearer \(token)" else {
                return Self.json(.unauthorized, ["code": 40100, "message": "invalid token", "data": NSNull()])
            }
            let id = context.parameters.get("id") ?? ""
            let body = try await request.body.collect(upTo: 1 << 20)
            let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
            let fields = object.mapValues { "\($0)" }
            let n = self.state.withLock { s -> Int in s.replies.append((id, fields)); return s.replies.total }
            return Self.json(.ok, ["code": 0, "message": "ok", "data": ["replyId": "r_\(n)"]])
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "woodpecker-double"),
                           onServerRunning: { await onListening($0.localAddress?.port ?? 0) }, logger: logger)
    }
}
