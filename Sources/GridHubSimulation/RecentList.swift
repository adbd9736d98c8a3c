/// The last `capacity` items appended, and how many were appended in all: what a long-running double
/// (in `gridhub dev`) remembers of what it received, so that its memory stays bounded.
struct RecentList<Element: Sendable>: Sendable {
    let capacity: Int
    private(set) var total = 0
    private var items: [Element] = []
    private var next = 0

    init(capacity: Int) { self.capacity = capacity }

    mutating func append(_ item: Element) {
        total += 1
        if items.count < capacity {
            items.append(item)
        } else {
            items[next] = item
            next = (next + 1) % capacity
        }
    }

    /// The kept items, oldest first.
    var elements: [Element] { Array(items[next...] + items[..<next]) }
}

/// The last `capacity` distinct strings inserted, for "have I seen this?" with bounded memory.
struct BoundedSet: Sendable {
    let capacity: Int
    private var members = Set<String>()
    private var queue: [String] = []
    private var head = 0

    init(capacity: Int) { self.capacity = capacity }

    func contains(_ item: String) -> Bool { members.contains(item) }

    mutating func insert(_ item: String) {
        guard members.insert(item).inserted else { return }
        queue.append(item)
        if members.count > capacity {
            members.remove(queue[head])
            head += 1
            // Drop the forgotten half of the queue now and then, not on every insert.
            if head > capacity { queue.removeFirst(head); head = 0 }
        }
    }
}
