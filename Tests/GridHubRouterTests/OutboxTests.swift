import Foundation
import GridHubCore
import GridHubKafka
@testable import GridHubRouter
import GridHubRuntime
import GridHubTesting
import PostgresNIO
import ServiceLifecycle
import Testing

/// The outbox holds one body of records per transaction; the publisher must get back exactly the
/// records the transaction wrote, and a database left by the version with one row per record must
/// still be published after the upgrade.
@Suite("Outbox bodies", .timeLimit(.minutes(3)))
struct OutboxTests {
    /// A world whose database has the router's current schema: a router ran until it had migrated it.
    static func migratedWorld() async throws -> RouterWorld {
        let world = try await RouterWorld()
        try await world.withRouter { _ in
            let deadline = ContinuousClock.now + .seconds(20)
            while (try? await TestPostgres.query(world.databaseURL, "SELECT delivered FROM outbox LIMIT 0")) == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return world
    }

    @Test("a body gives back its records byte for byte: no key and empty key kept apart, headers in order, any bytes")
    func bodyRoundTrip() throws {
        var rng = SplitMix64(seed: 20_261_128)
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        for _ in 0..<300 {
            let records = (0..<Int(rng.next() % 6)).map { i in
                OutboxRecord(
                    topic: ["gridhub.cases.v1", "gridhub.status.hotline12345.v1", "gridhub.dispatch.城管局.v1"][i % 3],
                    key: [nil, [], bytes(Int(rng.next() % 40))][Int(rng.next() % 3)],
                    value: bytes(Int(rng.next() % 3000)),
                    headers: (0..<Int(rng.next() % 5)).map { _ in KafkaHeader(key: "ce_\(rng.next() % 100)", value: bytes(Int(rng.next() % 30))) })
            }
            #expect(try OutboxRecord.records(in: OutboxRecord.body(records)) == records)
        }
    }

    @Test("a body cut short is refused with the reason, not read as fewer records")
    func truncatedBody() throws {
        let record = OutboxRecord(topic: "gridhub.cases.v1", key: Array("k".utf8), value: Array("{}".utf8), headers: [KafkaHeader(key: "ce_id", value: Array("1".utf8))])
        let whole = OutboxRecord.body([record, record]).allBytes
        #expect(try OutboxRecord.records(in: .init(bytes: whole)) == [record, record])
        #expect(throws: RouterError.self) { try OutboxRecord.records(in: .init(bytes: Array(whole.dropLast(3)))) }
    }

    @Test("records left in the previous version's outbox (one row each) are published, in order and unchanged, after the upgrade")
    func upgradeFromRowPerRecord() async throws {
        let world = try await RouterWorld()
        // The schema as the previous version left it (migration steps 0–9), with three records pending.
        let previous = Array(RouterStore.migrations.prefix(10))
        #expect(previous.last == "ALTER TABLE reports ADD COLUMN personal bytea", "steps 0–9 are the previous version's schema")
        var sql = "BEGIN; CREATE TABLE router_schema (step integer PRIMARY KEY);"
        for (i, step) in previous.enumerated() { sql += step + "; INSERT INTO router_schema VALUES (\(i));" }
        let topic = Topics.status(source: SourceSystem.hotline12345.rawValue)
        sql += """
            INSERT INTO outbox (topic, key, value, headers) VALUES
              ('\(topic)', convert_to('JY-1', 'UTF8'), convert_to('{"n":1}', 'UTF8'), '\\x0000000563655f6964000000026131'::bytea),
              ('\(topic)', NULL, convert_to('{"n":2,"t":"路灯不亮"}', 'UTF8'), ''::bytea),
              ('\(topic)', convert_to('JY-1', 'UTF8'), convert_to('{"n":3}', 'UTF8'), '\\x0000000563655f6964000000026133'::bytea);
            COMMIT;
            """
        _ = try await TestPostgres.query(world.databaseURL, sql)
        try await world.withRouter { _ in
            let records = try await TestKafka.readAll(topic, partitions: world.partitions, count: 3, cluster: world.cluster)
            let byValue = records.sorted { $0.offset < $1.offset }.filter { $0.key != nil }
            #expect(Set(records.map { String(decoding: $0.value, as: UTF8.self) }) == ["{\"n\":1}", "{\"n\":2,\"t\":\"路灯不亮\"}", "{\"n\":3}"])
            #expect(records.first { $0.key == nil }.map { String(decoding: $0.value, as: UTF8.self) } == "{\"n\":2,\"t\":\"路灯不亮\"}", "the record without a key kept none")
            #expect(byValue.map { String(decoding: $0.value, as: UTF8.self) } == ["{\"n\":1}", "{\"n\":3}"], "one key's records stay in order")
            #expect(byValue.map { $0.headers.map(\.key) } == [["ce_id"], ["ce_id"]])
            #expect(byValue.map { $0.headers.first.map { String(decoding: $0.value, as: UTF8.self) } } == ["a1", "a3"])
            // Delivered, so the outbox is empty.
            let deadline = ContinuousClock.now + .seconds(20)
            while try await TestPostgres.query(world.databaseURL, "SELECT count(*) FROM outbox").first?.first != "0", ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await TestPostgres.query(world.databaseURL, "SELECT count(*) FROM outbox").first?.first == "0")
        }
    }

