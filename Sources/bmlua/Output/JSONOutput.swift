import BackupSys
import Foundation
import HookVM

/// `--json` output: each command's view, a `Codable` struct, encoded by
/// `JSONEncoder` with sorted keys.
///
/// Names are bytes, and JSONEncoder's strings are Swift `String`s: those
/// cannot hold a byte that is not UTF-8, and as object keys they merge
/// canonically equivalent names (`é` and `e` + U+0301 would be one key). So
/// a name goes through the encoder with every byte from 0x80 up carried as
/// the private-use scalar U+10FF00 + byte, which nothing merges and which
/// sorts as the byte does; afterwards the carried bytes are put back: UTF-8
/// as text, and each byte that is not part of a character as a lone
/// surrogate `\udc80`…`\udcff` (Python's surrogateescape and borg's
/// convention, so `os.fsencode(json.loads(s))` gives the exact bytes).
enum JSONOutput {
    private static let base: UInt32 = 0x10FF00

    /// `bytes` as a String the encoder passes through untouched.
    static func carried(_ bytes: [UInt8]) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(b < 0x80 ? UInt32(b) : base + UInt32(b))!) }
        return String(s)
    }

    static func text<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return restored(Array(try encoder.encode(value)))
    }

    /// The encoder's output with each run of carried bytes put back.
    private static func restored(_ json: [UInt8]) -> String {
        var out: [UInt8] = [], run: [UInt8] = [], i = 0
        out.reserveCapacity(json.count)
        // U+10FF80…U+10FFFF in UTF-8: F4 8F BE/BF xx.
        func carriedByte(at i: Int) -> UInt8? {
            guard i + 3 < json.count, json[i] == 0xF4, json[i + 1] == 0x8F, json[i + 2] == 0xBE || json[i + 2] == 0xBF else { return nil }
            return (json[i + 2] == 0xBE ? 0x80 : 0xC0) | (json[i + 3] & 0x3F)
        }
        while i < json.count {
            if let b = carriedByte(at: i) {
                run.append(b)
                i += 4
                continue
            }
            if !run.isEmpty { out += surrogateEscaped(run); run.removeAll() }
            out.append(json[i])
            i += 1
        }
        if !run.isEmpty { out += surrogateEscaped(run) }
        return String(decoding: out, as: UTF8.self)
    }

    private static func surrogateEscaped(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [], offset = 0
        var parser = Unicode.UTF8.ForwardParser()
        var input = bytes.makeIterator()
        while true {
            switch parser.parseScalar(from: &input) {
            case .valid(let encoded):
                out += encoded
                offset += encoded.count
            case .error(let length):
                for b in bytes[offset..<offset + length] { out += Array(String(format: "\\u%04x", 0xDC00 + UInt32(b)).utf8) }
                offset += length
            case .emptyInput:
                return out
            }
        }
    }
}

/// An object key that is a name, its bytes carried as `Name`'s are
/// (`JSON.decode` reads the keys of its input through it as they are).
struct NameKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init(name bytes: [UInt8]) { stringValue = JSONOutput.carried(bytes) }
    init?(intValue: Int) { nil }
}

/// A name (or any Lua string) in a view: its exact bytes.
struct Name: Encodable {
    let bytes: [UInt8]
    init(_ path: Path) { bytes = path.bytes }
    init(bytes: [UInt8]) { self.bytes = bytes }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(JSONOutput.carried(bytes))
    }
}

/// A Lua value in a view (what `eval` returns, a hook's bhout): tables with
/// keys 1…n are arrays, other tables objects; a number that is not finite is null.
struct LuaJSON: Encodable {
    let value: LuaValue
    init(_ value: LuaValue) { self.value = value }

    func encode(to encoder: Encoder) throws {
        switch value {
        case .list(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(LuaJSON(item)) }
        case .map(let m):
            var c = encoder.container(keyedBy: NameKey.self)
            for (k, v) in m {
                try c.encode(LuaJSON(v), forKey: NameKey(name: k.bytesValue ?? Array(k.description.utf8)))
            }
        default:
            var c = encoder.singleValueContainer()
            switch value {
            case .nil: try c.encodeNil()
            case .boolean(let b): try c.encode(b)
            case .integer(let i): try c.encode(i)
            case .number(let d): if d.isFinite { try c.encode(d) } else { try c.encodeNil() }
            case .string(let b): try c.encode(JSONOutput.carried(b))
            case .opaque(let r): try c.encode("<\(r.type.rawValue)>")
            case .list, .map: break
            }
        }
    }
}

func printJSON<T: Encodable>(_ view: T) throws { print(try JSONOutput.text(view)) }
