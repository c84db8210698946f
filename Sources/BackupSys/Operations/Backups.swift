import Foundation
import Glibc
import GRDB
import HookVM

/// The backup operations of DESIGN §5 (newbu, updbu, restbu, delbu). Each is
/// one transaction with its hooks: it happens completely or not at all.
extension BackupDatabase {
    public struct NewBackupOptions {
        public var group: Int64 = 0
        public var storeAway = false
        public init(group: Int64 = 0, storeAway: Bool = false) {
            self.group = group
            self.storeAway = storeAway
        }
    }

    /// Finds a backup by index, by name, or by original path. Error 13 if none.
    public func resolve(_ ref: String) throws -> Backup {
        try read { db in
            if let i = Int64(ref), let b = try Catalog.backup(db, index: i) { return b }
            if let b = try Catalog.backup(db, name: ref) { return b }
            if let b = try Catalog.backup(db, path: FS.absolute(ref)) { return b }
            throw BMError(13, "no backup is index, name or path \(FS.shown(ref))", path: ref)
        }
    }

    public func backup(_ index: Int64) throws -> Backup {
        guard let b = try read({ try Catalog.backup($0, index: index) }) else {
            throw BMError(13, "no backup has index \(index)", path: "")
        }
        return b
    }

    // MARK: newbu — hooks 1 and 2

    @discardableResult
    public func newbu(_ path: String, _ options: NewBackupOptions = NewBackupOptions()) throws -> Int64 {
        guard !path.isEmpty else { throw BMError(22, "an empty path names no file") }
        let original = FS.absolute(path)
        let st = try FS.regularFile(original)
        guard access(original, R_OK) == 0 else { throw FS.failure("cannot read", original) }
        let index: Int64 = try write { db in
            if let existing = try Catalog.backup(db, path: original) {
                throw BMError(16, "\(FS.shown(original)) is backup \(existing.index) (\(existing.name)); use bmlua update", path: original)
            }
            let name = try uniqueName(for: original, db)
            var actual = original
            if let out = try runHook(1, [.string(original), .string(original), .string(name), 0, .boolean(options.storeAway)]),
               let file = out.bhout.stringValue {
                actual = file
            }
            let stored = try objects.put(file: actual)
            let index = try Catalog.insert(db, .init(
                path: original, name: name, group: options.group, storedAway: options.storeAway,
                object: stored.id, size: stored.size, mode: UInt32(st.st_mode & 0o7777),
                mtimeNs: FS.nanoseconds(st.st_mtim), source: SourceState(st), owner: Owner(st),
                xattrs: ExtendedAttributes.read(original)), now: Date())
            _ = try runHook(2, [.string(original), .string(actual), .string(name), .integer(index), .boolean(options.storeAway)])
            return index
        }
        if options.storeAway && db == nil {
            // Only now is the backup committed and durable: the original may go.
            if unlink(original) == 0 { FS.fsync(path: FS.directory(original), directory: true) }
        }
        return index
    }

    /// The "bkup. file": the base name, with `-2`, `-3` … before the extension
    /// when another backup already has it.
    func uniqueName(for path: String, _ db: Database) throws -> String {
        let base = FS.baseName(path)
        if try !Catalog.nameExists(db, base) { return base }
        let dot = base.lastIndex(of: ".").flatMap { $0 == base.startIndex ? nil : $0 }
        let stem = dot.map { String(base[..<$0]) } ?? base
        let ext = dot.map { String(base[$0...]) } ?? ""
        var n = 2
        while try Catalog.nameExists(db, "\(stem)-\(n)\(ext)") { n += 1 }
        return "\(stem)-\(n)\(ext)"
    }

    // MARK: updbu — hook 3

