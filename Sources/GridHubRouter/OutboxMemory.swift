import Synchronization

/// The outbox bodies this process wrote, kept in memory for the publisher, so that it sends them
/// without reading back from PostgreSQL what it wrote a moment before.
///
/// The `outbox` table stays the durable copy and the only one that counts: the publisher still finds
/// its work in the table, in the table's order, and deletes a body there only after its records are
/// delivered; it takes a body from here only when the table lists it, and reads it from the table
/// otherwise (after a restart, when another instance wrote it, or when this memory was full). A body is
/// kept at the end of its transaction, just before the commit, so that it is here when the commit's
/// notification wakes the publisher; only the commit makes the table list it, so the body of a
/// transaction that fails is never taken, and goes with the older ones (``forget(below:)``). Bodies are
/// kept only while this process's publisher holds the publishing lock (else nobody here would ever
/// take them).
final class OutboxMemory: Sendable {
    private struct State {
        var bodies: [Int64: [OutboxRecord]] = [:]
        var sizes: [Int64: Int] = [:]
        var bytes = 0
        var accepting = false
    }

    private let state = Mutex(State())
    /// At most this many bytes of records are held; beyond, bodies are left to the table.
    let limitBytes: Int

    init(limitBytes: Int = 64 << 20) {
        self.limitBytes = limitBytes
    }

    /// Holds the records of body `id`, if the publisher is taking bodies and there is room.
    func keep(id: Int64, records: [OutboxRecord]) {
        let size = records.reduce(0) { $0 + $1.byteCount }
        state.withLock { s in
            guard s.accepting, s.bytes + size <= limitBytes, s.bodies[id] == nil else { return }
            s.bodies[id] = records
            s.sizes[id] = size
            s.bytes += size
        }
    }

    /// Removes and returns the bodies among `ids` that are held.
    func take(_ ids: [Int64]) -> [Int64: [OutboxRecord]] {
        state.withLock { s in
            var out: [Int64: [OutboxRecord]] = [:]
            for id in ids {
                guard let records = s.bodies.removeValue(forKey: id) else { continue }
                s.bytes -= s.sizes.removeValue(forKey: id) ?? 0
                out[id] = records
            }
            return out
        }
    }

    /// Drops the bodies older than `id`, the oldest the table still lists: they are gone from it
    /// (published by an earlier holder of the lock).
    func forget(below id: Int64) {
        state.withLock { s in
            for old in s.bodies.keys where old < id {
                s.bodies[old] = nil
                s.bytes -= s.sizes.removeValue(forKey: old) ?? 0
            }
        }
    }

    /// Starts or stops holding bodies (the publisher took or lost the lock); stopping drops them all.
    func accept(_ on: Bool) {
        state.withLock { s in
            s.accepting = on
            if !on { s = State() }
        }
    }

    /// Bodies and bytes held now.
    var held: (bodies: Int, bytes: Int) { state.withLock { ($0.bodies.count, $0.bytes) } }
}
