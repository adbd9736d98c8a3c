import Foundation
import GridHubCore

// libFuzzer entry point for GridHub's parsers of outside input. One binary, many targets: the target
// is chosen by GRIDHUB_FUZZ_TARGET (scripts/fuzz sets it). Each target feeds the bytes to a parser
// the way an adapter or the router does, and translates what parses, so that a crash, a trap or a
// hang anywhere on that path is found. Built only by scripts/fuzz (Package.swift adds this target
// when GRIDHUB_FUZZ is set), with -sanitize=fuzzer.

/// The targets and what each reads.
enum FuzzTarget: String, CaseIterable {
    /// A 12345 work-order push body (XML) and its translation to an incident.
    case hotlineWorkOrder = "hotline-workorder"
    /// A 12345 survey push body (XML).
    case hotlineSurvey = "hotline-survey"
    /// A 12345 answer (FHXX) as the hub reads it back.
    case hotlineAnswer = "hotline-answer"
    /// A 综治e通 batch (JSON) and its events' translation.
    case elinkBatch = "elink-batch"
    /// A Woodpecker API page (JSON) and its reports' translation.
    case woodpeckerPage = "woodpecker-page"
    /// An enforcement export, cut into records, each row parsed and translated.
    case enforcementCSV = "enforcement-csv"
    /// A Kafka record: CloudEvents headers (`key=value` lines), a NUL, then the value, decoded as the
    /// router decodes incidents, feedback and surveys.
    case cloudEvent = "cloudevent"
    /// A feedback, survey or incident JSON document through the strict decoders.
    case payloads = "payloads"
}

let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["GRIDHUB_FUZZ_TARGET"] ?? ""
    guard let t = FuzzTarget(rawValue: name) else {
        fatalError("set GRIDHUB_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return t
}()

let reference: ReferenceData = {
    let dir = URL(fileURLWithPath: ProcessInfo.processInfo.environment["GRIDHUB_REFERENCE_DIR"] ?? "Deploy/reference")
    func text(_ name: String) -> String { (try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? "" }
    do {
        return try ReferenceData(departmentsCSV: text(ReferenceData.fileNames.departments), itemsCSV: text(ReferenceData.fileNames.items),
                                 gridsGeoJSON: (try? Data(contentsOf: dir.appendingPathComponent(ReferenceData.fileNames.grids))) ?? Data(),
                                 addressesCSV: text(ReferenceData.fileNames.addresses))
    } catch {
        fatalError("reference data not loaded from \(dir.path) (set GRIDHUB_REFERENCE_DIR): \(error)")
    }
}()

let receivedAt = Date(timeIntervalSince1970: 1_795_800_000)

/// libFuzzer's driver, for programs that have a main of their own: SwiftPM links an executable's
/// entry point as `main` (as `GridHubFuzz_main`), so the entry point hands over to libFuzzer.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("GridHubFuzz_main")
public func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzz(data, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch target {
    case .hotlineWorkOrder:
        guard let text = String(validating: bytes, as: UTF8.self) else { return 0 }
        if let order = try? Hotline12345.WorkOrder(xml: text) { _ = order.incident(reference: reference, receivedAt: receivedAt) }
    case .hotlineSurvey:
        guard let text = String(validating: bytes, as: UTF8.self) else { return 0 }
        _ = try? Hotline12345.survey(xml: text)
    case .hotlineAnswer:
        _ = Hotline12345.parseAnswer(String(decoding: bytes, as: UTF8.self))
    case .elinkBatch:
        if let batch = try? Elink.batch(bytes) {
            for case .success(let event) in batch.events.map(\.event) { _ = event.incident(reference: reference, receivedAt: receivedAt) }
        }
    case .woodpeckerPage:
        if let page = try? Woodpecker.page(bytes) {
            for case .success(let report) in page.items.map(\.report) { _ = report.incident(reference: reference, receivedAt: receivedAt) }
        }
    case .enforcementCSV:
        var splitter = CSVRecordSplitter(limit: 4_096)
        var records = splitter.feed(bytes)
        if let last = splitter.finish() { records.append(last) }
        for record in records where !record.truncated {
            guard let text = String(validating: record.bytes, as: UTF8.self), let fields = try? CSVTable.fields(ofRecord: text, line: record.line),
                  let c = try? Enforcement.Case(fields: fields, header: Enforcement.columns) else { continue }
            _ = c.meaning(reference: reference, department: "urban-mgmt", receivedAt: receivedAt)
        }
    case .cloudEvent:
        let cut = bytes.firstIndex(of: 0) ?? bytes.endIndex
        let headers = bytes[..<cut].split(separator: UInt8(ascii: "\n")).compactMap { line -> (key: String, value: [UInt8])? in
            guard let eq = line.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            return (String(decoding: line[..<eq], as: UTF8.self), Array(line[line.index(after: eq)...]))
        }
        let value = cut < bytes.endIndex ? Array(bytes[bytes.index(after: cut)...]) : []
        if let event = try? CloudEvent(headers: headers, value: value) {
            _ = try? event.decode(Incident.self)
            _ = try? event.decode(Feedback.self)
            _ = try? event.decode(Survey.self)
        }
    case .payloads:
        _ = Incident.decodedDirectly(from: bytes)
        let decoder = GridHubJSON.decoder()
        _ = try? decoder.decode(Incident.self, from: Data(bytes))
        _ = try? decoder.decode(Feedback.self, from: Data(bytes))
        _ = try? decoder.decode(Survey.self, from: Data(bytes))
    }
    return 0
}
