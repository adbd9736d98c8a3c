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
    let handle: RDKafkaHandle
    private let permits: AsyncPermits
    let logger: Logger
    private let blockingQueue = DispatchQueue(label: "gridhub.kafka.producer.blocking")
    private let gate = Gate()
    private let pollThread: PollThread
    /// librdkafka's handle of each topic written or prepared, made once and released with the producer:
    /// a record sent with its topic's handle is not looked up by name.
    private let topicHandles = Mutex<[String: UncheckedPointer]>([:])
    public let configuration: KafkaProducerConfiguration

    /// Whether records are accepted, and how many senders are handing one to librdkafka right now:
    /// shutdown waits for those before it flushes and purges, so a record is never enqueued after the
    /// purge (where no delivery report would ever come and its sender would wait forever). One atomic
    /// word, as every record passes it twice: the senders handing one over, times two, plus one once
    /// closed.
    private final class Gate: Sendable {
        private let word = Atomic<Int>(0)

        /// Counts a sender in; false (and not counted) once closed.
        func enter() -> Bool {
            if word.wrappingAdd(2, ordering: .acquiringAndReleasing).newValue & 1 == 0 { return true }
            leave()
            return false
        }
        func leave() { word.wrappingSubtract(2, ordering: .acquiringAndReleasing) }
        /// Closes the gate; true for the call that closed it.
        func close() -> Bool { word.bitwiseOr(1, ordering: .acquiringAndReleasing).oldValue & 1 == 0 }
        var isClosed: Bool { word.load(ordering: .acquiring) & 1 == 1 }
        /// Senders still handing a record over.
        var inside: Int { word.load(ordering: .acquiring) >> 1 }
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
        for rkt in topicHandles.withLock({ $0.values }) { rd_kafka_topic_destroy(rkt.pointer) }
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
            if let error = enqueue(record, slot: DeliverySlot { continuation.resume(returning: $0) }) {
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
    ///
    /// Nothing is allocated per record: each record's delivery report finds its place in the batch
    /// through a ticket of the batch's own, and free slots are taken a chunk at a time.
    public func submit(_ records: [ProducerRecord]) async -> PendingDeliveries {
        let batch = PendingDeliveries(records)
        if records.isEmpty { return batch }
        if let error = runningError() {
            for index in records.indices { batch.complete(index, .failure(error)) }
            return batch
        }
        batch.awaitReports()
        var start = 0
        var topics = TopicHandleCache()
        while start < records.count {
            // A chunk's slots at once when they are free; else one record per slot as slots come. (Waiting
            // for a whole chunk's slots while holding some could wait for ever: another sender could hold
            // the rest, waiting as well, and a slot is only given back once its record is reported.)
            let end: Int
            let chunk = min(records.count - start, Self.submitChunk)
            if chunk > 1, permits.tryAcquire(chunk) {
                end = start + chunk
            } else {
                await permits.acquire()
                end = start + 1
            }
            handOver(records, start..<end, of: batch, topics: &topics)
            start = end
        }
        return batch
    }

    /// Hands `records[range]` of `batch`, whose slots are taken, to librdkafka; each one that is not
    /// enqueued gives its slot back and is reported failed at once.
    private func handOver(_ records: [ProducerRecord], _ range: Range<Int>, of batch: PendingDeliveries, topics: inout TopicHandleCache) {
        guard gate.enter() else {
            permits.release(range.count)
            for index in range { batch.complete(index, .failure(Self.shutDownError)) }
            return
        }
        defer { gate.leave() }
        for index in range {
            let record = records[index]
            if let error = enqueue(record, topicHandle: topics.handle(record.topic, from: self), opaque: batch.ticket(index)) {
                permits.release()
                batch.complete(index, .failure(error))
            }
        }
    }

    /// The last topic handle a batch used: a batch's records mostly go to one topic, looked up once.
    private struct TopicHandleCache {
        var topic: String?
        var handle: OpaquePointer?

        mutating func handle(_ topic: String, from producer: KafkaProducer) -> OpaquePointer? {
            if topic != self.topic { (self.topic, handle) = (topic, producer.topicHandle(topic)) }
            return handle
        }
    }

    /// The most records whose slots ``submit(_:)`` takes at once: enough that taking slots costs nothing
    /// per record, few enough that a producer with slots free for part of a chunk is rarely kept waiting.
    private static let submitChunk = 512

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
            for topic in topics { _ = self.topicHandle(topic) }
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
        guard gate.close() else { return }
        // Senders already past the check finish handing their record over (microseconds) first.
        while gate.inside > 0 { await Task.yield() }
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
        if let fatal = handle.context.fatal { return fatal }
        return gate.isClosed ? Self.shutDownError : nil
    }

    private static let shutDownError = KafkaError(code: .shutDown, message: "the producer is shut down")

    private func checkRunning() throws(KafkaError) {
        if let error = runningError() { throw error }
    }

    /// Hands one record to librdkafka with `slot` for its report. Returns an error if it was not
    /// enqueued (the slot is then unused).
    private func enqueue(_ record: ProducerRecord, slot: DeliverySlot) -> KafkaError? {
        // A sender may have waited for a permit while the producer shut down.
        guard gate.enter() else { return Self.shutDownError }
        defer { gate.leave() }
        let opaque = Unmanaged.passRetained(slot).toOpaque()
        guard let error = enqueue(record, topicHandle: topicHandle(record.topic), opaque: opaque) else { return nil }
        Unmanaged<DeliverySlot>.fromOpaque(opaque).release()
        return error
    }

    /// librdkafka's handle of `topic`, made on first use; nil if librdkafka refuses the name (the record
    /// is then sent by name, and refused with librdkafka's reason).
    private func topicHandle(_ topic: String) -> OpaquePointer? {
        topicHandles.withLock { handles in
            if let rkt = handles[topic] { return rkt.pointer }
            guard let rkt = rd_kafka_topic_new(handle.pointer, topic, nil) else { return nil }
            handles[topic] = UncheckedPointer(rkt)
            return rkt
        }
    }

    /// Hands one record to librdkafka with `opaque` for its delivery report; the caller holds the gate.
    /// Returns an error if it was not enqueued (no report will come).
    private func enqueue(_ record: ProducerRecord, topicHandle: OpaquePointer?, opaque: UnsafeMutableRawPointer) -> KafkaError? {
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
            err = produceVU(record, topicHandle: topicHandle, headers: headers, opaque: opaque)
            // Our permits normally keep librdkafka's queue from filling; if it fills anyway
            // (records larger than expected), serve delivery reports and try again.
            guard err == RD_KAFKA_RESP_ERR__QUEUE_FULL else { break }
            rd_kafka_poll(handle.pointer, 10)
        }
        if err == RD_KAFKA_RESP_ERR_NO_ERROR { return nil }
        if let headers { rd_kafka_headers_destroy(headers) }
        return KafkaError.rd(err, code: .produce, context: "could not enqueue a record for \(record.topic)")
    }

    private func produceVU(_ record: ProducerRecord, topicHandle: OpaquePointer?, headers: OpaquePointer?, opaque: UnsafeMutableRawPointer) -> rd_kafka_resp_err_t {
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
                    if let topicHandle { add(RD_KAFKA_VTYPE_RKT) { $0.u.rkt = topicHandle } } else { add(RD_KAFKA_VTYPE_TOPIC) { $0.u.cstr = topic } }
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

    /// Delivery-report callback body: resolves the record's slot or batch ticket and frees its permit.
    private static func handleDelivery(_ message: UnsafePointer<rd_kafka_message_t>, permits: AsyncPermits) {
        guard let opaque = message.pointee._private else { return }
        let m = message.pointee
        permits.release()
        if let ticket = PendingDeliveries.Ticket(opaque) {
            // The batch knows each record's topic: a report of a delivered record needs nothing made.
            if m.err == RD_KAFKA_RESP_ERR_NO_ERROR { return ticket.delivered(partition: m.partition, offset: m.offset) }
            return ticket.failed(KafkaError.rd(m.err, code: .produce, context: "record to \(topicName(m)) was not delivered"))
        }
        // Made anew for each report. Keeping the sent record's topic string in the slot instead (one
        // string shared by every report) was tried: the 12345 adapter fell from 4.7 k to 3.1 k req/s
        // (`gridhub bench hotline`, three runs each; why, not measured).
        let topic = topicName(m)
        let result: Result<DeliveryReport, KafkaError> = m.err == RD_KAFKA_RESP_ERR_NO_ERROR
            ? .success(DeliveryReport(topic: topic, partition: m.partition, offset: m.offset))
            : .failure(KafkaError.rd(m.err, code: .produce, context: "record to \(topic) was not delivered"))
        Unmanaged<DeliverySlot>.fromOpaque(opaque).takeRetainedValue().completion(result)
    }

    private static func topicName(_ message: rd_kafka_message_t) -> String {
        message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
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
///
/// Each record has a ticket in one buffer of the batch: librdkafka hands the ticket back with the
/// record's report, and the report's partition and offset are written into it. A report costs no
/// allocation and takes no lock unless the record failed.
///
/// `@unchecked Sendable`: a ticket is written by its record's one report, and read only after every
/// report is counted (the count is atomic); the rest of the state is in `Mutex`es.
public final class PendingDeliveries: @unchecked Sendable {
    /// The records, for their topics.
    private let records: [ProducerRecord]
    private let tickets: UnsafeMutablePointer<TicketBody>
    private let remaining: Atomic<Int>
    private let failed = Mutex<[Int: KafkaError]>([:])
    private let waiter = Mutex<CheckedContinuation<Void, Never>?>(nil)
    /// Whether ``awaitReports()`` holds the batch until its last report.
    private let retainedForReports = Atomic(false)

    fileprivate struct TicketBody {
        let batch: Unmanaged<PendingDeliveries>
        let index: Int
        var partition: Int32 = -1
        var offset: Int64 = -1
    }

    /// A record's place in its batch, as librdkafka hands it back with the delivery report. Told from a
    /// ``DeliverySlot`` by its lowest bit, which is set: a ticket is 8-byte aligned and an object 16.
    struct Ticket {
        fileprivate let pointer: UnsafeMutablePointer<TicketBody>

        /// The ticket `opaque` marks, or nil when it is a slot.
        init?(_ opaque: UnsafeMutableRawPointer) {
            let bits = UInt(bitPattern: opaque)
            guard bits & 1 == 1, let pointer = UnsafeMutableRawPointer(bitPattern: bits & ~1) else { return nil }
            self.pointer = pointer.assumingMemoryBound(to: TicketBody.self)
        }

        /// Records the report of a record that reached the cluster.
        func delivered(partition: Int32, offset: Int64) {
            pointer.pointee.partition = partition
            pointer.pointee.offset = offset
            pointer.pointee.batch.takeUnretainedValue().counted()
        }

        /// Records why a record was not delivered.
        func failed(_ error: KafkaError) {
            let body = pointer.pointee
            body.batch.takeUnretainedValue().complete(body.index, .failure(error))
        }
    }

    init(_ records: [ProducerRecord]) {
        self.records = records
        remaining = Atomic(records.count)
        tickets = .allocate(capacity: max(1, records.count))
        let batch = Unmanaged.passUnretained(self)
        for index in records.indices { (tickets + index).initialize(to: TicketBody(batch: batch, index: index)) }
    }

    deinit {
        tickets.deinitialize(count: records.count)
        tickets.deallocate()
    }

    /// The opaque to hand librdkafka with record `index`.
    func ticket(_ index: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: tickets + index) | 1)!
    }

    /// Keeps the batch alive until its last record is reported (reports find it by its tickets alone).
    func awaitReports() {
        _ = Unmanaged.passRetained(self)
        retainedForReports.store(true, ordering: .releasing)
    }

    /// Records the outcome of record `index` (a record that never reached librdkafka, or one that failed).
    func complete(_ index: Int, _ result: Result<DeliveryReport, KafkaError>) {
        switch result {
        case .success(let report):
            tickets[index].partition = report.partition
            tickets[index].offset = report.offset
        case .failure(let error):
            failed.withLock { $0[index] = error }
        }
        counted()
    }

    /// Counts one report; the last one wakes the waiter and lets the batch go.
    private func counted() {
        guard remaining.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0 else { return }
        waiter.withLock { w -> CheckedContinuation<Void, Never>? in
            defer { w = nil }
            return w
        }?.resume()
        if retainedForReports.exchange(false, ordering: .acquiringAndReleasing) { Unmanaged.passUnretained(self).release() }
    }

    /// Waits until every record is reported; one waiter at a time.
    private func allReported() async {
        if remaining.load(ordering: .acquiring) == 0 { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = waiter.withLock { w -> Bool in
                if remaining.load(ordering: .acquiring) == 0 { return true }
                w = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Waits until every record is reported and returns each one's outcome, in the order sent.
    public func reports() async -> [Result<DeliveryReport, KafkaError>] {
        await allReported()
        let failed = self.failed.withLock { $0 }
        return records.indices.map { index in
            if let error = failed[index] { return .failure(error) }
            return .success(DeliveryReport(topic: records[index].topic, partition: tickets[index].partition, offset: tickets[index].offset))
        }
    }

    /// Waits until every record is reported and returns the ones that failed (index in the batch, and
    /// why), in the order sent: for a sender that only needs to know whether all were delivered.
    public func failures() async -> [(index: Int, error: KafkaError)] {
        await allReported()
        return failed.withLock { $0 }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
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
