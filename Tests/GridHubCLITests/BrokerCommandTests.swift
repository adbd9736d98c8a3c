import Foundation
import GridHubCore
import GridHubTesting
import Testing

/// `gridhub broker`, `topics` and `tail` run as processes, as an operator runs them.
@Suite("gridhub broker, topics and tail", .serialized, .timeLimit(.minutes(3)))
struct BrokerCommandTests {
    static func departments() throws -> [Department] {
        let text = try String(contentsOf: GridHubPaths.packageRoot.appendingPathComponent("Deploy/reference/departments.csv"), encoding: .utf8)
        return try Department.parse(csv: text)
    }

    /// Starts `gridhub broker` and returns it with its bootstrap address.
    static func startBroker(_ extra: [String] = []) async throws -> (ChildProcess, String) {
        let broker = try ChildProcess(GridHubPaths.executable, ["broker"] + extra)
        let first = try await broker.firstLine()
        #expect(first.hasPrefix("GRIDHUB_BOOTSTRAP="), "first stdout line was \(first)")
        return (broker, String(first.dropFirst("GRIDHUB_BOOTSTRAP=".count)))
    }

    @Test("prints its bootstrap line first, serves kcat -L with every contract topic, exits 0 on SIGTERM")
    func brokerLifecycle() async throws {
        let (broker, bootstrap) = try await Self.startBroker(["--brokers", "3"])
        #expect(bootstrap.split(separator: ",").count == 3)
        let kcat = try #require(GridHubPaths.which("kcat"), "kcat is not installed (apt-get install kcat)")
        let listing = try await runCommand(kcat, ["-b", bootstrap, "-L", "-J"])
        #expect(listing.status == 0, "kcat -L failed: \(listing.stderr)")
        let metadata = try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [String: Any]
        let topics = (metadata?["topics"] as? [[String: Any]] ?? []).compactMap { $0["topic"] as? String }
        let expected = Topics.all(departments: try Self.departments())
        #expect(expected.contains("gridhub.dispatch.command-center.v1"))
        #expect(expected.contains("gridhub.dispatch.urban-mgmt.v1"))
        #expect(Set(expected).isSubset(of: Set(topics)), "missing: \(Set(expected).subtracting(topics).sorted())")
        #expect((metadata?["brokers"] as? [Any])?.count == 3)

        broker.signal(SIGTERM)
        let status = try await broker.waitForExit(timeout: .seconds(20))
        #expect(status == 0)
        #expect(!broker.wasSignalled)
    }

    @Test("topics create is harmless on a broker that has every topic, and topics list shows them")
    func topicsCreateIdempotent() async throws {
        let (broker, bootstrap) = try await Self.startBroker(["--brokers", "1"])
        defer { broker.signal(SIGKILL) }
        let env = ["GRIDHUB_BOOTSTRAP": bootstrap]
        for _ in 0..<2 {
            let created = try await runCommand(GridHubPaths.executable, ["topics", "create"], environment: env)
            #expect(created.status == 0, "stderr: \(created.stderr)")
            #expect(created.stdout.contains("0 created"))
        }
        // Settings for a three-broker cluster are checked before anything is sent.
        let unwritable = try await runCommand(GridHubPaths.executable, ["topics", "create", "--replication-factor", "3", "--min-insync-replicas", "4"], environment: env)
        #expect(unwritable.status != 0 && unwritable.stderr.contains("would refuse every write"), "\(unwritable.stderr)")
        let replicated = try await runCommand(GridHubPaths.executable, ["topics", "create", "--replication-factor", "1", "--min-insync-replicas", "1"], environment: env)
        #expect(replicated.status == 0 && replicated.stdout.contains("0 created"), "\(replicated.stderr)")
        let listed = try await runCommand(GridHubPaths.executable, ["topics", "list"], environment: env)
        #expect(listed.status == 0)
        #expect(listed.stdout.contains("gridhub.incidents.v1\t6"))
        #expect(listed.stdout.contains("gridhub.deadletter.v1\t6"))
    }

