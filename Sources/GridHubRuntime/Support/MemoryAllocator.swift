import Foundation

/// Which `malloc` this process runs on: glibc's, or one preloaded in its place (`LD_PRELOAD`, as
/// `Deploy/systemd/gridhub-router.service` does with jemalloc). Logged at start and printed by the
/// benchmarks, so a figure or a running daemon says which one it had.
public enum MemoryAllocator {
    /// "jemalloc", "tcmalloc" or "mimalloc" when that library is mapped into this process, else "glibc malloc".
    public static var current: String { of(mapsFile: "/proc/self/maps") }

    /// The same for another process (a daemon a benchmark started).
    public static func of(process pid: Int32) -> String { of(mapsFile: "/proc/\(pid)/maps") }

    private static func of(mapsFile: String) -> String {
        let maps = procFileText(mapsFile) ?? ""
        for name in ["jemalloc", "tcmalloc", "mimalloc"] where maps.contains("/lib\(name)") { return name }
        return "glibc malloc"
    }
}
