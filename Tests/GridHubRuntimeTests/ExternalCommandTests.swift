import Foundation
import Glibc
import GridHubRuntime
import Testing

@Suite("ExternalCommand")
struct ExternalCommandTests {
    /// A test process holds hundreds of sockets; PostgreSQL refused to start when it inherited them
    /// ("insufficient file descriptors available to start server process").
    @Test("a command inherits only standard input, output and error, not the caller's other descriptors")
    func noInheritedDescriptors() async throws {
        var pipes: [Int32] = []
        for _ in 0..<40 {
            var fds: [Int32] = [0, 0]
            #expect(pipe(&fds) == 0)
            pipes += fds
        }
        defer { for fd in pipes { close(fd) } }
        let result = try await ExternalCommand.run(["/bin/ls", "/proc/self/fd"])
        let open = result.stdout.split(separator: "\n").compactMap { Int($0) }
        // 0, 1, 2 and the descriptor ls reads /proc/self/fd through.
        #expect(open.count <= 4, "the command saw descriptors \(open)")
    }
}

@Suite("ExternalCommand: status, input, output and time limit")
struct ExternalCommandResultTests {
    @Test("exit status, standard input, output and error come back as the command gave them")
    func statusAndStreams() async throws {
        let result = try await ExternalCommand.run(["/bin/sh", "-c", "tr a-z A-Z; echo oops >&2; exit 3"], stdin: Array("hello\n".utf8))
        #expect(result.status == 3)
        #expect(result.stdout == "HELLO\n")
        #expect(result.stderr == "oops\n")
    }

    @Test("a command ended by a signal reports 128 + the signal")
    func signalled() async throws {
        let result = try await ExternalCommand.run(["/bin/sh", "-c", "kill -TERM $$"])
        #expect(result.status == 128 + SIGTERM)
    }

    /// `pg_ctl start` exits while the server it started runs on with its descriptors.
    @Test("returns when the command exits, though a process it started still holds its output", .timeLimit(.minutes(2)))
    func leavesAProcessBehind() async throws {
        let result = try await ExternalCommand.run(["/bin/sh", "-c", "sleep 600 & echo $!"])
        #expect(result.status == 0)
        // The process left behind still runs: the call did not wait for it (nor for its output to
        // close). Asserted by the process, not by a time bound, which a loaded test run broke (23 s for
        // the cooperative pool to run the call's sleeps).
        let behind = try #require(pid_t(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(behind, 0) == 0, "the process left behind is gone: the call waited for it")
        kill(behind, SIGKILL)
    }

    @Test("a command still running at its time limit is killed, and the call says so")
    func timeLimit() async throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-timeout-\(UUID().uuidString)").path
        defer { unlink(pidFile) }
        let started = ContinuousClock.now
        await #expect(throws: ExternalCommandError.self) {
            try await ExternalCommand.run(["/bin/sh", "-c", "echo $$ > \(pidFile); exec sleep 60"], timeout: .seconds(1))
        }
        // Well before the command would have ended by itself (the bound leaves room for a loaded machine).
        #expect(ContinuousClock.now - started < .seconds(40))
        // No file: the time ran out before the command began (a very loaded machine), and it never ran.
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8) else { return }
        let pid = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(pid, 0) == -1 && errno == ESRCH, "the command \(pid) still runs after its time limit")
    }
}
