import Foundation
import GridHubRuntime
import GridHubTesting
import Testing

@Suite("Private PostgreSQL", .timeLimit(.minutes(2)))
struct PostgresInstanceTests {
    @Test("creates a cluster, starts it on loopback, keeps committed data across a restart, stops")
    func lifecycle() async throws {
        let dir = URL(fileURLWithPath: "/tmp/gridhub-pg-test-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let instance = try PostgresInstance(configuration: .init(dataDirectory: dir, port: try freeLoopbackPort()), logger: TestKafka.quietLogger)
        try await instance.start()
        let port = String(instance.configuration.port)
        let psql = ["-h", "127.0.0.1", "-p", port, "-U", "gridhub", "-d", "gridhub", "-tAc"]
        #expect(try await runCommand("/usr/bin/psql", psql + ["CREATE TABLE t (v int); INSERT INTO t VALUES (42)"]).status == 0)
        try await instance.stop()
        try await instance.start()
        let read = try await runCommand("/usr/bin/psql", psql + ["SELECT v FROM t"])
        #expect(read.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "42", "stderr: \(read.stderr)")
        #expect(instance.url == "postgres://gridhub@127.0.0.1:\(port)/gridhub")
        try await instance.stop()
        let after = try await runCommand("/usr/bin/psql", psql + ["SELECT 1"])
        #expect(after.status != 0, "the server should be stopped")
    }

    @Test("a cluster configured in a folder not made yet lives in that folder, and discarding it leaves nothing behind")
    func clusterInNewFolder() async throws {
        let parent = URL(fileURLWithPath: "/tmp/gridhub-pg-test-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: parent) }
        // As a benchmark configures it: the data directory inside a run's folder that nobody made yet.
        let configured = parent.appendingPathComponent("run/postgres")
        let instance = try PostgresInstance(configuration: .init(dataDirectory: configured, port: try freeLoopbackPort()), logger: TestKafka.quietLogger)
        try await instance.start()
        let dir = await instance.dataDirectory()
        // Moved elsewhere (as root, when the postgres user cannot enter the folder), it would outlive the
        // run's folder: the benchmarks left 4.5 GB in /var/tmp per run that way.
        #expect(dir == configured)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("PG_VERSION").path))
        try await instance.stop()
        try await instance.discardCluster()
        #expect(!FileManager.default.fileExists(atPath: dir.path))
    }
}
