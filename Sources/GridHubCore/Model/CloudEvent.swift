import Foundation

/// The six event types of the contract, each with its topic(s) and JSON Schema.
public enum EventType: String, Sendable, Hashable, Codable, CaseIterable {
    /// An incident, on `gridhub.incidents.v1`.
    case incident = "gov.gridhub.incident.v1"
    /// A case, on `gridhub.cases.v1`.
    case `case` = "gov.gridhub.case.v1"
    /// A dispatch, on `gridhub.dispatch.<department>.v1`.
    case dispatch = "gov.gridhub.dispatch.v1"
    /// A feedback, on `gridhub.feedback.v1`.
    case feedback = "gov.gridhub.feedback.v1"
    /// A survey, on `gridhub.surveys.v1`.
    case survey = "gov.gridhub.survey.v1"
    /// A status, on `gridhub.status.<source>.v1`.
    case status = "gov.gridhub.status.v1"
    /// A command of the command centre, on `gridhub.commands.v1`.
    case command = "gov.gridhub.command.v1"
    /// A supervision alert, on `gridhub.alerts.v1`.
    case alert = "gov.gridhub.alert.v1"

    /// The short name, also the prefix of the schema and example file names (`incident`, `case`, …).
    public var name: String {
        switch self {
        case .incident: "incident"
        case .case: "case"
        case .dispatch: "dispatch"
        case .feedback: "feedback"
        case .survey: "survey"
        case .status: "status"
        case .command: "command"
        case .alert: "alert"
        }
    }

    /// The schema file in `Schemas/`, e.g. `incident.v1.schema.json`.
    public var schemaFileName: String { "\(name).v1.schema.json" }

    /// The schema's `$id`.
    public var schemaID: String { "https://gridhub.example/schemas/\(schemaFileName)" }

    /// The topic pattern, with `<department>` or `<source>` where the topic name varies.
    public var topicPattern: String {
        switch self {
        case .incident: Topics.incidents
        case .case: Topics.cases
        case .dispatch: Topics.dispatch(department: "<department>")
        case .feedback: Topics.feedback
        case .survey: Topics.surveys
        case .status: Topics.status(source: "<source>")
        case .command: Topics.commands
        case .alert: Topics.alerts
        }
    }

    /// Every topic this type is written to, given the departments of the reference data.
    public func topics(departments: [Department]) -> [String] {
        switch self {
        case .dispatch: departments.map { Topics.dispatch(department: $0.code) }
        case .status: SourceSystem.allCases.map(\.statusTopic)
        default: [topicPattern]
        }
    }

    /// Whether `topic` carries this type.
    public func matches(topic: String) -> Bool {
        switch self {
        case .dispatch:
            return topic.hasPrefix("gridhub.dispatch.") && topic.hasSuffix(".v1")
                && FieldCheck.isDepartmentCode(String(topic.dropFirst("gridhub.dispatch.".count).dropLast(".v1".count)))
        case .status:
            return SourceSystem.allCases.contains { $0.statusTopic == topic }
        default:
            return topic == topicPattern
        }
    }

    /// The Swift type of the event's data.
    public var payloadType: any (Codable & Sendable).Type {
        switch self {
        case .incident: Incident.self
        case .case: Case.self
        case .dispatch: Dispatch.self
        case .feedback: Feedback.self
        case .survey: Survey.self
        case .status: StatusUpdate.self
        case .command: Command.self
        case .alert: Alert.self
        }
    }
}

/// A CloudEvents 1.0 event in the Kafka protocol binding's binary mode: attributes in `ce_*`
/// headers, the JSON data as the record value.
public struct CloudEvent: Sendable, Hashable {
    /// The only spec version this hub writes and reads.
    public static let specVersion = "1.0"
    /// The only data content type of the hub.
    public static let jsonContentType = "application/json"

    /// `ce_id`: unique per source; the router derives it with ``DeterministicID`` so re-sends repeat it.
    public var id: String
    /// `ce_source`, e.g. `/gridhub/adapter/hotline12345`, `/gridhub/router`, `/department/urban-mgmt`.
    public var source: String
    /// `ce_type`, e.g. `gov.gridhub.incident.v1`. Kept as text so unknown types can be reported.
    public var type: String
    /// `ce_time`.
    public var time: Date
    /// `ce_subject`, optional (e.g. the case id).
    public var subject: String?
    /// `content-type`; `application/json` for every GridHub event.
    public var dataContentType: String
    /// The W3C `traceparent` header, carried through when present.
    public var traceparent: String?
    /// The record value: the event's JSON data, UTF-8.
    public var data: [UInt8]