    public func updbu(_ index: Int64) throws {
        try write { db in
            guard let b = try Catalog.backup(db, index: index) else { throw BMError(13, "no backup has index \(index)") }
            let st = try original(of: b)
            var actual = b.path
            if let out = try runHook(3, [.string(b.path), .string(b.path), .string(b.name), .integer(b.index)]),
               let file = out.bhout.stringValue {
                actual = file
            }
            let stored = try objects.put(file: actual)
            try Catalog.updateData(db, index: b.index, object: stored.id, size: stored.size, mode: UInt32(st.st_mode & 0o7777),
                                   mtimeNs: FS.nanoseconds(st.st_mtim), owner: Owner(st),
                                   xattrs: ExtendedAttributes.read(b.path), source: SourceState(st), now: Date())
        }
    }

    /// The original file of `b`, which updbu and newver read; a stored-away one says how to get it back.
    func original(of b: Backup) throws -> stat {
        do {
            return try FS.regularFile(b.path)
        } catch let e as BMError where e.number == 10 && b.storedAway {
            throw BMError(10, "\(FS.shown(b.path)) is stored away in backup \(b.index); bring it back with: bmlua restore \(b.index)", path: b.path)
        }
    }

    // MARK: restbu — hook 4

    /// Restores the current copy (`version` 0) or a version to the original
    /// path or `to`. Never half-overwrites: a temp file beside the target is
    /// renamed over it. Mode, mtime and extended attributes are restored, and
    /// the owner when running as root. Returns the path written.
    @discardableResult
    public func restbu(_ index: Int64, version: Int64 = 0, overwrite: Bool = false, to: String? = nil) throws -> String {
        try restbu(index, version: version, overwrite: overwrite, to: to, syncEach: true)
    }

    /// With `syncEach` false (a snapshot's many files), a new file is not synced
    /// on its own: the caller syncs them all at once. One that replaces a file
    /// still is, before its rename.
    func restbu(_ index: Int64, version: Int64, overwrite: Bool, to: String?, syncEach: Bool) throws -> String {
        try write { db in
            guard let b = try Catalog.backup(db, index: index) else { throw BMError(13, "no backup has index \(index)") }
            guard let copy = try StoredCopy(db, of: b, version: version) else {
                throw BMError(14, "backup \(index) (\(b.name)) has no version \(version)", path: b.path)
            }
            let intoFolder = to?.hasSuffix("/") ?? false   // `--to DIR/`: a folder, made if missing
            var target = to.map(FS.absolute) ?? b.path
            if intoFolder || FS.isDirectory(target) { target += "/" + FS.baseName(b.path) }
            let existing = try replaceable(target, overwrite: overwrite)
            let objectPath = objects.path(of: copy.object)
            var source: String?
            if let out = try runHook(4, [.string(b.path), .string(objectPath), .string(b.name), .integer(index),
                                         .integer(version), .boolean(overwrite)]),
               let file = out.bhout.stringValue {
                source = file
            }
            // Back in its place, the original no longer needs the backup: but
            // only once it is durable, so this one is synced whatever the caller says.
            let endsStoredAway = b.storedAway && version == 0 && target == b.path
            if endsStoredAway {
                try Catalog.clearStoredAway(db, index: index)   // rolled back with the rest if the write fails
            }
            if to == nil || intoFolder {
                try FS.makeDirectories(FS.directory(target))   // the original's folder may be gone with it
            }
            // A file that replaces another is synced before its rename whatever the caller says:
            // a user's file is never half-overwritten.
            let durable = syncEach || endsStoredAway
            try writeAtomically(to: target, mode: copy.mode, mtimeNs: copy.mtimeNs, owner: copy.owner, xattrs: copy.xattrs,
                                syncFile: durable || existing != nil, syncFolder: durable) { fd in
                if let source {
                    let input = open(source, O_RDONLY | O_CLOEXEC)
                    guard input >= 0 else { throw FS.failure("cannot read", source) }
                    defer { Glibc.close(input) }
                    try stream(input, name: source) { try writeAll(fd, $0, to: target) }
                } else {
                    try objects.copy(copy.object, to: fd, destination: target)
                }
            }
            return target
        }
    }

    /// What restoring `version` of a backup (0: its current copy) writes: the
    /// data and what is set on it. Nil if the backup has no such version.
    struct StoredCopy {
        var object: String, size: Int64, mode: UInt32, mtimeNs: Int64, owner: Owner?, xattrs: ExtendedAttributes?

