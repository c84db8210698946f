import Crypto
import Foundation

/// One folder of a snapshot as the catalog keeps it (design.md, "Snapshot
/// trees"): its metadata if the walk went through it, the files in it as
/// (backup, version), its symbolic links and its subfolders, each subfolder
/// by the id of its own node. A node is stored once by the hash of its bytes
/// and shared by every snapshot where that folder did not change, as git and
/// restic share trees.
///
/// A file needs no name here: a backup is one original path, so the backup
/// index says where it goes. Files are sorted by backup index (stored as
/// differences: a byte or two each), links and subfolders by name, bytewise.
struct TreeNode: Equatable {
    struct File: Equatable {
        var backup: Int64
        var version: Int64
        /// The number shared by the files of this snapshot that are hard links of each other.
        var hardlink: Int64?
    }
    struct Link: Equatable {
        var name: Path
        var target: Path
        var mtimeNs: Int64
        var owner: Owner
    }
    struct Subfolder: Equatable {
        var name: Path
        var tree: Int64
    }
    /// A folder the walk went through; nil for one on the way to an include (no metadata kept).
    struct Metadata: Equatable {
        var mode: UInt32
        var mtimeNs: Int64
        var owner: Owner
        var xattrs: ExtendedAttributes?

        var shape: SnapshotFolder.Shape { .init(mode: mode, owner: owner, xattrs: xattrs) }
    }

    var metadata: Metadata?
    var files: [File] = []
    var links: [Link] = []
    var folders: [Subfolder] = []

    static let format: UInt8 = 1

    var encoded: [UInt8] {
        var w = Writer()
        w.bytes.append(Self.format)
        if let m = metadata {
            w.bytes.append(1)
            w.unsigned(UInt64(m.mode))
            w.signed(m.mtimeNs)
            w.owner(m.owner)
            if let x = m.xattrs { w.unsigned(1); w.data([UInt8](x.encoded)) } else { w.unsigned(0) }
        } else {
            w.bytes.append(0)
        }
        w.unsigned(UInt64(files.count))
        var previous: Int64 = 0
        for f in files {
            w.unsigned(UInt64(f.backup - previous) << 1 | (f.hardlink == nil ? 0 : 1))
            w.unsigned(UInt64(f.version))
            if let h = f.hardlink { w.unsigned(UInt64(h)) }
            previous = f.backup
        }
        w.unsigned(UInt64(links.count))
        for l in links {
            w.data(l.name.bytes)
            w.data(l.target.bytes)
            w.signed(l.mtimeNs)
            w.owner(l.owner)
        }
        w.unsigned(UInt64(folders.count))
        for f in folders {
            w.data(f.name.bytes)
            w.unsigned(UInt64(f.tree))
        }
        return w.bytes
    }

    /// Decodes a node, trusting nothing: a catalog may come from a repository
    /// another user can write. A name that is not one clean name, names out of
    /// order or twice, a backup index out of order: error 21 naming the node.
    init(decoding bytes: [UInt8], id: Int64) throws {
        func corrupt(_ what: String) -> BMError { BMError(21, "catalog table tree, row \(id): \(what)") }
        var r = Reader(bytes: bytes, corrupt: corrupt)
        guard try r.byte() == Self.format else { throw corrupt("not a tree of format \(Self.format)") }
        switch try r.byte() {
        case 0: metadata = nil
        case 1:
            let mode = try r.unsigned(), mtime = try r.signed(), owner = try r.owner()
            let xattrs = try r.unsigned() == 1 ? ExtendedAttributes(encoded: Data(try r.data())) : nil
            guard mode <= 0o7777 else { throw corrupt("folder mode \(mode) is not a mode") }
            metadata = Metadata(mode: UInt32(mode), mtimeNs: mtime, owner: owner, xattrs: xattrs)
        default: throw corrupt("a folder is either walked or not")
        }
        var previous: Int64 = 0
        for _ in 0..<(try r.count()) {
            let word = try r.unsigned()
            guard word >> 1 > 0, word >> 1 < UInt64(Int64.max - previous) else { throw corrupt("backup indices are not in order") }
            let backup = previous + Int64(word >> 1)
            let version = Int64(truncatingIfNeeded: try r.unsigned())
            let hardlink = word & 1 == 1 ? Int64(truncatingIfNeeded: try r.unsigned()) : nil
            guard backup > previous, version > 0 else { throw corrupt("backup \(backup), version \(version) is not an entry") }
            files.append(File(backup: backup, version: version, hardlink: hardlink))
            previous = backup
        }
        var lastName: Path?
        func name() throws -> Path {
            let n = Path(try r.data())
            guard n.isOneName else { throw corrupt("\(FS.shown(n)) is not one clean name") }
            return n
        }
        for _ in 0..<(try r.count()) {
            let l = Link(name: try name(), target: Path(try r.data()), mtimeNs: try r.signed(), owner: try r.owner())
            guard !l.target.isEmpty, !l.target.bytes.contains(0) else { throw corrupt("link \(FS.shown(l.name)) has no target") }
            guard lastName.map({ $0 < l.name }) ?? true else { throw corrupt("names out of order at \(FS.shown(l.name))") }
            lastName = l.name
            links.append(l)
        }
        lastName = nil
        for _ in 0..<(try r.count()) {
            let f = Subfolder(name: try name(), tree: Int64(truncatingIfNeeded: try r.unsigned()))
            guard lastName.map({ $0 < f.name }) ?? true else { throw corrupt("names out of order at \(FS.shown(f.name))") }
            guard f.tree > 0 else { throw corrupt("folder \(FS.shown(f.name)) names no tree") }
            lastName = f.name
            folders.append(f)
        }
        guard r.atEnd else { throw corrupt("bytes after the last entry") }
        let linkNames = Set(links.map(\.name.bytes))
        if let both = folders.first(where: { linkNames.contains($0.name.bytes) }) {
            throw corrupt("\(FS.shown(both.name)) is both a link and a folder")
        }
    }

