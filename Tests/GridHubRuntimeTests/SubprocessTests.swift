import Foundation
import Glibc
import GridHubRuntime
import Testing

@Suite("Subprocess")
struct SubprocessTests {
    /// A test process holds hundreds of sockets; PostgreSQL refused to start when it inherited them
    /// ("insufficient file descriptors available to start server process").
    @Test("a command inherits only standard input, output and error, not the caller's other descriptors")
    func noInheritedDescriptors() throws {
        var pipes: [Int32] = []
        for _ in 0..<40 {
            var fds: [Int32] = [0, 0]
            #expect(pipe(&fds) == 0)
            pipes += fds
        }
        defer { for fd in pipes { close(fd) } }
        let result = try Subprocess.run(["/bin/ls", "/proc/self/fd"])
        let open = result.stdout.split(separator: "\n").compactMap { Int($0) }
        // 0, 1, 2 and the descriptor ls reads /proc/self/fd through.
        #expect(open.count <= 4, "the command saw descriptors \(open)")
    }
}