    /// An event with raw data.
    public init(id: String, source: String, type: String, time: Date, subject: String? = nil,
                dataContentType: String = CloudEvent.jsonContentType, traceparent: String? = nil, data: [UInt8]) {
        self.id = id
        self.source = source
        self.type = type
        self.time = time
        self.subject = subject
        self.dataContentType = dataContentType
        self.traceparent = traceparent
        self.data = data
    }

    /// An event whose data is `payload` encoded with `encoder` (masked personal data unless it discloses).
    public init<Payload: Encodable>(
        id: String, source: String, type: EventType, time: Date, subject: String? = nil, traceparent: String? = nil,
        payload: Payload, encoder: JSONEncoder = GridHubJSON.encoder()
    ) throws {
        self.init(id: id, source: source, type: type.rawValue, time: time, subject: subject,
                  traceparent: traceparent, data: Array(try encoder.encode(payload)))
    }

    /// The known type, or `nil` for a type this hub does not know.
    public var eventType: EventType? { EventType(rawValue: type) }

    /// Decodes the data as `Payload` with the hub's strict decoder.
    public func decode<Payload: Decodable>(_: Payload.Type, decoder: JSONDecoder = GridHubJSON.decoder()) throws -> Payload {
        try decoder.decode(Payload.self, from: Data(data))
    }

    /// The Kafka record headers of binary mode, in a fixed order.
    public var headers: [(key: String, value: [UInt8])] {
        var headers: [(key: String, value: [UInt8])] = [
            (CloudEventHeader.specVersion, Array(Self.specVersion.utf8)),
            (CloudEventHeader.id, Array(id.utf8)),
            (CloudEventHeader.source, Array(source.utf8)),
            (CloudEventHeader.type, Array(type.utf8)),
            (CloudEventHeader.time, RFC3339.bytes(time)),
        ]
        if let subject { headers.append((CloudEventHeader.subject, Array(subject.utf8))) }
        headers.append((CloudEventHeader.contentType, Array(dataContentType.utf8)))
        if let traceparent { headers.append((CloudEventHeader.traceparent, Array(traceparent.utf8))) }
        return headers
    }

    /// Reads an event from a Kafka record's headers and value. Headers other than the CloudEvents ones
    /// (and `content-type`, `traceparent`) are ignored; a repeated CloudEvents header is an error.
    public init(headers: [(key: String, value: [UInt8])], value: [UInt8]) throws(CloudEventError) {
        var found: [String: String] = [:]
        for header in headers where Self.knownHeaders.contains(header.key) {
            guard found[header.key] == nil else { throw CloudEventError(code: .duplicateHeader, header: header.key) }
            guard let text = String(validating: header.value, as: UTF8.self) else {
                throw CloudEventError(code: .invalidHeader, header: header.key, detail: "not UTF-8")
            }
            found[header.key] = text
        }
        // Structured mode: the whole event, attributes and data, is the value (`application/cloudevents+json`).
        // (The Python SDK's Kafka binding writes it with the data's content type, or none, in the header: a
        // value that is a JSON object with a `specversion`, and no ce_ header at all, is structured too.)
        let noBinaryHeaders = !found.keys.contains { $0.hasPrefix("ce_") }
        if noBinaryHeaders, found[CloudEventHeader.contentType].map({ Self.mediaType($0) == Self.structuredContentType }) == true
            || (value.first == UInt8(ascii: "{") && value.count < 1 << 22 && Self.looksStructured(value)) {
            try self.init(structured: value, traceparentHeader: found[CloudEventHeader.traceparent])
            return
        }
        func required(_ name: String) throws(CloudEventError) -> String {
            guard let value = found[name] else { throw CloudEventError(code: .missingHeader, header: name) }
            guard !value.isEmpty else { throw CloudEventError(code: .invalidHeader, header: name, detail: "empty") }
            return value
        }
        let spec = try required(CloudEventHeader.specVersion)
        guard spec == Self.specVersion else {
            throw CloudEventError(code: .unsupportedSpecVersion, header: CloudEventHeader.specVersion, detail: "'\(spec)', expected '1.0'")
        }
        let id = try required(CloudEventHeader.id)
        let source = try required(CloudEventHeader.source)
        let type = try required(CloudEventHeader.type)
        let timeText = try required(CloudEventHeader.time)
        guard let time = RFC3339.parse(timeText) else {
            throw CloudEventError(code: .invalidHeader, header: CloudEventHeader.time, detail: "'\(timeText)' is not an RFC 3339 time with an offset")
        }
        let contentType = try required(CloudEventHeader.contentType)
        guard Self.mediaType(contentType) == Self.jsonContentType else {
            throw CloudEventError(code: .unsupportedContentType, header: CloudEventHeader.contentType, detail: "'\(contentType)'")
        }
        self.init(id: id, source: source, type: type, time: time, subject: found[CloudEventHeader.subject],
                  dataContentType: contentType, traceparent: found[CloudEventHeader.traceparent], data: value)
    }

