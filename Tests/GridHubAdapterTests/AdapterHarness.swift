import AsyncHTTPClient
import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubTesting
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// Shared by the adapter tests: reference data loaded once, topics of the test's own, an adapter
/// runtime, and services run in a ServiceGroup that the test shuts down gracefully.
enum Fixtures {
    static let reference: ReferenceData = {
        do { return try ReferenceLocation.load(from: ReferenceLocation.directory(explicit: GridHubPaths.packageRoot.appendingPathComponent("Deploy/reference").path)) } catch {
            fatalError("reference data: \(error)")
        }
    }()

    /// A new folder's path under the temporary directory; the folder is removed when the test process
    /// exits (each run used to leave its folders behind: 2.9 GB after fifty runs of the suite).
    static func tempDir(_ name: String) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gridhub-\(name)-\(UUID().uuidString.prefix(8))")
        made.withLock { made in
            if made.isEmpty { atexit { Fixtures.removeMade() } }
            made.append(dir)
        }
        return dir
    }

    private static let made = Mutex<[URL]>([])

    private static func removeMade() {
        for dir in made.withLock({ $0 }) { try? FileManager.default.removeItem(at: dir) }
    }

    static let secret = Array("test-hotline-secret".utf8)
    static let apiKey = "test-elink-key"

    /// A work order placed at 人民东路188号 (grid 320281001006002), about street vendors.
    static func workOrder(_ id: String, version: Int = 1, anonymous: Bool = false, content: String = "每天晚上六点以后人民东路188号门口有很多摊贩占用人行道") -> Hotline12345.WorkOrder {
        Hotline12345.WorkOrder(
            id: id, version: version, calledAt: SourceSupport.parseLocalTime("2026-11-27 09:15:32")!, callerName: "张先生", callerPhone: "13812345678",
            anonymous: anonymous, orderType: "投诉", category: "城乡建设/市容环境/占道经营", title: "人民东路夜市摊贩占道", content: content,
            address: "江阴市澄江街道人民东路188号", urgent: false, timeLimitDays: 5,
            attachments: [.init(fileName: "photo1.jpg", url: "https://12345.example/files/abc.jpg")], remarks: "")
    }
}

/// Topics of one test.
struct TestTopics {
    var ingest: IngestPipeline.Topics
    var status: String
    var cluster: EmbeddedKafkaCluster

    static func make(_ cluster: EmbeddedKafkaCluster = TestKafka.cluster) async throws -> TestTopics {
        let names = try await TestKafka.makeTopics(["incidents", "surveys", "feedback", "deadletter", "status"], partitions: 3, on: cluster)
        return TestTopics(ingest: .init(incidents: names[0], surveys: names[1], feedback: names[2], deadLetter: names[3]), status: names[4], cluster: cluster)
    }

    func incidents(count: Int, settle: Duration = .milliseconds(1500)) async throws -> [Incident] {
        try await TestKafka.readAll(ingest.incidents, partitions: 3, count: count, cluster: cluster, timeout: .seconds(20), settle: settle).map(Self.incident)
    }

    func deadLetters(count: Int, settle: Duration = .milliseconds(1000)) async throws -> [ConsumerRecord] {
        try await TestKafka.readAll(ingest.deadLetter, partitions: 3, count: count, cluster: cluster, timeout: .seconds(20), settle: settle)
    }

    /// Everything on `topic` once it has been quiet for a second (for "nothing arrives").
    func quiet(_ topic: String) async throws -> [ConsumerRecord] {
        try await TestKafka.readUntilQuiet(topic, partitions: 3, cluster: cluster, quiet: .seconds(1))
    }

    static func incident(_ r: ConsumerRecord) -> Incident {
        let event = try! CloudEvent(headers: r.headers.map { (key: $0.key, value: $0.value) }, value: r.value)
        return try! event.decode(Incident.self)
    }
}

