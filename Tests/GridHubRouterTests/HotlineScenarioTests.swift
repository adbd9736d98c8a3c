import Foundation
import GridHubAdapters
import GridHubCore
import GridHubKafka
import GridHubRuntime
import GridHubSimulation
import GridHubTesting
import ServiceLifecycle
import Testing

/// One 12345 order's whole life when reality deviates, from the hotline platform's HTTP request to what
/// the departments and the platform receive: the real 12345 adapter (HTTP in, FKXX reports out to the
/// platform's double), the router, the embedded broker and PostgreSQL; the departments are the test.
@Suite("12345 order from the platform and back, off the happy path", .timeLimit(.minutes(4)))
struct HotlineScenarioTests {
    static let secret = Array("scenario-secret".utf8)

    @Test("order with BLSX → supplement → returned by the first department → resolved by the next → dissatisfied survey → reopened to it → resolved; the platform hears each step, in order, signed")
    func wholeLife() async throws {
        let world = try await RouterWorld()
        let platform = HotlinePlatform(hubURL: "http://unused", secret: Self.secret)
        let (platformPorts, platformPort) = AsyncStream<Int>.makeStream()
        let platformServer = platform.server(logger: TestKafka.quietLogger) { platformPort.yield($0) }
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("scenario-hotline-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: state) }
        let runtime = try AdapterRuntime(system: .hotline12345, kafka: TestKafka.client(world.cluster), stateDirectory: state,
                                         metrics: DaemonMetrics(), readiness: Readiness(), logger: TestKafka.quietLogger)
        let place = Fixtures.reference.gazetteer.entries.filter { !$0.gridCode.isEmpty }[4_242]
        let order = Hotline12345.WorkOrder(
            id: "JY12345-20261205-000777", version: 1, calledAt: Date(), callerName: "赵女士", callerPhone: "13912345678", anonymous: false,
            orderType: "投诉", category: "城乡建设/市容环境/乱堆物料", title: "路边乱堆物料", content: "\(place.road)\(place.number)号门口乱堆建筑材料",
            address: place.fullAddress, urgent: false, timeLimitDays: 2)

        try await world.withRouter { _ in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await platformServer.run() }
                var port = 0
                for await p in platformPorts { port = p; break }
                let (adapterPorts, adapterPort) = AsyncStream<Int>.makeStream()
                let services = try AdapterDaemons.services(
                    .init(listen: ListenAddress(host: "127.0.0.1", port: 0), hotlineURL: "http://127.0.0.1:\(port)", secret: Self.secret),
                    runtime: runtime, reference: Fixtures.reference, logger: TestKafka.quietLogger) { adapterPort.yield($0) }
                let adapter = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: TestKafka.quietLogger))
                tasks.addTask { try await adapter.run() }
                var hubPort = 0
                for await p in adapterPorts { hubPort = p; break }
                let hotline = HotlinePlatform(hubURL: "http://127.0.0.1:\(hubPort)", secret: Self.secret)

                // 1. The order arrives; the first department gets it, due by the end of the second working day.
                let taken = try await hotline.push(order)
                #expect(taken.code == 0, "answered \(taken.code.map(String.init) ?? "no ZT"): \(taken.message)")
                let first = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { !$0.isEmpty }
                let dispatch = try #require(first.first)
                #expect(dispatch.dueAt <= Fixtures.rules.calendar.deadline(workingDays: 2, after: order.calledAt))
                #expect(dispatch.contacts.isEmpty, "urban management does not call citizens back: no phone on its dispatch")

                // 2. A supplement (BBH 2): the department gets its dispatch again, same id, new revision, new text.
                var supplement = order
                supplement.version = 2
                supplement.content += "（补充：材料已堆到盲道上）"
                let supplemented = try await hotline.push(supplement, timestamp: Int64(Date().timeIntervalSince1970) + 1)
                #expect(supplemented.code == 0, "answered \(supplemented.code.map(String.init) ?? "no ZT"): \(supplemented.message)")
                let revised = try await world.waitFor(Topics.dispatch(department: "urban-mgmt"), as: Dispatch.self) { $0.count >= 2 }
                #expect(revised.last?.dispatchId == dispatch.dispatchId && (revised.last?.revision ?? 0) > dispatch.revision)
                #expect(revised.last?.description.contains("盲道") == true)