        init?(_ db: Database, of b: Backup, version: Int64) throws {
            if version == 0 {
                (object, size, mode, mtimeNs, owner, xattrs) = (b.object, b.size, b.mode, b.mtimeNs, b.owner, b.xattrs)
            } else if let v = try Catalog.version(db, backup: b.index, index: version) {
                (object, size, mode, mtimeNs, owner, xattrs) = (v.object, v.size, v.mode, v.mtimeNs, v.owner, v.xattrs)
            } else {
                return nil
            }
        }
    }

    /// What a restore may write over: nothing unless told (error 15), and then
    /// only a file or a link (12). Returns what is there now, if anything.
    func replaceable(_ target: String, overwrite: Bool) throws -> stat? {
        guard let st = FS.stat(target, follow: false) else { return nil }
        guard overwrite else { throw BMError(15, "\(FS.shown(target)) exists", path: target) }
        guard st.st_mode & S_IFMT == S_IFREG || st.st_mode & S_IFMT == S_IFLNK else {
            throw BMError(12, "\(FS.shown(target)) is \(FS.kind(st.st_mode)); not replaced", path: target)
        }
        return st
    }

    /// Writes a temp file beside `target` and renames it over `target`. With
    /// `syncFile`, the data is durable before the rename; with `syncFolder`,
    /// the rename is durable too. What is not synced here the caller syncs.
    func writeAtomically(to target: String, mode: UInt32, mtimeNs: Int64, owner: Owner? = nil, xattrs: ExtendedAttributes? = nil,
                         syncFile: Bool, syncFolder: Bool,
                         _ fill: (Int32) throws -> Void) throws {
        let dir = FS.directory(target)
        guard FS.isDirectory(dir) else { throw BMError(10, "folder \(FS.shown(dir)) does not exist", path: target) }
        let (fd, temp) = try FS.makeTemp(in: dir, prefix: ".\(FS.baseName(target)).bmlua-")
        var done = false
        defer {
            Glibc.close(fd)
            if !done { unlink(temp) }
        }
        try fill(fd)
        // The owner first: chown clears set-id bits and file capabilities (an attribute).
        if let owner, Owner.canGiveAway { fchown(fd, owner.uid, owner.gid) }
        xattrs?.apply(to: fd)
        fchmod(fd, mode_t(mode & 0o7777))
        var times = [timespec(tv_sec: 0, tv_nsec: Int(UTIME_OMIT)), FS.timespecOf(mtimeNs)]
        futimens(fd, &times)
        if syncFile {
            guard fsync(fd) == 0 else { throw FS.failure("cannot write", temp) }
        }
        guard rename(temp, target) == 0 else { throw FS.failure("cannot replace", target) }
        done = true
        if syncFolder { FS.fsync(path: dir, directory: true) }
    }

    // MARK: delbu — hook 5

    /// Returns the snapshots the file was taken out of: it goes from them with
    /// its versions (as Back In Time's "remove from all snapshots"), and from
    /// their browse views once that is committed.
    @discardableResult
    public func delbu(_ index: Int64, deleteStoredAway: Bool = false) throws -> [String] {
        try write { db in
            guard let b = try Catalog.backup(db, index: index) else { throw BMError(13, "no backup has index \(index)") }
            if b.storedAway && !deleteStoredAway {
                throw BMError(17, "backup \(index) (\(b.name)) holds the only copy of \(FS.shown(b.path))", path: b.path)
            }
            _ = try runHook(5, [.string(b.path), .string(b.path), .string(b.name), .integer(index), .boolean(deleteStoredAway)])
            let sids = try Catalog.snapshotsHolding(db, backup: index)
            try Catalog.deleteBackup(db, index: index)
            if !sids.isEmpty {
                let views = sids.map { repository.root + "/snapshots/" + $0 + b.path }
                db.afterNextTransaction(onCommit: { _ in for v in views { unlink(v) } })
            }
            return sids
        }
    }
}
