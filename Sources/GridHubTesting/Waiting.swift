import GridHubRuntime

/// Waits until `condition` holds, checking every `every`, for at most `timeout`; returns whether it
/// held. Tests wait for what they expect to see, never for a fixed time.
@discardableResult
public func waitUntil(timeout: Duration = .seconds(30), every: Duration = .milliseconds(50),
                      _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try await Task.sleep(for: every)
    }
}

/// The sum of the samples of the metric named `name` (every label combination) in Prometheus text.
public func metricValue(_ name: String, in text: String) -> Double {
    text.split(separator: "\n").reduce(0) { sum, line in
        guard line.hasPrefix(name), let next = line.dropFirst(name.count).first, next == " " || next == "{",
              let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { return sum }
        return sum + value
    }
}

extension DaemonMetrics {
    /// The sum of the samples of the metric named `name`, as `/metrics` shows it.
    public func value(of name: String) -> Double { metricValue(name, in: render()) }
}