                // 3. Not ours: returned, and sent to the next department of the return candidates.
                try await world.publish(feedback: Feedback(dispatchId: dispatch.dispatchId, department: "urban-mgmt", status: .returned, note: "属建设工地管理", at: Date()))
                let cases = try await world.waitFor(Topics.cases, as: Case.self) { cs in cs.contains { $0.department != nil && $0.department != "urban-mgmt" && $0.status == .dispatched } }
                let moved = try #require(cases.last { $0.department != "urban-mgmt" && $0.status == .dispatched })
                let next = try #require(moved.department), nextDispatch = try #require(moved.currentDispatchId)
                let sent = try await world.waitFor(Topics.dispatch(department: next), as: Dispatch.self) { !$0.isEmpty }
                #expect(sent.first?.reason == .returned && sent.first?.dispatchId == nextDispatch)

                // 4. The next department resolves it.
                try await world.publish(feedback: Feedback(dispatchId: nextDispatch, department: next, status: .accepted, note: nil, at: Date()))
                try await world.publish(feedback: Feedback(dispatchId: nextDispatch, department: next, status: .resolved, note: "已责令施工单位清运，联系人13812345678", at: Date()))
                #expect(try await waitUntil(timeout: .seconds(30)) { platform.received.contains { $0.report.state == "办结" } })

                // 5. The citizen is not satisfied: reopened, sent again to the department that resolved it.
                #expect(try await hotline.pushSurvey(recordId: order.id, satisfaction: .dissatisfied, at: Date(), note: "材料还在").code == 0)
                let again = try await world.waitFor(Topics.dispatch(department: next), as: Dispatch.self) { $0.contains { $0.reason == .reopened } }
                let reopened = try #require(again.last { $0.reason == .reopened })
                try await world.publish(feedback: Feedback(dispatchId: reopened.dispatchId, department: next, status: .resolved, note: "已全部清运", at: Date()))
                #expect(try await waitUntil(timeout: .seconds(30)) { platform.received.filter { $0.report.state == "办结" }.count >= 2 })

                // What the platform heard, in order: every report signed, about this order, phones masked.
                let heard = platform.received.filter { $0.report.id == order.id }
                #expect(heard.allSatisfy { $0.signatureValid })
                // The trace the order started at the adapter comes back with every result.
                let incident = try #require(try await world.read(Topics.incidents, quiet: .milliseconds(500)).first)
                let trace = try #require(TraceContext(header: incident.headers.string(CloudEventHeader.traceparent)))
                #expect(heard.allSatisfy { TraceContext(header: $0.traceparent)?.traceId == trace.traceId }, "\(heard.map(\.traceparent))")
                let states = heard.map(\.report.state)
                let firstResolved = try #require(states.firstIndex(of: "办结"))
                #expect(states.first == "已签收" && states.prefix(firstResolved).allSatisfy { $0 == "已签收" || $0 == "处理中" }, "\(states)")
                // Reopened: taken in again (已签收: dispatched anew) before the second 办结.
                #expect(states[(firstResolved + 1)...].contains { $0 == "已签收" || $0 == "处理中" }, "the reopening was not reported: \(states)")
                #expect(states.last == "办结" && !states.contains("退回"), "\(states)")
                #expect(heard.first { $0.report.state == "办结" }?.report.result == "已责令施工单位清运，联系人138****5678")
                #expect(try await world.read(Topics.deadLetter, quiet: .seconds(1)).isEmpty)

                await adapter.triggerGracefulShutdown()
                tasks.cancelAll()
            }
        }
    }
}
