import Foundation
import GridHubCore
import GridHubRuntime
import Logging
import ServiceLifecycle
import Synchronization

/// Citizens and grid workers of the simulated city, reporting real problems through the source
/// systems' own interfaces: signed 12345 work orders (mostly GBK), 综治e通 batches from grid workers'
/// PADs (some solved on the spot), and — when their doubles are given — Woodpecker app reports and
/// enforcement export files. Problems fall where people live (grids weighted by population) and when
/// they are awake (an hourly profile on the simulated clock); one problem is often reported on
/// several channels; a small share of inputs is malformed the ways the specs describe; work orders
/// are retried and supplemented; citizens answer the hotline's satisfaction survey, a few dissatisfied.
public struct CityTraffic: Service {
    /// How much and what kind of traffic.
    public struct Behaviour: Sendable {
        /// Real problems per real second (before the hourly profile).
        public var problemsPerSecond: Double = 2
        /// Simulated seconds per real second.
        public var speed: Double = 60
        /// Share of inputs sent malformed.
        public var malformedShare: Double = 0.02
        /// Share of work orders pushed again unchanged (the platform missed the answer).
        public var retryShare: Double = 0.05
        /// Share of work orders supplemented later (a higher `BBH`).
        public var supplementShare: Double = 0.05
        /// Share of survey answers that are dissatisfied.
        public var dissatisfiedShare: Double = 0.1
        public var seed: UInt64 = 27
        /// The time reports are stamped with: the hub's clock (`gridhub dev` gives its simulated one,
        /// so that the time windows the hub keeps fill in simulated time too).
        public var clock: @Sendable () -> Date = { Date() }
        /// Grids whose worker games the count: besides the problems they really find, they file an easy
        /// item (exposed rubbish, a small ad …) every ``gamingInterval`` of real time.
        public var gamingGrids: [String] = []
        public var gamingInterval: Duration = .seconds(5)
        public init() {}
    }

    /// What the simulated city has sent: the ground truth the summary is compared with.
    public final class Ledger: Sendable {
        private let counts = Mutex<[String: Int]>([:])
        public init() {}
        public func add(_ key: String, _ n: Int = 1) { counts.withLock { $0[key, default: 0] += n } }
        /// `problems`, `reports.<system>`, `malformed.<system>`, `accepted.<system>`, `busy.<system>`, `surveys`, `dissatisfied`…
        public var snapshot: [String: Int] { counts.withLock { $0 } }
    }

    let reference: ReferenceData
    let hotline: HotlinePlatform
    let elink: ElinkPlatform
    let woodpecker: WoodpeckerAPI?
    let enforcement: EnforcementSystem?
    let behaviour: Behaviour
    let ledger: Ledger
    let logger: Logger

    public init(reference: ReferenceData, hotline: HotlinePlatform, elink: ElinkPlatform, woodpecker: WoodpeckerAPI? = nil, enforcement: EnforcementSystem? = nil,
                behaviour: Behaviour = Behaviour(), ledger: Ledger = Ledger(), logger: Logger) {
        self.reference = reference
        self.hotline = hotline
        self.elink = elink
        self.woodpecker = woodpecker
        self.enforcement = enforcement
        self.behaviour = behaviour
        self.ledger = ledger
        self.logger = logger
    }

