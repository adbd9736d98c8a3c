import Foundation
import GridHubCore
import Testing

/// Valid JSON made invalid, or differently valid, in the ways the direct readers' tests try: a field
/// changed, removed or added anywhere in a document, or a few bytes damaged.
enum JSONMutations {
    /// `object` (a parsed JSON document) with one field, at any depth and inside arrays, removed, set to
    /// one of `odd`, or given an extra sibling; written compactly. The path names the field.
    static func fieldChanged(_ object: Any, odd: [Any], _ rng: inout SplitMix64) throws -> (path: [AnyHashable], bytes: [UInt8]) {
        let paths = paths(object)
        let path = paths[Int(rng.next() % UInt64(paths.count))]
        let mutated: Any
        switch rng.next() % 4 {
        case 0: mutated = set(object, path, nil)
        case 1: mutated = set(object, Array(path.dropLast()) + ["extra"], 1)
        default: mutated = set(object, path, odd[Int(rng.next() % UInt64(odd.count))])
        }
        return (path, Array(try JSONSerialization.data(withJSONObject: mutated)))
    }

    /// `valid` with one or two bytes dropped, inserted or replaced (by JSON's punctuation, digits, letters
    /// of its keywords, or bytes that break UTF-8).
    static func damaged(_ valid: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        let alphabet = Array("{}[],:\"\\ \t\n0123456789-+.eEtrufalsn/uA".utf8) + [0x01, 0x7f, 0xc3, 0xff, 0xe8]
        var bytes = valid
        for _ in 0..<(1 + Int(rng.next() % 2)) {
            let at = Int(rng.next() % UInt64(bytes.count))
            let byte = alphabet[Int(rng.next() % UInt64(alphabet.count))]
            switch rng.next() % 3 {
            case 0: bytes.remove(at: at)
            case 1: bytes.insert(byte, at: at)
            default: bytes[at] = byte
            }
        }
        return bytes
    }

    /// Damages each of `documents` `times` times (``damaged(_:_:)``) and expects whatever `T`'s direct
    /// reader accepts to be what `JSONDecoder` reads; returns how many damaged documents it accepted.
    static func damagedDocumentsAgree<T: DirectlyDecodable & Equatable>(_ type: T.Type, _ documents: [[UInt8]], times: Int,
                                                                        _ rng: inout SplitMix64) -> Int {
        var accepted = 0
        for valid in documents {
            for _ in 0..<times {
                let bytes = damaged(valid, &rng)
                let direct = T.decodedDirectly(from: bytes)
                if direct != nil { accepted += 1 }
                #expect(direct == nil || direct == (try? GridHubJSON.decoder().decode(T.self, from: Data(bytes))), "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
        return accepted
    }

    /// Every path of `json` to a value inside an object: keys (String) and array positions (Int).
    static func paths(_ json: Any, prefix: [AnyHashable] = []) -> [[AnyHashable]] {
        if let object = json as? [String: Any] {
            return object.keys.sorted().flatMap { key in [prefix + [key]] + paths(object[key]!, prefix: prefix + [key]) }
        }
        if let array = json as? [Any] {
            return array.indices.flatMap { i in paths(array[i], prefix: prefix + [i]) }
        }
        return []
    }

    /// `json` with the value at `path` replaced (nil: removed); a path that does not fit is left alone.
    static func set(_ json: Any, _ path: [AnyHashable], _ value: Any?) -> Any {
        guard let step = path.first else { return json }
        if var object = json as? [String: Any], let key = step as? String {
            if path.count == 1 { object[key] = value } else if let inner = object[key] { object[key] = set(inner, Array(path.dropFirst()), value) }
            return object
        }
        if var array = json as? [Any], let i = step as? Int, array.indices.contains(i), path.count > 1 {
            array[i] = set(array[i], Array(path.dropFirst()), value)
            return array
        }
        return json
    }
}
