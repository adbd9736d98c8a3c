import AsyncHTTPClient
import Foundation
import GridHubCore
import NIOCore

/// A double of the 综治e通 platform: pushes event batches with its API key, as the spec describes.
public struct ElinkPlatform: Sendable {
    public var hubURL: String
    public var apiKey: String
    public var client: HTTPClient

    public init(hubURL: String, apiKey: String, client: HTTPClient = .shared) {
        self.hubURL = hubURL
        self.apiKey = apiKey
        self.client = client
    }

    /// The hub's answer: HTTP status and the decoded JSON body.
    public struct Answer: Sendable {
        public var httpStatus: Int
        public var accepted: Int?
        public var rejected: [(sjbh: String, reason: String)]
        public var body: String
    }

    /// The body of a batch of event objects.
    public static func body(batchId: String, events: [[String: Any]]) -> [UInt8] {
        let object: [String: Any] = ["batchId": batchId, "sentAt": RFC3339.format(Date()), "events": events]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { Array($0) } ?? []
    }

    /// Pushes a raw body.
    public func push(body: [UInt8], apiKey: String? = nil, timeout: TimeAmount = .seconds(60)) async throws -> Answer {
        var request = HTTPClientRequest(url: hubURL + "/elink/events")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        if let key = apiKey ?? Optional(self.apiKey), !key.isEmpty { request.headers.add(name: "X-Api-Key", value: key) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 1 << 22)
        let text = String(decoding: bytes.readableBytesView, as: UTF8.self)
        var answer = Answer(httpStatus: Int(response.status.code), accepted: nil, rejected: [], body: text)
        if let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] {
            answer.accepted = (object["accepted"] as? NSNumber)?.intValue
            answer.rejected = ((object["rejected"] as? [[String: Any]]) ?? []).map { (($0["sjbh"] as? String) ?? "", ($0["reason"] as? String) ?? "") }
        }
        return answer
    }

    /// Pushes a batch of events.
    public func push(batchId: String, events: [[String: Any]]) async throws -> Answer {
        try await push(body: Self.body(batchId: batchId, events: events))
    }
}