    /// The headers an event is read from.
    private static let knownHeaders: Set<String> = [
        CloudEventHeader.specVersion, CloudEventHeader.id, CloudEventHeader.source, CloudEventHeader.type,
        CloudEventHeader.time, CloudEventHeader.subject, CloudEventHeader.contentType, CloudEventHeader.traceparent,
    ]

    /// The media type of structured mode: the value is the whole event as JSON.
    public static let structuredContentType = "application/cloudevents+json"

    /// A JSON object with a `specversion` member.
    static func looksStructured(_ value: [UInt8]) -> Bool {
        ((try? JSONSerialization.jsonObject(with: Data(value))) as? [String: Any])?["specversion"] != nil
    }

    static func mediaType(_ contentType: String) -> String {
        contentType.split(separator: ";", maxSplits: 1).first.map { String($0).trimmingWhitespace().lowercased() } ?? ""
    }

    /// Reads an event in structured mode (the CloudEvents JSON format): `specversion` `1.0`, `id`,
    /// `source`, `type`, `time` and JSON `data` are required (`datacontenttype`, when given, must be
    /// `application/json`; `data_base64` is refused); `subject` and the distributed-tracing extension's
    /// `traceparent` are read (a `traceparent` header, when present, wins). The data is kept as JSON bytes,
    /// as binary mode carries it.
    init(structured value: [UInt8], traceparentHeader: String?) throws(CloudEventError) {
        let field = "value"
        guard let object = (try? JSONSerialization.jsonObject(with: Data(value), options: [.fragmentsAllowed])) as? [String: Any] else {
            throw CloudEventError(code: .invalidHeader, header: field, detail: "a structured-mode event must be a JSON object")
        }
        func attribute(_ name: String, required: Bool = true) throws(CloudEventError) -> String? {
            guard let raw = object[name] else {
                if required { throw CloudEventError(code: .missingHeader, header: name) }
                return nil
            }
            guard let text = raw as? String, !text.isEmpty else { throw CloudEventError(code: .invalidHeader, header: name, detail: "must be a non-empty string") }
            return text
        }
        let spec = try attribute("specversion")!
        guard spec == Self.specVersion else { throw CloudEventError(code: .unsupportedSpecVersion, header: "specversion", detail: "'\(spec)', expected '1.0'") }
        let id = try attribute("id")!, source = try attribute("source")!, type = try attribute("type")!
        let timeText = try attribute("time")!
        guard let time = RFC3339.parse(timeText) else {
            throw CloudEventError(code: .invalidHeader, header: "time", detail: "'\(timeText)' is not an RFC 3339 time with an offset")
        }
        if let dataContentType = try attribute("datacontenttype", required: false), Self.mediaType(dataContentType) != Self.jsonContentType {
            throw CloudEventError(code: .unsupportedContentType, header: "datacontenttype", detail: "'\(dataContentType)'")
        }
        guard object["data_base64"] == nil else { throw CloudEventError(code: .unsupportedContentType, header: "data_base64", detail: "binary data; GridHub's events carry JSON") }
        guard let payload = object["data"], payload is [String: Any] || payload is [Any],
              let data = try? JSONSerialization.data(withJSONObject: payload, options: [.withoutEscapingSlashes]) else {
            throw CloudEventError(code: .missingHeader, header: "data", detail: "a JSON object")
        }
        let traceparent = traceparentHeader ?? (object["traceparent"] as? String)
        self.init(id: id, source: source, type: type, time: time, subject: try attribute("subject", required: false),
                  dataContentType: Self.jsonContentType, traceparent: traceparent, data: Array(data))
    }
}

