import Foundation
import CRdKafka
import Dispatch
import Logging
import Synchronization

/// A Kafka consumer: in a consumer group (``subscribe(topics:)``) or on explicitly assigned
/// partitions (``assign(_:)``), reading records in batches.
///
/// - Offsets are committed only by the application (``commit(_:)``), after its work is done, so a
///   restart or rebalance never skips uncommitted work and never re-delivers committed work.
/// - `read_committed` isolation by default.
/// - Every blocking librdkafka call (poll, commit, close) runs on the consumer's own serial
///   dispatch queue, never on the cooperative pool.
///
/// `@unchecked Sendable`: the C handle is thread-safe and every call on it goes through one
/// serial queue; Swift state is in `Mutex`es.
public final class KafkaConsumer: @unchecked Sendable {
    private let handle: RDKafkaHandle
    private let queuePointer: OpaquePointer
    private let queue = DispatchQueue(label: "gridhub.kafka.consumer")
    private let logger: Logger
    private let state: StateBox
    public let configuration: KafkaConsumerConfiguration

    fileprivate struct State {
        var closed = false
        /// `rd_kafka_consumer_close` has returned (it blocks for as long as the group coordinator does
        /// not answer: with the cluster gone, for ever).
        var closeFinished = false
        var assignment: Set<TopicPartition> = []
        var rebalances = 0
        /// ``wakeUp()`` was called and no poll has ended since: the next poll returns at once. (librdkafka's
        /// own yield alone was seen lost when it came before the poll began to wait, on a loaded machine.)
        var wakeUpPending = false
    }

    fileprivate final class StateBox: Sendable {
        let mutex = Mutex(State())
        func withLock<R>(_ body: (inout State) -> R) -> R { mutex.withLock { body(&$0) } }
    }

