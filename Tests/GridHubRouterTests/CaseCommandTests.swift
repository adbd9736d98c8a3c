import Foundation
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubTesting
import Testing

/// `gridhub case …` run as a process, as a command-centre operator runs it, against a running router.
@Suite("gridhub case", .timeLimit(.minutes(3)))
struct CaseCommandTests {
    @Test("applied: exit 0 and the case as it is now; refused: exit 1 and the router's reason; an unknown case is refused; no router: exit 2 after the timeout")
    func answers() async throws {
        let world = try await RouterWorld()
        let order = Make.incident(.woodpecker, "WP-CLI-1", item: "SR-001", at: Make.place(9500).coordinate, text: "垃圾成堆")
        let env = ["GRIDHUB_BOOTSTRAP": world.cluster.bootstrapServers, "GRIDHUB_LOG_LEVEL": "warning"]
        let caseId = try await world.withRouter { _ -> String in
            try await world.publish([order])
            let dispatched = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.status == .dispatched } }
            let caseId = try #require(dispatched.last?.caseId)
            let due = "2031-06-01T18:00:00+08:00"
            let applied = try await runCommand(GridHubPaths.executable, ["case", "due", caseId, "--at", due, "--by", "zhihui-li"], environment: env)
            #expect(applied.status == 0, "stdout: \(applied.stdout) stderr: \(applied.stderr)")
            #expect(applied.stdout.contains("applied: case \(caseId) is dispatched at urban-mgmt, due 2031-06-01T18:00:00+08:00"), "\(applied.stdout)")
            let refused = try await runCommand(GridHubPaths.executable, ["case", "assign", caseId, "--department", "env"], environment: env)
            #expect(refused.status == 1 && refused.stdout.contains("refused:") && refused.stdout.contains("reassign moves"), "\(refused.stdout)")
            let unknown = try await runCommand(GridHubPaths.executable, ["case", "close", "no-such-case", "--reason", "测试"], environment: env)
            #expect(unknown.status == 1 && unknown.stdout.contains("no case no-such-case"), "\(unknown.stdout)")
            let bad = try await runCommand(GridHubPaths.executable, ["case", "due", caseId, "--at", "tomorrow"], environment: env)
            #expect(bad.status != 0 && bad.stderr.contains("RFC 3339"))
            // 督办: applied; the command and the alert it raised are readable with gridhub tail, the caller's phone masked.
            let pressed = try await runCommand(GridHubPaths.executable, ["case", "supervise", caseId, "--message", "请今日办结，联系人13812345678"], environment: env)
            #expect(pressed.status == 0, "\(pressed.stdout)")
            // (The alert is published beside the case's record, on another topic: it may come a moment later.)
            var alerts = (status: Int32(0), stdout: "", stderr: "")
            #expect(try await waitUntil(timeout: .seconds(20)) {
                alerts = try await runCommand(GridHubPaths.executable, ["tail", Topics.alerts, "--from-beginning", "--no-follow"], environment: env)
                return alerts.stdout.contains("ALERT supervised")
            })
            #expect(alerts.stdout.contains("ALERT supervised case=\(caseId) urban-mgmt/village"), "\(alerts.stdout)")
            #expect(alerts.stdout.contains("138****5678") && !alerts.stdout.contains("13812345678"))
            // The department working on the case reads the 督办 on its own topic, beside its work order.
            let desk = try await runCommand(GridHubPaths.executable, ["tail", Topics.dispatch(department: "urban-mgmt"), "--from-beginning", "--no-follow"], environment: env)
            #expect(desk.stdout.contains("ALERT supervised case=\(caseId)") && !desk.stdout.contains("13812345678"), "\(desk.stdout)")
            let commands = try await runCommand(GridHubPaths.executable, ["tail", Topics.commands, "--from-beginning", "--no-follow"], environment: env)
            #expect(commands.stdout.contains("COMMAND due case=\(caseId) by=zhihui-li"), "\(commands.stdout)")
            // A report from a source whose clock runs three days ahead (as a gridhub dev run's simulated time does).
            var ahead = Make.incident(.hotline12345, "JY-CLI-AHEAD", item: "SR-001", at: Make.place(9700).coordinate, text: "小区门口垃圾成堆")
            ahead.reportedAt = Date().addingTimeInterval(3 * 86_400)
            ahead.receivedAt = ahead.reportedAt
            try await world.publish([ahead])
            _ = try await world.waitFor(Topics.cases, as: Case.self) { $0.contains { $0.reports.first?.recordId == "JY-CLI-AHEAD" } }
            return caseId
        }
        let silent = try await runCommand(GridHubPaths.executable, ["case", "supervise", caseId, "--message", "请加快", "--timeout", "2"], environment: env)
        #expect(silent.status == 2 && silent.stdout.contains("no answer from the router"), "\(silent.stdout)")

        // gridhub stats reads the same cases from the router's database.
        let db = ["GRIDHUB_DATABASE_URL": world.databaseURL, "GRIDHUB_REFERENCE_DIR": GridHubPaths.packageRoot.appendingPathComponent("Deploy/reference").path,
                  "GRIDHUB_LOG_LEVEL": "warning"]
        let period = ["--from", "2020-01-01", "--to", RFC3339.format(Date().addingTimeInterval(86_400))]
        let stats = try await runCommand(GridHubPaths.executable, ["stats", "--json"] + period, environment: db)
        #expect(stats.status == 0, "\(stats.stderr)")
        struct Output: Decodable { var cases: Int; var by: String; var rows: [Assessment.Row] }
        let output = try GridHubJSON.decoder().decode(Output.self, from: Data(stats.stdout.utf8))
        #expect(output.cases == 1 && output.by == "department")
        let urban = try #require(output.rows.first { $0.group == "urban-mgmt" })
        #expect(urban.cases == 1 && urban.dispatched == 1 && urban.reports == 1 && urban.overdue == 0)
        let csv = try await runCommand(GridHubPaths.executable, ["stats", "--csv", "--by", "source"] + period, environment: db)
        #expect(csv.stdout.hasPrefix("group,name,cases,reports,dispatched,responded_in_time,response_rate") && csv.stdout.contains("\nwoodpecker,"), "\(csv.stdout)")
        let table = try await runCommand(GridHubPaths.executable, ["stats", "--by", "town"] + period, environment: db)
        #expect(table.status == 0 && table.stdout.contains("1 cases first reported") && table.stdout.contains("response_rate"))
        // Without --to, a case first reported after this machine's time is counted, and a note says so.
        let open = try await runCommand(GridHubPaths.executable, ["stats", "--json", "--from", "2020-01-01"], environment: db)
        #expect(open.status == 0, "\(open.stderr)")
        let openOutput = try GridHubJSON.decoder().decode(Output.self, from: Data(open.stdout.utf8))
        #expect(openOutput.cases == 2, "\(open.stdout)")
        #expect(open.stderr.contains("note: 1 case(s) first reported after this machine's time"), "\(open.stderr)")
        // The table's columns line up as a terminal shows them: a name in 汉字 takes two columns a character.
        let rows = table.stdout.split(separator: "\n").dropFirst()
        let casesColumn = rows.map { row in
            row.range(of: "cases").map { String(row[..<$0.lowerBound]).terminalColumns } ?? row.range(of: "  1  ").map { String(row[..<$0.lowerBound]).terminalColumns + 2 } ?? -1
        }
        #expect(rows.count == 2 && Set(casesColumn).count == 1 && rows.last?.contains("街道") == true, "\(casesColumn) \(table.stdout)")
        let wrong = try await runCommand(GridHubPaths.executable, ["stats", "--by", "moon"], environment: db)
        #expect(wrong.status != 0 && wrong.stderr.contains("--by must be one of"))
    }
}
