import Foundation
import Testing
@testable import GridHubCore

/// Working days for sources' time limits (12345 `BLSX`), with the holiday calendar of Deploy/routing.json.
@Suite("Working days and sources' time limits")
struct WorkingCalendarTests {
    static let rules = CasePolicyTests.rules
    let calendar = WorkingCalendarTests.rules.calendar

    /// `text` as an instant, RFC 3339 (the texts here are all valid).
    func at(_ text: String) -> Date { RFC3339.parse(text)! }

    @Test("days: parsed as YYYY-MM-DD only, weekdays right, a day starts at midnight China Standard Time")
    func days() throws {
        let day = try #require(WorkingCalendar.Day(iso: "2026-12-05"))
        #expect(day.description == "2026-12-05" && day.weekday == 5, "5 December 2026 is a Saturday")
        #expect(WorkingCalendar.Day(iso: "2026-02-29") == nil && WorkingCalendar.Day(iso: "2026-13-01") == nil && WorkingCalendar.Day(iso: "2026-1-5") == nil)
        #expect(WorkingCalendar.Day(iso: "2028-02-29") != nil)
        #expect(day.start == at("2026-12-05T00:00:00+08:00"))
        #expect(WorkingCalendar.Day(at("2026-12-04T16:30:00Z")) == day, "half past midnight in Jiangyin is already the 5th")
        #expect(WorkingCalendar.Day(at("2026-12-04T15:59:59Z")).description == "2026-12-04")
        for text in ["1970-01-01", "1999-12-31", "2000-02-29", "2026-10-10", "2100-03-01"] {
            #expect(WorkingCalendar.Day(iso: text)?.description == text)
        }
    }

    @Test("the deadline is the end of the n-th working day after the call: weekends skipped, holidays skipped, exchanged weekend days worked")
    func deadlines() throws {
        // A call on Friday with one working day: due at the end of Monday.
        #expect(calendar.deadline(workingDays: 1, after: at("2026-11-27T16:00:00+08:00")) == at("2026-12-01T00:00:00+08:00"))
        // Five working days from a Wednesday: Thursday … the next Wednesday.
        #expect(calendar.deadline(workingDays: 5, after: at("2026-11-25T09:15:00+08:00")) == at("2026-12-03T00:00:00+08:00"))
        // Before National Day: 1–7 October are off, Saturday 10 October is worked.
        #expect(calendar.deadline(workingDays: 3, after: at("2026-09-30T10:00:00+08:00")) == at("2026-10-11T00:00:00+08:00"))
        // Spring Festival: 15–23 February off, Saturday 14 February worked.
        #expect(calendar.deadline(workingDays: 1, after: at("2026-02-13T10:00:00+08:00")) == at("2026-02-15T00:00:00+08:00"))
        #expect(calendar.deadline(workingDays: 2, after: at("2026-02-13T10:00:00+08:00")) == at("2026-02-25T00:00:00+08:00"))
        // 0 days: the end of the day of the call.
        #expect(calendar.deadline(workingDays: 0, after: at("2026-11-27T16:00:00+08:00")) == at("2026-11-28T00:00:00+08:00"))
        // The same dates without the holidays: weekends only.
        #expect(WorkingCalendar.weekendsOnly.deadline(workingDays: 3, after: at("2026-09-30T10:00:00+08:00")) == at("2026-10-06T00:00:00+08:00"))
        #expect(calendar.covers(at("2026-06-01T00:00:00+08:00")) && !calendar.covers(at("2031-06-01T00:00:00+08:00")))
    }

