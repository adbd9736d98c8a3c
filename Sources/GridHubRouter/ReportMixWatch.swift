import Foundation
import GridHubCore
import GridHubKafka
import Logging
import PostgresNIO
import ServiceLifecycle

/// Every ``interval`` looks at the last ``period`` of grid workers' reports for report-mix anomalies
/// (``ReportMixAnomaly``, docs/report-mix.md) and raises a `reportMix` alert on `gridhub.alerts.v1` for
/// each grid or worker newly flagged, at most once per ``quiet``. The alert and the note that it was
/// raised are written in one transaction, through the outbox, like every other record of the router;
/// one router instance at a time does it (a transaction-scoped advisory lock).
public final class ReportMixWatch: Service, Sendable {
    let store: RouterStore
    let env: RouterEnvironment
    let logger: Logger
    let interval: Duration
    public static let period: TimeInterval = 30 * 86_400
    public static let quiet: TimeInterval = 7 * 86_400
    /// The advisory lock's key: "gridhub report mix".
    static let lockKey: Int64 = 0x6772_6964_6D69_78

    public init(store: RouterStore, environment: RouterEnvironment, logger: Logger, interval: Duration) {
        self.store = store
        env = environment
        self.logger = logger
        self.interval = interval
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // A graceful shutdown ends the wait (an hour by default) at once.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return }
            do {
                let raised = try await cancelWhenGracefulShutdown { try await self.check() }
                if raised > 0 { logger.notice("report-mix alerts raised", metadata: ["gridhub.alerts": .stringConvertible(raised)]) }
            } catch {
                logger.warning("report-mix check failed", metadata: [RouterLogKeys.reason: .string(String(String(reflecting: error).prefix(400)))])
            }
        }
    }

    /// One look; returns the number of alerts raised.
    public func check() async throws -> Int {
        try await store.client.withTransaction(logger: logger) { conn -> Int in
            var locked = false
            for try await got in try await conn.query("SELECT pg_try_advisory_xact_lock(\(Self.lockKey))", logger: logger).decode(Bool.self) { locked = got }
            guard locked else { return 0 }
            let now = env.now()
            let nowMs = now.millisecondsSince1970
            var recent = Set<String>()
            let quietSince = nowMs - Int64(Self.quiet * 1000)
            for try await (kind, subject) in try await conn.query(
                "SELECT subject_kind, subject FROM report_mix_alerts WHERE alerted_ms > \(quietSince)", logger: logger).decode((String, String).self) {
                recent.insert(kind + "/" + subject)
            }
            let from = nowMs - Int64(Self.period * 1000)
            let rows = try await conn.query("""
                SELECT doc FROM cases WHERE first_ms >= \(from) AND first_ms <= \(nowMs)
                  AND case_id IN (SELECT case_id FROM reports WHERE system = 'elink')
                """, logger: logger)
            // Streamed: a month of cases is decoded one at a time and only its observations (a few
            // strings per grid worker's report) are kept, so a look costs memory in proportion to the
            // reports, not to the cases' documents.
            let decoder = GridHubJSON.decoder()
            var observations: [ReportMixAnomaly.Observation] = []
            for try await doc in rows.decode(ByteBuffer.self) {
                observations += ReportMixAnomaly.observations(of: try Case.decoded(from: doc.allBytes, decoder: decoder))
            }
            let flags = ReportMixAnomaly(reference: env.reference).flags(observations)
                .filter { !recent.contains($0.subjectKind.rawValue + "/" + $0.subject) && $0.exampleCaseId != nil }
            guard !flags.isEmpty else { return 0 }
            let encoder = GridHubJSON.encoder()
            var records: [OutboxRecord] = []
            for flag in flags {
                let caseId = flag.exampleCaseId!
                let day = String(RFC3339.format(now).prefix(10))
                let alert = Alert(alertId: DeterministicID(namespace: .event, parts: ["alert", "reportMix", flag.subjectKind.rawValue, flag.subject, day]).uuidString,
                                  caseId: caseId, kind: .reportMix, department: nil, level: nil, dispatchId: nil, dueAt: nil,
                                  message: Self.message(flag, reference: env.reference), at: now, reportMix: flag)
                let event = try CloudEvent(id: alert.alertId, source: CloudEvent.routerSource, type: .alert, time: now, subject: caseId,
                                           payload: alert, encoder: encoder)
                records.append(OutboxRecord(topic: Topics.alerts, key: Array(caseId.utf8), value: event.data, headers: event.kafkaHeaders))
            }
            try await conn.query("""
                INSERT INTO report_mix_alerts (subject_kind, subject, alerted_ms)
                SELECT * FROM unnest(\(flags.map(\.subjectKind.rawValue))::text[], \(flags.map(\.subject))::text[], \(Array(repeating: nowMs, count: flags.count))::int8[])
                ON CONFLICT (subject_kind, subject) DO UPDATE SET alerted_ms = EXCLUDED.alerted_ms
                """, logger: logger)
            // The NOTIFY (delivered at commit) wakes the outbox publisher.
            try await conn.query("""
                INSERT INTO outbox (records, body) VALUES (\(Int32(records.count)), \(OutboxRecord.body(records)));
                """, logger: logger)
            try await conn.query("SELECT pg_notify('\(unescaped: RouterStore.outboxChannel)', '')", logger: logger)
            return records.count
        }
    }

    /// The alert's words for the command centre.
    static func message(_ flag: ReportMixAnomaly.Flag, reference: ReferenceData) -> String {
        let who = flag.subjectKind == .worker ? "网格员 \(flag.subject)" : "网格 \(reference.grid(code: flag.subject)?.name ?? flag.subject)"
        let town = reference.town(code: flag.townCode)?.name ?? flag.townCode
        return String(format: "%@ 上报简易事项占比 %.0f%%（%@同类网格 %.0f%%），共 %d 件，偶然出现的概率 %.1e，请核查",
                      who, flag.easyShare * 100, town, flag.baselineEasyShare * 100, flag.reports, flag.pValue)
    }
}
