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
}