    @Test("a calendar with a date that is not one, or a day both holiday and working day, is refused with its line")
    func refused() throws {
        let text = try String(contentsOf: ReferenceTestData.packageRoot.appendingPathComponent("Deploy/routing.json"), encoding: .utf8)
        let badDate = text.replacingOccurrences(of: "\"2026-10-10\"", with: "\"2026-10-32\"")
        #expect { try RoutingRules(text: badDate, reference: ReferenceTestData.data) } throws: { error in
            "\(error)".contains("'2026-10-32' is not a date") && (error as? RoutingRulesError)?.line ?? 0 > 1
        }
        let both = text.replacingOccurrences(of: "\"2026-10-10\"", with: "\"2026-10-01\"")
        #expect { try RoutingRules(text: both, reference: ReferenceTestData.data) } throws: { error in
            "\(error)".contains("both a holiday and a working day")
        }
    }

    @Test("a 12345 order's BLSX is its incident's working-day limit; the first dispatch is due by the stricter of it and the item's limit")
    func hotlineTimeLimit() throws {
        var incident = try #require(ModelFixtures.incidents(count: 1).first)
        incident.source = SourceRef(system: .hotline12345, recordId: "JY12345-20261127-000123", version: 1, timeLimitWorkingDays: 1)
        incident.reportedAt = at("2026-11-27T16:00:00+08:00")
        let policy = CasePolicy(rules: Self.rules)
        let plan = policy.opened(by: incident, case: Case(caseId: "C-1", openedBy: incident, at: incident.reportedAt))
        let next = try #require(plan.dispatch)
        let endOfMonday = at("2026-12-01T00:00:00+08:00")
        #expect(next.dueBy == endOfMonday)
        // Issued at once, the source's limit (3 days) is stricter than a long item limit; issued on Monday
        // evening with a short one, the item's is.
        #expect(next.dueAt(issuedAt: incident.reportedAt) == min(endOfMonday, incident.reportedAt.addingTimeInterval(next.route.timeLimit)))
        var long = next
        long.route.timeLimit = 10 * 86_400
        #expect(long.dueAt(issuedAt: incident.reportedAt) == endOfMonday)
        var short = next
        short.route.timeLimit = 3_600
        let monday = at("2026-11-30T20:00:00+08:00")
        #expect(short.dueAt(issuedAt: monday) == monday.addingTimeInterval(3_600))
        // Without BLSX: the item's limit only.
        incident.source.timeLimitWorkingDays = nil
        #expect(policy.opened(by: incident, case: Case(caseId: "C-2", openedBy: incident, at: incident.reportedAt)).dispatch?.dueBy == nil)
    }

    @Test("a 12345 order whose BLSX ends before the case's due date brings it forward when it joins a case being worked on; the department gets its dispatch again; a looser limit only joins")
    func joiningStricterLimit() throws {
        let policy = CasePolicy(rules: Self.rules)
        let opener = try #require(ModelFixtures.incidents(count: 1).first)
        var c = Case(caseId: "C-1", openedBy: opener, at: at("2026-11-27T10:00:00+08:00"))
        try c.apply(.dispatch(department: "urban-mgmt", level: .village, dispatchId: "D1", dueAt: at("2026-12-04T10:00:00+08:00")), at: at("2026-11-27T10:00:00+08:00"))
        var order = try #require(ModelFixtures.incidents(count: 2).last)
        order.source = SourceRef(system: .hotline12345, recordId: "JY12345-20261127-000999", version: 1, timeLimitWorkingDays: 1)
        order.reportedAt = at("2026-11-27T16:00:00+08:00")
        let plan = policy.merged(order, into: c)
        let endOfMonday = at("2026-12-01T00:00:00+08:00")
        #expect(plan.events == [.due(dueAt: endOfMonday)] && plan.updatesDispatch && plan.audience == .only(order.incidentId) && plan.dispatch == nil)
        for event in plan.events { try c.apply(event, at: at("2026-11-27T16:01:00+08:00")) }
        #expect(c.dueAt == endOfMonday && c.status == .dispatched && policy.timer(for: c, resolvedAt: nil) == policy.warningTime(of: c))
        #expect((policy.warningTime(of: c) ?? .distantFuture) < endOfMonday)
        // Five working days end after the case's new due date: it only joins.
        order.source.timeLimitWorkingDays = 5
        let looser = policy.merged(order, into: c)
        #expect(looser.events.isEmpty && !looser.updatesDispatch)
    }

    @Test("the field travels in the incident only when the source has it, and is read back strictly, also by the direct decoder")
    func incidentField() throws {
        var incident = try #require(ModelFixtures.incidents(count: 1).first)
        let without = try GridHubJSON.encoder(disclosingPersonalData: .reveal).encode(incident)
        #expect(!String(decoding: without, as: UTF8.self).contains("timeLimitWorkingDays"))
        incident.source.timeLimitWorkingDays = 5
        let with = try GridHubJSON.encoder(disclosingPersonalData: .reveal).encode(incident)
        #expect(String(decoding: with, as: UTF8.self).contains("\"timeLimitWorkingDays\":5"))
        #expect(try GridHubJSON.decoder().decode(Incident.self, from: with) == incident)
        #expect(Incident.decodedDirectly(from: Array(with)) == incident)
        let negative = Data(String(decoding: with, as: UTF8.self).replacingOccurrences(of: "\"timeLimitWorkingDays\":5", with: "\"timeLimitWorkingDays\":-1").utf8)
        #expect(throws: (any Error).self) { try GridHubJSON.decoder().decode(Incident.self, from: negative) }
        #expect(Incident.decodedDirectly(from: Array(negative)) == nil)
    }
}
