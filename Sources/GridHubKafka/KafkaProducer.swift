import CRdKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// A Kafka producer whose sends complete with the delivery report.
///
/// - Idempotent with `acks=all` by default: librdkafka's retries neither duplicate nor reorder.
/// - Back-pressure: at most ``KafkaProducerConfiguration/maxInFlightRecords`` records are awaiting
///   a delivery report; a sender beyond that waits for a slot instead of failing or growing memory.
/// - Delivery reports are served by a dedicated thread, never on the cooperative pool.
/// - ``shutdown(timeout:)`` flushes with a bound and fails whatever could not be delivered.
///
/// `@unchecked Sendable`: the C handle is thread-safe; Swift state is in `Mutex`es.
public final class KafkaProducer: @unchecked Sendable {
    private let handle: RDKafkaHandle
    private let permits: AsyncPermits
    private let logger: Logger
    private let blockingQueue = DispatchQueue(label: "gridhub.kafka.producer.blocking")
    private let lifecycle = Mutex(Lifecycle())
    private let pollThread: PollThread
    /// Topic handles of ``prepare(topics:timeout:)``, released with the producer.
    private let prepared = Mutex<[UncheckedPointer]>([])
    public let configuration: KafkaProducerConfiguration

    /// Whether records are accepted, and how many senders are handing one to librdkafka right now:
    /// shutdown waits for those before it flushes and purges, so a record is never enqueued after the
    /// purge (where no delivery report would ever come and its sender would wait forever).
    private struct Lifecycle {
        enum Phase { case running, shuttingDown, shutDown }
        var phase = Phase.running
        var enqueuing = 0
    }

