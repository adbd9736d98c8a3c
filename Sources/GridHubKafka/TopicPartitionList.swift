import CRdKafka

/// Owns an `rd_kafka_topic_partition_list_t` and frees it exactly once.
/// Used inside one call at a time; never shared across threads.
final class TopicPartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(_ offsets: [TopicPartitionOffset]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(1, offsets.count)))
        for o in offsets {
            let element = rd_kafka_topic_partition_list_add(pointer, o.topic, o.partition)
            element?.pointee.offset = o.offset
        }
    }

    init(partitions: [TopicPartition]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(1, partitions.count)))
        for p in partitions { _ = rd_kafka_topic_partition_list_add(pointer, p.topic, p.partition) }
    }

    init(topics: [String]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(1, topics.count)))
        for t in topics { _ = rd_kafka_topic_partition_list_add(pointer, t, RD_KAFKA_PARTITION_UA) }
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    /// Reads a list that librdkafka owns.
    static func offsets(of list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartitionOffset] {
        (0..<Int(list.pointee.cnt)).map { i in
            let e = list.pointee.elems[i]
            return TopicPartitionOffset(topic: String(cString: e.topic), partition: e.partition, offset: e.offset)
        }
    }

    /// The first per-partition error in a list, if any.
    static func firstError(of list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> (TopicPartition, rd_kafka_resp_err_t)? {
        for i in 0..<Int(list.pointee.cnt) {
            let e = list.pointee.elems[i]
            if e.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                return (TopicPartition(topic: String(cString: e.topic), partition: e.partition), e.err)
            }
        }
        return nil
    }

    var offsets: [TopicPartitionOffset] { Self.offsets(of: pointer) }
}
