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