    @Test("the outbox lag gauge counts every record not yet delivered, over all bodies, while Kafka is unreachable")
    func lagGauge() async throws {
        // The schema, then bodies waiting: 3 records, 2 of which 1 is delivered, and 120 of 1 record (more
        // bodies than the publisher looks at in one round).
        let world = try await Self.migratedWorld()
        let record = OutboxRecord(topic: Topics.cases, key: Array("C-1".utf8), value: Array("{}".utf8), headers: [])
        func hex(_ records: [OutboxRecord]) -> String { OutboxRecord.body(records).allBytes.map { String(format: "%02x", $0) }.joined() }
        _ = try await TestPostgres.query(world.databaseURL, """
            INSERT INTO outbox (records, delivered, body) VALUES (3, 0, '\\x\(hex([record, record, record]))'::bytea), (2, 1, '\\x\(hex([record, record]))'::bytea);
            INSERT INTO outbox (records, body) SELECT 1, '\\x\(hex([record]))'::bytea FROM generate_series(1, 120);
            """)
        // A router whose Kafka does not answer: nothing can be delivered, and the gauge says how much waits.
        let metrics = DaemonMetrics()
        var config = RouterDaemon.Configuration(databaseURL: world.databaseURL, kafka: KafkaClientConfiguration(bootstrapServers: "127.0.0.1:9", properties: ["message.timeout.ms": "2000"]))
        config.consumer.groupID = "lag"
        let daemon = try RouterDaemon(configuration: config, environment: world.environment(), metrics: metrics, logger: TestKafka.quietLogger)
        let services = ServiceGroup(configuration: .init(services: daemon.services.map { .init(service: $0) }, logger: TestKafka.quietLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            let deadline = ContinuousClock.now + .seconds(20)
            var line: String? = nil
            while ContinuousClock.now < deadline {
                line = metrics.render().split(separator: "\n").map(String.init).first { $0.hasPrefix("gridhub_router_outbox_lag") }
                if line == "gridhub_router_outbox_lag_records 124.0" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(line == "gridhub_router_outbox_lag_records 124.0")
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("memory holds committed bodies only while the publisher takes them, within its budget, and gives each back once")
    func memoryRules() {
        let record = OutboxRecord(topic: Topics.cases, key: Array("C-1".utf8), value: [UInt8](repeating: 1, count: 100), headers: [])
        let memory = OutboxMemory(limitBytes: 1_000)
        memory.keep(id: 1, records: [record])
        #expect(memory.take([1]).isEmpty, "nothing is held while no publisher here holds the lock")
        memory.accept(true)
        memory.keep(id: 2, records: [record, record])
        memory.keep(id: 3, records: [record])
        memory.keep(id: 4, records: Array(repeating: record, count: 8))
        #expect(memory.held.bodies == 2 && memory.held.bytes == 3 * 103, "body 4 would pass the budget: left to the table")
        #expect(memory.take([3, 4, 9]) == [3: [record]])
        #expect(memory.take([3]).isEmpty, "a body is given back once")
        memory.keep(id: 5, records: [record])
        memory.forget(below: 5)
        #expect(memory.take([2]).isEmpty, "bodies older than the oldest in the table are gone from it")
        memory.accept(false)
        #expect(memory.take([5]).isEmpty && memory.held.bytes == 0, "losing the lock drops everything")
    }

    @Test("the publisher sends bodies held in memory and bodies read from the table, in table order, each from where its delivery stopped")
    func memoryAndTable() async throws {
        let world = try await Self.migratedWorld()
        let topic = Topics.status(source: SourceSystem.elink.rawValue)
        func record(_ n: Int) -> OutboxRecord { OutboxRecord(topic: topic, key: Array("E-1".utf8), value: Array("{\"n\":\(n)}".utf8), headers: []) }
        func hex(_ records: [OutboxRecord]) -> String { OutboxRecord.body(records).allBytes.map { String(format: "%02x", $0) }.joined() }
        let first = [record(1), record(2), record(3)], second = [record(4), record(5)]
        let ids = try await TestPostgres.query(world.databaseURL, """
            INSERT INTO outbox (records, delivered, body) VALUES (3, 1, '\\x\(hex(first))'::bytea), (2, 0, '\\x\(hex(second))'::bytea) RETURNING id
            """).compactMap { $0.first.flatMap { Int64($0) } }
        #expect(ids.count == 2)
        // The first body as its transaction's consumer would have handed it over; the second only in the table.
        // A consumer hands a body over just before its commit: one whose transaction then failed is in
        // memory and never in the table, and must never be sent.
        let memory = OutboxMemory()
        memory.accept(true)
        memory.keep(id: ids[0], records: first)
        memory.keep(id: ids[1] + 1, records: [record(99)])
        let metrics = RouterMetrics(metrics: DaemonMetrics(), departments: [])
        let store = RouterStore(client: PostgresClient(configuration: try RouterStore.configuration(url: world.databaseURL), backgroundLogger: TestKafka.quietLogger),
                                logger: TestKafka.quietLogger)
        let publisher = try OutboxPublisher(kafka: TestKafka.client(world.cluster), store: store, metrics: metrics, logger: TestKafka.quietLogger,
                                            batchSize: 100, memory: memory)
        let services = ServiceGroup(configuration: .init(services: [.init(service: store.client), .init(service: publisher)], logger: TestKafka.quietLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            let records = try await TestKafka.readAll(topic, partitions: world.partitions, count: 4, cluster: world.cluster, settle: .milliseconds(500))
            #expect(records.sorted { $0.offset < $1.offset }.map { String(decoding: $0.value, as: UTF8.self) } == ["{\"n\":2}", "{\"n\":3}", "{\"n\":4}", "{\"n\":5}"],
                    "in table order, from where delivery stopped, and nothing of the body the table never listed")
            #expect(metrics.stageCounts["outbox bodies taken from memory"] == 1)
            #expect(metrics.stageCounts["outbox bodies read from the table"] == 1)
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("the next bodies are sent while earlier ones wait for their delivery reports; every record arrives once, in order")
    func overlappingRounds() async throws {
        let world = try await Self.migratedWorld()
        let topic = Topics.status(source: SourceSystem.elink.rawValue)
        let daemonMetrics = DaemonMetrics()
        let metrics = RouterMetrics(metrics: daemonMetrics, departments: [])
        let store = RouterStore(client: PostgresClient(configuration: try RouterStore.configuration(url: world.databaseURL), backgroundLogger: TestKafka.quietLogger),
                                logger: TestKafka.quietLogger)
        let publisher = try OutboxPublisher(kafka: TestKafka.client(world.cluster), store: store, metrics: metrics, logger: TestKafka.quietLogger, batchSize: 100)
        let services = ServiceGroup(configuration: .init(services: [.init(service: store.client), .init(service: publisher)], logger: TestKafka.quietLogger))
        // A body committed by another transaction, as a router's would be, over the client already
        // connected: a psql process started per insert can take longer than a delivery report on a
        // loaded machine, and the second body would then find the first already delivered.
        func insert(_ n: Int) async throws {
            let record = OutboxRecord(topic: topic, key: Array("E-1".utf8), value: Array("{\"n\":\(n)}".utf8), headers: [])
            try await store.client.query("INSERT INTO outbox (records, body) VALUES (1, \(OutboxRecord.body([record])))", logger: TestKafka.quietLogger)
            try await store.client.query(PostgresQuery(unsafeSQL: "NOTIFY \(RouterStore.outboxChannel)"), logger: TestKafka.quietLogger)
        }
        // Every value the gauge was seen to take, for a failure's message.
        var seenValues: [String] = []
        func sending() -> String? {
            let line = daemonMetrics.render().split(separator: "\n").map(String.init).first { $0.hasPrefix("gridhub_router_outbox_sending_records") }
            if let line, seenValues.last != line { seenValues.append(line) }
            return line
        }
        func waitFor(_ line: String) async throws -> String? {
            let deadline = ContinuousClock.now + .seconds(20)
            var seen = sending()
            while seen != line, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                seen = sending()
            }
            return seen
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            // A warm-up record, then a slow broker: each delivery report comes 10 s after its records,
            // time enough for the second body's insert and notification on a loaded machine (a CI run
            // with the whole suite starting at once took longer than the former 4 s).
            try await insert(0)
            _ = try await TestKafka.readAll(topic, partitions: world.partitions, count: 1, cluster: world.cluster, settle: .milliseconds(100))
            #expect(try await waitFor("gridhub_router_outbox_sending_records 0.0") == "gridhub_router_outbox_sending_records 0.0")
            await world.cluster.setRoundTripTime(.seconds(10))
            try await insert(1)
            #expect(try await waitFor("gridhub_router_outbox_sending_records 1.0") == "gridhub_router_outbox_sending_records 1.0")
            // The second body goes out while the first still waits (one round at a time would show 1, then 1).
            try await insert(2)
            #expect(try await waitFor("gridhub_router_outbox_sending_records 2.0") == "gridhub_router_outbox_sending_records 2.0",
                    "the gauge went \(seenValues.map { $0.split(separator: " ").last ?? "?" })")
            await world.cluster.setRoundTripTime(.zero)
            for n in 3...40 { try await insert(n) }
            let records = try await TestKafka.readAll(topic, partitions: world.partitions, count: 41, cluster: world.cluster, timeout: .seconds(60), settle: .milliseconds(500))
            #expect(records.sorted { $0.offset < $1.offset }.map { String(decoding: $0.value, as: UTF8.self) } == (0...40).map { "{\"n\":\($0)}" })
            var left = "?"
            for _ in 0..<100 where left != "0" {
                left = try await TestPostgres.query(world.databaseURL, "SELECT count(*) FROM outbox").first?.first ?? "?"
                if left != "0" { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(left == "0", "every delivered body is deleted")
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
