import Foundation
import Glibc
import GRDB
import HookVM

/// The backup operations of design.md, "Operations and their hooks" (newbu, updbu, restbu, delbu). Each is
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

    /// Finds a backup by index, by name, or by original path (the bytes the
    /// user typed), in that order. `index:N` (or `#N`), `name:X` and `path:X`
    /// take one kind only: a file named `1` is `name:1`. Error 13 if none.
    public func resolve(_ ref: Path) throws -> Backup {
        try read { db in
            for (prefix, kind) in [("#", "index"), ("index:", "index"), ("name:", "name"), ("path:", "path")] where ref.hasPrefix(Path(prefix)) {
                let rest = Path(bytes: ref.bytes.dropFirst(prefix.utf8.count))
                let found: Backup?
                switch kind {
                case "index": found = try rest.string.flatMap { Int64($0) }.flatMap { try Catalog.backup(db, index: $0) }
                case "name": found = try Catalog.backup(db, name: rest)
                default: found = try Catalog.backup(db, path: rest.absolute)
                }
                guard let found else { throw BMError(13, "no backup has \(kind) \(FS.shown(rest))", path: rest) }
                return found
            }
            if let text = ref.string, let i = Int64(text), let b = try Catalog.backup(db, index: i) { return b }
            if let b = try Catalog.backup(db, name: ref) { return b }
            if let b = try Catalog.backup(db, path: ref.absolute) { return b }
            throw BMError(13, "no backup is index, name or path \(FS.shown(ref))", path: ref)
        }
    }

    public func resolve(_ ref: String) throws -> Backup { try resolve(Path(ref)) }

    public func backup(_ index: Int64) throws -> Backup {
        try read { try Catalog.existingBackup($0, index: index) }
    }

    // MARK: newbu — hooks 1 and 2

    @discardableResult
    public func newbu(_ path: Path, _ options: NewBackupOptions = NewBackupOptions()) throws -> Int64 {
        guard !path.isEmpty else { throw BMError(22, "an empty path names no file") }
        let original = path.absolute
        if repository.contains(original) {
            throw BMError(22, "\(FS.shown(original)) is inside the repository \(FS.shown(repository.root)); bmlua does not back up its own data", path: original)
        }
        let source = try SourceFile.open(path: original)
        guard original.withCString({ access($0, R_OK) }) == 0 else { throw FS.failure("cannot read", original) }
        let index = try newbu(source, options).index
        if options.storeAway && db == nil {
            // Only now is the backup committed and durable: the original may go.
            if original.withCString({ unlink($0) }) == 0, let folder = try? Folder.open(original.directory) { folder.sync() }
        }
        return index
    }

    @discardableResult
    public func newbu(_ path: String, _ options: NewBackupOptions = NewBackupOptions()) throws -> Int64 {
        try newbu(Path(path), options)
    }

    /// What newbu made: the backup's index, what was stored (the original's
    /// own data unless hook 1 named another file), and the backup's head as
    /// inserted, unless a hook has written to the catalog since (hook 2 may
    /// have changed or deleted the backup): newver needs not read it back then.
    struct Made {
        var index: Int64
        var stored: ObjectStore.Stored
        var fromSource: Bool
        var head: BackupHead?
    }

    /// newbu of a file already open (a snapshot's walk opened it).
    /// `staged`: the original's bytes, read already by a snapshot's worker.
    /// `absent`: the caller has just found no backup of the file (a snapshot's
    /// lookup, with no hook write since), so none is looked for.
    /// `enclosed`: part of a step whose `write` undoes it if it fails.
    func newbu(_ source: SourceFile, _ options: NewBackupOptions, staged: ObjectStore.Staged? = nil,
               absent: Bool = false, enclosed: Bool = false) throws -> Made {
        let original = source.path
        return try part(of: enclosed) { db in
            if !absent, try Catalog.backupIndex(db, path: original) != nil, let existing = try Catalog.backup(db, path: original) {
                throw BMError(16, "\(FS.shown(original)) is backup \(existing.index) (\(FS.shown(existing.name))); use bmlua update", path: original)
            }
            let name = try uniqueName(for: original, db)
            let out = try runHook(.beforeNewBackup(original: original, name: name, storedAway: options.storeAway))
            let actual = out?.bhout.pathValue
            let data = try store(source, hookChose: actual, staged: staged, afterHook: out != nil)
            let index = try Catalog.insert(db, .init(
                path: original, name: name, group: options.group, storedAway: options.storeAway,
                data: data, source: source.state), now: Date())
            let inserted = hookWrites
            _ = try runHook(.afterNewBackup(original: original, actual: actual ?? original, name: name, index: index,
                                            storedAway: options.storeAway))
            let head = BackupHead(index: index, path: original, name: name, storedAway: options.storeAway, nextVersion: 1, source: source.state)
            return Made(index: index, stored: ObjectStore.Stored(id: data.object, size: data.size), fromSource: actual == nil,
                        head: hookWrites == inserted ? head : nil)
        }
    }

    /// newbu and its first newver in one step, for a snapshot's new file when
    /// hooks 1, 2 and 6 are all unset: what the two do (one object, the
    /// backup, version 1 of it) in two statements (a third where the file's
    /// name is taken) rather than three savepoints and a dozen. Returns the backup's index and its object.
    /// It needs no savepoint: each statement is whole or not at all, and
    /// `insertWithFirstVersion` takes the backup back if its version fails.
    /// A savepoint's sub-journal copied every page the two touched, a sixth
    /// of the session thread's work a file.
    func newbuWithVersion(_ source: SourceFile, group: Int64, comment: String, staged: ObjectStore.Staged?) throws -> (index: Int64, object: String) {
        try write(savepoint: false) { db in
            let data = try store(source, hookChose: nil, staged: staged)
            var backup = Catalog.NewBackup(path: source.path, name: source.path.baseName, group: group, storedAway: false,
                                           data: data, source: source.state)
            // The insert itself finds a name taken: no query before it.
            let index = try claimName(for: source.path) { name in
                backup.name = name
                return try Catalog.insertWithFirstVersion(db, backup, comment: comment, now: Date())
            }
            return (index, data.object)
        }
    }

    /// What newbu, updbu and newver store of `source`: the bytes of the file
    /// the hook named in `bhout` if it named one, else the original's (or
    /// `reusing`, an object already stored from it, or `staged`, its bytes
    /// read already, unless `afterHook` a hook changed the file since); the
    /// original's metadata either way.
    func store(_ source: SourceFile, hookChose actual: Path?, reusing: ObjectStore.Stored? = nil,
               staged: ObjectStore.Staged? = nil, afterHook: Bool = false) throws -> StoredData {
        var staged = staged
        if let read = staged, actual != nil || reusing != nil || afterHook && source.changedSinceOpened {
            objects.discard(read)
            staged = nil
        }
        let stored = try actual.map { try objects.put(file: $0) } ?? reusing
            ?? staged.map { try objects.commit($0, ofSource: true) } ?? objects.put(source)
        return source.metadata(object: stored.id, size: stored.size)
    }

    /// The "bkup. file": the base name, with `-2`, `-3` … before the extension
    /// when another backup already has it.
    func uniqueName(for path: Path, _ db: Database) throws -> Path {
        try claimName(for: path) { name in try Catalog.nameExists(db, name) ? nil : name }
    }

    /// The names a backup of `path` may have, in turn, until `claim` takes
    /// one (non-nil): the base name, unless a hint says this process found it
    /// taken (and no backup was deleted since), then `-N` names from where
    /// the last search for that base name ended.
    private func claimName<T>(for path: Path, _ claim: (Path) throws -> T?) throws -> T {
        let base = path.baseName
        if nameSuffixHints[base.bytes] == nil, let claimed = try claim(base) { return claimed }
        var n = nameSuffixHints[base.bytes] ?? 2
        while true {
            if let claimed = try claim(Self.name(base, suffix: n)) {
                nameSuffixHints[base.bytes] = n + 1
                return claimed
            }
            n += 1
        }
    }

    /// `base` with `-n` before its extension (`notes.txt`, 2: `notes-2.txt`;
    /// a leading dot starts no extension: `.profile-2`).
    static func name(_ base: Path, suffix n: Int) -> Path {
        let dot = base.bytes.lastIndex(of: UInt8(ascii: ".")).flatMap { $0 == 0 ? nil : $0 }
        let stem = dot.map { Array(base.bytes[..<$0]) } ?? base.bytes
        let ext = dot.map { Array(base.bytes[$0...]) } ?? []
        return Path(stem + Array("-\(n)".utf8) + ext)
    }

    // MARK: updbu — hook 3

    public func updbu(_ index: Int64) throws {
        try write { db in
            let b = try Catalog.existingHead(db, index: index)
            let source = try original(of: b)
            let actual = try runHook(.beforeUpdate(original: b.path, name: b.name, index: b.index))?.bhout.pathValue
            try Catalog.updateData(db, index: b.index, store(source, hookChose: actual), now: Date())
        }
    }

    /// The original file of `b`, open for reading, which updbu and newver
    /// store; a stored-away one says how to get it back.
    func original(of b: BackupHead) throws -> SourceFile {
        do {
            return try SourceFile.open(path: b.path)
        } catch let e as BMError where e.number == 10 && b.storedAway {
            throw BMError(10, "\(FS.shown(b.path)) is stored away in backup \(b.index); bring it back with: bmlua restore \(b.index)", path: b.path)
        }
    }

    // MARK: restbu — hook 4

    /// Restores the current copy (`version` 0) or a version to the original
    /// path or `to` (a folder with a trailing `/` or one that exists: into
    /// it). Never half-overwrites: a temp file beside the target is renamed
    /// over it. Mode, mtime and extended attributes are restored, and the owner
    /// when running as root. Returns the path written.
    @discardableResult
    public func restbu(_ index: Int64, version: Int64 = 0, overwrite: Bool = false, to: Path? = nil) throws -> Path {
        let b = try backup(index)
        try requireRawWithoutHook4()
        let intoFolder = to?.hasTrailingSlash ?? false   // `--to DIR/`: a folder, made if missing
        var target = to?.absolute ?? b.path
        if intoFolder, let st = FS.stat(target), st.st_mode & S_IFMT != S_IFDIR {
            throw BMError(22, "\(FS.shown(target)) is a file, not a folder", path: target)
        }
        if intoFolder || to.map({ FS.isDirectory($0) }) == true { target = target.appending(b.path.baseName) }
        // In place, the original's folder may be gone with it; --to names a folder that is there.
        let folder = to == nil || intoFolder ? try Folder.make(target.directory, follow: to != nil)
                                             : try Folder.open(target.directory)
        folder.removeStaleTemps(before: Folder.wallClock())   // what a killed restore left here
        return try restbu(index, version: version, overwrite: overwrite, into: folder, name: target.baseName, syncEach: true)
    }

    /// With hooks off, a restore would write the stored bytes, which a hook 4
    /// may be there to turn back into the file (decrypt, decompress): only with --raw.
    func requireRawWithoutHook4() throws {
        guard !options.hooks, !options.raw, let code = try bhooks()?[3], code.contains(where: { !$0.isWhitespace }) else { return }
        throw BMError(22, "hook 4 is set, and --no-hooks would restore the bytes as stored, without it (encrypted or compressed, if that is its job); add --raw to restore them so, or drop --no-hooks")
    }

    /// restbu into `folder` as `name`. With `syncEach` false (a snapshot's many
    /// files), a new file is not synced on its own: the caller syncs them all
    /// at once. One that replaces a file still is, before its rename.
    func restbu(_ index: Int64, version: Int64, overwrite: Bool, into folder: Folder, name: Path, syncEach: Bool) throws -> Path {
        let target = folder.path.appending(name)
        return try restoring { db in
            let b = try Catalog.existingBackup(db, index: index)
            let copy = try StoredCopy(db, of: b, version: version)
            let existing = try replaceable(name, in: folder, overwrite: overwrite)
            let source = try runHook(.beforeRestore(original: b.path, object: Path(objects.path(of: copy.data.object)), name: b.name,
                                                    index: index, version: version, overwrite: overwrite))?.bhout.pathValue
            // Back in its place, the original no longer needs the backup: but
            // only once it is durable, so this one is synced whatever the caller says.
            let endsStoredAway = b.storedAway && version == 0 && target == b.path
            if endsStoredAway {
                try Catalog.clearStoredAway(db, index: index)   // rolled back with the rest if the write fails
            }
            // A file that replaces another is synced before its rename whatever the caller says:
            // a user's file is never half-overwritten.
            let durable = syncEach || endsStoredAway
            try writeAtomically(copy.data, into: folder, name: name, replacing: overwrite,
                                syncFile: durable || existing != nil, syncFolder: durable) { fd in
                if let source {
                    let input = try SourceFile.open(path: source)
                    var out = SparseOutput(fd: fd, name: target)
                    try stream(input.fd, name: source) { try out.write($0) }
                    try out.finish()
                } else {
                    try objects.copy(copy.data.object, size: copy.data.size, to: fd, destination: target)
                }
            }
            return target
        }
    }

    /// What restoring `version` of a backup (0: its current copy) writes: the
    /// data and what is set on it.
    struct StoredCopy {
        var data: StoredData

        /// Version 0 is the backup's own copy; another that is not there is error 14.
        init(_ db: Database, of b: Backup, version: Int64) throws {
            data = version == 0 ? b.data : try Catalog.existingVersion(db, of: b, index: version).data
        }
    }

    /// What a restore may write over: nothing unless told (error 15), and then
    /// only a file or a link (12). Returns what is there now, if anything.
    func replaceable(_ name: Path, in folder: Folder, overwrite: Bool) throws -> stat? {
        guard let st = folder.stat(name) else { return nil }
        let target = folder.path.appending(name)
        guard overwrite else { throw BMError(15, "\(FS.shown(target)) exists", path: target) }
        guard st.st_mode & S_IFMT == S_IFREG || st.st_mode & S_IFMT == S_IFLNK else {
            throw BMError(12, "\(FS.shown(target)) is \(FS.kind(st.st_mode)); not replaced", path: target)
        }
        return st
    }

    /// Writes a temp file beside `name` in `folder` and renames it over
    /// `name` (with `replacing` false, only if nothing has appeared there). With
    /// `syncFile`, the data is durable before the rename; with `syncFolder`,
    /// the rename is durable too. What is not synced here the caller syncs.
    /// Everything is set on the descriptor.
    func writeAtomically(_ data: StoredData, into folder: Folder, name: Path, replacing: Bool,
                         syncFile: Bool, syncFolder: Bool, _ fill: (Int32) throws -> Void) throws {
        let (fd, temp) = try folder.createTemp { Folder.tempName(for: name) }
        var done = false
        defer {
            Glibc.close(fd)
            if !done { _ = folder.unlink(temp) }
        }
        try fill(fd)
        // The owner first: chown clears set-id bits and file capabilities (an attribute).
        if let owner = data.owner, Owner.canGiveAway { fchown(fd, owner.uid, owner.gid) }
        data.xattrs?.apply(to: fd)
        fchmod(fd, mode_t(data.mode & 0o7777))
        var times = [timespec(tv_sec: 0, tv_nsec: Int(UTIME_OMIT)), FS.timespecOf(data.mtimeNs)]
        guard futimens(fd, &times) == 0 else { throw FS.failure("cannot set the time of", folder.path.appending(name)) }
        if syncFile {
            guard fsync(fd) == 0 else { throw FS.failure("cannot write", folder.path.appending(temp)) }
        }
        done = true   // rename removes the temp if it fails
        try folder.rename(temp, to: name, replacing: replacing)
        if syncFolder { folder.sync() }
    }

    // MARK: delbu — hook 5

    /// Returns the snapshots the file was taken out of: it goes from them with
    /// its versions (as Back In Time's "remove from all snapshots"), and from
    /// their browse views once that is committed.
    @discardableResult
    public func delbu(_ index: Int64, deleteStoredAway: Bool = false) throws -> [String] {
        try write { db in
            let b = try Catalog.existingBackup(db, index: index)
            if b.storedAway && !deleteStoredAway {
                throw BMError(17, "backup \(index) (\(FS.shown(b.name))) holds the only copy of \(FS.shown(b.path))", path: b.path)
            }
            _ = try runHook(.beforeDelete(original: b.path, name: b.name, index: index, deleteStoredAway: deleteStoredAway))
            let sids = try SnapshotContents.holding(db, backup: index)
            try SnapshotContents.remove(backup: b, from: sids, db)
            try Catalog.deleteBackup(db, index: index)
            nameSuffixHints.removeAll()
            if !sids.isEmpty {
                onCommit { [repository] in
                    for sid in sids {
                        _ = try? repository.folder(["snapshots", Path(sid)] + b.path.directory.components).unlink(b.path.baseName)
                    }
                }
            }
            return sids
        }
    }
}
