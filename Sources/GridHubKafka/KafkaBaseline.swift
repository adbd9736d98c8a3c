import CRdKafka
import Dispatch
import Glibc
import Synchronization

/// Raw librdkafka loops with no Swift layer in between: the physical limit that the client's own
/// throughput is reported against (`gridhub bench kafka`). Same settings as the client's defaults.
package enum KafkaBaseline {
    /// librdkafka's version, e.g. `2.0.2`.
    public static var librdkafkaVersion: String { String(cString: rd_kafka_version_str()) }

    /// Produces `count` records of `value` to `topic` (keys `k<i>`) and returns once all are acknowledged.
    public static func produce(bootstrap: String, topic: String, count: Int, value: [UInt8]) throws(KafkaError) {
        let handle = try rawProducer(bootstrap: bootstrap)
        defer { handle.destroy() }
        try produce(handle: handle, topic: topic, count: count) { i, body in
            let key = "k\(i)"
            return key.withCString { k in value.withUnsafeBytes { v in body(k, key.utf8.count, v) } }
        }
    }

    /// Reads `count` records from the beginning of every partition of `topic` (`partitions` of them);
    /// returns when the first of them was read.
    @discardableResult
    public static func consume(bootstrap: String, topic: String, partitions: Int, count: Int) throws(KafkaError) -> ContinuousClock.Instant {
        let rk = try rawConsumer(bootstrap: bootstrap)
        defer { rk.destroy() }
        try assignFromBeginning(rk, topic: topic, partitions: partitions)
        var seen = 0
        let first = try consumeLoop(rk, until: count) { _ in seen += 1 }
        precondition(seen >= count)
        return first
    }

    /// Reads `count` records from `source` and produces each value to `target`, waiting for all
    /// delivery reports: the consume→produce passthrough.
    ///
    /// With `fanOut` and `value`, each record read is answered with `fanOut` records (on average; a
    /// running total is rounded) of `value` under the record's key instead: the raw cost of a service
    /// that turns each record it reads into that many records of that size. Returns when the first
    /// record was read.
    @discardableResult
    public static func passthrough(bootstrap: String, source: String, partitions: Int, target: String, count: Int,
                                   fanOut: Double = 1, value: [UInt8]? = nil) throws(KafkaError) -> ContinuousClock.Instant {
        let consumer = try rawConsumer(bootstrap: bootstrap)
        defer { consumer.destroy() }
        let producer = try rawProducer(bootstrap: bootstrap)
        defer { producer.destroy() }
        try assignFromBeginning(consumer, topic: source, partitions: partitions)
        guard let rkt = rd_kafka_topic_new(producer.pointer, target, nil) else {
            throw KafkaError(code: .produce, message: "baseline: no topic handle")
        }
        defer { rd_kafka_topic_destroy(rkt) }
        var produceError: rd_kafka_resp_err_t = RD_KAFKA_RESP_ERR_NO_ERROR
        var read = 0, written = 0
        let first = try consumeLoop(consumer, until: count) { m in
            read += 1
            let due = value == nil ? read : Int((Double(read) * fanOut).rounded())
            while written < due {
                func produce(_ payload: UnsafeMutableRawPointer?, _ length: Int) -> Int32 {
                    rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, payload, length, m.pointee.key, m.pointee.key_len, nil)
                }
                let err = enqueue(producer.pointer) {
                    value.map { v in v.withUnsafeBytes { produce(UnsafeMutableRawPointer(mutating: $0.baseAddress), $0.count) } }
                        ?? produce(m.pointee.payload, m.pointee.len)
                }
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { produceError = err }
                written += 1
            }
            rd_kafka_poll(producer.pointer, 0)
        }
        if produceError != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rd(produceError, code: .produce, context: "baseline passthrough") }
        let err = rd_kafka_flush(producer.pointer, 60_000)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rd(err, code: .produce, context: "baseline flush") }
        return first
    }

    /// Produces `count` records of `value` to `topic` keeping at most `inFlight` of them unacknowledged:
    /// each delivery report lets the next record go, as a service does that answers each of `inFlight`
    /// open requests only once its record is acknowledged (`gridhub bench hotline`'s closed loop).
    /// Returns the seconds from the first record to the last acknowledgement.
    public static func acknowledgedClosedLoop(bootstrap: String, topic: String, count: Int, value: [UInt8], inFlight: Int) throws(KafkaError) -> Double {
        try withAcknowledgedProducer(bootstrap: bootstrap, topic: topic, count: count, context: "baseline acknowledged closed loop") { (producer, rkt, reports) throws(KafkaError) in
            let start = DispatchTime.now().uptimeNanoseconds
            var sent = 0
            while reports.acknowledged < count {
                while sent < count && sent - reports.acknowledged < inFlight {
                    try produce(producer, topic: rkt, index: sent, value: value)
                    sent += 1
                }
                rd_kafka_poll(producer.pointer, 1)
            }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
    }

    /// Produces `count` records of `value` to `topic` at `rate` per second and returns, sorted, the
    /// milliseconds from the moment each record was due to its delivery report: the floor under the
    /// acknowledgement latency of a service that answers each request once its record is acknowledged.
    public static func acknowledgementLatency(bootstrap: String, topic: String, rate: Int, count: Int, value: [UInt8]) throws(KafkaError) -> [Double] {
        try withAcknowledgedProducer(bootstrap: bootstrap, topic: topic, count: count, context: "baseline acknowledgement latency") { (producer, rkt, reports) throws(KafkaError) in
            let start = DispatchTime.now().uptimeNanoseconds + 100_000_000
            for i in 0..<count {
                let due = start + UInt64(i) * 1_000_000_000 / UInt64(rate)
                // Delivery reports are served while waiting for the next record's time.
                while case let now = DispatchTime.now().uptimeNanoseconds, now < due {
                    rd_kafka_poll(producer.pointer, Int32(min(10, (due - now) / 1_000_000)))
                }
                reports.setDue(i, nanoseconds: due)
                try produce(producer, topic: rkt, index: i, value: value)
                rd_kafka_poll(producer.pointer, 0)
            }
            while reports.acknowledged < count { rd_kafka_poll(producer.pointer, 10) }
            return reports.latenciesMilliseconds.sorted()
        }
    }

    /// Runs `body` with a producer of the adapters' settings whose delivery reports go to a fresh
    /// ``DeliveryReports`` for `count` records (served by `rd_kafka_poll` on this thread), and its handle
    /// for `topic`, after one warm-up record: the producer has the topic's partitions and its connection
    /// before the measured records (the embedded broker makes a first record to a topic the client has
    /// not looked up wait about a second). Throws the first failed report.
    private static func withAcknowledgedProducer<T>(
        bootstrap: String, topic: String, count: Int, context: String,
        _ body: (RDKafkaHandle, OpaquePointer, DeliveryReports) throws(KafkaError) -> T
    ) throws(KafkaError) -> T {
        let reports = DeliveryReports(count: count)
        let producer = try rawProducer(bootstrap: bootstrap, reports: reports)
        defer { producer.destroy() }
        guard let rkt = rd_kafka_topic_new(producer.pointer, topic, nil) else { throw KafkaError(code: .produce, message: "baseline: no topic handle") }
        defer { rd_kafka_topic_destroy(rkt) }
        try produce(producer, topic: rkt, index: -1, value: [0])
        let deadline = DispatchTime.now().uptimeNanoseconds + 30_000_000_000
        while reports.acknowledged < 0 {
            if DispatchTime.now().uptimeNanoseconds > deadline { throw KafkaError(code: .timedOut, message: "baseline: the first record was not acknowledged in 30 s") }
            rd_kafka_poll(producer.pointer, 10)
        }
        let result = try body(producer, rkt, reports)
        if let failure = reports.failure { throw KafkaError.rd(failure, code: .produce, context: context) }
        return result
    }

    /// Produce → consume latency in milliseconds of `count` records of `size` bytes produced at `rate`
    /// per second to a new `topic` (auto-created by its first record) and read back by a raw consumer:
    /// the floor under any end-to-end latency through Kafka on this broker. Records of the first second
    /// are not counted.
    public static func latency(bootstrap: String, topic: String, rate: Int, count: Int, size: Int) throws(KafkaError) -> [Double] {
        let producer = try rawProducer(bootstrap: bootstrap)
        defer { producer.destroy() }
        guard let rkt = rd_kafka_topic_new(producer.pointer, topic, nil) else { throw KafkaError(code: .produce, message: "baseline: no topic handle") }
        defer { rd_kafka_topic_destroy(rkt) }
        // A first record (stamp 0) makes the topic; its metadata gives the partitions to read.
        var zero = [UInt8](repeating: 0, count: 8)
        _ = zero.withUnsafeMutableBytes { rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, $0.baseAddress, 8, nil, 0, nil) }
        let flushed = rd_kafka_flush(producer.pointer, 30_000)
        if flushed != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rd(flushed, code: .produce, context: "baseline latency: first record") }
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let err = rd_kafka_metadata(producer.pointer, 0, rkt, &metadata, 10_000)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let md = metadata, md.pointee.topic_cnt == 1 else {
            throw KafkaError.rd(err, code: .admin, context: "baseline latency: metadata of \(topic)")
        }
        let partitions = Int(md.pointee.topics[0].partition_cnt)
        rd_kafka_metadata_destroy(md)
        let consumer = try rawConsumer(bootstrap: bootstrap)
        defer { consumer.destroy() }
        try assignFromBeginning(consumer, topic: topic, partitions: partitions)
        let start = DispatchTime.now().uptimeNanoseconds
        let producing = DispatchQueue(label: "gridhub.bench.baseline.latency")
        // The producer thread owns the topic handle and the producer until `producing.sync` below.
        let handles = UncheckedHandles(producer: producer.pointer, topic: rkt)
        producing.async {
            let rkt = handles.topic, producer = handles.producer
            var value = [UInt8](repeating: 0x61, count: max(8, size))
            for i in 0..<count {
                let due = start + UInt64(i) * 1_000_000_000 / UInt64(rate)
                let now = DispatchTime.now().uptimeNanoseconds
                if due > now { usleep(UInt32((due - now) / 1_000)) }
                var stamp = DispatchTime.now().uptimeNanoseconds
                withUnsafeBytes(of: &stamp) { for k in 0..<8 { value[k] = $0[k] } }
                let key = "k\(i)"
                _ = key.withCString { k in
                    value.withUnsafeMutableBytes { v in
                        rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, v.baseAddress, v.count, k, key.utf8.count, nil)
                    }
                }
                rd_kafka_poll(producer, 0)
            }
            rd_kafka_flush(producer, 30_000)
        }
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        try consumeLoop(consumer, until: count + 1) { m in
            let now = DispatchTime.now().uptimeNanoseconds
            guard m.pointee.len >= 8, let payload = m.pointee.payload else { return }
            var stamp: UInt64 = 0
            withUnsafeMutableBytes(of: &stamp) { $0.copyMemory(from: UnsafeRawBufferPointer(start: payload, count: 8)) }
            // The first second is the consumer's start, not the steady state.
            if stamp != 0 && stamp >= start + 1_000_000_000 { latencies.append(Double(now &- stamp) / 1e6) }
        }
        producing.sync {}
        return latencies.sorted()
    }

    // MARK: -

    /// A producer with the client's settings; with `reports`, its delivery reports (served by
    /// `rd_kafka_poll` on the calling thread) go there.
    private static func rawProducer(bootstrap: String, reports: DeliveryReports? = nil) throws(KafkaError) -> RDKafkaHandle {
        var config = KafkaProducerConfiguration(client: KafkaClientConfiguration(bootstrapServers: bootstrap))
        config.maxInFlightRecords = 100_000
        var handler: (@Sendable (UnsafePointer<rd_kafka_message_t>) -> Void)? = nil
        if let reports {
            handler = { message in reports.report(index: Int(bitPattern: message.pointee._private), error: message.pointee.err) }
        }
        let context = RDKafkaContext(logger: .init(label: "gridhub.bench.baseline"), deliveryHandler: handler)
        return try RDKafkaHandle(kind: .producer, properties: config.librdkafkaProperties, context: context)
    }

    /// Runs `attempt` (an `rd_kafka_produce`) until librdkafka takes the record, serving delivery reports
    /// while its queue is full; returns the error that refused it, or none.
    @inline(__always)
    private static func enqueue(_ producer: OpaquePointer, _ attempt: () -> Int32) -> rd_kafka_resp_err_t {
        while true {
            if attempt() == 0 { return RD_KAFKA_RESP_ERR_NO_ERROR }
            let err = rd_kafka_last_error()
            guard err == RD_KAFKA_RESP_ERR__QUEUE_FULL else { return err }
            rd_kafka_poll(producer, 10)
        }
    }

    /// Record `index` (its key `k<index>`, its index as its opaque for the delivery report).
    private static func produce(_ producer: RDKafkaHandle, topic rkt: OpaquePointer, index: Int, value: [UInt8]) throws(KafkaError) {
        let key = "k\(index)"
        let err = enqueue(producer.pointer) {
            key.withCString { k in
                value.withUnsafeBytes { v in
                    rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, UnsafeMutableRawPointer(mutating: v.baseAddress), v.count,
                                     k, key.utf8.count, UnsafeMutableRawPointer(bitPattern: index))
                }
            }
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rd(err, code: .produce, context: "baseline produce") }
    }

    private static func rawConsumer(bootstrap: String) throws(KafkaError) -> RDKafkaHandle {
        let config = KafkaConsumerConfiguration(client: KafkaClientConfiguration(bootstrapServers: bootstrap))
        let properties = config.librdkafkaProperties + [("group.id", "gridhub-bench-baseline-\(UInt64.random(in: 0...UInt64.max))")]
        let handle = try RDKafkaHandle(kind: .consumer, properties: properties, context: RDKafkaContext(logger: .init(label: "gridhub.bench.baseline")))
        rd_kafka_poll_set_consumer(handle.pointer)
        return handle
    }

    private static func produce(
        handle: RDKafkaHandle, topic: String, count: Int,
        _ with: (Int, (UnsafePointer<CChar>, Int, UnsafeRawBufferPointer) -> Int32) -> Int32
    ) throws(KafkaError) {
        guard let rkt = rd_kafka_topic_new(handle.pointer, topic, nil) else {
            throw KafkaError(code: .produce, message: "baseline: no topic handle")
        }
        defer { rd_kafka_topic_destroy(rkt) }
        for i in 0..<count {
            let err = enqueue(handle.pointer) {
                with(i) { key, keyLength, value in
                    rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, UnsafeMutableRawPointer(mutating: value.baseAddress), value.count, key, keyLength, nil)
                }
            }
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rd(err, code: .produce, context: "baseline produce") }
            if i % 1_000 == 0 { rd_kafka_poll(handle.pointer, 0) }
        }
        let err = rd_kafka_flush(handle.pointer, 60_000)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rd(err, code: .produce, context: "baseline flush") }
    }

    private static func assignFromBeginning(_ handle: RDKafkaHandle, topic: String, partitions: Int) throws(KafkaError) {
        let list = TopicPartitionList((0..<partitions).map { TopicPartitionOffset(topic: topic, partition: Int32($0), offset: KafkaOffset.beginning) })
        let err = rd_kafka_assign(handle.pointer, list.pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.rd(err, code: .consume, context: "baseline assign") }
    }

    /// Reads until `count` records were seen; returns when the first batch came.
    @discardableResult
    private static func consumeLoop(_ handle: RDKafkaHandle, until count: Int, _ each: (UnsafeMutablePointer<rd_kafka_message_t>) -> Void) throws(KafkaError) -> ContinuousClock.Instant {
        guard let queue = rd_kafka_queue_get_consumer(handle.pointer) else { throw KafkaError(code: .consume, message: "baseline: no queue") }
        defer { rd_kafka_queue_destroy(queue) }
        var buffer = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: 1_000)
        var seen = 0
        var idle = 0
        var first: ContinuousClock.Instant? = nil
        while seen < count {
            // As the client polls: what is there now, else the first record as soon as it comes.
            let n = KafkaConsumer.consumeAvailable(queue, into: &buffer, timeoutMilliseconds: 100)
            if n <= 0 {
                idle += 1
                if idle > 300 { throw KafkaError(code: .timedOut, message: "baseline consumer saw \(seen) of \(count) records") }
                continue
            }
            if first == nil { first = .now }
            idle = 0
            for i in 0..<n {
                guard let m = buffer[i] else { continue }
                if m.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    each(m)
                    seen += 1
                }
                rd_kafka_message_destroy(m)
            }
        }
        return first ?? .now
    }
}

