import GridHubCore
import GridHubRuntime
import Prometheus
import Synchronization

/// Metadata keys of the router's log lines, kept in one place.
enum RouterLogKeys {
    static let caseID = "gridhub.case.id"
    static let dispatchID = "gridhub.dispatch.id"
    static let topic = "kafka.topic"
    static let partition = "kafka.partition"
    static let offset = "kafka.offset"
    static let reason = "gridhub.error.reason"
    static let count = "gridhub.count"
    static let attempt = "gridhub.attempt"
}

/// The router's metrics, created once (labels: department codes and outcomes only, never an id).
public final class RouterMetrics: Sendable {
    let incidents: Counter
    let exactDuplicates: Counter
    let casesOpened: Counter
    let merged: Counter
    let closedOnArrival: Counter
    let escalations: Counter
    let feedbackApplied: Counter
    let feedbackRejected: Counter
    let feedbackRepeated: Counter
    let feedbackSuperseded: Counter
    let surveys: Counter
    let reopened: Counter
    let deadLetters: Counter
    let batchRetries: Counter
    let poisonRecords: Counter
    let published: Counter
    let outboxLag: Gauge
    let outboxSending: Gauge
    let candidatesCached: Gauge
    let batchLatency: DurationHistogram
    private let dispatched: [String: Counter]
    private let dispatchedOther: Counter
    private let batchCount = Atomic<Int>(0)
    private let publishedCount = Atomic<Int>(0)
    private let publishedByteCount = Atomic<Int>(0)

    /// Consumed batches committed so far (each one database transaction).
    public var batchesCommitted: Int { batchCount.load(ordering: .relaxed) }
    /// Outbox records delivered so far.
    public var recordsPublished: Int { publishedCount.load(ordering: .relaxed) }
    /// Bytes of the outbox records delivered so far (key, value and headers).
    public var bytesPublished: Int { publishedByteCount.load(ordering: .relaxed) }

    private let timing = Mutex<[String: Duration]>([:])

    /// Time spent so far in each stage of the consume loop and the publisher (for `gridhub bench router`).
    public var stageTimes: [String: Duration] { timing.withLock { $0 } }

    func spent(_ stage: String, since start: ContinuousClock.Instant) {
        let d = ContinuousClock.now - start
        timing.withLock { $0[stage, default: .zero] += d }
    }

    private let tallies = Mutex<[String: Int]>([:])

    /// Counts of events the benchmark reports (cases loaded one by one, candidates fetched).
    public var stageCounts: [String: Int] { tallies.withLock { $0 } }

    func tally(_ name: String, _ n: Int) { tallies.withLock { $0[name, default: 0] += n } }

    func batchCommitted() { batchCount.add(1, ordering: .relaxed) }
    func delivered(_ n: Int, bytes: Int) {
        publishedCount.add(n, ordering: .relaxed)
        publishedByteCount.add(bytes, ordering: .relaxed)
        published.increment(by: Int64(n))
    }

    /// The metrics in `metrics`' registry, one dispatch counter per department of `departments`.
    public init(metrics: DaemonMetrics, departments: [String]) {
        let s = "router"
        incidents = metrics.counter(s, "incidents", help: "Incidents (source report versions) processed.")
        exactDuplicates = metrics.counter(s, "exact_duplicates", help: "Incidents whose report was already in a case (retries, new versions).")
        casesOpened = metrics.counter(s, "cases_opened", help: "Cases opened.")
        merged = metrics.counter(s, "merged", help: "Reports merged into an existing case as cross-channel duplicates.")
        closedOnArrival = metrics.counter(s, "closed_on_arrival", help: "Reports solved on the spot, recorded as closed cases.")
        escalations = metrics.counter(s, "escalations", help: "Overdue cases escalated one level.")
        feedbackApplied = metrics.counter(s, "feedback", help: "Department feedback applied.", labels: [("outcome", "applied")])
        feedbackRejected = metrics.counter(s, "feedback", help: "Department feedback applied.", labels: [("outcome", "rejected")])
        feedbackRepeated = metrics.counter(s, "feedback", help: "Department feedback applied.", labels: [("outcome", "repeated")])
        feedbackSuperseded = metrics.counter(s, "feedback_superseded", help: "Department feedback on a dispatch the case has moved on from (applied to the current one when it is the same department's).")
        surveys = metrics.counter(s, "surveys", help: "Satisfaction surveys applied.")
        reopened = metrics.counter(s, "reopened", help: "Cases reopened by a dissatisfied survey.")
        deadLetters = metrics.counter(s, "dead_letters", help: "Records dead-lettered by the router.")
        batchRetries = metrics.counter(s, "batch_retries", help: "Batches retried after a database error (deadlock, lost connection).")
        poisonRecords = metrics.counter(s, "poison_records", help: "Records that failed processing alone while the database answered, dead-lettered.")
        published = metrics.counter(s, "outbox_published", help: "Outbox records delivered to Kafka.")
        outboxLag = metrics.gauge(s, "outbox_lag", unit: "records", help: "Records committed to the outbox and not yet delivered.")
        outboxSending = metrics.gauge(s, "outbox_sending", unit: "records", help: "Outbox records handed to the producer and waiting for their delivery reports.")
        candidatesCached = metrics.gauge(s, "dedup_candidates_cached", unit: "cases", help: "Cases kept in memory as duplicate candidates (those the time window still allows).")
        batchLatency = metrics.latency(s, "batch", help: "Time to process one consumed batch in one database transaction.")
        var map: [String: Counter] = [:]
        for d in departments {
            map[d] = metrics.counter(s, "dispatched", help: "Dispatches sent, by department.", labels: [("department", d)])
        }
        dispatched = map
        dispatchedOther = metrics.counter(s, "dispatched", help: "Dispatches sent, by department.", labels: [("department", "other")])
    }

    func dispatched(_ department: String) -> Counter { dispatched[department] ?? dispatchedOther }
}
