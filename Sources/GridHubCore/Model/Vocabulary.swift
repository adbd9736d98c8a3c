/// The four source systems of the contract; the raw values are the contract's strings.
public enum SourceSystem: String, Sendable, Hashable, Codable, CaseIterable {
    /// 12345 政务服务便民热线.
    case hotline12345
    /// 城市啄木鸟 citizen reporting app.
    case woodpecker
    /// 综治e通 grid workers' app.
    case elink
    /// 综合执法 enforcement case system.
    case enforcement

    /// `gridhub.status.<system>.v1`.
    public var statusTopic: String { Topics.status(source: rawValue) }
    /// The CloudEvents source of this system's adapter, e.g. `/gridhub/adapter/hotline12345`.
    public var adapterEventSource: String { "/gridhub/adapter/\(rawValue)" }
}

/// The status of a case (contract strings).
public enum CaseStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Opened, not dispatched yet.
    case open
    /// A dispatch was sent to a department.
    case dispatched
    /// The department accepted the dispatch.
    case accepted
    /// The department is working on it.
    case inProgress
    /// The department reports the problem solved.
    case resolved
    /// Done: confirmed, solved on the spot, or withdrawn by the source.
    case closed
    /// A resolved or closed case reopened (e.g. a dissatisfied citizen); to be dispatched again.
    case reopened
    /// Returned ("not ours"): by a department, on the way to the next one (the sources hear of the new
    /// dispatch); by the command centre's triage, given back to the sources as not the grid's to handle
    /// (12345 hears 退回). The command centre may still assign it.
    case returned
}

/// The administrative level that handles a case (contract strings), lowest first.
public enum Level: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// 村/社区 (village or community).
    case village
    /// 镇/街道 (town or street office).
    case town
    /// 市 (city).
    case city

    /// The level as the notes people read name it: 村（社区）级, 镇（街道）级, 市级.
    public var nameZh: String {
        switch self {
        case .village: "村（社区）级"
        case .town: "镇（街道）级"
        case .city: "市级"
        }
    }

    /// The next level up, or `nil` at city level.
    public var higher: Level? {
        switch self {
        case .village: .town
        case .town: .city
        case .city: nil
        }
    }

    private var rank: Int {
        switch self {
        case .village: 0
        case .town: 1
        case .city: 2
        }
    }

    /// Lower levels sort first.
    public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rank < rhs.rank }
}

/// A department's status change on a dispatch (contract strings).
public enum FeedbackStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// The department took the dispatch.
    case accepted
    /// Work has started.
    case inProgress
    /// The department solved the problem.
    case resolved
    /// "Not ours": the router routes the case again.
    case returned
}

/// A citizen's satisfaction in a survey (contract strings).
public enum Satisfaction: String, Sendable, Hashable, Codable, CaseIterable {
    /// 满意.
    case satisfied
    /// 基本满意.
    case basicallySatisfied
    /// 不满意: reopens the case.
    case dissatisfied
}