    public func run() async throws {
        var rng = SplitMix64(seed: behaviour.seed)
        let world = CityModel(reference: reference)
        let started = ContinuousClock.now
        // The simulated day starts at 08:30 in Jiangyin, when people start reporting.
        var morning = Calendar(identifier: .gregorian)
        morning.timeZone = TimeZone(identifier: "Asia/Shanghai")!
        let simulatedStart = morning.date(bySettingHour: 8, minute: 30, second: 0, of: Date()) ?? Date()
        var sequence = 0
        var pendingElink: [[String: Any]] = []
        var lastElinkPush = ContinuousClock.now
        var surveyed: Set<String> = []
        var lastSurveyCheck = ContinuousClock.now
        var patrolCases: [EnforcementSystem.Row] = []
        var lastExport = ContinuousClock.now
        var lastGaming = ContinuousClock.now

        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let elapsed = (ContinuousClock.now - started).seconds
            let simulatedNow = simulatedStart.addingTimeInterval(elapsed * behaviour.speed)
            let hour = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "Asia/Shanghai")!, from: simulatedNow).hour ?? 12
            let rate = behaviour.problemsPerSecond * CityModel.hourlyProfile[hour]
            // Poisson arrivals in a 100 ms tick.
            let arrivals = CityModel.poisson(rate * 0.1, using: &rng)
            for _ in 0..<arrivals {
                sequence += 1
                ledger.add("problems")
                let problem = world.problem(using: &rng)
                let reported = behaviour.clock()
                var channels = world.channels(for: problem, using: &rng)
                if woodpecker != nil, rng.chance(0.45) { channels.append(.woodpecker) }
                if enforcement != nil, CityModel.enforcementCause(problem.item) != nil, rng.chance(0.5) { channels.append(.enforcement) }
                for channel in channels {
                    switch channel {
                    case .hotline12345:
                        await sendWorkOrder(problem, sequence: sequence, now: reported, world: world, rng: &rng)
                    case .elink:
                        pendingElink.append(world.elinkEvent(problem, sequence: sequence, now: reported, malformed: rng.chance(behaviour.malformedShare), rng: &rng))
                        ledger.add("reports.elink")
                    case .woodpecker:
                        if let woodpecker {
                            woodpecker.publish(world.appReport(problem, sequence: sequence, now: reported, rng: &rng))
                            ledger.add("reports.woodpecker")
                        }
                    case .enforcement:
                        if let cause = CityModel.enforcementCause(problem.item) {
                            patrolCases.append(EnforcementSystem.patrolCase(
                                id: "ZF2026-SIM-\(String(format: "%06d", sequence))", cause: cause, place: problem.place, at: reported,
                                withPosition: rng.chance(0.7), squad: "\(problem.place.townName.prefix(2))中队"))
                            ledger.add("reports.enforcement")
                        }
                    }
                }
            }
            if !behaviour.gamingGrids.isEmpty && ContinuousClock.now - lastGaming >= behaviour.gamingInterval {
                lastGaming = .now
                for grid in behaviour.gamingGrids {
                    guard let easy = world.easyProblem(in: grid, using: &rng) else { continue }
                    sequence += 1
                    pendingElink.append(world.elinkEvent(easy, sequence: sequence, now: behaviour.clock(), malformed: false, rng: &rng))
                    ledger.add("reports.elink")
                    ledger.add("gaming.elink")
                }
            }
            if !pendingElink.isEmpty && (ContinuousClock.now - lastElinkPush > .seconds(2) || pendingElink.count >= 200) {
                await pushElink(pendingElink, batch: sequence)
                pendingElink = []
                lastElinkPush = .now
            }
            if let enforcement, ContinuousClock.now - lastExport > .seconds(3) {
                lastExport = .now
                if !patrolCases.isEmpty {
                    let broken = rng.chance(behaviour.malformedShare * 5)
                    do {
                        try enforcement.export(patrolCases, broken: broken)
                        if broken { ledger.add("malformed.enforcement") }
                    } catch {
                        logger.info("enforcement export not written", metadata: ["error": .string("\(error)")])
                    }
                    patrolCases = []
                }
                ledger.add("statuslines.enforcement", enforcement.importStatus())
                _ = enforcement.unreadBrokenExports()  // forgets the broken exports the hub has read: bounded in long runs
            }
            if ContinuousClock.now - lastSurveyCheck > .seconds(1) {
                lastSurveyCheck = .now
                await answerSurveys(&surveyed, rng: &rng)
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        if !pendingElink.isEmpty { await pushElink(pendingElink, batch: sequence) }
    }

    private func sendWorkOrder(_ problem: CityModel.Problem, sequence: Int, now: Date, world: CityModel, rng: inout SplitMix64) async {
        ledger.add("reports.hotline12345")
        let encoding: TextEncoding = rng.chance(0.8) ? .gbk : .utf8
        if rng.chance(behaviour.malformedShare) {
            ledger.add("malformed.hotline12345")
            let broken = Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?><GDXX><GDBH>JY12345-BROKEN-\(sequence)</GDBH><SQNR>未闭合".utf8)
            _ = try? await hotline.push(path: "/hotline12345/workorders", body: broken, contentType: "application/xml; charset=UTF-8")
            return
        }
        var order = world.workOrder(problem, sequence: sequence, now: now, rng: &rng)
        await push(order, encoding: encoding)
        if rng.chance(behaviour.retryShare) {
            // The platform missed our answer and sends the same order again, signed anew (a signature
            // seen before is refused as a replay, so a real retry carries a new timestamp).
            ledger.add("retries.hotline12345")
            await push(order, encoding: encoding, timestamp: Int64(Date().timeIntervalSince1970) - 2)
        }
        if rng.chance(behaviour.supplementShare) {
            order.version += 1
            order.remarks = "来电人补充：问题仍然存在，请尽快处理"
            ledger.add("supplements.hotline12345")
            await push(order, encoding: encoding)
        }
    }

    private func push(_ order: Hotline12345.WorkOrder, encoding: TextEncoding, timestamp: Int64 = Int64(Date().timeIntervalSince1970)) async {
        do {
            let answer = try await hotline.push(order, encoding: encoding, timestamp: timestamp)
            ledger.add(answer.code == 0 ? "accepted.hotline12345" : "refused.hotline12345")
        } catch {
            ledger.add("unreachable.hotline12345")
        }
    }

    private func pushElink(_ events: [[String: Any]], batch: Int) async {
        let id = "ELB-\(batch)-\(UInt32.random(in: 0...UInt32.max))"
        do {
            let answer = try await elink.push(batchId: id, events: events)
            ledger.add("accepted.elink", answer.accepted ?? 0)
            ledger.add("rejected.elink", answer.rejected.count)
        } catch {
            ledger.add("unreachable.elink")
        }
    }

    /// Citizens whose work order was reported 办结 answer the survey once.
    private func answerSurveys(_ surveyed: inout Set<String>, rng: inout SplitMix64) async {
        let reports = hotline.received
        // Only orders the platform still remembers (its last 10 000 reports) need remembering here: the
        // set stays bounded in long runs (a soak found it growing by every order).
        surveyed.formIntersection(Set(reports.map(\.report.id)))
        for received in reports where received.report.state == "办结" && !surveyed.contains(received.report.id) {
            surveyed.insert(received.report.id)
            let dissatisfied = rng.chance(behaviour.dissatisfiedShare)
            let satisfaction: Satisfaction = dissatisfied ? .dissatisfied : (rng.chance(0.7) ? .satisfied : .basicallySatisfied)
            let note = dissatisfied ? "问题没有真正解决，还是老样子" : "处理及时，问题已解决"
            if (try? await hotline.pushSurvey(recordId: received.report.id, satisfaction: satisfaction, at: Date(), note: note))?.code == 0 {
                ledger.add("surveys")
                if dissatisfied { ledger.add("dissatisfied") }
            }
        }
    }
}

