import ArgumentParser
import Foundation
import GridHubAdapters
import GridHubConsole
import GridHubCore
import GridHubKafka
import GridHubRouter
import GridHubRuntime
import GridHubTools
import GridHubSimulation
import Logging
import ServiceLifecycle

/// `gridhub dev`: the whole hub and a simulated city on one machine — the same services as the
/// daemons, in one process, on the embedded broker and a private PostgreSQL.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run the whole hub with a simulated city: embedded broker, private PostgreSQL, adapters, router, source systems, departments, citizens, and a live summary.",
        discussion: """
            The first stdout line is GRIDHUB_BOOTSTRAP=…. Ctrl-C stops everything cleanly within 30 s; a second Ctrl-C stops at \
            once. Each run starts from an empty state (the embedded broker starts empty, so the database and the adapters' \
            memory of the previous run would not match it). Logs go to <state-dir>/gridhub.log (the previous run's to gridhub.log.1).
            """
    )

    @Option(help: "Stop after this long (e.g. 30s, 5m); default: until Ctrl-C.") var duration: String?
    @Option(help: "Real problems reported per second (before the hours-of-the-day profile).") var rate: Double = 2
    @Option(help: "Simulated seconds per real second (department delays and deadlines run this much faster).") var speed: Double = 120
    @Option(help: "Brokers in the embedded cluster.") var brokers: Int = 1
    @Option(help: "Use this Kafka cluster instead of an embedded one: a fresh one whose contract topics exist, e.g. from `gridhub broker` (so that the hub's memory can be measured apart from the broker's).")
    var bootstrap: String?
    @Option(help: "Folder for the private database, adapter state and logs (emptied of the previous run's state at start).") var stateDir: String = "var/dev"
    @Option(help: "Folder of the reference data.") var referenceDir: String?
    @Flag(help: "Do not draw the live summary (print it once at the end).") var noSummary = false
    @Option(help: "Grid workers who game the count, padding it with easy items (the console's report-mix flags should find them).") var gamingWorkers: Int = 1

    func validate() throws {
        if let duration, DevCommand.parseDuration(duration) == nil { throw ValidationError("--duration must look like 30s, 5m or 1h") }
        guard rate > 0, speed > 0 else { throw ValidationError("--rate and --speed must be positive") }
    }

    /// Takes `<state>/dev.lock` (an exclusive `flock`), writing this process's id in it; refuses when
    /// another process holds it.
    static func lockStateFolder(_ state: URL) throws -> Int32 {
        let path = state.appendingPathComponent("dev.lock").path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CommandFailure("cannot open \(path): errno \(errno)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(fd)
            throw CommandFailure("another gridhub dev (pid \(holder)) runs with --state-dir \(state.path): stop it, or give this one another --state-dir")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return fd
    }

    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3_600)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let n = Double(text.dropLast(suffix.count)), n > 0 { return .milliseconds(Int64(n * factor * 1_000)) }
        }
        return Double(text).map { .milliseconds(Int64($0 * 1_000)) }
    }

    func run() async throws {
        let state = URL(fileURLWithPath: stateDir).standardizedFileURL
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        // One gridhub dev per state folder: a second one would empty the first one's state and stop its
        // PostgreSQL. The lock goes with the process, however it ends.
        let lock = try Self.lockStateFolder(state)
        defer { close(lock) }
        let logPath = state.appendingPathComponent("gridhub.log").path
        try? FileManager.default.removeItem(atPath: logPath + ".1")
        try? FileManager.default.moveItem(atPath: logPath, toPath: logPath + ".1")
        Runtime.bootstrapLogging(toFile: logPath)
        let logger = Logger(label: "gridhub.dev")

        // Kafka: the embedded broker with every contract topic (or a cluster named by --bootstrap).
        let directory = try ReferenceLocation.directory(explicit: referenceDir)
        let reference = try ReferenceLocation.load(from: directory)
        var cluster: EmbeddedKafkaCluster? = nil
        if bootstrap == nil {
            let embedded = try EmbeddedKafkaCluster(brokers: brokers, logger: logger)
            try await embedded.createTopics(TopicPlan.topics(departments: reference.departments).map { .init($0.name, partitions: $0.partitions) })
            cluster = embedded
        }
        let bootstrapServers = bootstrap ?? cluster?.bootstrapServers ?? ""
        StandardOutput.writeLine("GRIDHUB_BOOTSTRAP=\(bootstrapServers)")
        let kafka = KafkaClientConfiguration(bootstrapServers: bootstrapServers)

        // PostgreSQL: the one named by GRIDHUB_DATABASE_URL, or a private one.
        var postgres: PostgresInstance? = nil
        let databaseURL: String
        if let url = try DaemonSupport.optionalSecret(.databaseURL) {
            databaseURL = url
        } else {
            let instance = try PostgresInstance(configuration: .init(dataDirectory: state.appendingPathComponent("postgres"), port: try freeLoopbackPort()), logger: logger)
            try await instance.discardCluster()
            try await instance.start()
            postgres = instance
            databaseURL = instance.url
        }

        do {
            try await runHub(reference: reference, directory: directory, kafka: kafka, databaseURL: databaseURL, state: state, logPath: logPath, logger: logger)
        } catch {
            try? await postgres?.stop()
            await cluster?.shutdown()
            throw error
        }
        try? await postgres?.stop()
        await cluster?.shutdown()
    }

    /// The folders of a run's state under `--state-dir`, emptied at start: the embedded broker starts
    /// empty, so offsets, ledgers and cursors of an earlier run would skip or refuse its records.
    static let stateFolders = ["hotline12345", "elink", "woodpecker", "enforcement", "enforcement-inbox", "enforcement-outbox"]

    private func runHub(reference: ReferenceData, directory: URL, kafka: KafkaClientConfiguration, databaseURL: String, state: URL, logPath: String, logger: Logger) async throws {
        for folder in Self.stateFolders { try? FileManager.default.removeItem(at: state.appendingPathComponent(folder)) }
        let metrics = DaemonMetrics()
        metrics.bootstrapMetricsSystem()
        let readiness = Readiness()
        let hotlineSecret = Array("gridhub-dev-hotline-secret".utf8)
        let elinkKey = "gridhub-dev-elink-key"
        let host = "127.0.0.1"
        let hotlinePort = try freeLoopbackPort(), elinkPort = try freeLoopbackPort()
        let platformPort = try freeLoopbackPort(), adminPort = try freeLoopbackPort()

        // The router, exactly as `gridhub router` builds it.
        let rules = try RouterDaemon.loadRules(path: RouterDaemon.defaultRulesPath(referenceDirectory: directory), reference: reference)
        let speed = self.speed
        let started = Date()
        // The hub's clock: simulated time, `speed` times faster than real time, for the router, the
        // adapters' ledgers and the times the simulated city stamps its reports with.
        let clock: @Sendable () -> Date = { started.addingTimeInterval(Date().timeIntervalSince(started) * speed) }
        let environment = RouterEnvironment(reference: reference, rules: rules, now: clock)
        var routerConfiguration = RouterDaemon.Configuration(databaseURL: databaseURL, kafka: kafka)
        // The report mix is looked at every half minute, not every hour: the city's days pass fast here.
        routerConfiguration.reportMixInterval = .seconds(30)
        let router = try RouterDaemon(configuration: routerConfiguration, environment: environment, metrics: metrics, logger: Logger(label: "gridhub.router"))
        router.register(in: readiness)

        // The adapters, built by the same calls as their daemons (`gridhub adapter …`), their health
        // and metrics served by the one admin endpoint below.
        let ledgerRetention = try DaemonSupport.ledgerRetention()
        func runtime(_ system: SourceSystem, _ folder: String) throws -> AdapterRuntime {
            try AdapterRuntime(system: system, kafka: kafka, stateDirectory: state.appendingPathComponent(folder), metrics: metrics, readiness: readiness,
                               logger: Logger(label: "gridhub.adapter.\(system.rawValue)"), ledgerRetention: ledgerRetention, clock: clock)
        }
        let hotlineRuntime = try runtime(.hotline12345, "hotline12345")
        let hotline = try AdapterDaemons.services(
            AdapterDaemons.Hotline12345Settings(listen: ListenAddress(host: host, port: hotlinePort), hotlineURL: "http://\(host):\(platformPort)", secret: hotlineSecret),
            runtime: hotlineRuntime, reference: reference, logger: hotlineRuntime.logger)
        let elinkRuntime = try runtime(.elink, "elink")
        let elink = try AdapterDaemons.services(AdapterDaemons.ElinkSettings(listen: ListenAddress(host: host, port: elinkPort), apiKey: elinkKey),
                                            runtime: elinkRuntime, reference: reference, logger: elinkRuntime.logger)
        let woodpeckerToken = "gridhub-dev-woodpecker-token"
        let woodpeckerPort = try freeLoopbackPort()
        let woodpeckerURL = "http://\(host):\(woodpeckerPort)"
        var woodpeckerSettings = AdapterDaemons.WoodpeckerSettings(apiURL: woodpeckerURL, token: woodpeckerToken, adminListen: nil)
        woodpeckerSettings.idleInterval = .milliseconds(500)
        let woodpeckerRuntime = try runtime(.woodpecker, "woodpecker")
        let woodpecker = try AdapterDaemons.services(woodpeckerSettings, runtime: woodpeckerRuntime, reference: reference, logger: woodpeckerRuntime.logger)
        let inbox = state.appendingPathComponent("enforcement-inbox"), outbox = state.appendingPathComponent("enforcement-outbox")
        let enforcementSystem = try EnforcementSystem(inbox: inbox, outbox: outbox)
        let enforcementRuntime = try runtime(.enforcement, "enforcement")
        let enforcement = try AdapterDaemons.services(AdapterDaemons.EnforcementSettings(inbox: inbox, outbox: outbox, adminListen: nil),
                                                      runtime: enforcementRuntime, reference: reference, logger: enforcementRuntime.logger)

        // The simulated city: source systems, citizens, grid workers, department desks.
        let woodpeckerAPI = WoodpeckerAPI(token: woodpeckerToken)
        let woodpeckerServer = woodpeckerAPI.server(port: woodpeckerPort, logger: Logger(label: "gridhub.sim.woodpecker")) { _ in }
        let hotlinePlatform = HotlinePlatform(hubURL: "http://\(host):\(hotlinePort)", secret: hotlineSecret)
        let platformServer = hotlinePlatform.server(port: platformPort, logger: Logger(label: "gridhub.sim.hotline")) { _ in }
        let elinkPlatform = ElinkPlatform(hubURL: "http://\(host):\(elinkPort)", apiKey: elinkKey)
        var behaviour = CityTraffic.Behaviour()
        behaviour.problemsPerSecond = rate
        behaviour.speed = speed
        behaviour.clock = clock
        // The planted gaming workers: grids of the most populous town, so that their peers report enough.
        if gamingWorkers > 0 {
            let towns = Dictionary(grouping: reference.grids, by: \.townCode)
            let busiest = towns.max { ($0.value.reduce(0) { $0 + $1.population }, $1.key) < ($1.value.reduce(0) { $0 + $1.population }, $0.key) }?.value ?? []
            behaviour.gamingGrids = busiest.sorted { $0.population > $1.population }.prefix(gamingWorkers).map(\.gridCode)
        }
        let ledger = CityTraffic.Ledger()
        let traffic = CityTraffic(reference: reference, hotline: hotlinePlatform, elink: elinkPlatform, woodpecker: woodpeckerAPI, enforcement: enforcementSystem, behaviour: behaviour, ledger: ledger, logger: Logger(label: "gridhub.sim.city"))
        var deskBehaviour = DepartmentDesks.Behaviour()
        deskBehaviour.speed = speed
        let deskStatistics = DepartmentDesks.Statistics()
        let desks = DepartmentDesks(client: kafka, departments: reference.departments, behaviour: deskBehaviour, statistics: deskStatistics, logger: Logger(label: "gridhub.sim.desks"))
        let admin = AdminRoutes.application(address: ListenAddress(host: host, port: adminPort), readiness: readiness, metrics: metrics, logger: logger)

        // The command centre's console, as `gridhub console` builds it, with one city operator whose
        // password is made up for this run.
        let consolePort = try freeLoopbackPort()
        let consolePassword = String(ConsoleSessions.randomToken().prefix(12))
        let consoleUsers = try ConsoleUsers([ConsoleUser(name: "operator", password: ConsoleUsers.hash(password: consolePassword), scope: "city")], reference: reference)
        var consoleConfiguration = Console.Configuration(listen: ListenAddress(host: host, port: consolePort), databaseURL: databaseURL, kafka: kafka)
        consoleConfiguration.now = clock
        let console = try Console(configuration: consoleConfiguration, reference: reference, users: consoleUsers, logger: Logger(label: "gridhub.console"))

        // Where everything listens.
        let lines = [
            "GRIDHUB_DATABASE_URL=\(databaseURL)",
            "hotline12345 adapter  http://\(host):\(hotlinePort)/hotline12345/workorders",
            "elink adapter         http://\(host):\(elinkPort)/elink/events",
            "router + dev admin    http://\(host):\(adminPort)/metrics  /healthz  /readyz",
            "console               http://\(host):\(consolePort)/  (user operator, password \(consolePassword))",
            "12345 platform double http://\(host):\(platformPort)/api/v1/gd/fk",
            "woodpecker API double \(woodpeckerURL)/open/v2/reports",
            "enforcement files     \(inbox.path) → \(outbox.path)",
            "logs                  \(logPath)",
            "planted gaming worker \(behaviour.gamingGrids.isEmpty ? "none" : behaviour.gamingGrids.map { "WGY-" + $0 }.joined(separator: " "))",
            "try: GRIDHUB_BOOTSTRAP=\(kafka.bootstrapServers) gridhub tail gridhub.cases.v1",
        ]
        for line in lines { StandardOutput.writeLine(line) }

        let summary = HubSummary()
        let title: @Sendable () -> String = {
            let elapsed = Date().timeIntervalSince(started)
            let simulated = started.addingTimeInterval(elapsed * speed)
            return "GridHub dev — \(Int(elapsed)) s real, simulated \(RFC3339.format(simulated))  console http://\(host):\(consolePort)/ (operator / \(consolePassword))"
        }
        let summaryService = LiveSummaryService(
            summary: summary, client: kafka, topics: HubSummary.topics(departments: reference.departments),
            interval: noSummary ? .seconds(3_600) : .seconds(1), logger: Logger(label: "gridhub.dev.summary"), title: title) { screen in
            if !noSummary { StandardOutput.write(screen) }
        }

        // Shut down in reverse order: the city stops first, then the hub, and the summary last,
        // after it has read everything the others wrote.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: summaryService)]
        for s in router.services + hotline + elink + woodpecker + enforcement { services.append(.init(service: s)) }
        for s in try console.services(readiness: Readiness(), metrics: metrics) { services.append(.init(service: s)) }
        // The city starts once the hub can take its reports: the router holds its partitions (its
        // group's first assignment takes a few seconds) and every adapter has reached Kafka. Started
        // with the hub, the first reports waited 2-3 s for the router, and that start-up was most of
        // the p99 shown below for the whole run.
        let adapters = [hotlineRuntime, elinkRuntime, woodpeckerRuntime, enforcementRuntime]
        let consumer = router.consumer
        let city = StartWhen(traffic, logger: logger) { consumer.hasPartitions && adapters.allSatisfy { $0.reachability.isReachable } }
        for s in [platformServer, woodpeckerServer, admin, desks, city] as [any Service] { services.append(.init(service: s)) }
        if let text = duration, let limit = DevCommand.parseDuration(text) {
            services.append(.init(service: StopAfter(limit), successTerminationBehavior: .gracefullyShutdownGroup))
        }
        try await DaemonContext.runUntilSignalled(DaemonContext.serviceGroup(services, logger: logger), logger: logger)

        // The final summary, and the city's own account to compare it with: a broken export the city
        // wrote just before the hub stopped is still in the inbox, unread (the next start reads it).
        StandardOutput.writeLine("\n" + summary.render(title: title()))
        ledger.add("malformed.enforcement.unread", enforcementSystem.unreadBrokenExports())
        let sent = ledger.snapshot.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "  ")
        StandardOutput.writeLine("city sent        " + sent)
        let desk = deskStatistics.snapshot.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "  ")
        StandardOutput.writeLine("desks            " + desk)
        StandardOutput.writeLine("12345 results    \(hotlinePlatform.receivedCount) received by the hotline double, all signed: \(hotlinePlatform.received.allSatisfy(\.signatureValid))")
        StandardOutput.writeLine("app replies      \(woodpeckerAPI.repliesCount) received by the Woodpecker double")
        StandardOutput.writeLine("outbox           \(enforcementSystem.importStatus() + enforcementSystem.statusLinesImported) status lines imported by the enforcement double")
    }
}