    @Test("tail and topics refuse to start without GRIDHUB_BOOTSTRAP and say so")
    func refusesWithoutBootstrap() async throws {
        for args in [["tail", "gridhub.cases.v1"], ["topics", "create"], ["topics", "list"]] {
            let result = try await runCommand(GridHubPaths.executable, args, removing: ["GRIDHUB_BOOTSTRAP"], timeout: .seconds(20))
            #expect(result.status != 0)
            #expect(result.stderr.contains("GRIDHUB_BOOTSTRAP"), "stderr: \(result.stderr)")
        }
    }

    @Test("records produced by kcat are shown by tail, decoded, with their CloudEvents headers; phones masked")
    func tailShowsKcatRecords() async throws {
        let (broker, bootstrap) = try await Self.startBroker(["--brokers", "1"])
        defer { broker.signal(SIGKILL) }
        let kcat = try #require(GridHubPaths.which("kcat"), "kcat is not installed (apt-get install kcat)")
        let topic = "gridhub.cases.v1"
        var lines: [String] = []
        for i in 0..<3 {
            lines.append(#"{"caseId":"case-\#(i)","status":"open","note":"call 13812345678"}"#)
        }
        let produced = try await runCommand(
            kcat,
            ["-b", bootstrap, "-P", "-t", topic, "-k", "case-key", "-H", "ce_specversion=1.0", "-H", "ce_type=gov.gridhub.case.v1",
             "-H", "ce_id=evt-1", "-H", "ce_source=/gridhub/router", "-H", "ce_time=2026-11-27T09:30:05+08:00", "-H", "content-type=application/json"],
            stdin: Data((lines.joined(separator: "\n") + "\n").utf8))
        #expect(produced.status == 0, "kcat -P failed: \(produced.stderr)")

        let env = ["GRIDHUB_BOOTSTRAP": bootstrap]
        let json = try await runCommand(GridHubPaths.executable, ["tail", topic, "--from-beginning", "--no-follow", "--json"], environment: env)
        #expect(json.status == 0, "stderr: \(json.stderr)")
        let objects = json.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == 3)
        let first = try #require(objects.first)
        #expect((first["headers"] as? [String: String])?["ce_type"] == "gov.gridhub.case.v1")
        #expect(first["key"] as? String == "case-key")
        #expect(((first["data"] as? [String: Any])?["caseId"] as? String)?.hasPrefix("case-") == true)
        #expect(!json.stdout.contains("13812345678"), "phone numbers must be masked")
        #expect(json.stdout.contains("138****5678"))

        let readable = try await runCommand(GridHubPaths.executable, ["tail", topic, "--from-beginning", "--no-follow"], environment: env)
        #expect(readable.status == 0)
        let readableLines = readable.stdout.split(separator: "\n")
        #expect(readableLines.count == 3)
        #expect(readableLines.allSatisfy { $0.contains("case=case-") && $0.contains(" open ") && $0.contains("key=case-key") }, "\(readableLines)")
    }

    @Test("tail follows new records until SIGINT, then exits 0")
    func tailFollows() async throws {
        let (broker, bootstrap) = try await Self.startBroker(["--brokers", "1"])
        defer { broker.signal(SIGKILL) }
        let kcat = try #require(GridHubPaths.which("kcat"))
        let tail = try ChildProcess(GridHubPaths.executable, ["tail", "gridhub.feedback.v1"], environment: ["GRIDHUB_BOOTSTRAP": bootstrap])
        // tail starts at the end of the topic: a record is sent until tail shows one (no guess at when it is ready).
        let sending = Task {
            while !Task.isCancelled {
                _ = try? await runCommand(kcat, ["-b", bootstrap, "-P", "-t", "gridhub.feedback.v1", "-k", "dsp-1"], stdin: Data(#"{"dispatchId":"dsp-1","status":"accepted"}"#.utf8 + [10]))
                try? await Task.sleep(for: .milliseconds(300))
            }
        }
        defer { sending.cancel() }
        let line = try await tail.firstLine(timeout: .seconds(20))
        #expect(line.contains("dsp-1"))
        tail.signal(SIGINT)
        #expect(try await tail.waitForExit(timeout: .seconds(20)) == 0)
    }
}
