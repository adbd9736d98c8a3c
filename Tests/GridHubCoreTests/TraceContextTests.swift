import Foundation
import Testing
@testable import GridHubCore

/// W3C Trace Context: parsed strictly, started when absent, continued as new spans of the same trace.
@Suite("Trace context")
struct TraceContextTests {
    @Test("a valid traceparent is read; malformed, all-zero or other versions are not; a child keeps the trace and flags with a new span")
    func parsing() throws {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let trace = try #require(TraceContext(header: header))
        #expect(trace.traceId == "4bf92f3577b34da6a3ce929d0e0e4736" && trace.spanId == "00f067aa0ba902b7" && trace.header == header)
        for bad in ["", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
                    "00-4bf92f3577b34da6a3ce929d0e0e47366-0f067aa0ba902b7-01", "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
                    "x" + header, header + "0"] {
            #expect(TraceContext(header: bad) == nil, "\(bad)")
        }
        #expect(TraceContext(header: " \t\(header) ") == trace, "spaces and tabs around the value are allowed")
        let child = trace.child()
        #expect(child.traceId == trace.traceId && child.flags == "01" && child.spanId != trace.spanId && TraceContext(header: child.header) == child)
        let fresh = TraceContext.start()
        #expect(TraceContext(header: fresh.header) == fresh && fresh.traceId != trace.traceId)
        // New ids are random: a thousand traces and spans, all valid, none repeated.
        let started = (0..<1_000).map { _ in TraceContext.start() }
        #expect(started.allSatisfy { TraceContext(header: $0.header) == $0 })
        #expect(Set(started.map(\.traceId)).count == 1_000 && Set(started.map(\.spanId)).count == 1_000)
    }

    @Test("identifiers drawn at once from many tasks never repeat, and new traces stay valid")
    func identifiersFromManyTasks() async {
        let words = await withTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<8 { group.addTask { var g = IdentifierRandom(); return (0..<20_000).map { _ in g.next() } } }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(words.count == 160_000 && Set(words).count == 160_000)
        let traces = await withTaskGroup(of: [TraceContext].self) { group in
            for _ in 0..<4 { group.addTask { (0..<2_000).map { _ in TraceContext.start() } } }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(traces.allSatisfy { TraceContext(header: $0.header) == $0 && $0.traceId.utf8.count == 32 && $0.spanId.utf8.count == 16 })
        #expect(Set(traces.map(\.traceId)).count == traces.count && Set(traces.map(\.spanId)).count == traces.count)
    }

    @Test("a case remembers each report's trace (the first it arrived with) and writes records about a report as new spans of its trace")
    func onCases() throws {
        let incidents = ModelFixtures.incidents(count: 2)
        var c = Case(caseId: "C-1", openedBy: incidents[0], at: ModelFixtures.time())
        #expect(c.traceparent() == nil)
        let first = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", second = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        c.trace(report: incidents[0].incidentId, traceparent: first)
        c.trace(report: incidents[0].incidentId, traceparent: second)
        c.merge(incidents[1], match: MergeEvidence(distanceMeters: 5, timeGapSeconds: 60, itemRelation: .sameItem, textScore: 0.5), at: ModelFixtures.time(1))
        c.trace(report: incidents[1].incidentId, traceparent: second)
        c.trace(report: incidents[1].incidentId, traceparent: "not a trace")
        #expect(c.reports.map(\.traceparent) == [first, second])
        #expect(TraceContext(header: c.traceparent())?.traceId == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(TraceContext(header: c.traceparent(for: incidents[1].incidentId))?.traceId == "0af7651916cd43dd8448eb211c80319c")
        let json = try GridHubJSON.encoder().encode(c)
        #expect(try GridHubJSON.decoder().decode(Case.self, from: json) == c)
        // The direct writer writes the traces too: what it writes reads back as the same case.
        let direct = try GridHubJSON.decoder().decode(Case.self, from: Data(c.jsonBytes()))
        #expect(direct == c)
    }
}
