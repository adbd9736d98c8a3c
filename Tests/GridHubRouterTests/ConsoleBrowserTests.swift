import Foundation
import GridHubCore
import GridHubKafka
import GridHubTesting
import Testing

/// The console in a real browser: `gridhub console` as a process over a running router's database and
/// broker, driven by headless Chromium (Tests/Browser/console_browser.py, Selenium) as an operator.
@Suite("gridhub console in a browser", .timeLimit(.minutes(4)))
struct ConsoleBrowserTests {
    @Test("an operator logs in, sees the grids coloured by open and overdue cases, opens an overdue case and supervises it, assigns an unroutable one, reads the dead letters; a town's operator sees only the town")
    func operatorWorkflow() async throws {
        let world = try await RouterWorld()
        let place = Make.place(9500)
        // Reported now, so that they fall in the console's assessment period.
        func now(_ incident: Incident) -> Incident {
            var i = incident
            i.reportedAt = Date()
            i.receivedAt = i.reportedAt
            return i
        }
        let overdue = now(Make.incident(.woodpecker, "WP-CONSOLE-1", item: "SR-001", at: place.coordinate, text: "垃圾成堆，联系13812345678"))
        var gate = now(Make.incident(.hotline12345, "JY-CONSOLE-2", item: nil, at: Make.place(9000).coordinate, method: .addressMatch, text: "邻居家装修纠纷，要求调解赔偿"))
        // Its address is the gate of an estate whose buildings lie up to 150 m away.
        gate.location.address = Make.place(9000).fullAddress
        gate.location.positioning.extentMeters = 150
        let unroutable = gate
        // Another problem at the same door: a case of its own, which says it was kept apart from the first.
        let neighbour = now(Make.incident(.woodpecker, "WP-CONSOLE-3", item: "SR-060", at: place.coordinate.offset(metres: 10, bearing: 90), text: "楼道里电动车飞线充电"))
        let grid = try #require(overdue.location.gridCode)
        let otherTown = try #require(Fixtures.reference.towns.first { !grid.hasPrefix($0.code) }).code

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("console-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { if ProcessInfo.processInfo.environment["GRIDHUB_KEEP_SCREENSHOTS"] == nil { try? FileManager.default.removeItem(at: directory) } else { print("screenshots in \(directory.path)") } }
        // The users file, made with `gridhub console passwd` as ops would.
        var entries: [String] = []
        for (name, password, scope) in [("zhang", "city-pass-1", "city"), ("wang", "town-pass-2", otherTown)] {
            let made = try await runCommand(GridHubPaths.executable, ["console", "passwd", name, "--scope", scope], stdin: Data((password + "\n").utf8))
            #expect(made.status == 0, "\(made.stderr)")
            entries.append(made.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(!entries.joined().contains("city-pass-1"), "the users file holds hashes, not passwords")
        let usersFile = directory.appendingPathComponent("users.json")
        try Data("{\"users\": [\(entries.joined(separator: ","))]}".utf8).write(to: usersFile)

        try await world.withRouter { _ in
            try await world.publish([overdue, unroutable])
            var cases = try await world.waitFor(Topics.cases, as: Case.self) { cs in
                cs.contains { $0.status == .dispatched && $0.department == "urban-mgmt" } && cs.contains { $0.department == "command-center" }
            }
            let dispatched = try #require(cases.last { $0.department == "urban-mgmt" }).caseId
            let triage = try #require(cases.last { $0.department == "command-center" }).caseId
            try await world.publish([neighbour])
            cases = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.reports.first?.recordId == "WP-CONSOLE-3" } }
            let apart = try #require(cases.last { $0.reports.first?.recordId == "WP-CONSOLE-3" }).caseId

            // A dead letter, as an adapter writes one, for the dead letters page.
            let headers = DeadLetterHeader.headers(original: [], stage: "adapter.hotline12345", reason: "XML not well-formed at character 84",
                                                   source: "POST /hotline12345/workorders", time: Date())
            try await world.send(ProducerRecord(topic: Topics.deadLetter, value: Array("<GDXX>".utf8), headers: headers.map { KafkaHeader(key: $0.key, value: $0.value) }))

            // The console judges overdue by the router's clock; two days on, the 24-hour item is overdue.
            let console = try ChildProcess(GridHubPaths.executable, ["console", "--listen", "127.0.0.1:0", "--users", usersFile.path], environment: [
                "GRIDHUB_DATABASE_URL": world.databaseURL, "GRIDHUB_BOOTSTRAP": world.cluster.bootstrapServers,
                "GRIDHUB_CLOCK_OFFSET_SECONDS": "172800", "GRIDHUB_LOG_LEVEL": "warning",
                "GRIDHUB_REFERENCE_DIR": GridHubPaths.packageRoot.appendingPathComponent("Deploy/reference").path,
            ])
            let listening = try await console.firstLine(timeout: .seconds(60))
            #expect(listening.hasPrefix("GRIDHUB_LISTEN="), "\(listening) \(console.standardError)")
            let base = "http://" + listening.dropFirst("GRIDHUB_LISTEN=".count)
            let (status, _) = try await httpGet(base + "/readyz")
            #expect(status == 200)

            let script = GridHubPaths.packageRoot.appendingPathComponent("Tests/Browser/console_browser.py").path
            let browser = try await runCommand("/usr/bin/python3", [script, base, "zhang", "city-pass-1", "wang", "town-pass-2", dispatched, triage,
                                                                   "WP-CONSOLE-1", grid, directory.path, apart], timeout: .seconds(180))
            #expect(browser.status == 0, "\(browser.stdout)\n\(browser.stderr)")
            #expect(browser.stdout.contains("all checks passed"), "\(browser.stdout)")
            #expect(!console.standardError.contains("13812345678"), "the console's log masks phones")
            console.signal(SIGTERM)
            #expect(try await console.waitForExit(timeout: .seconds(30)) == 0, "\(console.standardError)")
        }
    }
}