/// Runs services in a ServiceGroup for the body's duration, then shuts them down gracefully.
func withServices<T: Sendable>(_ services: [any Service], _ body: @Sendable () async throws -> T) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: TestKafka.quietLogger))
    return try await withThrowingTaskGroup(of: T?.self) { tasks in
        tasks.addTask { try await group.run(); return nil }
        do {
            let value = try await body()
            await group.triggerGracefulShutdown()
            while let next = try await tasks.next() { if next != nil { break } }
            return value
        } catch {
            await group.triggerGracefulShutdown()
            tasks.cancelAll()
            throw error
        }
    }
}

/// A port reported by a server once it listens.
final class PortBox: Sendable {
    private let stream: AsyncStream<Int>
    private let continuation: AsyncStream<Int>.Continuation
    init() { (stream, continuation) = AsyncStream.makeStream() }
    var callback: @Sendable (Int) async -> Void { { [continuation] in continuation.yield($0) } }
    func port() async -> Int {
        for await p in stream { return p }
        return 0
    }
}

/// A push adapter under test: runtime on the test's topics, its HTTP server.
struct PushAdapter {
    var runtime: AdapterRuntime
    var services: [any Service]
    var port: PortBox
    var stateDirectory: URL

    static func hotline(_ topics: TestTopics, stateDirectory: URL = Fixtures.tempDir("hotline"), maxBody: Int = 64 * 1024,
                        deliveryTimeout: Duration = .seconds(30), limits: HTTPLimits = HTTPLimits(),
                        now: @escaping @Sendable () -> Date = { Date() }) throws -> PushAdapter {
        let runtime = try AdapterRuntime(system: .hotline12345, kafka: TestKafka.client(topics.cluster), stateDirectory: stateDirectory, metrics: DaemonMetrics(),
                                         readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest, deliveryTimeout: deliveryTimeout)
        var config = HotlineIngest.Configuration(secret: Fixtures.secret)
        config.maxBodyBytes = maxBody
        config.now = now
        let ingest = HotlineIngest(configuration: config, pipeline: runtime.pipeline, reference: Fixtures.reference, logger: TestKafka.quietLogger)
        let port = PortBox()
        let server = try AdapterServer.application(address: ListenAddress(host: "127.0.0.1", port: 0), runtime: runtime, logger: TestKafka.quietLogger, limits: limits,
                                               routes: { ingest.addRoutes(to: $0) }, onListening: port.callback)
        return PushAdapter(runtime: runtime, services: runtime.baseServices + [server], port: port, stateDirectory: stateDirectory)
    }

    static func elink(_ topics: TestTopics, stateDirectory: URL = Fixtures.tempDir("elink")) throws -> PushAdapter {
        let runtime = try AdapterRuntime(system: .elink, kafka: TestKafka.client(topics.cluster), stateDirectory: stateDirectory, metrics: DaemonMetrics(),
                                         readiness: Readiness(), logger: TestKafka.quietLogger, topics: topics.ingest)
        let ingest = ElinkIngest(configuration: .init(apiKey: Fixtures.apiKey), pipeline: runtime.pipeline, reference: Fixtures.reference, logger: TestKafka.quietLogger)
        let port = PortBox()
        let server = try AdapterServer.application(address: ListenAddress(host: "127.0.0.1", port: 0), runtime: runtime, logger: TestKafka.quietLogger,
                                               routes: { ingest.addRoutes(to: $0) }, onListening: port.callback)
        return PushAdapter(runtime: runtime, services: runtime.baseServices + [server], port: port, stateDirectory: stateDirectory)
    }

    /// Runs the adapter for the body, handing it the base URL once listening and Kafka reachable.
    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let port = self.port
        let reach = runtime.reachability
        return try await withServices(services) {
            let p = await port.port()
            let deadline = ContinuousClock.now + .seconds(15)
            while !reach.isReachable && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            return try await body("http://127.0.0.1:\(p)")
        }
    }
}