/// The simulated city's geography and people, from the reference data: where problems happen
/// (grids weighted by population) and what they are. Shared by the city traffic of `gridhub dev` and
/// the router's labelled corpus, so both draw the same kind of problems.
struct CityModel: Sendable {
    struct Problem: Sendable {
        var place: GazetteerEntry
        var item: CatalogueItem
    }

    let reference: ReferenceData
    let gridWeights: [(cumulative: Double, grid: String)]
    let addressesByGrid: [String: [GazetteerEntry]]
    let totalPopulation: Double

    /// Relative traffic per hour of the day (Asia/Shanghai).
    static let hourlyProfile: [Double] = [0.1, 0.05, 0.05, 0.05, 0.1, 0.2, 0.5, 0.9, 1.3, 1.5, 1.5, 1.3, 1.0, 1.2, 1.4, 1.4, 1.3, 1.2, 1.1, 1.0, 0.9, 0.6, 0.4, 0.2]

    init(reference: ReferenceData) {
        self.reference = reference
        var byGrid: [String: [GazetteerEntry]] = [:]
        for a in reference.gazetteer.entries { byGrid[a.gridCode, default: []].append(a) }
        addressesByGrid = byGrid
        var running = 0.0
        var weights: [(Double, String)] = []
        for grid in reference.grids where byGrid[grid.gridCode] != nil {
            running += Double(grid.population)
            weights.append((running, grid.gridCode))
        }
        gridWeights = weights
        totalPopulation = running
    }

    /// The grid worker of a grid (one per grid, as in Jiangyin): the staff id 综治e通 reports carry.
    static func worker(of gridCode: String) -> String { "WGY-\(gridCode)" }

    /// The catalogue's easy items (village level, not urgent): what a worker gaming the count reports.
    var easyItems: [CatalogueItem] { reference.items.filter { $0.level == .village && !$0.urgent } }

