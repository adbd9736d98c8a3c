import AsyncHTTPClient
import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import NIOCore

/// Sends a dead letter back through the hub after its cause is fixed (`gridhub deadletters replay`):
/// an input that came over HTTP goes to the adapter's endpoint again, authenticated as its source
/// would (12345: signed with `GRIDHUB_HOTLINE_SECRET` and a fresh timestamp; 综治e通: `X-Api-Key`
/// from `GRIDHUB_ELINK_API_KEY`, a single event wrapped in a batch of one); a record that came from a
/// topic (router stage: `gridhub.error.source` = `topic/partition/offset`) is produced to that topic
/// again with its original key and headers. The value may be replaced by a corrected one.
public enum DeadLetterReplay {
    /// Where a dead letter goes back to.
    public enum Target: Sendable, Equatable, CustomStringConvertible {
        case topic(String)
        case endpoint(path: String)

        public var description: String {
            switch self {
            case .topic(let t): "topic \(t)"
            case .endpoint(let p): "endpoint POST \(p)"
            }
        }
    }

    /// The target named by the dead letter's `gridhub.error.source`.
    public static func target(of record: ConsumerRecord) throws -> Target {
        guard let source = record.headers.string(DeadLetterHeader.source) else {
            throw ReplayError("the record has no \(DeadLetterHeader.source) header: it is not a GridHub dead letter")
        }
        if source.hasPrefix("POST ") {
            let path = source.dropFirst(5).split(separator: " ").first.map(String.init) ?? ""
            guard path.hasPrefix("/") else { throw ReplayError("cannot read the endpoint from \(source)") }
            return .endpoint(path: path)
        }
        let parts = source.split(separator: "/")
        if parts.count == 3, parts[0].hasPrefix("gridhub."), Int(parts[1]) != nil { return .topic(String(parts[0])) }
        throw ReplayError("this dead letter came from \(source), which cannot be replayed automatically")
    }

    /// Replays `record` (with `value` instead of its own, when given) and returns what the target answered.
    public static func replay(
        _ record: ConsumerRecord, value: [UInt8]? = nil, adapterURL: String?, producer: KafkaProducer?,
        environment: [String: String] = ProcessInfo.processInfo.environment, client: HTTPClient = .shared
    ) async throws -> String {
        let body = value ?? record.value
        let kept = record.headers.filter { !$0.key.hasPrefix("gridhub.error.") }
        switch try target(of: record) {
        case .topic(let topic):
            guard let producer else { throw ReplayError("replaying to a topic needs GRIDHUB_BOOTSTRAP") }
            let report = try await producer.send(ProducerRecord(topic: topic, key: record.key, value: body, headers: kept))
            return "produced to \(report.topic)[\(report.partition)]@\(report.offset)"
        case .endpoint(let path):
            guard let adapterURL else { throw ReplayError("this dead letter came in over HTTP (POST \(path)): pass --adapter-url with the adapter's base URL") }
            var request = HTTPClientRequest(url: adapterURL.trimmingTrailingSlash + path)
            request.method = .POST
            let contentType = kept.string("content-type") ?? "application/json; charset=utf-8"
            request.headers.add(name: "Content-Type", value: contentType)
            var payload = body
            if path.hasPrefix("/hotline12345/") {
                guard let secret = try EnvironmentSetting.hotlineSecret.value(in: environment) else {
                    throw ReplayError("GRIDHUB_HOTLINE_SECRET is not set: a replayed work order must be signed like the hotline signs it")
                }
                let timestamp = String(Int64(Date().timeIntervalSince1970))
                request.headers.add(name: "X-Hotline-Timestamp", value: timestamp)
                request.headers.add(name: "X-Hotline-Signature", value: Hotline12345.signature(secret: Array(secret.utf8), timestamp: timestamp, body: payload))
            } else if path.hasPrefix("/elink/") {
                guard let key = try EnvironmentSetting.elinkAPIKey.value(in: environment) else {
                    throw ReplayError("GRIDHUB_ELINK_API_KEY is not set: the 综治e通 endpoint needs its key")
                }
                request.headers.add(name: "X-Api-Key", value: key)
                payload = try batchOfOne(payload)
            }
            request.body = .bytes(ByteBuffer(bytes: payload))
            let response = try await client.execute(request, timeout: .seconds(30))
            let answer = try await response.body.collect(upTo: 1 << 20)
            return "HTTP \(response.status.code): \(String(buffer: answer))"
        }
    }

    /// A 综治e通 dead letter holds either a whole batch or one event; the endpoint takes batches.
    static func batchOfOne(_ bytes: [UInt8]) throws -> [UInt8] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw ReplayError("the value is not a JSON object: correct it (--value-file) before replaying")
        }
        if object["events"] != nil { return bytes }
        let batch: [String: Any] = ["batchId": "REPLAY-\(UUID().uuidString.prefix(8))", "sentAt": RFC3339.format(Date()), "events": [object]]
        return Array(try JSONSerialization.data(withJSONObject: batch))
    }
}

/// A dead letter could not be replayed; the message says why.
public struct ReplayError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension String {
    fileprivate var trimmingTrailingSlash: String { hasSuffix("/") ? String(dropLast()) : self }
}