extension CloudEvent {
    /// The CloudEvents source of the router.
    public static let routerSource = "/gridhub/router"
    /// The `ce_source` of the command centre's commands (`gridhub case …`, the console); the router
    /// refuses commands from any other source.
    public static let commandCenterSource = "/gridhub/command-center"

    /// The CloudEvents source of a department's system, e.g. `/department/urban-mgmt`.
    public static func departmentSource(_ code: String) -> String { "/department/\(code)" }
}

/// Header names of the CloudEvents Kafka binary mode, as GridHub writes them.
public enum CloudEventHeader {
    /// `ce_specversion`, always `1.0`.
    public static let specVersion = "ce_specversion"
    /// `ce_id`.
    public static let id = "ce_id"
    /// `ce_source`.
    public static let source = "ce_source"
    /// `ce_type`.
    public static let type = "ce_type"
    /// `ce_time`, RFC 3339.
    public static let time = "ce_time"
    /// `ce_subject`, optional.
    public static let subject = "ce_subject"
    /// `content-type`: the data content type, `application/json`.
    public static let contentType = "content-type"
    /// `traceparent` (W3C Trace Context), carried through when present.
    public static let traceparent = "traceparent"
}

/// A Kafka record that is not a valid GridHub CloudEvent.
public struct CloudEventError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        /// A required header is missing.
        public static let missingHeader = Code(name: "missingHeader")
        /// A header is empty, not UTF-8, or malformed (e.g. `ce_time`).
        public static let invalidHeader = Code(name: "invalidHeader")
        /// A CloudEvents header appears twice.
        public static let duplicateHeader = Code(name: "duplicateHeader")
        /// `ce_specversion` is not `1.0`.
        public static let unsupportedSpecVersion = Code(name: "unsupportedSpecVersion")
        /// `content-type` is not `application/json`.
        public static let unsupportedContentType = Code(name: "unsupportedContentType")
        /// The code's name.
        public var description: String { name }
    }

    /// What is wrong.
    public var code: Code
    /// The header concerned.
    public var header: String
    /// More detail, if any.
    public var detail: String?

    /// An error.
    public init(code: Code, header: String, detail: String? = nil) {
        self.code = code
        self.header = header
        self.detail = detail
    }

    /// Retrying cannot help: the record itself is malformed (dead-letter it).
    public var isRetryable: Bool { false }

    /// A readable sentence, fit for `gridhub.error.reason`.
    public var description: String {
        let what: String
        switch code {
        case .missingHeader: what = "the header \(header) is missing"
        case .duplicateHeader: what = "the header \(header) appears more than once"
        case .unsupportedSpecVersion: what = "the CloudEvents spec version in \(header) is not supported"
        case .unsupportedContentType: what = "the content type in \(header) is not application/json"
        default: what = "the header \(header) is invalid"
        }
        return detail.map { "\(what): \($0)" } ?? what
    }
}

/// Dead letters: the original value and headers, untouched, plus these headers.
public enum DeadLetterHeader {
    /// `gridhub.error.stage`: which stage gave up, e.g. `adapter.hotline12345`, `router`.
    public static let stage = "gridhub.error.stage"
    /// `gridhub.error.reason`: a readable sentence.
    public static let reason = "gridhub.error.reason"
    /// `gridhub.error.source`: where the record came from (topic/partition/offset, or endpoint and record id).
    public static let source = "gridhub.error.source"
    /// `gridhub.error.time`: when it was dead-lettered, RFC 3339.
    public static let time = "gridhub.error.time"

    /// The original headers, then the four error headers (any earlier error headers are kept too, so a
    /// record dead-lettered twice shows both reasons).
    public static func headers(
        original: [(key: String, value: [UInt8])], stage: String, reason: String, source: String, time: Date
    ) -> [(key: String, value: [UInt8])] {
        original + [
            (Self.stage, Array(stage.utf8)),
            (Self.reason, Array(PersonalDataMasking.maskPhoneNumbers(in: reason).utf8)),
            (Self.source, Array(source.utf8)),
            (Self.time, RFC3339.bytes(time)),
        ]
    }
}
