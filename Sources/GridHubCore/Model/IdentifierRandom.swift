import Synchronization

/// Random 64-bit words for identifiers that only have to be told apart (trace, span and request ids),
/// without a system call each.
///
/// `SystemRandomNumberGenerator` asks the kernel for every word (`getrandom`): five or more calls per
/// 12345 request, the adapter's most frequent system call under load (`strace -c` during `gridhub bench
/// hotline`). This generator asks once per process, for a seed, and then steps a shared counter
/// (SplitMix64's sequence: its mix is one-to-one, so no word repeats within a process until 2⁶⁴ draws,
/// and processes start at unrelated points). Not for secrets: passwords, session tokens and keys keep
/// the system's generator.
public struct IdentifierRandom: RandomNumberGenerator, Sendable {
    private static let counter = Atomic<UInt64>(UInt64.random(in: 0...UInt64.max))

    public init() {}

    public mutating func next() -> UInt64 {
        var z = Self.counter.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
