import Foundation
import GRDB
import HookVM

/// What a backup's current copy and a version both are: the stored data and
/// what a restore sets on it. Declared once: its columns, their order and the
/// reads and writes of them are here only.
public struct StoredData: Sendable, Equatable {
    public var object: String
    public var size: Int64
    public var mode: UInt32
    public var mtimeNs: Int64
    /// Nil if it was stored before bmlua recorded owners.
    public var owner: Owner?
    var xattrs: ExtendedAttributes?

    /// Its columns in `backup` and `version`, in the order of `init(row:at:)` and `bind`.
    static let columns = "object, size, mode, mtime_ns, uid, gid, xattrs"
    static let count = 7

    /// From `row[at...]`, by position: GRDB finds a column by name by
    /// lowercasing names on every row, which showed in a snapshot's profile.
    init(_ r: RowReader, at i: Int) throws {
        object = try r.objectID(i)
        size = try r.value(i + 1, "size")
        mode = UInt32(truncatingIfNeeded: try r.value(i + 2, "mode") as Int64)
        mtimeNs = try r.value(i + 3, "mtime_ns")
        owner = Owner(uid: try r.optional(i + 4), gid: try r.optional(i + 5))
        xattrs = ExtendedAttributes(encoded: try r.optional(i + 6))
    }

    init(object: String, size: Int64, mode: UInt32, mtimeNs: Int64, owner: Owner?, xattrs: ExtendedAttributes?) {
        (self.object, self.size, self.mode, self.mtimeNs, self.owner, self.xattrs) = (object, size, mode, mtimeNs, owner, xattrs)
    }
}

/// A backup: the copy of one file (design.md, "The model").
public struct Backup: Sendable, Equatable {
    public var index: Int64
    public var path: Path
    /// The "bkup. file": unique in the repository, from the base name (bytes too).
    public var name: Path
    public var group: Int64
    public var storedAway: Bool
    /// The current copy.
    public var data: StoredData
    public var created: Date
    public var updated: Date
    public var nextVersion: Int64
    public var source: SourceState?

    /// The columns `init(row:)` reads, in its order: the queries select exactly these.
    static let columns = "idx, path, name, grp, stored_away, \(StoredData.columns), created, updated, next_version, "
        + "src_dev, src_ino, src_size, src_mtime_ns, src_ctime_ns"

    init(row: Row) throws {
        let r = RowReader(row: row, table: "backup")
        index = try r.value(0)
        path = try r.path(1)
        name = try r.name(2)
        group = try r.value(3, "grp")
        storedAway = try r.value(4, "stored_away")
        data = try StoredData(r, at: 5)
        let i = 5 + StoredData.count
        created = Date(timeIntervalSince1970: try r.value(i, "created"))
        updated = Date(timeIntervalSince1970: try r.value(i + 1, "updated"))
        nextVersion = try r.value(i + 2, "next_version")
        source = try SourceState(r, at: i + 3)
    }
}

/// What newver and updbu need of a backup: not its copy, whose seven
/// columns a snapshot's new file would decode for nothing.
struct BackupHead: Sendable, Equatable {
    var index: Int64
    var path: Path
    var name: Path
    var storedAway: Bool
    var nextVersion: Int64
    var source: SourceState?

    static let columns = "idx, path, name, stored_away, next_version, src_dev, src_ino, src_size, src_mtime_ns, src_ctime_ns"

    init(index: Int64, path: Path, name: Path, storedAway: Bool, nextVersion: Int64, source: SourceState?) {
        self.index = index
        self.path = path
        self.name = name
        self.storedAway = storedAway
        self.nextVersion = nextVersion
        self.source = source
    }

    init(_ r: RowReader) throws {
        index = try r.value(0)
        path = try r.path(1)
        name = try r.name(2)
        storedAway = try r.value(3, "stored_away")
        nextVersion = try r.value(4, "next_version")
        source = try SourceState(r, at: 5)
    }
}

/// Who owned a file or folder. Given back on restore when bmlua runs as root,
/// as rsync -a and restic do; a user can't give a file away, so then it is theirs.
public struct Owner: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32

    init(_ st: stat) { (uid, gid) = (st.st_uid, st.st_gid) }

    init?(uid: Int64?, gid: Int64?) {
        guard let uid, let gid else { return nil }
        (self.uid, self.gid) = (UInt32(truncatingIfNeeded: uid), UInt32(truncatingIfNeeded: gid))
    }

    /// Only root may give a file to someone else.
    static let canGiveAway = geteuid() == 0
}

/// What the original file looked like when it was last read.
public struct SourceState: Sendable, Equatable {
    public var device: Int64
    public var inode: Int64
    public var size: Int64
    public var mtimeNs: Int64
    public var ctimeNs: Int64

    init(device: Int64, inode: Int64, size: Int64, mtimeNs: Int64, ctimeNs: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.mtimeNs = mtimeNs
        self.ctimeNs = ctimeNs
    }

