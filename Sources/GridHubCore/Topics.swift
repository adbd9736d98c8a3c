/// The topic names of the external contract (`docs/contract.md`).
public enum Topics {
    public static let incidents = "gridhub.incidents.v1"
    public static let cases = "gridhub.cases.v1"
    public static let feedback = "gridhub.feedback.v1"
    public static let surveys = "gridhub.surveys.v1"
    public static let deadLetter = "gridhub.deadletter.v1"
    /// The command centre's commands on cases (`gridhub case …`, the console).
    public static let commands = "gridhub.commands.v1"
    /// The router's supervision alerts for the command centre.
    public static let alerts = "gridhub.alerts.v1"

    /// The source systems that have a status topic of their own.
    public static let sourceSystems = ["hotline12345", "woodpecker", "elink", "enforcement"]

    /// `gridhub.dispatch.<department>.v1`.
    public static func dispatch(department code: String) -> String { "gridhub.dispatch.\(code).v1" }

    /// `gridhub.status.<source>.v1`.
    public static func status(source system: String) -> String { "gridhub.status.\(system).v1" }

    /// Every topic of the contract, given the departments of the reference data.
    public static func all(departments: [Department]) -> [String] {
        var names = [incidents, cases, feedback, surveys, deadLetter, commands, alerts]
        names += departments.map { dispatch(department: $0.code) }
        names += sourceSystems.map { status(source: $0) }
        return names
    }

    /// Topics whose latest record per key is the truth, and so are compacted on a real cluster.
    public static let compacted: Set<String> = [cases]
}
