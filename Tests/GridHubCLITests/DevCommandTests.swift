import Foundation
import GridHubCore
import GridHubRuntime
import GridHubTesting
import Testing

/// `gridhub dev` run as a process, as a newcomer runs it.
@Suite("gridhub dev", .serialized, .timeLimit(.minutes(6)))
struct DevCommandTests {
    @Test("the simulated city runs end to end: cases opened and merged, dispatches answered, statuses delivered, only malformed inputs dead-lettered, decoded records valid, clean exit")
    func smoke() async throws {
        let state = URL(fileURLWithPath: "/tmp/gridhub-dev-test-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: state) }
        let dev = try ChildProcess(GridHubPaths.executable, [
            "dev", "--rate", "5", "--speed", "300", "--no-summary", "--state-dir", state.path,
        ], removing: ["GRIDHUB_DATABASE_URL"])
        let first = try await dev.firstLine(timeout: .seconds(60))
        #expect(first.hasPrefix("GRIDHUB_BOOTSTRAP="), "first line: \(first)")
        let bootstrap = String(first.dropFirst("GRIDHUB_BOOTSTRAP=".count))
        // Its private PostgreSQL starts first (slower on a busy machine); the city runs once cases appear.
        let casesDeadline = ContinuousClock.now + .seconds(150)
        var flowing: ContinuousClock.Instant?
        while flowing == nil && ContinuousClock.now < casesDeadline {
            try await Task.sleep(for: .seconds(2))
            let cases = try await runCommand(GridHubPaths.executable, ["tail", "gridhub.cases.v1", "--from-beginning", "--no-follow", "--json"],
                                             environment: ["GRIDHUB_BOOTSTRAP": bootstrap], timeout: .seconds(60))
            if !cases.stdout.isEmpty { flowing = .now }
        }
        let started = try #require(flowing, "no case on gridhub.cases.v1 within 150 s: \(dev.standardError.suffix(2_000))")

        // While it runs (until Ctrl-C, so the reads never race its end: the broker lives in `dev`), an
        // operator's client reads the records it wrote.
        try await Task.sleep(for: .seconds(5))
        let schemaDir = GridHubPaths.packageRoot.appendingPathComponent("Schemas").path
        let documents = state.appendingPathComponent("documents")
        try FileManager.default.createDirectory(at: documents, withIntermediateDirectories: true)
        var written = 0
        for (topic, kind) in [("gridhub.cases.v1", "case"), ("gridhub.incidents.v1", "incident"), ("gridhub.status.hotline12345.v1", "status"), ("gridhub.feedback.v1", "feedback")] {
            let tail = try await runCommand(GridHubPaths.executable, ["tail", topic, "--from-beginning", "--no-follow", "--json"], environment: ["GRIDHUB_BOOTSTRAP": bootstrap],
                                            timeout: .seconds(120))
            #expect(tail.status == 0, "tail \(topic): \(tail.stderr)")
            let lines = tail.stdout.split(separator: "\n").prefix(40)
            #expect(!lines.isEmpty, "nothing on \(topic)")
            for (i, line) in lines.enumerated() {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let data = try JSONSerialization.data(withJSONObject: try #require(object["data"] as? [String: Any]))
                try data.write(to: documents.appendingPathComponent("\(kind)-\(i).json"))
                written += 1
            }
        }
        let validation = try await runCommand("/usr/bin/python3", [GridHubPaths.packageRoot.appendingPathComponent("Tests/Tools/validate_schemas.py").path, schemaDir, documents.path])
        #expect(validation.status == 0, "records that do not validate against Schemas/: \(validation.stdout.prefix(2_000))")
        #expect(written > 40)

        // Personal data: phones written into reports' texts reach the incidents topic (the router needs
        // the reports as given), but no case, status, log line or dispatch for a department that does
        // not call citizens back holds one unmasked.
        // Not digits glued to a letter or after a decimal point: a longitude such as 120.13289547076 and
        // the last group of a UUID such as …-e15292619878 are not phones (the masker reads them so too).
        let phonePattern = try NSRegularExpression(pattern: "(?<![0-9A-Za-z.])(1[3-9][0-9]{9}|0510-?[0-9]{8})(?![0-9A-Za-z])")
        func clearPhones(_ text: String) -> [String] {
            phonePattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { Range($0.range, in: text).map { String(text[$0]) } }
        }
        func everything(_ topic: String) async throws -> String {
            try await runCommand(GridHubPaths.executable, ["tail", topic, "--from-beginning", "--no-follow", "--json"], environment: ["GRIDHUB_BOOTSTRAP": bootstrap],
                                 timeout: .seconds(120)).stdout
        }
        let incidentsText = try await everything("gridhub.incidents.v1")
        #expect(incidentsText.contains("联系电话") || incidentsText.contains("打我电话"), "the city wrote no phone into a report's text")
        let routing = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: GridHubPaths.packageRoot.appendingPathComponent("Deploy/routing.json"))) as? [String: Any])
        let disclosed = Set(routing["personalDataFor"] as? [String] ?? [])
        let reference = try ReferenceLocation.load(from: GridHubPaths.packageRoot.appendingPathComponent("Deploy/reference"))
        var masked: [String] = ["gridhub.cases.v1"] + Topics.sourceSystems.map { "gridhub.status.\($0).v1" }
        masked += reference.departments.map(\.code).filter { !disclosed.contains($0) }.map(Topics.dispatch(department:))
        for topic in masked {
            let found = clearPhones(try await everything(topic))
            #expect(found.isEmpty, "\(topic) holds unmasked phones: \(found.prefix(5))")
        }

