import Foundation
import GridHubCore
import GridHubKafka
import GridHubTesting
import Testing

/// CloudEvents both ways with a client we did not write: the CloudEvents SDK for Python (its Kafka
/// binding, over confluent_kafka) decodes the router's dispatches (binary mode), and a department's
/// feedback it writes in structured mode (`to_structured`) is applied by the router.
@Suite("CloudEvents SDK for Python", .timeLimit(.minutes(3)))
struct CloudEventsSDKTests {
    @Test("from_binary reads our dispatch with its attributes and data; feedback from to_structured is applied to the case")
    func bothWays() async throws {
        let world = try await RouterWorld()
        var report = Make.incident(.woodpecker, "WP-CE-1", item: "SR-001", at: Make.place(7000).coordinate, text: "垃圾成堆")
        report.reportedAt = Date()
        report.receivedAt = report.reportedAt
        let published = report
        let script = GridHubPaths.packageRoot.appendingPathComponent("Tests/Tools/cloudevents_sdk.py").path
        let python = try #require(GridHubPaths.which("python3"))
        try await world.withRouter { _ in
            try await world.publish([published], traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            let dispatches = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { !$0.isEmpty }
            let dispatch = try #require(dispatches.first)

            let decoded = try await runCommand(python, [script, "decode", world.cluster.bootstrapServers, Topics.dispatch(department: "urban-mgmt"), "1"], timeout: .seconds(90))
            #expect(decoded.status == 0, "\(decoded.stdout)\(decoded.stderr)")
            let line = try #require(decoded.stdout.split(separator: "\n").first)
            let event = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(event["type"] as? String == EventType.dispatch.rawValue && event["source"] as? String == CloudEvent.routerSource)
            let data = try #require(event["data"] as? [String: Any])
            #expect(data["dispatchId"] as? String == dispatch.dispatchId && data["caseId"] as? String == dispatch.caseId)

            let sent = try await runCommand(python, [script, "feedback", world.cluster.bootstrapServers, dispatch.dispatchId, "urban-mgmt", "accepted", "已签收（CloudEvents SDK）"],
                                            timeout: .seconds(60))
            #expect(sent.status == 0, "\(sent.stdout)\(sent.stderr)")
            let cases = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.caseId == dispatch.caseId && $0.status == .accepted } }
            let accepted = try #require(cases.last { $0.caseId == dispatch.caseId })
            #expect(accepted.status == .accepted && accepted.history.last?.dispatchId == dispatch.dispatchId, "\(accepted.history.last.map { "\($0)" } ?? "")")
            let refused = try await world.read(Topics.deadLetter, quiet: .seconds(1))
            #expect(refused.isEmpty, "nothing refused: \(refused.map { $0.headers.string(DeadLetterHeader.reason) ?? "" })")
        }
    }
}
