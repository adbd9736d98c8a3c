import CRdKafka
import Logging
import Synchronization

/// Context passed to librdkafka as the handle's opaque pointer, read back in C callbacks.
///
/// It is retained for the handle's whole life and released after `rd_kafka_destroy`, so a
/// callback never sees it freed.
final class RDKafkaContext: Sendable {
    let logger: Logger
    /// Called with each delivery report (producers only).
    let deliveryHandler: (@Sendable (UnsafePointer<rd_kafka_message_t>) -> Void)?
    /// Called on rebalances (consumers only), inside librdkafka's poll.
    let rebalanceHandler: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> Void)?
    /// The first fatal error raised on the handle.
    private let firstFatal = Mutex<KafkaError?>(nil)
    /// Whether ``firstFatal`` is set: read for every record sent, without taking the lock.
    private let hasFatalError = Atomic(false)

    /// The first fatal error raised on the handle, if any.
    var fatal: KafkaError? { hasFatalError.load(ordering: .acquiring) ? firstFatal.withLock { $0 } : nil }

    /// Records the handle's fatal error (the first one is kept).
    func setFatal(_ error: KafkaError) {
        firstFatal.withLock { if $0 == nil { $0 = error } }
        hasFatalError.store(true, ordering: .releasing)
    }

    init(
        logger: Logger,
        deliveryHandler: (@Sendable (UnsafePointer<rd_kafka_message_t>) -> Void)? = nil,
        rebalanceHandler: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> Void)? = nil
    ) {
        self.logger = logger
        self.deliveryHandler = deliveryHandler
        self.rebalanceHandler = rebalanceHandler
    }

    static func from(_ rk: OpaquePointer?) -> RDKafkaContext? {
        guard let rk, let opaque = rd_kafka_opaque(rk) else { return nil }
        return Unmanaged<RDKafkaContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// One librdkafka handle (`rd_kafka_t`): created from a property list, destroyed exactly once.
///
/// `@unchecked Sendable`: librdkafka handles are thread-safe; the only mutable Swift state is the
/// `destroyed` flag, guarded by a `Mutex`.
final class RDKafkaHandle: @unchecked Sendable {
    enum Kind { case producer, consumer }

    let pointer: OpaquePointer
    let context: RDKafkaContext
    private let destroyed = Mutex(false)

    init(kind: Kind, properties: [(String, String)], context: RDKafkaContext) throws(KafkaError) {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(code: .clientCreation, message: "rd_kafka_conf_new failed")
        }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(code: .configuration, message: "librdkafka refused \(key): \(cString(errstr))")
            }
        }
        rd_kafka_conf_set_log_cb(conf, rdKafkaLogCallback)
        rd_kafka_conf_set_error_cb(conf, rdKafkaErrorCallback)
        if context.deliveryHandler != nil {
            rd_kafka_conf_set_dr_msg_cb(conf, rdKafkaDeliveryCallback)
        }
        if context.rebalanceHandler != nil {
            rd_kafka_conf_set_rebalance_cb(conf, rdKafkaRebalanceCallback)
        }
        let retained = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, retained.toOpaque())
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        // On success rd_kafka_new owns conf; on failure it is still ours.
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            retained.release()
            throw KafkaError(code: .clientCreation, message: "rd_kafka_new failed: \(cString(errstr))")
        }
        self.pointer = rk
        self.context = context
    }

    /// Destroys the handle (blocking until librdkafka's threads end). Later calls do nothing.
    func destroy() {
        let first = destroyed.withLock { done -> Bool in
            if done { return false }
            done = true
            return true
        }
        guard first else { return }
        rd_kafka_destroy(pointer)
        Unmanaged.passUnretained(context).release()
    }

    var isDestroyed: Bool { destroyed.withLock { $0 } }

    deinit { destroy() }

    /// librdkafka's name for the handle, e.g. `gridhub#producer-1`.
    var name: String { String(cString: rd_kafka_name(pointer)) }

    /// The fatal error raised on this handle, if any (idempotent and transactional producers).
    func fatalError() -> KafkaError? {
        var buf = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(pointer, &buf, buf.count)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return KafkaError(
            code: .produce, message: "fatal error: \(cString(buf))", rdKafkaCode: err.rawValue,
            rdKafkaName: String(cString: rd_kafka_err2name(err)), isFatal: true)
    }
}

// MARK: - C callbacks (no captures: they find their context through the handle's opaque)

private func rdKafkaLogCallback(_ rk: OpaquePointer?, _ level: Int32, _ facility: UnsafePointer<CChar>?, _ buf: UnsafePointer<CChar>?) {
    guard let context = RDKafkaContext.from(rk) else { return }
    // A library logs at info or below; ops raise the level of `kafka` loggers when they need more.
    let swiftLevel: Logger.Level
    switch level {
    case ...5: swiftLevel = .info
    case 6: swiftLevel = .debug
    default: swiftLevel = .trace
    }
    guard context.logger.logLevel <= swiftLevel else { return }
    context.logger.log(
        level: swiftLevel, "librdkafka",
        metadata: [
            LoggingKeys.librdkafkaFacility: .string(facility.map { String(cString: $0) } ?? ""),
            LoggingKeys.librdkafkaMessage: .string(buf.map { String(cString: $0) } ?? ""),
            LoggingKeys.librdkafkaLevel: .stringConvertible(level),
        ])
}

private func rdKafkaErrorCallback(_ rk: OpaquePointer?, _ err: Int32, _ reason: UnsafePointer<CChar>?, _ opaque: UnsafeMutableRawPointer?) {
    guard let context = RDKafkaContext.from(rk) else { return }
    let code = rd_kafka_resp_err_t(rawValue: err)
    let text = reason.map { String(cString: $0) } ?? ""
    if code == RD_KAFKA_RESP_ERR__FATAL, let rk {
        var buf = [CChar](repeating: 0, count: 512)
        let original = rd_kafka_fatal_error(rk, &buf, buf.count)
        let error = KafkaError(
            code: .produce, message: "fatal error: \(cString(buf))", rdKafkaCode: original.rawValue,
            rdKafkaName: String(cString: rd_kafka_err2name(original)), isFatal: true)
        context.setFatal(error)
    }
    context.logger.info(
        "librdkafka error",
        metadata: [
            LoggingKeys.errorCode: .string(String(cString: rd_kafka_err2name(code))),
            LoggingKeys.errorReason: .string(text),
        ])
}

private func rdKafkaDeliveryCallback(_ rk: OpaquePointer?, _ message: UnsafePointer<rd_kafka_message_t>?, _ opaque: UnsafeMutableRawPointer?) {
    guard let message, let context = RDKafkaContext.from(rk) else { return }
    context.deliveryHandler?(message)
}

private func rdKafkaRebalanceCallback(
    _ rk: OpaquePointer?, _ err: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
    _ opaque: UnsafeMutableRawPointer?
) {
    guard let rk, let context = RDKafkaContext.from(rk) else { return }
    context.rebalanceHandler?(rk, err, partitions)
}

/// The text of a NUL-terminated C buffer.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