    /// The `src_*` columns from `row[at...]`, in their order; nil where the
    /// file was never read (`src_dev` is NULL).
    init?(_ r: RowReader, at i: Int) throws {
        guard let dev: Int64 = try r.optional(i) else { return nil }
        self.init(device: dev, inode: try r.value(i + 1), size: try r.value(i + 2), mtimeNs: try r.value(i + 3), ctimeNs: try r.value(i + 4))
    }

    init(_ st: stat) {
        self.init(device: Int64(st.st_dev), inode: Int64(st.st_ino), size: Int64(st.st_size),
                  mtimeNs: FS.nanoseconds(st.st_mtim), ctimeNs: FS.nanoseconds(st.st_ctim))
    }
}

public struct Version: Sendable, Equatable {
    public var backup: Int64
    public var index: Int64
    public var data: StoredData
    public var comment: String
    public var time: Date

    /// The columns `init(row:)` reads, in its order (see Backup.columns).
    static let columns = "backup, idx, \(StoredData.columns), comment, time"

    init(row: Row) throws {
        let r = RowReader(row: row, table: "version")
        backup = try r.value(0)
        index = try r.value(1, "idx")
        data = try StoredData(r, at: 2)
        comment = (try r.value(2 + StoredData.count, "comment") as Path).description
        time = Date(timeIntervalSince1970: try r.value(3 + StoredData.count, "time"))
    }
}

/// Extended data: `d` one value per backup, `g` one value per group.
/// A named Lua program in the catalog that hooks call (`hdtstamp`).
public struct Routine: Sendable, Equatable {
    public var name: String
    public var code: String
}

/// One file of a snapshot: its original path, the backup and version it
/// holds, the object, and the number its group of hard-linked files shares.
public struct SnapshotFile: Sendable, Equatable {
    public var path: Path
    public var backup: Int64
    public var version: Int64
    /// The version's data and metadata: nil if that version is gone.
    public var data: StoredData?
    public var hardlink: Int64?

    public var object: String? { data?.object }
}

public struct Field: Sendable, Equatable {
    public enum Kind: String, Sendable { case backup = "d", group = "g" }
    public var name: String
    public var kind: Kind

    init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }

    init(_ r: RowReader) throws {
        name = try r.value(0, "name")
        guard let kind = Kind(rawValue: try r.value(1, "type")) else { throw r.corrupt("type is not d or g") }
        self.kind = kind
    }
}

public struct Snapshot: Sendable, Equatable {
    public var sid: String
    public var profile: Int64
    public var time: Date
    public var status: String
    public var files: Int
    /// Symbolic links kept as links (SnapshotLink).
    public var links = 0
}

/// A symbolic link met inside a snapshot's tree: its path and what it points to, verbatim.
public struct SnapshotLink: Sendable, Equatable {
    public var path: Path
    public var target: Path
    public var mtimeNs: Int64
    public var owner: Owner

    /// What a change of the link is made of: all but its path and its mtime,
    /// which says when it was made, not what it says. "Nothing changed" and
    /// `snapshots diff` both compare this.
    struct Shape: Equatable {
        var target: Path
        var owner: Owner
    }
    var shape: Shape { Shape(target: target, owner: owner) }
}

/// A folder of a snapshot's tree: made again, with its mode and mtime, on restore.
public struct SnapshotFolder: Sendable, Equatable {
    public var path: Path
    public var mode: UInt32
    public var mtimeNs: Int64
    public var owner: Owner
    var xattrs: ExtendedAttributes?

    /// What a change of the folder is made of: all but its path and its mtime,
    /// which moves whenever a file in it comes and goes. "Nothing changed" and
    /// `snapshots diff` both compare this.
    struct Shape: Equatable {
        var mode: UInt32
        var owner: Owner
        var xattrs: ExtendedAttributes?
    }
    var shape: Shape { Shape(mode: mode, owner: owner, xattrs: xattrs) }
}

/// A field's value as the catalog keeps it: what a Lua field may hold, a
/// string (bytes), an integer, a number or a boolean. No value is nil.
public enum FieldValue: Equatable, Sendable {
    case string([UInt8])
    case integer(Int64)
    case number(Double)
    case boolean(Bool)

    /// A string value as text (bytes that are not UTF-8 replaced); nil for the others.
    public var stringValue: String? {
        if case .string(let b) = self { return String(decoding: b, as: UTF8.self) }
        return nil
    }
}

/// Field values stored with their kind.
enum StoredValue {
    static func encode(_ v: FieldValue) -> (kind: String, value: DatabaseValue) {
        switch v {
        case .string(let b): return ("s", Data(b).databaseValue)
        case .integer(let i): return ("i", i.databaseValue)
        case .number(let d): return ("n", d.databaseValue)
        case .boolean(let b): return ("b", (b ? 1 : 0).databaseValue)
        }
    }

    static func decode(kind: String, _ value: DatabaseValue) -> FieldValue? {
        switch (kind, value.storage) {
        case ("s", .blob(let d)): return .string([UInt8](d))
        case ("s", .string(let s)): return .string(Array(s.utf8))
        case ("i", .int64(let i)): return .integer(i)
        case ("n", .double(let d)): return .number(d)
        case ("n", .int64(let i)): return .number(Double(i))
        case ("b", .int64(let i)): return .boolean(i != 0)
        default: return nil
        }
    }
}
