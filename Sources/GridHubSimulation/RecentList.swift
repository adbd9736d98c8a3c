/// The last `capacity` items appended, and how many were appended in all: what a long-running double
/// (in `gridhub dev`) remembers of what it received, so that its memory stays bounded.
struct RecentList<Element: Sendable>: Sendable {
    let capacity: Int
    private(set) var total = 0
    private var items: [Element] = []
    private var next = 0

    init(capacity: Int) { self.capacity = capacity }

    /// Appends `item`; returns the oldest item when it made room for this one.
    @discardableResult
    mutating func append(_ item: Element) -> Element? {
        total += 1
        if items.count < capacity {
            items.append(item)
            return nil
        }
        let dropped = items[next]
        items[next] = item
        next = (next + 1) % capacity
        return dropped
    }

    /// The kept items, oldest first.
    var elements: [Element] { Array(items[next...] + items[..<next]) }
}

/// The last `capacity` distinct strings inserted, for "have I seen this?" with bounded memory.
struct BoundedSet: Sendable {
    private var members = Set<String>()
    private var order: RecentList<String>

    init(capacity: Int) { order = RecentList(capacity: capacity) }

    func contains(_ item: String) -> Bool { members.contains(item) }

    mutating func insert(_ item: String) {
        guard members.insert(item).inserted else { return }
        if let dropped = order.append(item) { members.remove(dropped) }
    }
}