    /// Creates the consumer. It reads nothing until ``subscribe(topics:)`` or ``assign(_:)``.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger) throws(KafkaError) {
        self.configuration = configuration
        self.logger = logger
        let state = StateBox()
        self.state = state
        let groupLogger = logger
        let context = RDKafkaContext(logger: logger, rebalanceHandler: { rk, err, partitions in
            KafkaConsumer.rebalance(rk: rk, err: err, partitions: partitions, state: state, logger: groupLogger)
        })
        var properties = configuration.librdkafkaProperties
        if configuration.groupID == nil {
            // librdkafka needs a group even to read assigned partitions; this one is never joined
            // or committed to.
            properties.append(("group.id", "gridhub-reader-\(UInt64.random(in: 0...UInt64.max))"))
        }
        handle = try RDKafkaHandle(kind: .consumer, properties: properties, context: context)
        rd_kafka_poll_set_consumer(handle.pointer)
        guard let q = rd_kafka_queue_get_consumer(handle.pointer) else {
            throw KafkaError(code: .clientCreation, message: "the consumer has no queue")
        }
        queuePointer = q
    }

    /// Closes (when not closed yet) and frees the handle on a thread of its own, so that releasing a
    /// consumer never blocks its caller; a close still waiting for the cluster is waited out there.
    deinit {
        let handle = self.handle, queue = UncheckedPointer(queuePointer), state = self.state
        let thread = Thread {
            let (closed, finished) = state.withLock { ($0.closed, $0.closeFinished) }
            if closed && !finished {
                while !state.withLock({ $0.closeFinished }) { usleep(100_000) }
            }
            rd_kafka_queue_destroy(queue.pointer)
            if !closed { rd_kafka_consumer_close(handle.pointer) }
            handle.destroy()
        }
        thread.name = "gridhub-kafka-consumer-release"
        thread.start()
    }

    /// Joins the consumer group and subscribes to `topics`. Requires a `groupID`.
    public func subscribe(topics: [String]) throws(KafkaError) {
        guard configuration.groupID != nil else {
            throw KafkaError(code: .configuration, message: "subscribe needs a consumer group (groupID)")
        }
        let list = TopicPartitionList(topics: topics)
        let err = rd_kafka_subscribe(handle.pointer, list.pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError.rd(err, code: .consume, context: "subscribe to \(topics.joined(separator: ","))")
        }
    }

    /// Reads exactly these partitions from these offsets (``KafkaOffset/beginning``, ``KafkaOffset/end``
    /// or an absolute offset), outside any group rebalancing. For tools that read a topic.
    public func assign(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        let list = TopicPartitionList(offsets)
        let err = rd_kafka_assign(handle.pointer, list.pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError.rd(err, code: .consume, context: "assign partitions")
        }
        state.withLock { $0.assignment = Set(offsets.map(\.topicPartition)) }
    }

    /// Moves the read position of an assigned partition.
    public func seek(_ offset: TopicPartitionOffset, timeout: Duration = .seconds(10)) async throws(KafkaError) {
        let handle = self.handle
        let error: KafkaError? = await onQueue {
            let list = TopicPartitionList([offset])
            guard let error = rd_kafka_seek_partitions(handle.pointer, list.pointer, Int32(clamping: timeout.milliseconds)) else {
                if let (tp, err) = TopicPartitionList.firstError(of: list.pointer) {
                    return KafkaError.rd(err, code: .consume, context: "seek \(tp)")
                }
                return nil
            }
            return KafkaError.consuming(error, code: .consume, context: "seek")
        }
        if let error { throw error }
    }

    /// The partitions currently assigned to this consumer.
    public var assignment: Set<TopicPartition> { state.withLock { $0.assignment } }

    /// How many rebalances this consumer has seen (assignments and revocations).
    public var rebalanceCount: Int { state.withLock { $0.rebalances } }

    /// Waits up to `timeout` for the next records and returns at most `maxRecords` of them
    /// (empty when none arrived, or at once, empty, when the calling task is cancelled or ``wakeUp()``
    /// is called while it waits). Throws on a fatal consumer error.
    ///
    /// A long wait is made of waits of at most a second, so that a wake-up or a cancellation that
    /// librdkafka's yield missed still ends it within a second.
    public func poll(maxRecords: Int? = nil, timeout: Duration) async throws(KafkaError) -> [ConsumerRecord] {
        let max = maxRecords ?? configuration.maxBatchRecords
        let queuePointer = UncheckedPointer(self.queuePointer)
        let logger = self.logger
        if state.withLock({ $0.closed }) { throw KafkaError(code: .shutDown, message: "the consumer is closed") }
        let deadline = ContinuousClock.now + timeout
        while true {
            if Task.isCancelled { return [] }
            if state.withLock({ s -> Bool in defer { s.wakeUpPending = false }; return s.wakeUpPending }) { return [] }
            let ms = Int32(clamping: min(ContinuousClock.now.duration(to: deadline), .seconds(1)).milliseconds)
            let result: Result<[ConsumerRecord], KafkaError> = await withTaskCancellationHandler {
                await onQueue {
                    KafkaConsumer.consumeBatch(queue: queuePointer.pointer, max: max, timeoutMilliseconds: Swift.max(ms, 0), logger: logger)
                }
            } onCancel: {
                rd_kafka_queue_yield(queuePointer.pointer)
            }
            let records = try result.get()
            if !records.isEmpty || ContinuousClock.now >= deadline {
                state.withLock { $0.wakeUpPending = false }
                return records
            }
        }
    }

    /// Ends a ``poll(maxRecords:timeout:)`` that is waiting, at once and with no records (the next poll
    /// returns at once if none is waiting): so that a long poll does not hold up a shutdown.
    public func wakeUp() {
        state.withLock { $0.wakeUpPending = true }
        rd_kafka_queue_yield(queuePointer)
    }

    /// Batches of records as they arrive, until the consuming task is cancelled or the consumer is
    /// closed. Pull-based: nothing is read ahead of the caller, so a slow caller slows reading.
    public var batches: KafkaConsumerBatches { KafkaConsumerBatches(consumer: self) }

    /// Commits offsets (the offset of the next record to read, per partition) and waits for the
    /// group coordinator to confirm.
    public func commit(_ offsets: [TopicPartitionOffset]) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let handle = self.handle
        let error: KafkaError? = await onQueue {
            let list = TopicPartitionList(offsets)
            let err = rd_kafka_commit(handle.pointer, list.pointer, 0)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                return KafkaError.rd(err, code: .commit, context: "commit offsets")
            }
            if let (tp, err) = TopicPartitionList.firstError(of: list.pointer) {
                return KafkaError.rd(err, code: .commit, context: "commit offset of \(tp)")
            }
            return nil
        }
        if let error { throw error }
    }

    /// Commits the offsets after `records` (their highest offset + 1 per partition).
    public func commit(after records: [ConsumerRecord]) async throws(KafkaError) {
        try await commit(records.commitOffsets)
    }

    /// Hands the offsets after `records` to librdkafka, which commits them in the background, in the
    /// order given, without waiting for the broker or for a poll in progress. For consumers whose
    /// committed offsets are only a hint (the router keeps the real ones with its state): a commit that
    /// fails later is logged by librdkafka, not reported here.
    public func commitInBackground(after records: [ConsumerRecord]) throws(KafkaError) {
        let offsets = records.commitOffsets
        guard !offsets.isEmpty else { return }
        let list = TopicPartitionList(offsets)
        let err = rd_kafka_commit(handle.pointer, list.pointer, 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rd(err, code: .commit, context: "commit offsets in the background") }
    }

    /// The group's committed offsets for `partitions` (``KafkaOffset/invalid`` when none).
    public func committed(_ partitions: [TopicPartition], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [TopicPartitionOffset] {
        let handle = self.handle
        let result: Result<[TopicPartitionOffset], KafkaError> = await onQueue {
            let list = TopicPartitionList(partitions: partitions)
            let err = rd_kafka_committed(handle.pointer, list.pointer, Int32(clamping: timeout.milliseconds))
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { return .failure(KafkaError.rd(err, code: .consume, context: "read committed offsets")) }
            return .success(list.offsets)
        }
        return try result.get()
    }

    /// The next offset this consumer will read, per partition (``KafkaOffset/invalid`` -1001 when
    /// it has not fetched from that partition yet). Local; asks no broker. Past control records too,
    /// so a reader can tell it reached a partition's end even when the last offsets are markers.
    public func positions(_ partitions: [TopicPartition]) throws(KafkaError) -> [TopicPartitionOffset] {
        let list = TopicPartitionList(partitions: partitions)
        let err = rd_kafka_position(handle.pointer, list.pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rd(err, code: .consume, context: "read positions") }
        return list.offsets
    }

    /// Leaves the group (revoking partitions, without committing anything not already committed)
    /// and stops reading. Safe to call more than once. Waits at most `timeout`: with the cluster gone,
    /// librdkafka's close waits for the group coordinator for ever, and a daemon must still stop
    /// (offsets not committed are read again by the next member, as after a crash).
    public func close(timeout: Duration = .seconds(10)) async {
        let first = state.withLock { s -> Bool in
            if s.closed { return false }
            s.closed = true
            return true
        }
        guard first else { return }
        let handle = self.handle, state = self.state
        let finished: Bool = await withCheckedContinuation { continuation in
            let once = ResumeOnce(continuation)
            queue.async {
                _ = rd_kafka_consumer_close(handle.pointer)
                state.withLock { $0.closeFinished = true }
                once.resume(true)
            }
            Task {
                try? await Task.sleep(for: timeout)
                once.resume(false)
            }
        }
        if !finished {
            logger.warning("consumer close did not finish within \(timeout) (the cluster does not answer): going on without it",
                           metadata: [LoggingKeys.client: .string(handle.name)])
        }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// A `rd_kafka_consumer_group_metadata_t` for transactions; the caller destroys it.
    func groupMetadataPointer() -> OpaquePointer? { rd_kafka_consumer_group_metadata(handle.pointer) }

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }

    private static func consumeBatch(queue: OpaquePointer, max: Int, timeoutMilliseconds: Int32, logger: Logger) -> Result<[ConsumerRecord], KafkaError> {
        var messages = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: max)
        let n = consumeAvailable(queue, into: &messages, timeoutMilliseconds: timeoutMilliseconds)
        if n < 0 {
            return .failure(KafkaError.rd(rd_kafka_last_error(), code: .consume, context: "consume"))
        }
        var records: [ConsumerRecord] = []
        records.reserveCapacity(n)
        var fatal: KafkaError? = nil
        // A batch holds records of few topics: each topic's name is made once per batch, not per record.
        var topicHandle: OpaquePointer? = nil
        var topicName = ""
        for i in 0..<n {
            guard let m = messages[i] else { continue }
            defer { rd_kafka_message_destroy(m) }
            let msg = m.pointee
            if msg.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                if msg.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
                let error = KafkaError.rd(msg.err, code: .consume, context: "consumer error")
                if msg.err == RD_KAFKA_RESP_ERR__FATAL { fatal = error }
                logger.info("consumer error", metadata: [LoggingKeys.errorCode: .string(error.rdKafkaName ?? ""), LoggingKeys.errorReason: .string(error.message)])
                continue
            }
            if msg.rkt != topicHandle {
                topicHandle = msg.rkt
                topicName = msg.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
            }
            records.append(record(from: m, topic: topicName))
        }
        if let fatal { return .failure(fatal) }
        return .success(records)
    }

    /// Fills `messages` with what `queue` holds now; when it holds nothing, waits up to `timeout` for
    /// the first message only and adds what came with it. Returns the count (negative on error).
    /// (`rd_kafka_consume_batch_queue` with a timeout waits for a full batch or the whole timeout, which
    /// put up to a poll's length on every record of a quiet stream.) The client and the raw baseline both poll so.
    static func consumeAvailable(_ queue: OpaquePointer, into messages: inout [UnsafeMutablePointer<rd_kafka_message_t>?], timeoutMilliseconds: Int32) -> Int {
        let n = rd_kafka_consume_batch_queue(queue, 0, &messages, messages.count)
        guard n == 0, timeoutMilliseconds > 0, let first = rd_kafka_consume_queue(queue, timeoutMilliseconds) else { return n }
        messages[0] = first
        guard messages.count > 1 else { return 1 }
        return 1 + Swift.max(0, messages.withUnsafeMutableBufferPointer { rd_kafka_consume_batch_queue(queue, 0, $0.baseAddress! + 1, $0.count - 1) })
    }

    static func record(from m: UnsafeMutablePointer<rd_kafka_message_t>, topic: String) -> ConsumerRecord {
        let msg = m.pointee
        let value: [UInt8] = msg.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: msg.len)) } ?? []
        let key: [UInt8]? = msg.key.map { Array(UnsafeRawBufferPointer(start: $0, count: msg.key_len)) }
        var headers: [KafkaHeader] = []
        var hdrs: OpaquePointer? = nil
        if rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
            var idx = 0
            var name: UnsafePointer<CChar>? = nil
            var val: UnsafeRawPointer? = nil
            var size = 0
            while rd_kafka_header_get_all(hdrs, idx, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let bytes: [UInt8] = val.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                headers.append(KafkaHeader(key: name.map { String(cString: $0) } ?? "", value: bytes))
                idx += 1
            }
        }
        var tsType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(m, &tsType)
        return ConsumerRecord(
            topic: topic, partition: msg.partition, offset: msg.offset, key: key, value: value, headers: headers,
            timestampMilliseconds: tsType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : ts)
    }

    /// Applies a group rebalance. Called by librdkafka inside a poll on the consumer's queue.
    private static func rebalance(
        rk: OpaquePointer, err: rd_kafka_resp_err_t, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        state: StateBox, logger: Logger
    ) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let changed = partitions.map { TopicPartitionList.offsets(of: $0).map(\.topicPartition) } ?? []
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if cooperative {
                if let e = rd_kafka_incremental_assign(rk, partitions) { rd_kafka_error_destroy(e) }
            } else {
                _ = rd_kafka_assign(rk, partitions)
            }
            state.withLock { s in
                if cooperative { s.assignment.formUnion(changed) } else { s.assignment = Set(changed) }
                s.rebalances += 1
            }
            logger.info("partitions assigned", metadata: [LoggingKeys.partitions: .string(changed.sorted().map(\.description).joined(separator: ","))])
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            if cooperative {
                if let e = rd_kafka_incremental_unassign(rk, partitions) { rd_kafka_error_destroy(e) }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
            state.withLock { s in
                if cooperative { s.assignment.subtract(changed) } else { s.assignment = [] }
                s.rebalances += 1
            }
            logger.info("partitions revoked", metadata: [LoggingKeys.partitions: .string(changed.sorted().map(\.description).joined(separator: ","))])
        default:
            _ = rd_kafka_assign(rk, nil)
            state.withLock { $0.assignment = [] }
            logger.info("rebalance error", metadata: [LoggingKeys.errorCode: .string(String(cString: rd_kafka_err2name(err)))])
        }
    }
}

/// Batches of records from a ``KafkaConsumer``, as an `AsyncSequence`. Ends when the consuming task
/// is cancelled or the consumer is closed; throws on a fatal consumer error.
public struct KafkaConsumerBatches: AsyncSequence, Sendable {
    public typealias Element = [ConsumerRecord]
    let consumer: KafkaConsumer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: KafkaConsumer

        public mutating func next() async throws -> [ConsumerRecord]? {
            let timeout = Duration.milliseconds(consumer.configuration.pollTimeoutMilliseconds)
            while !Task.isCancelled && !consumer.isClosed {
                let batch = try await consumer.poll(timeout: timeout)
                if !batch.isEmpty { return batch }
            }
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: consumer) }
}

/// A continuation resumed by whichever of several racers comes first; the others do nothing.
final class ResumeOnce<T: Sendable>: Sendable {
    private let state: Mutex<CheckedContinuation<T, Never>?>
    init(_ continuation: CheckedContinuation<T, Never>) { state = Mutex(continuation) }
    func resume(_ value: T) {
        let continuation = state.withLock { c -> CheckedContinuation<T, Never>? in defer { c = nil }; return c }
        continuation?.resume(returning: value)
    }
}
