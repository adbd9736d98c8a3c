import AsyncHTTPClient
import Foundation
import GridHubRuntime
import Synchronization

/// A child process for tests: started with arguments and environment, its stdout read line by
/// line, stderr collected, signalled, and awaited with a time limit. Killed if still running when
/// the harness is released. Built on ``RunningCommand`` (posix_spawn), as the product's children are.
public final class ChildProcess: Sendable {
    private let command: RunningCommand
    private let stdoutLines: AsyncStream<String>
    private let stderrBuffer = Locked([UInt8]())
    private let stdoutBuffer = Locked([String]())
    public let executable: String

    /// Starts `executable` with `arguments`; `environment` is added to (or, with `inherit: false`,
    /// replaces) this process's environment.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], removing: [String] = [], inherit: Bool = true, currentDirectory: URL? = nil) throws {
        self.executable = executable
        var env = inherit ? ProcessInfo.processInfo.environment : [:]
        for key in removing { env[key] = nil }
        env.merge(environment) { $1 }
        do {
            command = try RunningCommand([executable] + arguments, environment: env, currentDirectory: currentDirectory?.path)
        } catch let error as ExternalCommandError {
            throw HarnessError(error.description)
        }
        let (stream, continuation) = AsyncStream<String>.makeStream()
        stdoutLines = stream
        let allLines = stdoutBuffer
        let partial = Locked([UInt8]())
        command.readStandardOutput { data in
            guard let data else {
                let rest = partial.withLock { d -> [UInt8] in let r = d; d = []; return r }
                if !rest.isEmpty {
                    let line = String(decoding: rest, as: UTF8.self)
                    allLines.withLock { $0.append(line) }
                    continuation.yield(line)
                }
                continuation.finish()
                return
            }
            let lines: [String] = partial.withLock { buffer in
                buffer.append(contentsOf: data)
                var result: [String] = []
                var start = 0
                while let nl = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    result.append(String(decoding: buffer[start..<nl], as: UTF8.self))
                    start = nl + 1
                }
                buffer.removeFirst(start)
                return result
            }
            for line in lines {
                allLines.withLock { $0.append(line) }
                continuation.yield(line)
            }
        }
        let errBuffer = stderrBuffer
        command.readStandardError { data in
            if let data { errBuffer.withLock { $0.append(contentsOf: data) } }
        }
    }

    public var pid: Int32 { command.pid }
    public var isRunning: Bool { command.isRunning }

    /// Standard output, line by line, as it is written.
    public var lines: AsyncStream<String> { stdoutLines }

    /// Every stdout line seen so far.
    public var outputLines: [String] { stdoutBuffer.withLock { $0 } }

    /// Standard error so far.
    public var standardError: String { stderrBuffer.withLock { String(decoding: $0, as: UTF8.self) } }

    /// The first stdout line, waiting at most `timeout`. A daemon's first line comes once it has started
    /// (reference data read, port bound): about a second alone in a debug build, but more than 30 s was
    /// seen in the first minute of the whole suite on a slow CI machine, when every suite starts its
    /// processes at once. The benchmarks wait 120 s for the same line.
    public func firstLine(timeout: Duration = .seconds(120)) async throws -> String {
        try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                for await line in self.stdoutLines { return line }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            guard let first else { throw HarnessError("no stdout line from \(self.executable) within \(timeout); stderr: \(self.standardError)") }
            return first
        }
    }

    /// Sends `signal` (e.g. `SIGTERM`, `SIGKILL`), unless the process has ended.
    public func signal(_ signal: Int32) { command.signal(signal) }

    /// Waits for the process to exit, at most `timeout`; returns its exit status (or the signal that
    /// ended it: see ``wasSignalled``). Kills it and throws if it does not exit in time.
    @discardableResult
    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        do {
            switch try await command.wait(timeout: timeout) {
            case .exited(let code): return code
            case .signalled(let signal): return signal
            }
        } catch let error as ExternalCommandError {
            throw HarnessError("\(error.description); stderr: \(standardError)")
        }
    }

    /// Whether it ended by a signal rather than by exiting.
    public var wasSignalled: Bool {
        if case .signalled = command.ended { return true }
        return false
    }
}

/// Runs a command to completion and returns its status, stdout and stderr (through ``ExternalCommand``).
public func runCommand(_ executable: String, _ arguments: [String], environment: [String: String] = [:], removing: [String] = [], stdin: Data? = nil, timeout: Duration = .seconds(60)) async throws -> (status: Int32, stdout: String, stderr: String) {
    var env = ProcessInfo.processInfo.environment
    for key in removing { env[key] = nil }
    env.merge(environment) { $1 }
    do {
        let result = try await ExternalCommand.run([executable] + arguments, environment: env, stdin: stdin.map { Array($0) }, timeout: timeout)
        return (result.status, result.stdout, result.stderr)
    } catch let error as ExternalCommandError {
        throw HarnessError(error.description)
    }
}

/// Where the built `gridhub` executable and the repository are.
public enum GridHubPaths {
    /// The package root (the folder holding `Package.swift`), found from this source file.
    public static let packageRoot: URL = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// The `gridhub` binary built next to the test bundle.
    public static let executable: String = {
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent()
        var candidates = [bundleDir.appendingPathComponent("gridhub").path]
        for scratch in [".build", ".build-ci"] {
            for config in ["debug", "release"] {
                candidates.append(packageRoot.appendingPathComponent("\(scratch)/\(config)/gridhub").path)
            }
        }
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
        fatalError("the gridhub executable was not built (looked in \(candidates))")
    }()

    /// A program on the PATH, or nil.
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// A test harness failure with its reason.
public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A value behind a lock, shareable between threads and closures.
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }
    public func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    public var value: Value { mutex.withLock { $0 } }
}

/// GET a URL; the status and the body text.
public func httpGet(_ url: String) async throws -> (Int, String) {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), String(decoding: body.readableBytesView, as: UTF8.self))
}
