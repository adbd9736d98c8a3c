import Foundation
import GridHubCore
import GridHubKafka
import GridHubTesting
import Testing

/// `gridhub gateway` as a process over a running router, driven with curl (a client we did not write):
/// per-department keys, open dispatches listed and streamed (SSE), feedback posted and applied, another
/// department's feedback refused, Open311 GeoReport v2, and its OpenAPI document valid.
@Suite("gridhub gateway", .timeLimit(.minutes(3)))
struct GatewayTests {
    @Test("a department lists, streams and answers its own dispatches over HTTP; another department's answer is refused; Open311 serves the cases")
    func departmentOverHTTP() async throws {
        let world = try await RouterWorld()
        let curl = try #require(GridHubPaths.which("curl"))
        @Sendable func report(_ n: Int) -> Incident {
            // Two problems that cannot merge: different items of the same department, far apart.
            var r = Make.incident(.woodpecker, "WP-GW-\(n)", item: n == 1 ? "SR-001" : "SR-004", at: Make.place(n == 1 ? 3000 : 15000).coordinate, minutes: Double(n) * 400, text: "垃圾成堆，联系13812345678")
            r.reportedAt = Date().addingTimeInterval(Double(n) * 60)
            r.receivedAt = r.reportedAt
            return r
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-gateway-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var keys: [String: String] = [:], entries: [String] = []
        for department in ["urban-mgmt", "env"] {
            let made = try await runCommand(GridHubPaths.executable, ["gateway", "key", department])
            let lines = made.stdout.split(separator: "\n")
            keys[department] = try #require(lines.first { $0.hasPrefix("key: ") }).dropFirst(5).description
            entries.append(try #require(lines.first { $0.hasPrefix("entry: ") }).dropFirst(7).description)
        }
        #expect(!entries.joined().contains(keys["env"]!), "the keys file holds hashes")
        let keysFile = dir.appendingPathComponent("keys.json")
        try Data("{\"keys\": [\(entries.joined(separator: ","))]}".utf8).write(to: keysFile)
        let key = keys

        try await world.withRouter { _ in
            try await world.publish([report(1)])
            let first = try #require(try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { !$0.isEmpty }.first)
            let gateway = try ChildProcess(GridHubPaths.executable, ["gateway", "--listen", "127.0.0.1:0", "--keys", keysFile.path], environment: [
                "GRIDHUB_DATABASE_URL": world.databaseURL, "GRIDHUB_BOOTSTRAP": world.cluster.bootstrapServers, "GRIDHUB_LOG_LEVEL": "warning",
                "GRIDHUB_REFERENCE_DIR": GridHubPaths.packageRoot.appendingPathComponent("Deploy/reference").path,
            ], currentDirectory: GridHubPaths.packageRoot)
            defer { gateway.signal(SIGKILL) }
            let base = "http://" + (try await gateway.firstLine(timeout: .seconds(60))).dropFirst("GRIDHUB_LISTEN=".count)
            func get(_ path: String, key: String? = nil) async throws -> (code: String, body: String) {
                let out = dir.appendingPathComponent("body-\(UUID().uuidString.prefix(6))").path
                let r = try await runCommand(curl, ["-sS", "-o", out, "-w", "%{http_code}"] + (key.map { ["-H", "X-Api-Key: \($0)"] } ?? []) + [base + path])
                return (r.stdout, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
            }
            func post(_ body: String, key: String) async throws -> String {
                try await runCommand(curl, ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer \(key)", "-H", "Content-Type: application/json",
                                            "--data", body, base + "/v1/feedback"]).stdout
            }

            // Listed, for its department only.
            #expect(try await get("/v1/dispatches").code == "401")
            #expect(try await get("/v1/dispatches", key: "not-a-key").code == "401")
            let mine = try await get("/v1/dispatches", key: key["urban-mgmt"])
            #expect(mine.code == "200" && mine.body.contains(first.dispatchId) && mine.body.contains("138****5678") && !mine.body.contains("13812345678"), "\(mine)")
            let theirs = try await get("/v1/dispatches", key: key["env"])
            #expect(theirs.code == "200" && !theirs.body.contains(first.dispatchId))

            // Streamed as they come.
            let stream = try ChildProcess(curl, ["-sS", "-N", "-H", "X-Api-Key: \(key["urban-mgmt"]!)", base + "/v1/dispatches/stream"])
            defer { stream.signal(SIGKILL) }
            #expect(try await stream.firstLine(timeout: .seconds(30)).hasPrefix(": streaming gridhub.dispatch.urban-mgmt.v1"))
            try await world.publish([report(2)])
            // (Records of the department's topic come partition by partition: the new one is the one that is not the first.)
            let second = try #require(try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) {
                $0.contains { $0.dispatchId != first.dispatchId }
            }.first { $0.dispatchId != first.dispatchId })
            #expect(try await waitUntil(timeout: .seconds(30)) { stream.outputLines.contains { $0.hasPrefix("data: ") && $0.contains(second.dispatchId) } },
                    "\(stream.outputLines)")
            #expect(stream.outputLines.contains("event: dispatch"))

            // Answered: applied for the department's own dispatch; another department's answer is refused.
            #expect(try await post("{\"dispatchId\": \"\(first.dispatchId)\", \"status\": \"accepted\", \"note\": \"已签收\"}", key: key["urban-mgmt"]!) == "202")
            #expect(try await post("{\"dispatchId\": \"\(second.dispatchId)\", \"status\": \"resolved\"}", key: key["env"]!) == "202")
            #expect(try await post("{\"dispatchId\": \"\(first.dispatchId)\", \"status\": \"finished\"}", key: key["urban-mgmt"]!) == "400")
            let cases = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.caseId == first.caseId && $0.status == .accepted } }
            #expect(cases.last { $0.caseId == first.caseId }?.status == .accepted)
            let refused = try await world.waitFor(Topics.deadLetter, as: Feedback.self) { !$0.isEmpty }
            #expect(refused.first?.dispatchId == second.dispatchId && refused.first?.department == "env")
            #expect(try await world.read(Topics.cases, quiet: .seconds(1)).compactMap { try? GridHubJSON.decoder().decode(Case.self, from: Data($0.value)) }
                .last { $0.caseId == second.caseId }?.status == .dispatched, "another department cannot resolve it")

            // Open311 GeoReport v2.
            let services = try await get("/open311/v2/services.json")
            let list = try #require(try JSONSerialization.jsonObject(with: Data(services.body.utf8)) as? [[String: Any]])
            #expect(services.code == "200" && list.count == 150 && list.first?["service_code"] as? String == "SR-001")
            let requests = try await get("/open311/v2/requests.json?service_code=SR-001&status=open")
            #expect(requests.body.contains(first.caseId) && !requests.body.contains(second.caseId), "\(requests.body.prefix(300))")
            let open = try await get("/open311/v2/requests.json?status=open")
            #expect(open.body.contains(first.caseId) && open.body.contains(second.caseId))
            #expect(!(try await get("/open311/v2/requests.json?status=closed")).body.contains(first.caseId))
            let one = try await get("/open311/v2/requests/\(first.caseId).json")
            let item = try #require((try JSONSerialization.jsonObject(with: Data(one.body.utf8)) as? [[String: Any]])?.first)
            #expect(item["service_request_id"] as? String == first.caseId && item["status"] as? String == "open" && item["lat"] is Double)
            #expect(try await get("/open311/v2/requests/no-such.json").code == "404")

            // The API's description, served and valid OpenAPI.
            let document = try await get("/openapi.yaml")
            #expect(document.code == "200" && document.body.hasPrefix("openapi: 3.1"))
            let specFile = dir.appendingPathComponent("gateway.openapi.yaml")
            try Data(document.body.utf8).write(to: specFile)
            let valid = try await runCommand(try #require(GridHubPaths.which("python3")), ["-c", """
                from openapi_spec_validator import validate
                from openapi_spec_validator.readers import read_from_filename
                d, _ = read_from_filename('\(specFile.path)'); validate(d); print('valid')
                """])
            #expect(valid.stdout.contains("valid"), "\(valid.stderr)")
        }
    }
}
