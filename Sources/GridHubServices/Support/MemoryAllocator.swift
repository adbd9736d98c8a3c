import Foundation

/// Which `malloc` this process runs on: glibc's, or one preloaded in its place (`LD_PRELOAD`, as
/// `Deploy/systemd/gridhub-router.service` does with jemalloc). Logged at start and printed by the
/// benchmarks, so a figure or a running daemon says which one it had.
public enum MemoryAllocator {
    /// "jemalloc", "tcmalloc" or "mimalloc" when that library is mapped into this process, else "glibc malloc".
    public static var current: String {
        let maps = mappedFiles()
        for name in ["jemalloc", "tcmalloc", "mimalloc"] where maps.contains("/lib\(name)") { return name }
        return "glibc malloc"
    }

    /// `/proc/self/maps`, read to its end (it reports a size of 0, so it cannot be read by size).
    private static func mappedFiles() -> String {
        let fd = open("/proc/self/maps", O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { bytes += chunk[..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