/// librdkafka handles handed to one other thread, which alone uses them until it is waited for.
private struct UncheckedHandles: @unchecked Sendable {
    let producer: OpaquePointer
    let topic: OpaquePointer
}

/// Delivery reports of a baseline producer, by record index: served by `rd_kafka_poll` on the thread
/// that produces, so the lock is never contended; it makes the type `Sendable` for the callback.
private final class DeliveryReports: Sendable {
    private struct State {
        /// Measured records acknowledged; the warm-up record (index -1) takes it from -1 to 0.
        var acknowledged = -1
        var failure: rd_kafka_resp_err_t? = nil
        var due: [UInt64]
        var latencies: [Double] = []
    }
    private let state: Mutex<State>

    init(count: Int) { state = Mutex(State(due: Array(repeating: 0, count: count))) }

    var acknowledged: Int { state.withLock { $0.acknowledged } }
    var failure: rd_kafka_resp_err_t? { state.withLock { $0.failure } }
    var latenciesMilliseconds: [Double] { state.withLock { $0.latencies } }

    func setDue(_ index: Int, nanoseconds: UInt64) { state.withLock { $0.due[index] = nanoseconds } }

    func report(index: Int, error: rd_kafka_resp_err_t) {
        let now = DispatchTime.now().uptimeNanoseconds
        state.withLock { s in
            s.acknowledged += 1
            if error != RD_KAFKA_RESP_ERR_NO_ERROR { s.failure = s.failure ?? error }
            if index >= 0, index < s.due.count, s.due[index] > 0 { s.latencies.append(Double(now &- s.due[index]) / 1e6) }
        }
    }
}