    /// Creates the producer and starts its delivery-report thread.
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        self.configuration = configuration
        self.logger = logger
        let permits = AsyncPermits(max(1, configuration.maxInFlightRecords))
        self.permits = permits
        let context = RDKafkaContext(logger: logger, deliveryHandler: { message in
            KafkaProducer.handleDelivery(message, permits: permits)
        })
        handle = try RDKafkaHandle(kind: .producer, properties: configuration.librdkafkaProperties, context: context)
        pollThread = PollThread(handle: handle)
        pollThread.start()
    }

    deinit {
        for rkt in prepared.withLock({ $0 }) { rd_kafka_topic_destroy(rkt.pointer) }
        pollThread.stop()
        // Anything still queued is purged so that no waiter is left hanging.
        rd_kafka_purge(handle.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        Self.serveRemainingReports(handle, permits: permits, upTo: .seconds(2))
        handle.destroy()
    }

    /// Sends one record and returns when the cluster has acknowledged it (or throws why not).
    @discardableResult
    public func send(_ record: ProducerRecord) async throws(KafkaError) -> DeliveryReport {
        try checkRunning()
        await permits.acquire()
        let result: Result<DeliveryReport, KafkaError> = await withCheckedContinuation { continuation in
            let slot = DeliverySlot { continuation.resume(returning: $0) }
            if let error = enqueue(record, slot: slot) {
                permits.release()
                continuation.resume(returning: .failure(error))
            }
        }
        return try result.get()
    }

    /// Sends many records, pipelined, and returns each one's outcome in order once all are reported.
    public func send(_ records: [ProducerRecord]) async -> [Result<DeliveryReport, KafkaError>] {
        await submit(records).reports()
    }

    /// Hands `records` to librdkafka in order (waiting for slots while the producer is at capacity) and
    /// returns without waiting for their delivery; the result reports it. Successive calls from one
    /// task are sent in call order, so a caller can send the next records while earlier ones are still
    /// on their way and keep each key's order.
    public func submit(_ records: [ProducerRecord]) async -> PendingDeliveries {
        let batch = PendingDeliveries(count: records.count)
        if records.isEmpty { return batch }
        if let error = runningError() {
            for index in records.indices { batch.complete(index, .failure(error)) }
            return batch
        }
        for (index, record) in records.enumerated() {
            await permits.acquire()
            let slot = DeliverySlot { batch.complete(index, $0) }
            if let error = enqueue(record, slot: slot) {
                permits.release()
                batch.complete(index, .failure(error))
            }
        }
        return batch
    }

    /// Sends a record without waiting for its delivery report; `completion` is called with it on the
    /// delivery-report thread (keep it short). Waits for a slot when the producer is at capacity.
    public func send(_ record: ProducerRecord, completion: @escaping @Sendable (Result<DeliveryReport, KafkaError>) -> Void) async {
        if let error = runningError() { return completion(.failure(error)) }
        await permits.acquire()
        let slot = DeliverySlot(completion)
        if let error = enqueue(record, slot: slot) {
            permits.release()
            completion(.failure(error))
        }
    }

    /// Records sent and not yet reported.
    public var inFlight: Int { permits.capacity - permits.available }

    /// Senders currently waiting for a slot (back-pressure at work).
    public var waitingSenders: Int { permits.waiting }

    /// Learns the partitions and leaders of `topics` now, so that the first record to each does not wait
    /// for librdkafka to look the topic up (about a second each, seen on the embedded broker: the first
    /// dispatch to each department after a start waited that long). One metadata request for them all,
    /// waiting at most `timeout`; the topics stay known for the producer's life. A cluster that does not
    /// answer only makes this return after `timeout`: records are sent as before.
    public func prepare(topics: [String], timeout: Duration = .seconds(2)) async {
        let handle = self.handle
        let ms = Int32(clamping: timeout.milliseconds)
        await runBlocking(on: blockingQueue) { [self] in
            // A topic handle makes librdkafka keep the topic and its metadata; it is released at the end.
            self.prepared.withLock { list in
                for topic in topics { if let rkt = rd_kafka_topic_new(handle.pointer, topic, nil) { list.append(UncheckedPointer(rkt)) } }
            }
            var md: UnsafePointer<rd_kafka_metadata>? = nil
            if rd_kafka_metadata(handle.pointer, 0, nil, &md, ms) == RD_KAFKA_RESP_ERR_NO_ERROR, let md { rd_kafka_metadata_destroy(md) }
        }
    }

    /// Waits until every record sent so far is reported, for at most `timeout`.
    public func flush(timeout: Duration) async throws(KafkaError) {
        let handle = self.handle
        let ms = Int32(clamping: timeout.milliseconds)
        let err = await runBlocking(on: blockingQueue) { rd_kafka_flush(handle.pointer, ms) }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError.rd(err, code: .timedOut, context: "flush did not finish within \(timeout)")
        }
    }

    /// Stops accepting records, flushes for at most `timeout`, fails what was not delivered, and
    /// frees the handle. Calling it again does nothing.
    public func shutdown(timeout: Duration = .seconds(10)) async {
        let proceed = lifecycle.withLock { state -> Bool in
            guard state.phase == .running else { return false }
            state.phase = .shuttingDown
            return true
        }
        guard proceed else { return }
        // Senders already past the check finish handing their record over (microseconds) first.
        while lifecycle.withLock({ $0.enqueuing }) > 0 { await Task.yield() }
        do {
            try await flush(timeout: timeout)
        } catch {
            logger.info("producer flush timed out; undelivered records are failed", metadata: [LoggingKeys.client: .string(handle.name)])
        }
        let handle = self.handle
        let pollThread = self.pollThread
        let permits = self.permits
        let left: Int = await runBlocking(on: blockingQueue) {
            rd_kafka_purge(handle.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
            // Every purged record's report is served before the poll thread stops: a report that came
            // after it would never be served, and its sender (or a batch's waiter) would wait for ever.
            let left = Self.serveRemainingReports(handle, permits: permits, upTo: .seconds(5))
            if left == 0 { pollThread.stop() }
            return left
        }
        if left > 0 {
            // Not seen; the thread then stays until the producer is released, so a late report is still served.
            logger.warning("producer shut down with records not yet reported; its delivery-report thread stays", metadata: [
                LoggingKeys.client: .string(handle.name), "kafka.records": .stringConvertible(left)])
        }
        lifecycle.withLock { $0.phase = .shutDown }
    }

    // MARK: Transactions (real clusters; the embedded broker accepts but does not enforce them)

    /// `rd_kafka_init_transactions`: registers the `transactional.id` and fences older instances.
    public func initTransactions(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await transactional("init transactions") { rk in rd_kafka_init_transactions(rk, Int32(clamping: timeout.milliseconds)) }
    }

    /// Starts a transaction; records sent until commit or abort belong to it.
    public func beginTransaction() async throws(KafkaError) {
        try await transactional("begin transaction") { rk in rd_kafka_begin_transaction(rk) }
    }

    /// Adds a consumer's offsets to the current transaction (consume-transform-produce).
    public func sendOffsetsToTransaction(_ offsets: [TopicPartitionOffset], consumer: KafkaConsumer, timeout: Duration = .seconds(30)) async throws(KafkaError) {
        let metadata = consumer.groupMetadataPointer()
        defer { if let metadata { rd_kafka_consumer_group_metadata_destroy(metadata) } }
        guard let metadata else {
            throw KafkaError(code: .transaction, message: "the consumer has no group metadata (no group.id)")
        }
        let sendable = UncheckedPointer(metadata)
        try await transactional("send offsets to transaction") { rk in
            let list = TopicPartitionList(offsets)
            return rd_kafka_send_offsets_to_transaction(rk, list.pointer, sendable.pointer, Int32(clamping: timeout.milliseconds))
        }
    }

    /// Commits the current transaction.
    public func commitTransaction(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await transactional("commit transaction") { rk in rd_kafka_commit_transaction(rk, Int32(clamping: timeout.milliseconds)) }
    }

    /// Aborts the current transaction.
    public func abortTransaction(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        try await transactional("abort transaction") { rk in rd_kafka_abort_transaction(rk, Int32(clamping: timeout.milliseconds)) }
    }

    // MARK: Internals

    private func transactional(_ what: String, _ call: @escaping @Sendable (OpaquePointer) -> OpaquePointer?) async throws(KafkaError) {
        try checkRunning()
        guard configuration.transactionalID != nil else {
            throw KafkaError(code: .transaction, message: "\(what): the producer has no transactional.id")
        }
        let handle = self.handle
        let error: KafkaError? = await runBlocking(on: blockingQueue) {
            guard let error = call(handle.pointer) else { return nil }
            return KafkaError.consuming(error, code: .transaction, context: what)
        }
        if let error { throw error }
    }


    private func runningError() -> KafkaError? {
        if let fatal = handle.context.fatalError.withLock({ $0 }) { return fatal }
        return lifecycle.withLock { $0.phase } == .running ? nil : Self.shutDownError
    }

    private static let shutDownError = KafkaError(code: .shutDown, message: "the producer is shut down")

    private func checkRunning() throws(KafkaError) {
        if let error = runningError() { throw error }
    }

    /// Hands one record to librdkafka. Returns an error if it was not enqueued (the slot is then unused).
    private func enqueue(_ record: ProducerRecord, slot: DeliverySlot) -> KafkaError? {
        // A sender may have waited for a permit while the producer shut down.
        let open = lifecycle.withLock { state -> Bool in
            guard state.phase == .running else { return false }
            state.enqueuing += 1
            return true
        }
        guard open else { return Self.shutDownError }
        defer { lifecycle.withLock { $0.enqueuing -= 1 } }
        let opaque = Unmanaged.passRetained(slot).toOpaque()
        var headers: OpaquePointer? = nil
        if !record.headers.isEmpty {
            headers = rd_kafka_headers_new(record.headers.count)
            for h in record.headers {
                h.value.withUnsafeBytes { v in
                    _ = rd_kafka_header_add(headers, h.key, h.key.utf8.count, v.baseAddress, v.count)
                }
            }
        }
        var err = RD_KAFKA_RESP_ERR_NO_ERROR
        while true {
            err = produceVU(record, headers: headers, opaque: opaque)
            // Our permits normally keep librdkafka's queue from filling; if it fills anyway
            // (records larger than expected), serve delivery reports and try again.
            guard err == RD_KAFKA_RESP_ERR__QUEUE_FULL else { break }
            rd_kafka_poll(handle.pointer, 10)
        }
        if err == RD_KAFKA_RESP_ERR_NO_ERROR { return nil }
        if let headers { rd_kafka_headers_destroy(headers) }
        Unmanaged<DeliverySlot>.fromOpaque(opaque).release()
        return KafkaError.rd(err, code: .produce, context: "could not enqueue a record for \(record.topic)")
    }

    private func produceVU(_ record: ProducerRecord, headers: OpaquePointer?, opaque: UnsafeMutableRawPointer) -> rd_kafka_resp_err_t {
        record.topic.withCString { topic in
            record.value.withUnsafeBytes { value in
                withKeyBytes(record.key) { key in
                    withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 7) { vus in
                    var n = 0
                    func add(_ type: rd_kafka_vtype_t, _ set: (inout rd_kafka_vu_t) -> Void) {
                        var vu = rd_kafka_vu_t()
                        vu.vtype = type
                        set(&vu)
                        vus.initializeElement(at: n, to: vu)
                        n += 1
                    }
                    add(RD_KAFKA_VTYPE_TOPIC) { $0.u.cstr = topic }
                    add(RD_KAFKA_VTYPE_VALUE) { $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress); $0.u.mem.size = value.count }
                    if let key {
                        add(RD_KAFKA_VTYPE_KEY) { $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress); $0.u.mem.size = key.count }
                    }
                    add(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = record.partition ?? RD_KAFKA_PARTITION_UA }
                    add(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
                    add(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = opaque }
                    if let headers { add(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = headers } }
                    defer { vus.baseAddress!.deinitialize(count: n) }
                    guard let error = rd_kafka_produceva(handle.pointer, vus.baseAddress, n) else { return RD_KAFKA_RESP_ERR_NO_ERROR }
                    let code = rd_kafka_error_code(error)
                    rd_kafka_error_destroy(error)
                    return code
                    }
                }
            }
        }
    }

    /// Polls until every record handed to librdkafka has been reported (each report frees its permit),
    /// for at most `limit`; returns how many are still unreported.
    @discardableResult
    private static func serveRemainingReports(_ handle: RDKafkaHandle, permits: AsyncPermits, upTo limit: Duration) -> Int {
        let deadline = ContinuousClock.now + limit
        rd_kafka_poll(handle.pointer, 0)
        while permits.available < permits.capacity && ContinuousClock.now < deadline { rd_kafka_poll(handle.pointer, 20) }
        return permits.capacity - permits.available
    }

    /// Delivery-report callback body: resolves the record's slot and frees its permit.
    private static func handleDelivery(_ message: UnsafePointer<rd_kafka_message_t>, permits: AsyncPermits) {
        guard let opaque = message.pointee._private else { return }
        let slot = Unmanaged<DeliverySlot>.fromOpaque(opaque).takeRetainedValue()
        // Made anew for each report. Keeping the sent record's topic string in the slot instead (one
        // string shared by every report) was tried: the 12345 adapter fell from 4.7 k to 3.1 k req/s
        // (`gridhub bench hotline`, three runs each; why, not measured).
        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        let result: Result<DeliveryReport, KafkaError>
        if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            result = .success(DeliveryReport(topic: topic, partition: message.pointee.partition, offset: message.pointee.offset))
        } else {
            result = .failure(KafkaError.rd(message.pointee.err, code: .produce, context: "record to \(topic) was not delivered"))
        }
        permits.release()
        slot.completion(result)
    }
}

