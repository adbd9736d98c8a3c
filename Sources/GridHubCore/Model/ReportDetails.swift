/// What a department may need of a report beyond the case (the router keeps it beside the report,
/// `reports.personal`): the reporter and the parties (personal data: only for departments that need
/// it), the title and the attachments (photos: for every department). Kept revealed in the router's
/// database, never in a log line; the personal data goes out only on dispatches to departments the
/// routing rules name in `personalDataFor`.
public struct ReportDetails: Codable, Sendable, Hashable {
    public var reporter: Reporter?
    public var parties: [PersonName]
    public var title: String?
    public var attachments: [String]?

    /// The incident's details, nil when it has none.
    public init?(_ incident: Incident) {
        guard incident.reporter != nil || !incident.parties.isEmpty || incident.title != nil || !incident.attachments.isEmpty else { return nil }
        reporter = incident.reporter
        parties = incident.parties
        title = incident.title
        attachments = incident.attachments.isEmpty ? nil : incident.attachments
    }

    /// These details as ``GridHubJSON/encoder(disclosingPersonalData:)`` encodes them with the personal
    /// data revealed (as they are stored), written directly: the router stores one per report.
    public func revealedJSONBytes() -> [UInt8] {
        var w = JSONBytesWriter(capacity: 256)
        w.beginObject()
        if let attachments { w.key("attachments"); w.strings(attachments) }
        w.key("parties"); w.strings(parties.lazy.map { $0.jsonText(disclosing: .reveal) })
        if let reporter { w.key("reporter"); reporter.write(to: &w, disclosing: .reveal) }
        if let title { w.key("title"); w.string(title) }
        w.endObject()
        return w.bytes
    }
}
