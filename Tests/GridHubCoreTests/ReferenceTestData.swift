import Foundation
import GridHubCore

/// The reference data of `Deploy/reference`, loaded once for all suites.
enum ReferenceTestData {
    /// The package root: the first directory above this file holding `Package.swift` and `Deploy/reference`.
    static let packageRoot: URL = {
        var dir = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
        let fm = FileManager.default
        while dir.path != "/" {
            if fm.fileExists(atPath: dir.appendingPathComponent("Package.swift").path),
               fm.fileExists(atPath: dir.appendingPathComponent("Deploy/reference").path) {
                return dir
            }
            dir = dir.deletingLastPathComponent()
        }
        fatalError("no package root with Deploy/reference above \(#filePath)")
    }()

    static let directory = packageRoot.appendingPathComponent("Deploy/reference")

    static func text(_ name: String) -> String {
        String(decoding: (try? Data(contentsOf: directory.appendingPathComponent(name))) ?? Data(), as: UTF8.self)
    }

    static let data: ReferenceData = {
        do {
            return try ReferenceData(departmentsCSV: text("departments.csv"), itemsCSV: text("items.csv"),
                                     gridsGeoJSON: try Data(contentsOf: directory.appendingPathComponent("grids.geojson")),
                                     addressesCSV: text("addresses.csv"))
        } catch {
            fatalError("reference data does not load: \(error)")
        }
    }()
}