        // 35 s of the city once it runs (about 3 simulated hours), and on a slow machine until every
        // source has been told something (up to two minutes more), then Ctrl-C.
        try await Task.sleep(until: started + .seconds(35))
        let told = try await waitUntil(timeout: .seconds(120), every: .seconds(2)) {
            for source in Topics.sourceSystems where (try? await everything("gridhub.status.\(source).v1"))?.isEmpty ?? true { return false }
            return true
        }
        #expect(told, "a source heard nothing in \(ContinuousClock.now - started) of the city")
        try await Task.sleep(for: .seconds(5))  // the enforcement double imports the status files it is sent every 3 s
        dev.signal(SIGINT)
        let status = try await dev.waitForExit(timeout: .seconds(120))
        #expect(status == 0, "stderr: \(dev.standardError.suffix(2_000))")
        let output = dev.outputLines
        func numbers(_ prefix: String) -> [String: Int] {
            guard let line = output.last(where: { $0.hasPrefix(prefix) }) else { return [:] }
            let words = line.dropFirst(prefix.count).split(separator: " ")
            var result: [String: Int] = [:]
            var i = 0
            while i + 1 < words.count {
                if let n = Int(words[i + 1]) { result[String(words[i])] = n; i += 2 } else { i += 1 }
            }
            return result
        }
        let incidents = numbers("incidents")
        for source in Topics.sourceSystems { #expect((incidents[source] ?? 0) > 0, "no incidents from \(source): \(incidents)") }
        let cases = numbers("cases")
        #expect((cases["opened"] ?? 0) > 20, "\(cases)")
        #expect((output.last { $0.hasPrefix("cases") } ?? "").contains("merged reports"), "\(output)")
        let caseLine = output.last { $0.hasPrefix("cases") } ?? ""
        let mergedCount = Int(caseLine.components(separatedBy: "merged reports ").last?.split(separator: " ").first ?? "0") ?? 0
        #expect(mergedCount > 0, "no report was merged into a case: \(caseLine)")
        let feedback = numbers("feedback")
        #expect((feedback["resolved"] ?? 0) > 0 && (feedback["accepted"] ?? 0) > 0, "\(feedback)")
        let statuses = numbers("status → source")
        for source in Topics.sourceSystems { #expect((statuses[source] ?? 0) > 0, "no status for \(source): \(statuses)") }
        let sent = numbers("city sent")
        let deadLetters = numbers("dead letters")
        // A broken export written just before the Ctrl-C may still be in the inbox, unread: its dead
        // letter comes at the next start.
        let malformed = (sent["malformed.hotline12345"] ?? 0) + (sent["rejected.elink"] ?? 0) + (sent["malformed.enforcement"] ?? 0)
            - (sent["malformed.enforcement.unread"] ?? 0)
        let adapterLetters = deadLetters.filter { $0.key.hasPrefix("adapter.") }.values.reduce(0, +)
        #expect(adapterLetters == malformed, "dead letters \(deadLetters) vs simulated malformed inputs \(malformed)")
        // The desks send only feedback that fits (an answer to a dispatch the router has just superseded
        // included): the router dead-letters none of it.
        let routerLetters = (try? String(contentsOf: state.appendingPathComponent("gridhub.log"), encoding: .utf8))?
            .split(separator: "\n").filter { $0.contains("record dead-lettered") } ?? []
        #expect((deadLetters["router"] ?? 0) == 0 && routerLetters.isEmpty, "\(deadLetters): \(routerLetters.joined(separator: "\n"))")
        #expect(deadLetters.keys.allSatisfy { $0 == "total" || $0 == "router" || $0.hasPrefix("adapter.") }, "\(deadLetters)")
        #expect(output.contains { $0.contains("all signed: true") })
        // Each source received what happened to its reports, in its own way.
        let replies = Int(output.last { $0.hasPrefix("app replies") }?.split(separator: " ").dropFirst(2).first ?? "0") ?? 0
        #expect(replies > 0, "the Woodpecker double received no replies")
        let outboxLines = Int(output.last { $0.hasPrefix("outbox") }?.split(separator: " ").dropFirst(1).first ?? "0") ?? 0
        #expect(outboxLines > 0, "the enforcement double imported no status lines")

        let log = (try? String(contentsOf: state.appendingPathComponent("gridhub.log"), encoding: .utf8)) ?? ""
        #expect(clearPhones(log).isEmpty, "the log holds unmasked phones: \(clearPhones(log).prefix(5))")

        // Nothing left running: the private PostgreSQL is stopped.
        let leftovers = try await runCommand("/usr/bin/pgrep", ["-f", state.path])
        #expect(leftovers.stdout.isEmpty, "processes left behind: \(leftovers.stdout)")
    }

    /// Waits for a stdout line starting with `prefix`.
    static func line(_ dev: ChildProcess, startingWith prefix: String, timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = dev.outputLines.first(where: { $0.hasPrefix(prefix) }) { return line }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("no line \(prefix)… within \(timeout); stderr: \(dev.standardError.suffix(2_000))")
    }

    /// Whether a PostgreSQL server answers at `url` (postgres://user@host:port/db).
    static func answers(_ url: String) async throws -> Bool {
        try await runCommand("/usr/bin/psql", [url, "-tAc", "SELECT 1"], timeout: .seconds(20)).status == 0
    }

    @Test("in a folder only its owner may enter: kill -9 leaves no PostgreSQL behind, the next run starts, and a second Ctrl-C stops at once")
    func crashAndPrivateFolder() async throws {
        let owner = URL(fileURLWithPath: "/tmp/gridhub-dev-private-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: owner, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let state = owner.appendingPathComponent("state")
        defer {
            // The cluster lives where the postgres user can enter (under /var/tmp), linked from the state folder.
            if let cluster = try? FileManager.default.destinationOfSymbolicLink(atPath: state.appendingPathComponent("postgres").path) {
                try? FileManager.default.removeItem(atPath: cluster)
            }
            try? FileManager.default.removeItem(at: owner)
        }
        let arguments = ["dev", "--rate", "5", "--speed", "300", "--no-summary", "--state-dir", state.path]

        let first = try ChildProcess(GridHubPaths.executable, arguments, removing: ["GRIDHUB_DATABASE_URL"])
        let url = String(try await Self.line(first, startingWith: "GRIDHUB_DATABASE_URL=", timeout: .seconds(150)).dropFirst("GRIDHUB_DATABASE_URL=".count))
        #expect(try await Self.answers(url))
        first.signal(SIGKILL)
        _ = try? await first.waitForExit(timeout: .seconds(10))
        let deadline = ContinuousClock.now + .seconds(20)
        var stillUp = true
        while stillUp && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(500))
            stillUp = try await Self.answers(url)
        }
        #expect(!stillUp, "the private PostgreSQL of a killed gridhub dev still answers at \(url)")

        let second = try ChildProcess(GridHubPaths.executable, arguments, removing: ["GRIDHUB_DATABASE_URL"])
        let secondURL = String(try await Self.line(second, startingWith: "GRIDHUB_DATABASE_URL=", timeout: .seconds(150)).dropFirst("GRIDHUB_DATABASE_URL=".count))
        // A third one on the same folder is refused: it would have emptied the running one's state.
        let third = try await runCommand(GridHubPaths.executable, arguments, removing: ["GRIDHUB_DATABASE_URL"], timeout: .seconds(60))
        #expect(third.status != 0 && third.stderr.contains("another gridhub dev (pid \(second.pid))"), "\(third.status) \(third.stderr.suffix(500))")
        #expect(try await Self.answers(secondURL), "the running one's PostgreSQL survived the refused start")
        try await Task.sleep(for: .seconds(3))
        second.signal(SIGINT)
        try await Task.sleep(for: .milliseconds(300))
        second.signal(SIGINT)
        let asked = ContinuousClock.now
        let status = try await second.waitForExit(timeout: .seconds(60))
        #expect(ContinuousClock.now - asked < .seconds(20), "a second Ctrl-C should stop it at once")
        #expect(!second.wasSignalled, "it should end by itself, status \(status); stderr: \(second.standardError.suffix(2_000))")
        #expect(try await !Self.answers(secondURL), "PostgreSQL left running after a clean stop")
    }

