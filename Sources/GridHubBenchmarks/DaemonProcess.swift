import AsyncHTTPClient
import Foundation
import GridHubRuntime
import Synchronization

/// Lines a process wrote.
private final class LineBuffer: Sendable {
    let lines = Mutex<[String]>([])
}

/// A daemon of the benchmark: a `gridhub` command in a process of its own, its standard output read
/// line by line, its standard error to a log file, its CPU time read from `/proc`.
final class DaemonProcess: Sendable {
    private let command: RunningCommand
    private let output = LineBuffer()

    init(_ executable: String, _ arguments: [String], environment: [String: String], log: URL) throws {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        command = try RunningCommand([executable] + arguments, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
                                     standardErrorPath: log.path)
        let output = self.output
        let partial = Mutex<[UInt8]>([])
        command.readStandardOutput { data in
            guard let data else { return }
            let complete: [String] = partial.withLock { buffer in
                buffer.append(contentsOf: data)
                guard let last = buffer.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
                let text = String(decoding: buffer[...last], as: UTF8.self)
                buffer.removeFirst(last + 1)
                return text.split(separator: "\n").map(String.init)
            }
            if !complete.isEmpty { output.lines.withLock { $0 += complete } }
        }
    }

    var pid: Int32 { command.pid }

    /// The allocator the router's and the adapters' systemd units preload (`Deploy/systemd`): jemalloc,
    /// when its library is installed; else nothing (glibc's malloc).
    static var deployedAllocator: [String: String] {
        let installed = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"]
            .contains { FileManager.default.fileExists(atPath: "\($0)/libjemalloc.so.2") }
        return installed ? ["LD_PRELOAD": "libjemalloc.so.2"] : [:]
    }

    /// `gridhub broker` (one broker) with the contract's topics made (`gridhub topics create`), its log in
    /// `work`: the broker, its bootstrap address, and the environment that points a daemon at it (quiet
    /// logs, `GRIDHUB_BOOTSTRAP`).
    static func broker(_ executable: String, work: URL) async throws -> (DaemonProcess, bootstrap: String, environment: [String: String]) {
        let quiet = ["GRIDHUB_LOG_LEVEL": "warning"]
        let broker = try DaemonProcess(executable, ["broker", "--brokers", "1"], environment: quiet, log: work.appendingPathComponent("broker.log"))
        do {
            let bootstrap = String(try await broker.line(prefix: "GRIDHUB_BOOTSTRAP=", timeout: .seconds(60)).dropFirst("GRIDHUB_BOOTSTRAP=".count))
            let environment = quiet.merging(["GRIDHUB_BOOTSTRAP": bootstrap]) { $1 }
            let topics = try await ExternalCommand.run([executable, "topics", "create"],
                                                       environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
            guard topics.status == 0 else { throw ExternalCommandError("gridhub topics create: \(topics.stderr)") }
            return (broker, bootstrap, environment)
        } catch {
            await broker.stop()
            throw error
        }
    }

    /// Waits until `url` answers 200 (a daemon's `/readyz`), for at most two minutes.
    static func waitReady(_ url: String) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(2)), response.status == .ok { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ExternalCommandError("\(url) did not answer 200 within 120 s")
    }

    func line(prefix: String, timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let l = output.lines.withLock({ $0.first { $0.hasPrefix(prefix) } }) { return l }
            if let ended = command.ended { throw ExternalCommandError("\(command.argv.dropFirst().joined(separator: " ")) ended: \(ended)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ExternalCommandError("no line \(prefix)… from gridhub \(command.argv.dropFirst().first ?? "") within \(timeout)")
    }

    /// User and system CPU seconds so far.
    func cpuSeconds() -> Double { processCPUSeconds(pid) }

    /// SIGTERM, then SIGKILL after 15 s.
    func stop() async { await command.stop(grace: .seconds(15)) }
}

/// User and system CPU seconds process `pid` used so far, from `/proc` (0 if it cannot be read).
func processCPUSeconds(_ pid: Int32) -> Double {
    statFields(pid).map { clockTicks($0, [11, 12]) } ?? 0
}

/// CPU seconds this process used so far without the threads named `rdk:mock`: librdkafka's mock cluster,
/// the embedded broker a benchmark runs in its own process. What is left is the code measured, with its
/// librdkafka clients' threads (threads that ended are in the process's account; the broker's live for
/// the whole run).
func processCPUSecondsWithoutEmbeddedBroker() -> Double {
    let pid = getpid()
    var broker = 0.0
    for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
        guard let stat = procFileText("/proc/\(pid)/task/\(task)/stat"), let nameStart = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"),
              stat[stat.index(after: nameStart)..<close].hasPrefix("rdk:mock") else { continue }
        broker += clockTicks(stat[stat.index(after: close)...].split(separator: " "), [11, 12])
    }
    return processCPUSeconds(pid) - broker
}

/// The fields of `/proc/<pid>/stat` after the command, whose name may hold spaces: state is the first
/// (field 3, 1-based over the whole line), ppid 4, utime 14, stime 15, cutime 16, cstime 17.
private func statFields(_ pid: Int32) -> [Substring]? {
    guard let stat = procFileText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
    return stat[stat.index(after: close)...].split(separator: " ")
}

/// The sum of the clock-tick fields at `indices` (of ``statFields(_:)``), in seconds.
private func clockTicks(_ fields: [Substring], _ indices: [Int]) -> Double {
    indices.reduce(0) { $0 + (fields.count > $1 ? Double(fields[$1]) ?? 0 : 0) } / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// CPU seconds of process `root` and its children so far: the living ones from `/proc`, and the ones that
/// ended and were waited for, which the kernel adds to `root`'s own account (PostgreSQL's server and its
/// backends; 0 if `root` cannot be read).
func processTreeCPUSeconds(_ root: Int32) -> Double {
    guard let own = statFields(root) else { return 0 }
    var total = clockTicks(own, [11, 12, 13, 14])
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = Int32(entry), pid != root, let f = statFields(pid), f.count > 1, Int32(f[1]) == root else { continue }
        total += clockTicks(f, [11, 12])
    }
    return total
}

/// Process `pid`'s peak resident memory so far (`VmHWM` in `/proc`), bytes (0 if it cannot be read).
func processPeakMemory(_ pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
    return kilobytes * 1_024
}
