import Foundation
import GRDB

/// Reading, restoring, removing and pruning snapshots.
extension BackupDatabase {
    public func snapshots() throws -> [Snapshot] { try read(Catalog.snapshots) }

    public func snapshot(_ sid: String) throws -> Snapshot {
        guard let s = try snapshots().first(where: { $0.sid == sid }) else {
            throw BMError(22, "no snapshot \(sid) (see: bmlua snapshots)")
        }
        return s
    }

    /// The files of a snapshot: original path, backup, version, and the
    /// number its group of hard-linked files shares, if it has other links there.
    public func snapshotFiles(_ sid: String) throws -> [SnapshotFile] {
        _ = try snapshot(sid)
        return try read { db in try Catalog.snapshotFiles(db, sid: sid) }
    }

    /// The symbolic links a snapshot kept, by path.
    public func snapshotLinks(_ sid: String) throws -> [SnapshotLink] {
        _ = try snapshot(sid)
        return try read { db in try Catalog.snapshotLinks(db, sid: sid) }
    }

    /// Restores a snapshot's files (those at or under `path` if given) through
    /// restbu, hooks included (hard-linked ones as links again), then its
    /// symbolic links and folders as they were (no hook: they have no data):
    /// to their original places, or under `to` as `<to>/<original absolute
    /// path>`. Every folder below the restore root is reached through the
    /// descriptor of its parent, never through a link: a link where a folder
    /// belongs fails that file (error 12), and no path is too long.
    /// Returns the paths written (files, then links), the failures, how many
    /// of those paths are symbolic links, and the files left alone because
    /// they were already there as the snapshot has them.
    /// The files are made durable together at the end, not one fsync each.
    /// `progress` hears (files and links done, in all) after each one.
    public func restoreSnapshot(_ sid: String, path: Path? = nil, to: Path? = nil, overwrite: Bool = false,
                                progress: ((Int, Int) -> Void)? = nil)
        throws -> RestoreSummary
    {
        try requireRawWithoutHook4()
        let prefix = path?.absolute
        var restored: [Path] = [], failed: [BMError] = [], stopped: String?, linksRestored = 0
        var unchanged: [Path] = []
        var nothingThere = false
        var written: [UInt64: Folder] = [:]   // a folder written into, one per file system: synced at the end
        // One writer lock for the whole restore: no prune removes a version half-way.
        try holdingWriterLock {
            let selected = { (p: Path) in prefix.map { p.isAtOrUnder($0) } ?? true }
            let files = try snapshotFiles(sid).filter { selected($0.path) }
            let links = try snapshotLinks(sid).filter { selected($0.path) }
            let folders = try read { db in try Catalog.snapshotFolders(db, sid: sid) }.filter { selected($0.path) }
            let total = files.count + links.count
            nothingThere = total == 0 && folders.isEmpty
            guard !nothingThere else { return }
            let base = try to.map { try Folder.make($0) } ?? Folder.open(.root)
            let place = { (path: Path) in to.map { $0.absolute.under(path) } ?? path }
            // What a killed restore left in a folder this one writes into goes.
            let started = Folder.wallClock()
            let cursor = FolderCursor(base: base, makingWith: 0o777) { $0.removeStaleTemps(before: started) }
            // Folders there before anything is written keep their metadata, unless overwritten.
            let probe = FolderCursor(base: base)
            let kept = overwrite ? [] : Set(folders.map(\.path).filter { (try? probe.folder($0.components[...])) != nil })
            /// `restore` answers the path written, or nil for a file left as it was.
            func attempt(_ path: Path, _ restore: (Folder, Path) throws -> Path?) -> Bool {
                if options.stopRequested() { stopped = "\(restored.count) of \(total) files restored"; return false }
                defer { progress?(restored.count + unchanged.count + failed.count, total) }
                do {
                    let (folder, name) = try cursor.parent(of: path.components)
                    if let st = try? folder.status(), written[UInt64(st.st_dev)] == nil { written[UInt64(st.st_dev)] = folder }
                    if let done = try restore(folder, name) { restored.append(done) } else { unchanged.append(place(path)) }
                } catch {
                    failed.append(BMError.wrap(error, path: place(path)))
                }
                return true
            }
            // Without --overwrite, a file already there as the snapshot has it
            // is left alone, as rsync and restic's --overwrite if-changed leave
            // it; only one that differs is error 15. Not while hook 4 is set:
            // what it makes of the stored data is known only by running it.
            let leavesEqualFiles = try !overwrite && hookCode(4) == nil
            // The first file of a hard-linked group restored is written; the
            // others become links of it, as they were (no hook fires for them).
            var first: [Int64: Path] = [:]
            let linkSource = FolderCursor(base: base)
            for f in files {
                guard attempt(f.path, { folder, name in
                    if leavesEqualFiles, try holds(name, in: folder, backup: f.backup, version: f.version) {
                        if let group = f.hardlink, first[group] == nil { first[group] = f.path }
                        return nil
                    }
                    if let group = f.hardlink, let earlier = first[group] {
                        _ = try replaceable(name, in: folder, overwrite: overwrite)
                        let (from, fromName) = try linkSource.parent(of: earlier.components)
                        try folder.replace(name, replacing: overwrite) { dir, temp in
                            fromName.withCString { o in temp.withCString { linkat(from.fd, o, dir, $0, 0) } }
                        }
                        return folder.path.appending(name)
                    }
                    let done = try restbu(f.backup, version: f.version, overwrite: overwrite, into: folder, name: name, syncEach: false)
                    if let group = f.hardlink { first[group] = f.path }
                    return done
                }) else { return }
            }
            let filesRestored = restored.count
            defer { linksRestored = restored.count - filesRestored }
            for l in links {
                guard attempt(l.path, { try restoreLink(l, in: $0, name: $1, overwrite: overwrite) }) else { return }
            }
            restoreFolders(folders.filter { !kept.contains($0.path) }, cursor: cursor, place: place, failed: &failed)
        }
        // Each new file was renamed into place unsynced: all become durable here.
        FS.syncFileSystems(holding: Array(written.values))
        if let stopped { throw Interrupted(stopped) }
        if nothingThere, let path {
            throw BMError(10, "snapshot \(sid) has no file at or under \(FS.shown(path))", path: path)
        }
        return RestoreSummary(restored: restored, failed: failed, links: linksRestored, unchanged: unchanged)
    }

