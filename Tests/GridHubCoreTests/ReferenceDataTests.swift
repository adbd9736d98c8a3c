import Foundation
import Testing
@testable import GridHubCore

@Suite("Reference data")
struct ReferenceDataTests {
    @Test("Deploy/reference is a byte-identical copy of ../shared/reference")
    func deployCopyIsIdentical() throws {
        let shared = ReferenceTestData.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/reference")
        let fm = FileManager.default
        let deployed = try fm.contentsOfDirectory(atPath: ReferenceTestData.directory.path).sorted()
        let original = try fm.contentsOfDirectory(atPath: shared.path).sorted()
        #expect(deployed == original)
        #expect(!deployed.isEmpty)
        for name in deployed {
            let a = try Data(contentsOf: ReferenceTestData.directory.appendingPathComponent(name))
            let b = try Data(contentsOf: shared.appendingPathComponent(name))
            #expect(a == b, "\(name) differs")
        }
    }

    @Test("docs/contract.md and docs/sources/ are byte-identical copies of ../shared/CONTRACT.md and ../shared/sources/", arguments: [
        ("docs/contract.md", "shared/CONTRACT.md"),
        ("docs/sources/hotline12345.md", "shared/sources/hotline12345.md"),
        ("docs/sources/woodpecker.md", "shared/sources/woodpecker.md"),
        ("docs/sources/elink.md", "shared/sources/elink.md"),
        ("docs/sources/enforcement.md", "shared/sources/enforcement.md"),
    ])
    func contractCopyIsIdentical(ours: String, theirs: String) throws {
        let root = ReferenceTestData.packageRoot
        let copy = try Data(contentsOf: root.appendingPathComponent(ours))
        let original = try Data(contentsOf: root.deletingLastPathComponent().appendingPathComponent(theirs))
        #expect(copy == original, "\(ours) differs from ../\(theirs): copy it again")
    }

    @Test("docs/sources/ holds every source system's specification")
    func everySpecification() throws {
        let root = ReferenceTestData.packageRoot
        let shared = try FileManager.default.contentsOfDirectory(atPath: root.deletingLastPathComponent().appendingPathComponent("shared/sources").path).sorted()
        let ours = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("docs/sources").path).sorted()
        #expect(ours == shared)
    }

    @Test("every file loads with the sizes of the README")
    func sizes() {
        let data = ReferenceTestData.data
        #expect(data.departments.count == 25)
        #expect(data.items.count == 150)
        #expect(data.grids.count == 1558)
        #expect(data.gazetteer.entries.count == 29086)
        #expect(data.towns.count == 17)
        #expect(data.communities.count == 271)
        #expect(data.town(code: "320281001")?.name == "澄江街道")
        #expect(data.town(code: "320281001")?.gridCodes.count == 250)
        #expect(data.item(code: "SR-058")?.department == "fire")
        #expect(data.item(code: "SR-058")?.level == .village)
        #expect(data.item(code: "SR-006")?.urgent == true)
        #expect(data.grid(code: "320281001001001")?.communityName == "南门社区")
    }

    @Test("errors name the file and the line")
    func errors() throws {
        let deps = ReferenceTestData.text("departments.csv")
        let badItems = "code,name_zh,group_zh,department,level,time_limit_hours,urgent,keywords_zh\nSR-001,暴露垃圾,市容环境,urban-mgmt,village,24,0,a|b\nSR-002,x,y,nobody,village,24,0,c\n"
        #expect(throws: ReferenceDataError(file: "items.csv", line: 3, message: "unknown department 'nobody' (not in departments.csv)")) {
            _ = try CatalogueItem.parse(csv: badItems, departments: try Department.parse(csv: deps))
        }
        let badLevel = "code,name_zh,group_zh,department,level,time_limit_hours,urgent,keywords_zh\nSR-001,暴露垃圾,市容环境,urban-mgmt,county,24,0,a\n"
        do {
            _ = try CatalogueItem.parse(csv: badLevel)
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "items.csv" && error.line == 2)
        }
        let badJSON = Data("{\"type\":\"FeatureCollection\",\n\"features\":[\n{\"type\":\"Feature\",\"properties\":{}}\n".utf8)
        do {
            _ = try Grid.parse(geoJSON: badJSON)
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "grids.geojson")
            #expect(error.line == 4)
        }
        let badAddress = "address_id,town_name,road,number,poi,full_address,lon,lat,grid_code\nAD000001,澄江街道,东门一巷,1号,,x,120.28,31.91,999\n"
        do {
            _ = try GazetteerEntry.parse(csv: badAddress, gridCodes: ["320281001001001"])
            Issue.record("expected an error")
        } catch {
            #expect(error.file == "addresses.csv" && error.line == 2)
        }
    }

    @Test("neighbours are symmetric, exclude the grid itself, and include the grid across a shared edge")
    func neighbours() throws {
        let data = ReferenceTestData.data
        var total = 0
        for g in data.grids {
            let n = data.neighbours(of: g.gridCode)
            #expect(!n.isEmpty, "\(g.gridCode) has no neighbours")
            #expect(!n.contains { $0.gridCode == g.gridCode })
            total += n.count
            for other in n.prefix(3) {
                #expect(data.neighbours(of: other.gridCode).contains { $0.gridCode == g.gridCode })
            }
        }
        let mean = Double(total) / Double(data.grids.count)
        #expect(mean > 3 && mean < 12, "mean neighbour count \(mean)")
        // 南门社区第1网格 and 第2网格 share the edge (120.283717,31.906422)-(120.283973,31.909490).
        #expect(data.neighbours(of: "320281001001001").contains { $0.gridCode == "320281001001002" })
        #expect(data.neighbours(of: "nope").isEmpty)
    }

    @Test("related items are the other items of the same group")
    func related() {
        let data = ReferenceTestData.data
        let related = data.relatedItems(of: "SR-058").map(\.code)
        #expect(related.contains("SR-063"))
        #expect(!related.contains("SR-058"))
        #expect(related.allSatisfy { data.item(code: $0)?.groupZh == "消防安全" })
        #expect(data.relatedItems(of: "SR-999").isEmpty)
    }
}
