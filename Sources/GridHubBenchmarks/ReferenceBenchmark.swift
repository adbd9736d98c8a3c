import Foundation
import GridHubCore

/// Measures the reference data: load time, point → grid and address → grid look-ups per second.
/// Wired into `gridhub bench reference`.
public enum ReferenceBenchmark {
    /// The measurements of one run.
    public struct Report: Sendable {
        /// One measured quantity.
        public struct Row: Sendable {
            public var name: String
            public var value: Double
            public var unit: String
            public var note: String
        }
        public var rows: [Row]

        /// A readable text table.
        public var rendered: String {
            let nameWidth = max(10, rows.map { $0.name.count }.max() ?? 0)
            var lines = ["Reference data benchmark (one core)", ""]
            lines.append(pad("measure", nameWidth) + "  " + pad("value", 14, left: true) + "  " + pad("unit", 10) + "  note")
            lines.append(String(repeating: "-", count: nameWidth + 40))
            for r in rows {
                let v = r.value >= 100 ? String(Int(r.value.rounded())) : String(format: "%.2f", r.value)
                lines.append(pad(r.name, nameWidth) + "  " + pad(grouped(v), 14, left: true) + "  " + pad(r.unit, 10) + "  " + r.note)
            }
            return lines.joined(separator: "\n")
        }

        private func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, width - s.count))
            return left ? fill + s : s + fill
        }

        private func grouped(_ s: String) -> String {
            guard !s.contains("."), s.count > 3 else { return s }
            var out = ""
            for (i, c) in s.reversed().enumerated() {
                if i > 0 && i % 3 == 0 { out.append(",") }
                out.append(c)
            }
            return String(out.reversed())
        }
    }

    /// Loads the four files from `referenceDirectory` and measures. `pointLookups`/`addressLookups` set the work done.
    public static func run(referenceDirectory: URL, pointLookups: Int = 2_000_000, addressLookups: Int = 200_000) throws -> Report {
        func read(_ name: String) throws -> Data { try Data(contentsOf: referenceDirectory.appendingPathComponent(name)) }
        let clock = ContinuousClock()
        let readStart = clock.now
        let departments = try read(ReferenceData.fileNames.departments)
        let items = try read(ReferenceData.fileNames.items)
        let grids = try read(ReferenceData.fileNames.grids)
        let addresses = try read(ReferenceData.fileNames.addresses)
        let readTime = clock.now - readStart
        let loadStart = clock.now
        let data = try ReferenceData(departmentsCSV: String(decoding: departments, as: UTF8.self), itemsCSV: String(decoding: items, as: UTF8.self),
                                     gridsGeoJSON: grids, addressesCSV: String(decoding: addresses, as: UTF8.self))
        let loadTime = clock.now - loadStart

        var rng = SplitMix64(seed: 20261127)
        let box = GeoBox.jiangyin
        let points = (0..<100_000).map { _ in
            Coordinate(lat: Double.random(in: box.minLat...box.maxLat, using: &rng), lon: Double.random(in: box.minLon...box.maxLon, using: &rng))
        }
        var found = 0
        let pointStart = clock.now
        for n in 0..<pointLookups {
            if data.gridIndex.polygonIndex(containing: points[n % points.count]) != nil { found += 1 }
        }
        let pointTime = clock.now - pointStart

        // Addresses: half as in the gazetteer, half written differently.
        let entries = data.gazetteer.entries
        var texts: [String] = []
        for k in 0..<20_000 {
            let e = entries[Int(rng.next() % UInt64(entries.count))]
            switch k % 8 {
            case 0, 1, 2, 3: texts.append(e.fullAddress)
            case 4: texts.append("\(e.road)\(e.number)号\(e.poi)")
            case 5: texts.append("江苏省无锡市" + e.fullAddress.replacingOccurrences(of: "\(e.number)", with: fullWidth("\(e.number)")))
            case 6: texts.append("\(e.townName)\(e.road)\(e.number)\(e.poi)")
            default: texts.append(e.poi.isEmpty ? "\(e.road)\(e.number + 1000)号" : "\(e.poi)附近")
            }
        }
        var resolved = 0
        let addressStart = clock.now
        for n in 0..<addressLookups {
            if data.resolve(address: texts[n % texts.count]).gridCode != nil { resolved += 1 }
        }
        let addressTime = clock.now - addressStart

        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        return Report(rows: [
            .init(name: "read files", value: seconds(readTime) * 1000, unit: "ms", note: "4 files"),
            .init(name: "load + index", value: seconds(loadTime) * 1000, unit: "ms",
                  note: "\(data.grids.count) grids, \(entries.count) addresses, \(data.items.count) items"),
            .init(name: "point → grid", value: Double(pointLookups) / seconds(pointTime), unit: "lookups/s",
                  note: "random points over the city box, \(Int((Double(found) / Double(pointLookups) * 100).rounded()))% inside a grid"),
            .init(name: "address → grid", value: Double(addressLookups) / seconds(addressTime), unit: "lookups/s",
                  note: "gazetteer + variants, \(Int((Double(resolved) / Double(addressLookups) * 100).rounded()))% with a grid"),
        ])
    }

    private static func fullWidth(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { c in
            c.value >= 0x21 && c.value <= 0x7E ? Unicode.Scalar(c.value + 0xFEE0)! : c
        }))
    }
}
