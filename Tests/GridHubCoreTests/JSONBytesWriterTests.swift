import Foundation
import GridHubCore
import Testing

@Suite("Direct JSON writing")
struct JSONBytesWriterTests {
    /// Awkward text: quotes, backslashes, slashes, control characters, Chinese, emoji.
    static func text(_ rng: inout SplitMix64) -> String {
        let pieces = ["垃圾", "堆放", " ", "\"", "\\", "/", "\n", "\t", "\r", "\u{08}", "\u{0C}", "\u{01}", "\u{1F}", "\u{7F}", "é", "😀", "a", "Z", "123", "<", "&", "\u{2028}"]
        return (0..<Int(rng.next() % 12)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
    }

    static func double(_ rng: inout SplitMix64, in range: ClosedRange<Double>) -> Double {
        switch rng.next() % 5 {
        case 0: return range.lowerBound
        case 1: return Double(Int(range.lowerBound + Double(rng.next() % 1000) / 1000 * (range.upperBound - range.lowerBound)))
        case 2: return range.lowerBound + Double(rng.next() % 1_000_000_007) / 1_000_000_007 * (range.upperBound - range.lowerBound)
        case 3: return min(range.upperBound, range.lowerBound + 1e-7 * Double(rng.next() % 100))
        default: return range.upperBound
        }
    }

    static func randomCase(_ seed: UInt64) -> Case {
        var rng = SplitMix64(seed: seed)
        func pick<T>(_ values: [T]) -> T { values[Int(rng.next() % UInt64(values.count))] }
        let time = Date(millisecondsSince1970: 1_790_000_000_000 + Int64(rng.next() % 10_000_000_000))
        func location() -> Location {
            let placed = rng.next() % 4 != 0
            return Location(
                lat: placed ? double(&rng, in: 31.6...32.0) : nil, lon: placed ? double(&rng, in: 120.0...120.6) : nil,
                gridCode: rng.next() % 3 == 0 ? nil : "320281001006002", address: rng.next() % 2 == 0 ? nil : text(&rng),
                positioning: Positioning(method: pick(Positioning.Method.allCases), precision: rng.next() % 2 == 0 ? nil : pick(Positioning.Precision.allCases),
                                         confidence: rng.next() % 2 == 0 ? nil : double(&rng, in: 0...1),
                                         reportedCoordinateSystem: rng.next() % 2 == 0 ? nil : pick(Positioning.CoordinateSystem.allCases)))
        }
        func incident(_ n: Int) -> Incident {
            Incident(source: SourceRef(system: pick(SourceSystem.allCases), recordId: "R-\(seed)-\(n)", version: 1 + Int(rng.next() % 3)),
                     reportedAt: time, receivedAt: time, itemCode: rng.next() % 4 == 0 ? nil : "SR-00\(1 + rng.next() % 9)",
                     description: text(&rng), location: location(), urgent: rng.next() % 3 == 0, resolvedOnSite: false,
                     withdrawn: rng.next() % 4 == 0,
                     reporter: rng.next() % 3 == 0 ? Reporter(kind: .gridWorker, id: "WGY-\(rng.next() % 1_000)") : nil)
        }
        var c = Case(caseId: "C-\(seed)", openedBy: incident(0), at: time)
        for n in 1..<(1 + Int(rng.next() % 4)) {
            let evidence = MergeEvidence(distanceMeters: rng.next() % 3 == 0 ? nil : double(&rng, in: 0...5_000), timeGapSeconds: double(&rng, in: 0...400_000),
                                         itemRelation: pick(MergeEvidence.ItemRelation.allCases), textScore: double(&rng, in: 0...1))
            c.merge(incident(n), match: evidence, at: time.addingTimeInterval(Double(n) * 61.25))
        }
        if rng.next() % 3 != 0 {
            try? c.apply(.dispatch(department: "urban-mgmt", level: pick(Level.allCases), dispatchId: "D-\(seed)", dueAt: time.addingTimeInterval(86_400.5)), at: time)
            try? c.apply(.accept(dispatchId: "D-\(seed)"), at: time.addingTimeInterval(0.001))
            if rng.next() % 2 == 0 { try? c.apply(.resolve(dispatchId: "D-\(seed)", note: text(&rng)), at: time.addingTimeInterval(7_200)) }
        }
        // A citizen answered a survey about one of the reports.
        if rng.next() % 3 == 0, let report = c.reports.last { c.surveyed(report: report.incidentId, answeredAt: time.addingTimeInterval(9_000.25)) }
        c.location = location()
        return c
    }

    @Test("a case written directly is byte for byte what JSONEncoder writes, for 2 000 random cases")
    func caseMatchesEncoder() throws {
        let encoder = GridHubJSON.encoder()
        var withdrawn = 0, escaped = 0, surveyed = 0
        for seed in 0..<2_000 as Range<UInt64> {
            let c = Self.randomCase(seed)
            let expected = Array(try encoder.encode(c))
            let actual = c.jsonBytes()
            if actual != expected {
                Issue.record("seed \(seed):\n\(String(decoding: actual, as: UTF8.self))\n\(String(decoding: expected, as: UTF8.self))")
                return
            }
            if c.reports.contains(where: { $0.withdrawnAt != nil }) { withdrawn += 1 }
            if c.reports.contains(where: { $0.surveyedAt != nil }) { surveyed += 1 }
            if expected.contains(UInt8(ascii: "\\")) { escaped += 1 }
        }
        // The random cases did exercise the hard parts.
        #expect(withdrawn > 100 && escaped > 500 && surveyed > 300, "withdrawn \(withdrawn), escaped \(escaped), surveyed \(surveyed)")
    }

    @Test("a status record written directly is byte for byte what JSONEncoder writes")
    func statusMatchesEncoder() throws {
        let encoder = GridHubJSON.encoder()
        for seed in 0..<500 as Range<UInt64> {
            var rng = SplitMix64(seed: seed)
            let c = Self.randomCase(seed)
            let report = c.reports[Int(rng.next() % UInt64(c.reports.count))]
            let status = StatusUpdate(system: report.system, recordId: report.recordId, caseId: c.caseId, caseVersion: c.version, status: c.status,
                                      department: c.department, note: rng.next() % 3 == 0 ? nil : Self.text(&rng), at: c.updatedAt)
            let expected = Array(try encoder.encode(status))
            #expect(status.jsonBytes() == expected, "\(String(decoding: status.jsonBytes(), as: UTF8.self))\n\(String(decoding: expected, as: UTF8.self))")
        }
    }

    @Test("a dispatch written directly is byte for byte what JSONEncoder writes, with and without contacts and parties, masked and disclosed")
    func dispatchMatchesEncoder() throws {
        let masking = GridHubJSON.encoder(), revealing = GridHubJSON.encoder(disclosingPersonalData: .reveal)
        var withPersonalData = 0
        for seed in 0..<1_000 as Range<UInt64> {
            var rng = SplitMix64(seed: seed)
            let c = Self.randomCase(seed)
            let attachments = (0..<Int(rng.next() % 3)).map { _ in Self.text(&rng) }
            var d = Dispatch(dispatchId: "D-\(seed)", caseId: c.caseId, attempt: 1 + Int(rng.next() % 3), reason: Dispatch.Reason.allCases[Int(rng.next() % 4)],
                             department: "urban-mgmt", level: Level.allCases[Int(rng.next() % 3)], itemCode: c.itemCode, gridCode: c.gridCode,
                             dueAt: c.updatedAt.addingTimeInterval(3_600.25), issuedAt: c.updatedAt, urgent: c.urgent,
                             title: rng.next() % 2 == 0 ? nil : Self.text(&rng), description: c.description, location: c.location,
                             reports: c.reports.map(ReportRef.init), attachments: attachments)
            if rng.next() % 2 == 0 {
                d.contacts = (0..<(1 + Int(rng.next() % 3))).map { n in
                    Reporter(kind: .citizen, id: n == 0 ? nil : "U\(n)", name: PersonName(["张三", "欧阳娜娜", "李"][n]),
                             phone: n == 2 ? nil : PhoneNumber(["13812345678", "0510-86123456"][n]), anonymous: rng.next() % 3 == 0)
                }
                d.parties = (0..<Int(rng.next() % 3)).map { _ in PersonName(Self.text(&rng) + "公司") }
                withPersonalData += 1
            }
            for (encoder, disclosure) in [(masking, PersonalDataDisclosure.mask), (revealing, .reveal)] {
                let expected = Array(try encoder.encode(d)), actual = d.jsonBytes(disclosing: disclosure)
                if actual != expected {
                    Issue.record("seed \(seed), \(disclosure):\n\(String(decoding: actual, as: UTF8.self))\n\(String(decoding: expected, as: UTF8.self))")
                    return
                }
            }
        }
        #expect(withPersonalData > 300)
    }

    @Test("an incident written directly is byte for byte what JSONEncoder writes, masked and disclosed, for 2 000 random incidents")
    func incidentMatchesEncoder() throws {
        let masking = GridHubJSON.encoder(), revealing = GridHubJSON.encoder(disclosingPersonalData: .reveal)
        var withReporter = 0, anonymous = 0, withParties = 0
        for seed in 0..<2_000 as Range<UInt64> {
            let incident = Self.randomIncident(seed)
            let reporter = incident.reporter
            for (encoder, disclosure) in [(masking, PersonalDataDisclosure.mask), (revealing, .reveal)] {
                let expected = Array(try encoder.encode(incident)), actual = incident.jsonBytes(disclosing: disclosure)
                if actual != expected {
                    Issue.record("seed \(seed), \(disclosure):\n\(String(decoding: actual, as: UTF8.self))\n\(String(decoding: expected, as: UTF8.self))")
                    return
                }
            }
            if reporter != nil { withReporter += 1 }
            if reporter?.anonymous == true { anonymous += 1 }
            if !incident.parties.isEmpty { withParties += 1 }
        }
        #expect(withReporter > 1_000 && anonymous > 300 && withParties > 1_000, "\(withReporter) \(anonymous) \(withParties)")
    }

    /// A random incident: with or without a reporter (anonymous or not, a citizen or a grid worker),
    /// parties, attachments, title, item, time limit and resolution.
    static func randomIncident(_ seed: UInt64) -> Incident {
        var rng = SplitMix64(seed: seed &+ 7_777)
        let base = Self.randomCase(seed).reports.first!
        let time = Date(millisecondsSince1970: 1_790_000_000_000 + Int64(rng.next() % 10_000_000_000))
        let names = ["张三", "欧阳娜娜", "李", "王*", "Tom \"T\""], phones = ["13812345678", "0510-86123456", "138****5678", "+86 139 0000 1111", "12"]
        func pick(_ values: [String]) -> String { values[Int(rng.next() % UInt64(values.count))] }
        let reporter: Reporter? = switch rng.next() % 4 {
        case 0: nil
        case 1: Reporter(kind: .citizen, name: PersonName(pick(names)), phone: PhoneNumber(pick(phones)), anonymous: true)
        case 2: Reporter(kind: .citizen, id: rng.next() % 2 == 0 ? nil : Self.text(&rng), name: PersonName(pick(names)), phone: rng.next() % 2 == 0 ? nil : PhoneNumber(pick(phones)))
        default: Reporter(kind: .gridWorker, id: "WGY-\(rng.next() % 1_000)")
        }
        return Incident(
            source: SourceRef(system: base.system, recordId: base.recordId, version: base.version, category: rng.next() % 2 == 0 ? nil : Self.text(&rng),
                              timeLimitWorkingDays: rng.next() % 3 == 0 ? Int(rng.next() % 20) : nil),
            reportedAt: time, receivedAt: time.addingTimeInterval(Double(rng.next() % 100_000) / 1_000), itemCode: rng.next() % 4 == 0 ? nil : "SR-00\(1 + rng.next() % 9)",
            title: rng.next() % 2 == 0 ? nil : Self.text(&rng), description: Self.text(&rng), location: Self.randomCase(seed &+ 1).location,
            urgent: rng.next() % 3 == 0, resolvedOnSite: rng.next() % 5 == 0, resolution: rng.next() % 3 == 0 ? Self.text(&rng) : nil,
            withdrawn: rng.next() % 4 == 0, reporter: reporter,
            parties: (0..<Int(rng.next() % 3)).map { _ in PersonName(pick(names)) }, attachments: (0..<Int(rng.next() % 3)).map { _ in Self.text(&rng) })
    }

    @Test("report details written directly are byte for byte what JSONEncoder writes, revealed, for 2 000 random incidents")
    func reportDetailsMatchEncoder() throws {
        let revealing = GridHubJSON.encoder(disclosingPersonalData: .reveal)
        var checked = 0, withReporter = 0, withAttachments = 0, withoutTitle = 0
        for seed in 0..<2_000 as Range<UInt64> {
            guard let details = ReportDetails(Self.randomIncident(seed)) else { continue }
            let expected = Array(try revealing.encode(details)), actual = details.revealedJSONBytes()
            if actual != expected {
                Issue.record("seed \(seed):\n\(String(decoding: actual, as: UTF8.self))\n\(String(decoding: expected, as: UTF8.self))")
                return
            }
            checked += 1
            if details.reporter != nil { withReporter += 1 }
            if details.attachments != nil { withAttachments += 1 }
            if details.title == nil { withoutTitle += 1 }
        }
        #expect(checked > 1_500 && withReporter > 1_000 && withAttachments > 1_000 && withoutTitle > 300, "\(checked) \(withReporter) \(withAttachments) \(withoutTitle)")
    }
}
