import Foundation
import Testing
@testable import GridHubCore
import GridHubRuntime

/// Shared fixtures of the model, schema and CloudEvent tests: repository paths, generated events, the
/// Python schema checker.
enum ModelFixtures {
    /// The repository root: the nearest directory above this file that holds `Package.swift`.
    static func repositoryRoot(file: String = #filePath) throws -> URL {
        // Symlinks resolved, so a package that links this folder in still finds the real repository.
        var directory = URL(fileURLWithPath: file).resolvingSymlinksInPath().deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) { return directory }
            directory.deleteLastPathComponent()
        }
        throw FixtureError("no directory with Package.swift and Schemas/ above \(file)")
    }

    /// A fixed instant, 2026-11-27T09:15:32+08:00, plus `seconds`.
    static func time(_ seconds: Double = 0) -> Date {
        Date(millisecondsSince1970: 1_795_742_132_000 + Int64(seconds * 1000))
    }

    static let gridCodes = ["320281001006002", "320281001021002", "320281104012003", "320281109003001"]
    static let itemCodes: [String?] = ["SR-013", "SR-058", "SR-107", "SR-035", nil]
    static let descriptions = [
        "每天晚上六点以后人民东路188号门口有很多摊贩占用人行道，联系电话13812345678",
        "福星花园12幢楼下消防通道堆放杂物 🚒 \"quoted\" \\ backslash",
        "Road sign knocked over near the 虹桥南路 crossing; call 0510-86123456",
        "",
        "路灯不亮\n第二行\t制表符 \u{0001} control",
    ]

    /// A spread of incidents: every source, with and without item, grid, position and reporter; urgent,
    /// solved on the spot, unicode text.
    static func incidents(count: Int = 40) -> [Incident] {
        (0..<count).map { n in
            let system = SourceSystem.allCases[n % SourceSystem.allCases.count]
            let located = n % 3 != 0
            let location = Location(
                lat: located ? 31.908061 + Double(n) / 10_000 : nil,
                lon: located ? 120.295854 - Double(n) / 10_000 : nil,
                gridCode: n % 4 == 3 ? nil : gridCodes[n % gridCodes.count],
                address: n % 5 == 4 ? nil : "江阴市澄江街道人民东路\(100 + 2 * n)号",
                positioning: located
                    ? Positioning(method: n % 2 == 0 ? .gps : .addressMatch,
                                  precision: n % 2 == 0 ? nil : Positioning.Precision.allCases[n % Positioning.Precision.allCases.count],
                                  confidence: n % 2 == 0 ? nil : Double(n % 11) / 10,
                                  reportedCoordinateSystem: n % 2 == 0 ? Positioning.CoordinateSystem.allCases[n % 3] : nil,
                                  extentMeters: n % 4 == 1 ? Double(12 * n) + 0.5 : nil)
                    : Positioning(method: n % 2 == 0 ? .workerGrid : .none))
            let reporter: Reporter? = n % 6 == 5 ? nil : Reporter(
                kind: Reporter.Kind.allCases[n % 3], id: n % 2 == 0 ? "u_\(n)" : nil,
                name: n % 4 == 0 ? nil : PersonName(["张先生", "李红", "O'Brien", "王"][n % 4]),
                phone: n % 5 == 0 ? nil : PhoneNumber("1391234\(String(format: "%04d", n))"),
                anonymous: n % 7 == 0)
            return Incident(
                source: SourceRef(system: system, recordId: "REC-\(system.rawValue)-\(n / 2)", version: 1 + n % 3,
                                  category: n % 2 == 0 ? "城乡建设/市容环境/占道经营" : nil),
                reportedAt: time(Double(n) * 61.5), receivedAt: time(Double(n) * 61.5 + 2.25),
                itemCode: itemCodes[n % itemCodes.count], title: n % 3 == 1 ? "标题 \(n)" : nil,
                description: descriptions[n % descriptions.count], location: location,
                urgent: n % 4 == 1, resolvedOnSite: system == .elink && n % 2 == 0,
                resolution: system == .elink && n % 2 == 0 ? "已现场清理" : nil, withdrawn: n % 9 == 8,
                reporter: reporter, parties: n % 3 == 2 ? [PersonName("王某"), PersonName("江阴市某某建材有限公司")] : [],
                attachments: n % 2 == 0 ? ["https://woodpecker.example/img/\(n)/1.jpg"] : [])
        }
    }

    /// Cases in every status, built through the transition table.
    static func cases() throws -> [Case] {
        var result: [Case] = []
        let incidents = incidents(count: 12)
        let paths: [[CaseEvent]] = [
            [],
            [dispatch(1)],
            [dispatch(1), .accept(dispatchId: "D1")],
            [dispatch(1), .start(dispatchId: "D1")],
            [dispatch(1), .accept(dispatchId: "D1"), .start(dispatchId: "D1"), .resolve(dispatchId: "D1", note: "已处理")],
            [dispatch(1), .resolve(dispatchId: "D1", note: nil), .close(note: "满意")],
            [dispatch(1), .resolve(dispatchId: "D1", note: nil), .reopen(note: "不满意，摊贩又回来了")],
            [dispatch(1), .resolve(dispatchId: "D1", note: nil), .reopen(note: "不满意"), dispatch(2), .rate(note: "满意")],
            [.closeOnArrival(note: "自行处置")],
            [dispatch(1), .return(dispatchId: "D1", note: "不属于本单位职责")],
            [dispatch(1), .escalate(department: "urban-mgmt", level: .city, dispatchId: "D2", dueAt: time(9000))],
            [dispatch(1), .withdraw(note: "市民撤回")],
        ]
        for (n, path) in paths.enumerated() {
            var value = Case(caseId: DeterministicID(namespace: .case, name: incidents[n].incidentId).uuidString,
                             openedBy: incidents[n], at: time(Double(n)))
            value.merge(incidents[(n + 1) % incidents.count],
                        match: MergeEvidence(distanceMeters: n % 2 == 0 ? 35.5 : nil, timeGapSeconds: 600,
                                             itemRelation: MergeEvidence.ItemRelation.allCases[n % 3], textScore: 0.5),
                        at: time(Double(n) + 30))
            for (k, event) in path.enumerated() { try value.apply(event, at: time(Double(n) + 60 * Double(k + 1))) }
            if path.contains(where: { $0.kind == .rate }) {
                value.attribute(historyFrom: value.history.count - 1, toSurvey: .satisfied)
                value.surveyed(report: incidents[(n + 1) % incidents.count].incidentId, answeredAt: time(Double(n) + 400))
            }
            result.append(value)
        }
        return result
    }

    static func dispatch(_ attempt: Int) -> CaseEvent {
        .dispatch(department: "urban-mgmt", level: .village, dispatchId: "D\(attempt)", dueAt: time(7200))
    }

    static func dispatches() -> [Dispatch] {
        let incidents = incidents(count: 10)
        return incidents.enumerated().map { n, incident in
            Dispatch(dispatchId: "D-\(n)", caseId: "C-\(n)", attempt: 1 + n % 3, reason: Dispatch.Reason.allCases[n % 4],
                     department: ["urban-mgmt", "fire", "command-center", "traffic-police"][n % 4], level: Level.allCases[n % 3],
                     itemCode: incident.itemCode, gridCode: incident.location.gridCode, dueAt: time(7200), issuedAt: time(1),
                     urgent: incident.urgent, title: incident.title, description: incident.description, location: incident.location,
                     reports: [ReportRef(incidentId: incident.incidentId, system: incident.source.system, recordId: incident.source.recordId)],
                     contacts: incident.reporter.map { [$0] } ?? [], parties: incident.parties, attachments: incident.attachments)
        }
    }

    static func feedbacks() -> [Feedback] {
        FeedbackStatus.allCases.enumerated().flatMap { n, status in
            [Feedback(dispatchId: "D-\(n)", department: "urban-mgmt", status: status, note: "处理说明 \(n)", at: time(Double(n))),
             Feedback(dispatchId: "D-\(n)", department: "fire", status: status, note: nil, at: time(Double(n) + 0.125))]
        }
    }

    static func surveys() -> [Survey] {
        Satisfaction.allCases.enumerated().flatMap { n, satisfaction in
            SourceSystem.allCases.map { system in
                Survey(system: system, recordId: "R-\(n)", satisfaction: satisfaction, note: n == 0 ? nil : "回访 \(n)", at: time(Double(n)))
            }
        }
    }

    static func statusUpdates() -> [StatusUpdate] {
        CaseStatus.allCases.enumerated().flatMap { n, status in
            SourceSystem.allCases.map { system in
                StatusUpdate(system: system, recordId: "R-\(n)", caseId: "C-\(n)", caseVersion: n + 1, status: status,
                             department: status == .open ? nil : "urban-mgmt", note: n % 2 == 0 ? nil : "说明", at: time(Double(n)))
            }
        }
    }

    /// Runs `Tests/Tools/validate_schemas.py` over `files` (name → JSON bytes) in a fresh temporary
    /// directory; returns the checker's result per file name.
    static func validateWithPython(_ files: [String: Data]) async throws -> [String: SchemaCheckResult] {
        let root = try repositoryRoot()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, data) in files { try data.write(to: directory.appendingPathComponent(name)) }

        let run = try await ExternalCommand.run(["/usr/bin/python3", root.appendingPathComponent("Tests/Tools/validate_schemas.py").path,
                                                 root.appendingPathComponent("Schemas").path, directory.path], timeout: .seconds(120))
        guard run.status == 0 || run.status == 1 else {
            throw FixtureError("validate_schemas.py exited \(run.status): \(run.stderr)")
        }
        let stdout = Data(run.stdout.utf8)
        let report = try JSONDecoder().decode(CheckerReport.self, from: stdout)
        #expect(report.schemas.count == EventType.allCases.count)
        return Dictionary(uniqueKeysWithValues: report.results.map { (URL(fileURLWithPath: $0.file).lastPathComponent, $0) })
    }

    struct CheckerReport: Decodable {
        var schemas: [String]
        var results: [SchemaCheckResult]
    }

    struct SchemaCheckResult: Decodable {
        var file: String
        var schema: String?
        var valid: Bool
        var errors: [String]
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
