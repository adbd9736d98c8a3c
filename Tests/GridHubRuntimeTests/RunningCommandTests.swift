import Foundation
import GridHubRuntime
import GridHubTesting
import Testing

@Suite("RunningCommand: a child process over posix_spawn", .timeLimit(.minutes(1)))
struct RunningCommandTests {
    /// Collects a stream of chunks until its end.
    final class Output: Sendable {
        let bytes = Locked([UInt8]())
        let ended = Locked(false)
        func take(_ chunk: [UInt8]?) {
            if let chunk { bytes.withLock { $0 += chunk } } else { ended.withLock { $0 = true } }
        }
        var text: String { String(decoding: bytes.value, as: UTF8.self) }
        func waitForEnd() async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while !ended.value, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        }
    }

    @Test("its exit status, its output and errors through pipes, the working directory and environment it was given")
    func exits() async throws {
        let command = try RunningCommand(["/bin/sh", "-c", "pwd; echo \"$GREETING\"; echo oops >&2; exit 3"],
                                         environment: ["GREETING": "你好", "PATH": "/usr/bin:/bin"], currentDirectory: "/tmp")
        let out = Output(), err = Output()
        command.readStandardOutput(out.take)
        command.readStandardError(err.take)
        #expect(try await command.wait(timeout: .seconds(10)) == .exited(3))
        try await out.waitForEnd()
        try await err.waitForEnd()
        #expect(out.text == "/tmp\n你好\n")
        #expect(err.text == "oops\n")
        #expect(!command.isRunning)
    }

    @Test("ended by a signal; once reaped it is never signalled again (its id may be another process's)")
    func signalled() async throws {
        let command = try RunningCommand(["/bin/sleep", "30"])
        #expect(command.isRunning)
        command.signal(SIGTERM)
        #expect(try await command.wait(timeout: .seconds(10)) == .signalled(SIGTERM))
        command.signal(SIGKILL)
        #expect(command.ended == .signalled(SIGTERM))
    }

    @Test("one that outlives its time limit is killed and the wait throws; standard error can go to a file")
    func timeLimit() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-running-\(UUID().uuidString).log").path
        defer { unlink(log) }
        let command = try RunningCommand(["/bin/sh", "-c", "echo started >&2; exec sleep 30"], standardErrorPath: log)
        await #expect(throws: ExternalCommandError.self) { try await command.wait(timeout: .milliseconds(300)) }
        #expect(try await command.wait(timeout: .seconds(10)) == .signalled(SIGKILL))
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "started\n")
    }

    @Test("a program that does not exist is refused at start, with its path")
    func missing() {
        #expect { try RunningCommand(["/nonexistent/gridhub-nothing"]) } throws: { "\($0)".contains("/nonexistent/gridhub-nothing") }
    }
}