    /// A problem a gaming worker reports in their own grid: an easy item, often one that is not there.
    func easyProblem(in gridCode: String, using rng: inout SplitMix64) -> Problem? {
        guard let places = addressesByGrid[gridCode], !places.isEmpty else { return nil }
        let easy = easyItems
        return Problem(place: places[Int(rng.next() % UInt64(places.count))], item: easy[Int(rng.next() % UInt64(easy.count))])
    }

    func problem(using rng: inout SplitMix64) -> Problem {
        let target = Double.random(in: 0..<totalPopulation, using: &rng)
        var lo = 0, hi = gridWeights.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if gridWeights[mid].cumulative <= target { lo = mid + 1 } else { hi = mid }
        }
        let places = addressesByGrid[gridWeights[lo].grid] ?? reference.gazetteer.entries
        let place = places[Int(rng.next() % UInt64(places.count))]
        let item = reference.items[Int(rng.next() % UInt64(reference.items.count))]
        return Problem(place: place, item: item)
    }

    /// Which channels report the problem: one to three, citizens on the hotline and the app, grid
    /// workers on 综治e通.
    func channels(for problem: Problem, using rng: inout SplitMix64) -> [SourceSystem] {
        var all: [SourceSystem] = [.hotline12345, .elink]
        all.shuffle(using: &rng)
        let n = rng.chance(0.35) ? 2 : 1
        return Array(all.prefix(n))
    }

    func workOrder(_ problem: Problem, sequence: Int, now: Date, rng: inout SplitMix64) -> Hotline12345.WorkOrder {
        let item = problem.item
        let path = SourceCategoryTables.hotlinePaths.first { $0.item == item.code }?.path ?? "其他"
        let keyword = item.keywordsZh[Int(rng.next() % UInt64(item.keywordsZh.count))]
        let surname = ["张", "王", "李", "赵", "陈", "刘", "周", "吴"][Int(rng.next() % 8)]
        let phone = "1" + ["38", "39", "58", "86", "77"][Int(rng.next() % 5)] + String(format: "%08d", Int(rng.next() % 100_000_000))
        let day = CityModel.compactDate(now)
        // Operators often write a number to call into the text: the caller's, or a landline on site.
        let callBack = rng.chance(0.25) ? (rng.chance(0.7) ? "联系电话\(phone)" : "现场物业电话0510-86\(String(format: "%06d", Int(rng.next() % 1_000_000)))") : ""
        return Hotline12345.WorkOrder(
            id: "JY12345-\(day)-\(String(format: "%06d", sequence))", version: 1, calledAt: now,
            callerName: surname + (rng.chance(0.5) ? "先生" : "女士"), callerPhone: phone, anonymous: rng.chance(0.1),
            orderType: ["投诉", "求助", "举报"][Int(rng.next() % 3)], category: path, title: keyword,
            content: "\(CityModel.spot(problem.place))\(keyword)，已经好几天了，请有关部门尽快处理。\(callBack)",
            address: CityModel.typed(problem.place, rng: &rng), urgent: item.urgent, timeLimitDays: nil)
    }

    /// A citizen's report in the City Woodpecker app: GCJ-02 from the app's map SDK, some BD-09
    /// from the Baidu entry, a few WGS-84 Android phones; the app's own type list.
    func appReport(_ problem: Problem, sequence: Int, now: Date, rng: inout SplitMix64) -> Woodpecker.Report {
        let item = problem.item
        let type = SourceCategoryTables.woodpeckerTypes.first { $0.item == item.code }?.label ?? "其他"
        let keyword = item.keywordsZh[Int(rng.next() % UInt64(item.keywordsZh.count))]
        let fix = problem.place.coordinate.offset(metres: abs(rng.gaussian()) * 20, bearing: Double.random(in: 0..<360, using: &rng))
        let roll = Double.random(in: 0..<1, using: &rng)
        let (system, label): (CoordinateSystem, String) = roll < 0.8 ? (.gcj02, "gcj02") : roll < 0.93 ? (.bd09, "bd09") : (.wgs84, "wgs84")
        let shown = ChinaCoordinates.fromWGS84(fix, to: system)
        let mobile = "139\(String(format: "%08d", Int(rng.next() % 100_000_000)))"
        let callMe = rng.chance(0.2) ? "，有问题打我电话\(mobile)" : ""
        return Woodpecker.Report(
            id: "WP\(CityModel.compactDate(now))\(String(format: "%07d", sequence))", revision: 1, createdAt: now, updatedAt: now,
            userId: "u_\(String(rng.next() % 0xFFFFFF, radix: 16))", nickname: "市民\(rng.next() % 1000)", mobile: mobile,
            typeName: type, content: "\(CityModel.spot(problem.place))\(keyword)\(callMe)", images: ["https://woodpecker.example/img/\(sequence).jpg"],
            lng: shown.lon, lat: shown.lat, coordType: label, address: "江苏省无锡市江阴市\(problem.place.road)附近", state: "submitted")
    }

    /// The enforcement system's 案由 for an item, if enforcement squads handle it.
    static func enforcementCause(_ item: CatalogueItem) -> String? {
        SourceCategoryTables.enforcementCauses.first { $0.item == item.code }?.label
    }

    func elinkEvent(_ problem: Problem, sequence: Int, now: Date, malformed: Bool, rng: inout SplitMix64) -> [String: Any] {
        let item = problem.item
        // A problem without a type of its own goes under its family's 其他.
        let type: (code: String, name: String) = SourceCategoryTables.elinkTypes.first { $0.item == item.code }.map { ($0.code, $0.name) }
            ?? SourceCategoryTables.elinkOtherType(group: item.groupZh)
        let keyword = item.keywordsZh[Int(rng.next() % UInt64(item.keywordsZh.count))]
        let noFix = rng.chance(0.1)
        let fix = problem.place.coordinate.offset(metres: abs(rng.gaussian()) * 12, bearing: Double.random(in: 0..<360, using: &rng))
        let solved = rng.chance(0.15)
        var event: [String: Any] = [
            "sjbh": "ZZ\(problem.place.gridCode)-\(CityModel.compactDate(now))-\(String(format: "%05d", sequence))",
            "sjlx": type.code, "sjlxmc": type.name,
            "sjms": "\(CityModel.spot(problem.place))\(keyword)",
            "wgbm": problem.place.gridCode, "sbr": CityModel.worker(of: problem.place.gridCode), "sbrxm": "网格员",
            "sbsj": RFC3339.format(now),
            "x": noFix ? 0 : fix.lon, "y": noFix ? 0 : fix.lat,
            "zp": ["https://elink.example/p/\(sequence).jpg"],
            "zxcz": solved ? 1 : 0, "czjg": solved ? "已现场劝导并处置完毕" : "",
        ]
        if malformed {
            event["sbsj"] = "昨天上午"  // not a time: the platform's own data-entry bug
        }
        return event
    }

    /// The address as a call-centre operator might type it.
    static func typed(_ place: GazetteerEntry, rng: inout SplitMix64) -> String {
        let plate = "\(place.road)\(place.number)号"
        switch rng.next() % 5 {
        case 0: return place.fullAddress
        case 1: return "\(place.townName)\(plate)"
        case 2: return plate
        case 3: return "江阴市\(place.townName)\(place.road)" + String(place.number).map { fullWidth($0) }.joined() + "号"
        default: return place.poi.isEmpty ? place.fullAddress : "\(place.poi)附近"
        }
    }

    static func spot(_ place: GazetteerEntry) -> String { place.poi.isEmpty ? "\(place.road)\(place.number)号" : place.poi }

    static func fullWidth(_ c: Character) -> String {
        guard let v = c.asciiValue, (48...57).contains(v), let s = Unicode.Scalar(0xFF10 + UInt32(v - 48)) else { return String(c) }
        return String(Character(s))
    }

    static func compactDate(_ date: Date) -> String {
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "Asia/Shanghai")!, from: date)
        return String(format: "%04d%02d%02d", c.year ?? 2026, c.month ?? 1, c.day ?? 1)
    }

    static func poisson(_ lambda: Double, using rng: inout SplitMix64) -> Int {
        let limit = exp(-lambda)
        var k = 0
        var p = 1.0
        repeat {
            k += 1
            p *= Double.random(in: 0..<1, using: &rng)
        } while p > limit && k < 1_000
        return k - 1
    }
}

extension SplitMix64 {
    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { unit() < p }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }
    /// A standard normal sample (Box–Muller).
    mutating func gaussian() -> Double {
        let u1 = max(unit(), 1e-12)
        let u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
