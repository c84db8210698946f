import BackupSys
import Foundation
import HookVM

// What each command prints with --json: one small view per answer, its
// keys as the JSON has them.

/// A field's value as JSON: a string (exact bytes), a number or a boolean.
struct FieldValueView: Encodable {
    let value: FieldValue

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch value {
        case .string(let b): try c.encode(Name(bytes: b))
        case .integer(let i): try c.encode(i)
        case .number(let d): if d.isFinite { try c.encode(d) } else { try c.encodeNil() }
        case .boolean(let b): try c.encode(b)
        }
    }
}

extension FieldValue {
    /// As `field get` prints it: text as it is, the others as Lua writes them.
    var text: String { stringValue ?? luaText }
}

/// An object whose keys are names (bytes): none merged, in byte order.
struct FieldsView: Encodable {
    let entries: [([UInt8], FieldValueView)]

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: NameKey.self)
        for (name, value) in entries { try c.encode(value, forKey: NameKey(name: name)) }
    }
}

extension FieldValue {
    /// As Lua writes the value (`show`): text quoted.
    var luaText: String {
        switch self {
        case .string(let b): LuaValue.string(b).description
        case .integer(let i): LuaValue.integer(i).description
        case .number(let d): LuaValue.number(d).description
        case .boolean(let b): LuaValue.boolean(b).description
        }
    }
}

/// A backup as `show` and `list` print it.
struct BackupView: Encodable {
    struct VersionView: Encodable {
        let index: Int64, comment: String, size: Int64, time: String, sha256: String
    }
    let index: Int64, name: Name, path: Name, group: Int64
    let stored_away: Bool
    let size: Int64, sha256: String, mode: Int64, mtime: String, created: String, updated: String
    let uid: Int64?, gid: Int64?
    let fields: FieldsView
    let versions: [VersionView]?

    init(_ d: BackupDetails) {
        let b = d.backup
        (index, name, path, group, stored_away) = (b.index, Name(b.name), Name(b.path), b.group, b.storedAway)
        (size, sha256, mode) = (b.data.size, b.data.object, Int64(b.data.mode))
        (mtime, created, updated) = (isoTime(nanoseconds: b.data.mtimeNs), isoTime(b.created), isoTime(b.updated))
        (uid, gid) = (b.data.owner.map { Int64($0.uid) }, b.data.owner.map { Int64($0.gid) })
        fields = FieldsView(entries: d.fields.map { (Array($0.name.utf8), FieldValueView(value: $0.value)) })
        versions = d.versions?.map {
            VersionView(index: $0.index, comment: $0.comment, size: $0.data.size, time: isoTime($0.time), sha256: $0.data.object)
        }
    }
}

/// A failure in a list of results (a snapshot restore's).
struct FailureView: Encodable {
    let number: Int, message: String, path: Name
    init(_ e: BMError) { (number, message, path) = (e.number, e.message, Name(e.path)) }
}

/// The `{"index": …, "version": …}` answers of the version commands and restore.
struct VersionRef: Encodable {
    let index: Int64, version: Int64
    var comment: String? = nil
    var path: Name? = nil
}

struct NameView: Encodable { let name: String }
struct IDView: Encodable { let id: Int64 }
struct SIDView: Encodable { let sid: String }