    @Test("on a broker of another process that goes away for good, one Ctrl-C still stops gridhub dev in bounded time and leaves no PostgreSQL behind (it once ran on for minutes)")
    func brokerGoneThenCtrlC() async throws {
        let broker = try ChildProcess(GridHubPaths.executable, ["broker", "--brokers", "1"], environment: ["GRIDHUB_LOG_LEVEL": "warning"])
        defer { broker.signal(SIGKILL) }
        let bootstrap = String(try await broker.firstLine().dropFirst("GRIDHUB_BOOTSTRAP=".count))
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-dev-gone-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: state) }
        let dev = try ChildProcess(GridHubPaths.executable, ["dev", "--rate", "5", "--speed", "300", "--no-summary", "--state-dir", state.path, "--bootstrap", bootstrap],
                                   removing: ["GRIDHUB_DATABASE_URL"])
        defer { dev.signal(SIGKILL) }
        let url = String(try await Self.line(dev, startingWith: "GRIDHUB_DATABASE_URL=", timeout: .seconds(150)).dropFirst("GRIDHUB_DATABASE_URL=".count))
        try await Task.sleep(for: .seconds(8))
        broker.signal(SIGKILL)
        _ = try? await broker.waitForExit(timeout: .seconds(10))
        try await Task.sleep(for: .seconds(5))
        dev.signal(SIGINT)
        let asked = ContinuousClock.now
        _ = try await dev.waitForExit(timeout: .seconds(90))
        // The graceful limit (30 s), then at most 20 s for cancelled services, then it exits by itself.
        #expect(ContinuousClock.now - asked < .seconds(60), "one Ctrl-C took \(ContinuousClock.now - asked)")
        #expect(!dev.wasSignalled)
        var stillUp = true
        let deadline = ContinuousClock.now + .seconds(20)
        while stillUp && ContinuousClock.now < deadline {
            stillUp = try await Self.answers(url)
            if stillUp { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(!stillUp, "PostgreSQL left running")
    }
}