/// Runs `service` once `ready` holds (checked every 50 ms), or after `limit` with a warning: a hub that
/// does not get ready still shows what it does with the city's reports.
struct StartWhen: Service {
    let service: any Service
    let logger: Logger
    let limit: Duration
    let ready: @Sendable () -> Bool

    init(_ service: any Service, logger: Logger, limit: Duration = .seconds(60), ready: @escaping @Sendable () -> Bool) {
        self.service = service
        self.logger = logger
        self.limit = limit
        self.ready = ready
    }

    func run() async throws {
        let started = ContinuousClock.now
        while !ready() {
            if ContinuousClock.now - started > limit { break }
            do { try await Task.sleep(for: .milliseconds(50)) } catch { return }
            if Task.isShuttingDownGracefully { return }
        }
        let waited: Logger.Metadata = ["gridhub.duration_ms": .stringConvertible(Int((ContinuousClock.now - started) / .milliseconds(1)))]
        if ready() {
            logger.info("the hub is ready; the city starts", metadata: waited)
        } else {
            logger.warning("the hub is not ready; the city starts anyway", metadata: waited)
        }
        try await service.run()
    }
}

/// Ends the group gracefully after a fixed time (`--duration`).
struct StopAfter: Service {
    let limit: Duration
    init(_ limit: Duration) { self.limit = limit }
    func run() async throws {
        try? await Task.sleep(for: limit)
    }
}