    /// Whether `name` in `folder` is a regular file with the bytes, mode and
    /// mtime that restoring `version` of `backup` would give it (read only if
    /// its size, mode and mtime say it may).
    private func holds(_ name: Path, in folder: Folder, backup: Int64, version: Int64) throws -> Bool {
        guard let st = folder.stat(name), st.st_mode & S_IFMT == S_IFREG else { return false }
        let copy = try read { db in try Catalog.backup(db, index: backup).flatMap { try StoredCopy(db, of: $0, version: version) } }
        guard let data = copy?.data, Int64(st.st_size) == data.size, UInt32(st.st_mode & 0o7777) == data.mode & 0o7777,
              FS.nanoseconds(st.st_mtim) == data.mtimeNs else { return false }
        let fd = folder.openFile(name, flags: O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        return try objects.hash(fd: fd, name: folder.path.appending(name)) == data.object
    }

    /// Folders come last: the empty ones come back too, and a folder's mode,
    /// mtime, owner and extended attributes are set once nothing more is
    /// written into it, on its descriptor. `folders` are those not there
    /// before (or to be overwritten).
    private func restoreFolders(_ folders: [SnapshotFolder], cursor: FolderCursor, place: (Path) -> Path, failed: inout [BMError]) {
        var made: [SnapshotFolder] = []
        for folder in folders {   // by path: parents first
            do {
                _ = try cursor.folder(folder.path.components[...])
                made.append(folder)
            } catch {
                failed.append(BMError.wrap(error, path: place(folder.path)))
            }
        }
        for folder in made.reversed() {   // children first: a parent's mode may close it to them
            guard let open = try? cursor.folder(folder.path.components[...]) else { continue }
            if Owner.canGiveAway { fchown(open.fd, folder.owner.uid, folder.owner.gid) }   // before the mode: chown clears set-id bits
            folder.xattrs?.apply(to: open.fd)
            fchmod(open.fd, mode_t(folder.mode))
            var times = [timespec(tv_sec: 0, tv_nsec: Int(UTIME_OMIT)), FS.timespecOf(folder.mtimeNs)]
            futimens(open.fd, &times)
        }
    }

    /// A link is put back as a link, whatever it points to.
    /// A link already there saying what the snapshot's says is left alone, as a file is.
    private func restoreLink(_ link: SnapshotLink, in folder: Folder, name: Path, overwrite: Bool) throws -> Path? {
        if !overwrite, let st = folder.stat(name), st.st_mode & S_IFMT == S_IFLNK,
           (try? folder.linkTarget(name, size: Int(st.st_size) + 1)) == link.target {
            return nil
        }
        _ = try replaceable(name, in: folder, overwrite: overwrite)
        try folder.replace(name, replacing: overwrite) { dir, temp in
            guard link.target.withCString({ t in temp.withCString { symlinkat(t, dir, $0) } }) == 0 else { return -1 }
            temp.withCString { t in
                if Owner.canGiveAway { _ = fchownat(dir, t, link.owner.uid, link.owner.gid, AT_SYMLINK_NOFOLLOW) }
                var times = [timespec(tv_sec: 0, tv_nsec: Int(UTIME_OMIT)), FS.timespecOf(link.mtimeNs)]
                _ = utimensat(dir, t, &times, AT_SYMLINK_NOFOLLOW)
            }
            return 0
        }
        return folder.path.appending(name)
    }

    /// What a snapshot holds at a path, as `diffSnapshots` compares it.
    private enum Held: Equatable {
        case file(object: String?)
        case link(SnapshotLink.Shape)
        case folder(SnapshotFolder.Shape)
    }

    public enum Change: String, Sendable {
        case added, removed, modified
        /// restic's marks: `+`, `-`, `M`.
        public var mark: String { self == .added ? "+" : self == .removed ? "-" : "M" }
    }

    /// What changed from snapshot `from` to snapshot `to`, by original path: a
    /// file is modified when its data differs, a link or a folder (its path
    /// ends in `/`, as restic shows it) when its shape does: what makes a
    /// snapshot run see a change.
    public func diffSnapshots(_ from: String, _ to: String) throws -> [SnapshotChange] {
        _ = try snapshot(from)
        _ = try snapshot(to)
        let (before, after) = try read { db in
            func data(_ sid: String) throws -> [Path: Held] {
                let files = try Catalog.snapshotFiles(db, sid: sid).map { ($0.path, Held.file(object: $0.object)) }
                let links = try Catalog.snapshotLinks(db, sid: sid).map { ($0.path, Held.link($0.shape)) }
                let folders = try Catalog.snapshotFolders(db, sid: sid).map {
                    ($0.path == .root ? .root : Path($0.path.bytes + [Path.slash]), Held.folder($0.shape))
                }
                return Dictionary(files + links + folders, uniquingKeysWith: { a, _ in a })
            }
            return (try data(from), try data(to))
        }
        var changes: [SnapshotChange] = []
        for (path, held) in after {
            if let old = before[path] {
                if old != held { changes.append(SnapshotChange(path: path, change: .modified)) }
            } else {
                changes.append(SnapshotChange(path: path, change: .added))
            }
        }
        for path in before.keys where after[path] == nil { changes.append(SnapshotChange(path: path, change: .removed)) }
        return changes.sorted { $0.path < $1.path }
    }

    /// Removes the snapshot record and its browse view; its versions stay (prune removes those).
    public func removeSnapshot(_ sid: String) throws {
        _ = try snapshot(sid)
        try write { db in try Catalog.deleteSnapshot(db, sid: sid) }
        _ = try? repository.folder(["snapshots"]).removeTree(Path(sid))
    }

    /// restic's policy: keep the newest `last` snapshots; the newest snapshot
    /// of each of the newest `hourly` hours, `daily` days, `weekly` (ISO)
    /// weeks, `monthly` months and `yearly` years that have one; and every
    /// snapshot taken `within` (years, months, days, hours) of the newest.
    public struct PrunePolicy: Sendable {
        public var last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0
        public var within: DateComponents?

        public init(last: Int = 0, hourly: Int = 0, daily: Int = 0, weekly: Int = 0, monthly: Int = 0, yearly: Int = 0,
                    within: DateComponents? = nil) {
            (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly) = (last, hourly, daily, weekly, monthly, yearly)
            self.within = within
        }

        public var isEmpty: Bool { [last, hourly, daily, weekly, monthly, yearly].allSatisfy { $0 == 0 } && within == nil }

        /// The sids of `snapshots` this policy keeps.
        public func kept(_ snapshots: [Snapshot], calendar: Calendar = Calendar(identifier: .iso8601)) -> Set<String> {
            let newestFirst = snapshots.sorted { ($0.time, $0.sid) > ($1.time, $1.sid) }
            var keep = Set(newestFirst.prefix(last).map(\.sid))
            func bucket(_ count: Int, _ units: Set<Calendar.Component>) {
                var seen: Set<DateComponents> = []
                for s in newestFirst where seen.count < count {
                    if seen.insert(calendar.dateComponents(units, from: s.time)).inserted { keep.insert(s.sid) }
                }
            }
            bucket(hourly, [.year, .month, .day, .hour])
            bucket(daily, [.year, .month, .day])
            bucket(weekly, [.yearForWeekOfYear, .weekOfYear])
            bucket(monthly, [.year, .month])
            bucket(yearly, [.year])
            if let within, let newest = newestFirst.first {
                var back = DateComponents()
                (back.year, back.month, back.day, back.hour) = (within.year.map(-), within.month.map(-), within.day.map(-), within.hour.map(-))
                if let cutoff = calendar.date(byAdding: back, to: newest.time) {
                    for s in newestFirst where s.time > cutoff { keep.insert(s.sid) }
                }
            }
            return keep
        }

        /// restic's `--keep-within` durations: a number and a unit, y (years),
        /// m (months), d (days) or h (hours), repeated: `1y6m`, `14d`, `36h`.
        public static func duration(_ text: String) -> DateComponents? {
            var d = DateComponents(), number = ""
            for c in text {
                if c.isASCII && c.isNumber { number.append(c); continue }
                guard let n = Int(number) else { return nil }
                switch c {
                case "y": d.year = (d.year ?? 0) + n
                case "m": d.month = (d.month ?? 0) + n
                case "d": d.day = (d.day ?? 0) + n
                case "h": d.hour = (d.hour ?? 0) + n
                default: return nil
                }
                number = ""
            }
            return number.isEmpty && d != DateComponents() ? d : nil
        }
    }

    /// Removes the snapshots `policy` does not keep, then the versions only
    /// they used (hook 8 fires for each). A version still used by a kept
    /// snapshot stays. With `dryRun`, nothing changes: the result says what would go.
    ///
    /// With `forgetDeleted`, the backups a snapshot made (group = its profile)
    /// of files no longer on disk go too (hook 5 fires), once no snapshot holds
    /// them and no version is left: otherwise their current copies stay for
    /// ever. Stored-away backups, and those made with `bmlua backup`, stay.
    /// `progress` hears (versions removed, versions to remove).
    public func prune(_ policy: PrunePolicy, profile: Int64? = nil, dryRun: Bool = false, forgetDeleted: Bool = false,
                      progress: ((Int, Int) -> Void)? = nil)
        throws -> PruneSummary
    {
        pruneProgress = progress
        defer { pruneProgress = nil }
        guard [policy.last, policy.hourly, policy.daily, policy.weekly, policy.monthly, policy.yearly].allSatisfy({ $0 >= 0 }) else {
            throw BMError(22, "a keep count must be 0 or more")
        }
        guard !policy.isEmpty else { throw BMError(22, "say what to keep, e.g. --keep-last 7 --keep-daily 14 (or --keep-within 30d)") }
        // Decided and done under one writer lock: no snapshot appears in between. A dry run only reads.
        if dryRun { return try prune(policy, profile: profile, forgetDeleted: forgetDeleted, apply: false) }
        return try holdingWriterLock { try prune(policy, profile: profile, forgetDeleted: forgetDeleted, apply: true) }
    }

    private func prune(_ policy: PrunePolicy, profile: Int64?, forgetDeleted: Bool, apply: Bool)
        throws -> PruneSummary
    {
        let all = try snapshots().filter { profile == nil || $0.profile == profile }.sorted { $0.sid > $1.sid }
        // Each profile's snapshots by themselves, as restic groups by host and
        // paths: --keep-last 1 keeps the newest of every profile, not of all.
        let keep = Dictionary(grouping: all, by: \.profile).values.reduce(into: Set<String>()) { $0.formUnion(policy.kept($1)) }
        let doomed = all.filter { !keep.contains($0.sid) }.map(\.sid)

        // The versions that only doomed snapshots use, each once.
        let gone = Set(doomed)
        func unused(_ db: Database) throws -> [[Int64]] {
            var candidates: Set<[Int64]> = []
            for sid in doomed {
                for e in try Catalog.snapshotEntries(db, sid: sid) { candidates.insert([e.backup, e.version]) }
            }
            return try candidates.sorted { $0.lexicographicallyPrecedes($1) }.filter { c in
                try Catalog.version(db, backup: c[0], index: c[1]) != nil
                    && Set(try Catalog.snapshotsUsing(db, backup: c[0], version: c[1])).isSubset(of: gone)
            }
        }
        // Snapshot-made backups of deleted files that nothing will hold once the versions go.
        func forgotten(_ db: Database, _ versions: [[Int64]]) throws -> [Int64] {
            guard forgetDeleted else { return [] }
            let going = Set(versions)
            return try Catalog.backups(db).filter { b in
                guard b.group >= 1, profile == nil || b.group == profile, !b.storedAway, !FS.exists(b.path) else { return false }
                return try Set(Catalog.snapshotsHolding(db, backup: b.index)).isSubset(of: gone)
                    && Catalog.versions(db, backup: b.index).allSatisfy { going.contains([b.index, $0.index]) }
            }.map(\.index)
        }
        if !apply {
            return try read { db in
                let versions = try unused(db)
                return PruneSummary(removed: doomed, versions: versions.count, backups: try forgotten(db, versions).count)
            }
        }
        let (removedVersions, removedBackups): (Int, Int) = try write { db in
            let versions = try unused(db)
            let backups = try forgotten(db, versions)
            for sid in doomed { try Catalog.deleteSnapshot(db, sid: sid) }
            for (n, c) in versions.enumerated() {
                try delver(c[0], c[1])
                pruneProgress?(n + 1, versions.count)
            }
            for i in backups { try delbu(i) }
            return (versions.count, backups.count)
        }
        if let views = try? repository.folder(["snapshots"]) { for sid in doomed { views.removeTree(Path(sid)) } }
        return PruneSummary(removed: doomed, versions: removedVersions, backups: removedBackups)
    }
}