/// Calls `body` with the key's bytes, or nil for a record without key.
private func withKeyBytes<R>(_ key: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let key else { return body(nil) }
    return key.withUnsafeBytes { body($0) }
}

/// What to do with one record's delivery report.
final class DeliverySlot: Sendable {
    let completion: @Sendable (Result<DeliveryReport, KafkaError>) -> Void
    init(_ completion: @escaping @Sendable (Result<DeliveryReport, KafkaError>) -> Void) { self.completion = completion }
}

/// The delivery reports of records handed over together (``KafkaProducer/submit(_:)``), each in the
/// order it was sent, once all are in.
public final class PendingDeliveries: Sendable {
    private struct State {
        var results: [Result<DeliveryReport, KafkaError>?]
        var remaining: Int
        var continuation: CheckedContinuation<[Result<DeliveryReport, KafkaError>], Never>?
    }
    private let state: Mutex<State>

    init(count: Int) { state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count)) }

    func complete(_ index: Int, _ result: Result<DeliveryReport, KafkaError>) {
        let done = state.withLock { s -> (CheckedContinuation<[Result<DeliveryReport, KafkaError>], Never>, [Result<DeliveryReport, KafkaError>])? in
            s.results[index] = result
            s.remaining -= 1
            guard s.remaining == 0, let c = s.continuation else { return nil }
            s.continuation = nil
            return (c, s.results.map { $0! })
        }
        if let (c, results) = done { c.resume(returning: results) }
    }

    /// Waits until every record is reported; one waiter at a time.
    public func reports() async -> [Result<DeliveryReport, KafkaError>] {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { s -> [Result<DeliveryReport, KafkaError>]? in
                if s.remaining == 0 { return s.results.map { $0! } }
                s.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// A dedicated thread that serves a handle's callbacks (`rd_kafka_poll`) until stopped.
final class PollThread: Sendable {
    private let handle: RDKafkaHandle
    private let state = Mutex(State.idle)
    private let finished = DispatchSemaphore(value: 0)
    private enum State { case idle, running, stopping, stopped }

    init(handle: RDKafkaHandle) { self.handle = handle }

    func start() {
        state.withLock { $0 = .running }
        let thread = Thread { [self] in
            while state.withLock({ $0 }) == .running {
                rd_kafka_poll(handle.pointer, 50)
            }
            finished.signal()
        }
        thread.name = "gridhub-kafka-poll"
        thread.start()
    }

    /// Stops the thread and waits for it to end. Safe to call more than once.
    func stop() {
        let wait = state.withLock { s -> Bool in
            guard s == .running else { return false }
            s = .stopping
            return true
        }
        if wait {
            finished.wait()
            state.withLock { $0 = .stopped }
        }
    }
}

/// A C pointer carried across a `@Sendable` boundary.
/// `@unchecked Sendable`: the pointee is only used by one call at a time, while its owner keeps it alive.
struct UncheckedPointer: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}

extension Duration {
    /// The duration in whole milliseconds.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }
}
