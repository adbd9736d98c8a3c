import Foundation
import GridHubTesting
import Testing

/// `Schemas/asyncapi.yaml`, the machine-readable description of every topic: well-formed AsyncAPI 3.0
/// (Tests/Tools/validate_asyncapi.py), and describing exactly the topics GridHub creates.
@Suite("AsyncAPI document", .timeLimit(.minutes(2)))
struct AsyncAPITests {
    @Test("Schemas/asyncapi.yaml is valid AsyncAPI 3.0 whose examples match their schemas, and names exactly the topics gridhub broker creates")
    func inStepWithTopics() async throws {
        let root = GridHubPaths.packageRoot
        let checked = try await runCommand("/usr/bin/python3", [root.appendingPathComponent("Tests/Tools/validate_asyncapi.py").path,
                                                                root.appendingPathComponent("Schemas/asyncapi.yaml").path])
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        let described = Set(checked.stdout.split(separator: "\n").filter { $0.hasPrefix("topic ") }.map { String($0.dropFirst(6)) })

        let broker = try ChildProcess(GridHubPaths.executable, ["broker", "--brokers", "1"], environment: ["GRIDHUB_LOG_LEVEL": "warning"])
        defer { broker.signal(SIGKILL) }
        let bootstrap = String(try await broker.firstLine().dropFirst("GRIDHUB_BOOTSTRAP=".count))
        let listed = try await runCommand(GridHubPaths.executable, ["topics", "list"], environment: ["GRIDHUB_BOOTSTRAP": bootstrap])
        #expect(listed.status == 0, "\(listed.stderr)")
        let created = Set(listed.stdout.split(separator: "\n").compactMap { $0.split(separator: "\t").first.map(String.init) })
        #expect(created.count >= 30, "\(listed.stdout)")
        #expect(described == created, "described but not created: \(described.subtracting(created).sorted()); created but not described: \(created.subtracting(described).sorted())")
    }
}