    init(metadata: Metadata?) { self.metadata = metadata }

    /// The content address of the encoded node.
    static func hash(_ encoded: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: encoded)) }

    /// What a snapshot run compares with the last snapshot to see whether
    /// anything changed: all of the node but mtimes (a folder's moves whenever
    /// a file in it comes and goes; a link's says when it was made), with each
    /// subfolder by its own shape.
    func shape(subfolderShapes: [[UInt8]]) -> [UInt8] {
        var w = Writer()
        if let m = metadata {
            w.bytes.append(1)
            w.unsigned(UInt64(m.mode))
            w.owner(m.owner)
            w.data([UInt8](m.xattrs?.encoded ?? Data()))
        } else {
            w.bytes.append(0)
        }
        w.unsigned(UInt64(files.count))
        for f in files { w.unsigned(UInt64(f.backup)); w.unsigned(UInt64(f.version)); w.unsigned(UInt64(f.hardlink.map { $0 + 1 } ?? 0)) }
        w.unsigned(UInt64(links.count))
        for l in links { w.data(l.name.bytes); w.data(l.target.bytes); w.owner(l.owner) }
        w.unsigned(UInt64(folders.count))
        for (f, shape) in zip(folders, subfolderShapes) { w.data(f.name.bytes); w.data(shape) }
        return Self.hash(w.bytes)
    }

    private struct Writer {
        var bytes: [UInt8] = []

        mutating func unsigned(_ v: UInt64) {
            var v = v
            while v >= 0x80 {
                bytes.append(UInt8(v & 0x7f) | 0x80)
                v >>= 7
            }
            bytes.append(UInt8(v))
        }
        mutating func signed(_ v: Int64) { unsigned(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
        mutating func data(_ d: [UInt8]) { unsigned(UInt64(d.count)); bytes += d }
        mutating func owner(_ o: Owner) { unsigned(UInt64(o.uid)); unsigned(UInt64(o.gid)) }
    }

    private struct Reader {
        let bytes: [UInt8]
        let corrupt: (String) -> BMError
        var at = 0

        var atEnd: Bool { at == bytes.count }

        mutating func byte() throws -> UInt8 {
            guard at < bytes.count else { throw corrupt("the tree ends early") }
            defer { at += 1 }
            return bytes[at]
        }
        mutating func unsigned() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                let b = try byte()
                guard shift < 64 else { throw corrupt("a number is too long") }
                v |= UInt64(b & 0x7f) << shift
                if b < 0x80 { return v }
                shift += 7
            }
        }
        mutating func signed() throws -> Int64 {
            let u = try unsigned()
            return Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1)
        }
        /// A count of entries, each at least one byte: never more than what is left.
        mutating func count() throws -> Int {
            let n = try unsigned()
            guard n <= UInt64(bytes.count - at) else { throw corrupt("a count of \(n) entries is more than the tree holds") }
            return Int(n)
        }
        mutating func data() throws -> [UInt8] {
            let n = try count()
            defer { at += n }
            return Array(bytes[at..<(at + n)])
        }
        mutating func owner() throws -> Owner {
            let uid = try unsigned(), gid = try unsigned()
            guard uid <= UInt64(UInt32.max), gid <= UInt64(UInt32.max) else { throw corrupt("owner \(uid):\(gid) is not an owner") }
            return Owner(uid: Int64(uid), gid: Int64(gid))!
        }
    }
}

extension Path {
    /// One name of a folder: not empty, not `.` or `..`, no `/` or NUL.
    var isOneName: Bool { !bytes.isEmpty && !isDotOrDotDot && !bytes.contains(Path.slash) && !bytes.contains(0) }
}
