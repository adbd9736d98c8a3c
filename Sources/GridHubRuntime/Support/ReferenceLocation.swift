import Foundation
import GridHubCore

/// Finds and reads the reference data shipped in `Deploy/reference/`.
///
/// Looked up in this order: an explicit directory (flag or config), `GRIDHUB_REFERENCE_DIR`,
/// `Deploy/reference` in the working directory or any parent, then beside the executable or any
/// of its parents (so a binary under `.build/` finds the checkout's copy).
public enum ReferenceLocation {
    public static let environmentVariable = EnvironmentSetting.referenceDirectory.name

    /// The reference directory, or an error saying where it looked.
    public static func directory(explicit: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        if let explicit { return try checked(URL(fileURLWithPath: explicit)) }
        if let fromEnv = environment[environmentVariable], !fromEnv.isEmpty { return try checked(URL(fileURLWithPath: fromEnv)) }
        var tried: [String] = []
        let starts = [
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
            URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent(),
        ]
        for start in starts {
            var dir = start.standardizedFileURL
            while true {
                let candidate = dir.appendingPathComponent("Deploy/reference")
                tried.append(candidate.path)
                if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("departments.csv").path) { return candidate }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        throw ReferenceLocationError(message: "reference data not found: pass --reference-dir or set \(environmentVariable) to the folder holding departments.csv (tried \(tried.prefix(3).joined(separator: ", ")), …)")
    }

    /// The departments of the reference data.
    public static func departments(in directory: URL) throws -> [Department] {
        let text = try String(contentsOf: directory.appendingPathComponent("departments.csv"), encoding: .utf8)
        return try Department.parse(csv: text)
    }

    /// Reads and indexes all reference data in `directory` (departments, items, grids, gazetteer).
    public static func load(from directory: URL) throws -> ReferenceData {
        func text(_ name: String) throws -> String {
            try String(decoding: Data(contentsOf: directory.appendingPathComponent(name)), as: UTF8.self)
        }
        let names = ReferenceData.fileNames
        return try ReferenceData(
            departmentsCSV: try text(names.departments), itemsCSV: try text(names.items),
            gridsGeoJSON: try Data(contentsOf: directory.appendingPathComponent(names.grids)),
            addressesCSV: try text(names.addresses))
    }

    private static func checked(_ url: URL) throws -> URL {
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("departments.csv").path) else {
            throw ReferenceLocationError(message: "\(url.path) holds no departments.csv: it is not a GridHub reference directory")
        }
        return url
    }
}

/// The reference directory could not be found.
public struct ReferenceLocationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
