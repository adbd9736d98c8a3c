import Glibc

/// A TCP port on 127.0.0.1 that was free a moment ago, for a server that is started later on it
/// (the private PostgreSQL, `gridhub dev`'s listeners).
///
/// Chosen at random below the kernel's ephemeral range (`ip_local_port_range`) where there is room:
/// ports in that range are handed to every outgoing connection and every bind to port 0, so one freed
/// there (a server stopped and restarted on its port) is soon taken by another process's client.
public func freeLoopbackPort() throws -> Int {
    let ephemeralStart = ephemeralPortRangeStart()
    if ephemeralStart > 12_000 {
        for _ in 0..<64 {
            let candidate = Int.random(in: 10_000..<ephemeralStart)
            if (try? bindLoopback(port: candidate)) != nil { return candidate }
        }
    }
    return try bindLoopback(port: 0)
}

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
private func ephemeralPortRangeStart() -> Int {
    procFileText("/proc/sys/net/ipv4/ip_local_port_range")?.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        .first.flatMap { Int($0) } ?? 32_768
}

/// Binds a socket to 127.0.0.1:`port` (0: any) and releases it; returns the port it got.
private func bindLoopback(port: Int) throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw LoopbackPortError() }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard bound == 0 else { throw LoopbackPortError() }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    guard named == 0 else { throw LoopbackPortError() }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// No free loopback port could be found.
public struct LoopbackPortError: Error, Sendable {}
