import Foundation
import Glibc
import GridHubAdapters
import GridHubRuntime
import GridHubSimulation
import GridHubTesting
import NIOCore
import Testing

/// A plain TCP client that writes what it is told, when it is told: for clients that misbehave.
final class RawConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard fd >= 0, connected == 0 else { throw HarnessError("cannot connect to 127.0.0.1:\(port): errno \(errno)") }
    }

    deinit { close(fd) }

    /// Writes `text`; false once the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Everything the server sends until it closes the connection (at most `timeout`).
    func readToEnd(timeout: Duration) -> String {
        var out: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += buffer.prefix(n)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

@Suite("Slow and idle HTTP clients", .timeLimit(.minutes(1)))
struct SlowClientTests {
    @Test("headers sent a byte at a time are answered 408 and closed after the head timeout, while valid orders and /healthz are served")
    func slowHeaders() async throws {
        let topics = try await TestTopics.make()
        var limits = HTTPLimits()
        limits.headTimeout = .seconds(3)
        let adapter = try PushAdapter.hotline(topics, limits: limits)
        try await adapter.run { (url: String) async throws -> Void in
            let port = Int(url.split(separator: ":").last!)!
            // A slow client: one byte every 200 ms, never finishing its head.
            let slow = try RawConnection(port: port)
            let started = ContinuousClock.now
            let head = "POST /hotline12345/workorders HTTP/1.1\r\nHost: x\r\nX-Hotline-Timestamp: 1"
            var closedEarly = false
            for byte in head.prefix(15) {
                if !slow.send(String(byte)) { closedEarly = true; break }
                try await Task.sleep(for: .milliseconds(200))
            }
            let reading = ContinuousClock.now
            let answer = slow.readToEnd(timeout: .seconds(10))
            let took = ContinuousClock.now - started, waited = ContinuousClock.now - reading
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer) (closed early: \(closedEarly))")
            // Head timeout 3 s: the connection is closed by then, or soon after the bytes stop; never
            // closing would keep the read waiting its full 10 s. (The bytes themselves may take far
            // longer than 3 s to send on a loaded machine, so the time from the start is only shown.)
            #expect(waited < .seconds(8), "waited \(waited) for the end after sending; \(took) in all")

            // Meanwhile the adapter serves others.
            let hotline = HotlinePlatform(hubURL: url, secret: Fixtures.secret)
            #expect(try await hotline.push(Fixtures.workOrder("JY-S-\(UUID().uuidString.prefix(6))")).code == 0)
            #expect(try await httpGet(url + "/healthz").0 == 200)
        }
        #expect(try await topics.incidents(count: 1).count == 1)
    }

    @Test("beyond the connection limit a new connection is answered 503 at once; once the idle ones leave, it serves again")
    func connectionLimit() async throws {
        let topics = try await TestTopics.make()
        var limits = HTTPLimits()
        // Long enough that no idle connection times out while a loaded machine is still accepting the
        // others (with 3 s, the first idle ones were closed before the last were counted).
        limits.headTimeout = .seconds(60)
        limits.maxConnections = 20
        let adapter = try PushAdapter.hotline(topics, limits: limits)
        try await adapter.run { (url: String) async throws -> Void in
            let port = Int(url.split(separator: ":").last!)!
            var idle = try (0..<20).map { _ in try RawConnection(port: port) }
            // The server counts a connection once it has accepted it, which a loaded machine may take a
            // while to do: probe until one is refused (a probe that is accepted only fills it further).
            var probes: [RawConnection] = []
            var refused = ""
            let deadline = ContinuousClock.now + .seconds(20)
            while !refused.hasPrefix("HTTP/1.1 503"), ContinuousClock.now < deadline {
                let probe = try RawConnection(port: port)
                refused = probe.readToEnd(timeout: .milliseconds(500))
                probes.append(probe)
            }
            #expect(refused.hasPrefix("HTTP/1.1 503"), "\(refused)")
            idle.removeAll()
            probes.removeAll()
            var health = 0
            for _ in 0..<100 where health != 200 {
                health = (try? await httpGet(url + "/healthz").0) ?? 0
                if health != 200 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(health == 200)
        }
    }

    @Test("a body that never finishes is cut off after the body timeout; nothing is stored")
    func bodyNeverFinishes() async throws {
        let topics = try await TestTopics.make()
        var limits = HTTPLimits()
        limits.bodyTimeout = .seconds(1)
        let adapter = try PushAdapter.hotline(topics, limits: limits)
        try await adapter.run { (url: String) async throws -> Void in
            let port = Int(url.split(separator: ":").last!)!
            let connection = try RawConnection(port: port)
            let started = ContinuousClock.now
            connection.send("POST /hotline12345/workorders HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml; charset=UTF-8\r\n"
                            + "X-Hotline-Timestamp: \(Int(Date().timeIntervalSince1970))\r\nX-Hotline-Signature: \(String(repeating: "0", count: 64))\r\nContent-Length: 1000\r\n\r\n<GDXX>")
            _ = connection.readToEnd(timeout: .seconds(10))
            let took = ContinuousClock.now - started
            // Body timeout 1 s; never closing would take the 10 s of waiting.
            #expect(took < .seconds(7), "the connection stayed open \(took)")
            #expect(try await httpGet(url + "/healthz").0 == 200)
        }
        #expect(try await topics.quiet(topics.ingest.incidents).isEmpty)
    }
}
