import GridHubCore
import GridHubKafka
import GridHubRuntime
import Testing

@Suite("Topic plan")
struct TopicPlanTests {
    @Test("for a three-broker cluster: every contract topic replicated three times with min.insync.replicas 2; the cases topic compacted")
    func replicated() {
        let departments = [Department(code: "urban-mgmt", nameZh: "城管", nameEn: "Urban", kafkaTopic: "gridhub.dispatch.urban-mgmt.v1", kind: .department)]
        let plan = TopicPlan.topics(departments: departments, partitions: 12, replicationFactor: 3, minInSyncReplicas: 2)
        #expect(Set(plan.map(\.name)) == Set(Topics.all(departments: departments)))
        #expect(plan.allSatisfy { $0.replicationFactor == 3 && $0.partitions == 12 && $0.config["min.insync.replicas"] == "2" })
        #expect(plan.first { $0.name == Topics.cases }?.config["cleanup.policy"] == "compact")
        #expect(TopicPlan.topics(departments: departments).allSatisfy { $0.config["min.insync.replicas"] == nil && $0.replicationFactor == -1 })
    }
}
