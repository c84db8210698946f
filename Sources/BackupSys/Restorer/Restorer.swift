import Foundation
import GRDB
import Glibc

/// Puts a snapshot's files, links and folders back (restic's restorer): the
/// files through restbu and hook 4, each folder reached through its parent's
/// descriptor.
public struct Restorer {
    let session: BackupDatabase
    /// Threads that write files at once (1: this one alone).
    var workers: Int

    /// Files handed to the workers at a time.
    static let groupSize = 256

    public init(_ session: BackupDatabase, workers: Int = 16) {
        self.session = session
        self.workers = workers
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
    public func restore(_ sid: String, path: Path? = nil, to: Path? = nil, overwrite: Bool = false,
                        progress: ((Int, Int) -> Void)? = nil)
        throws -> RestoreSummary
    {
        try session.requireRawWithoutHook4()
        let prefix = path?.absolute
        var restored: [Path] = [], failed: [BMError] = [], stopped: String?, linksRestored = 0
        var unchanged: [Path] = []
        var nothingThere = false
        var written: [UInt64: Folder] = [:]   // a folder written into, one per file system: synced at the end
        // One writer lock for the whole restore: no prune removes a version half-way.
        try session.holdingWriterLock {
            let (files, links, folders) = try session.read { db in
                let c = try SnapshotContents.read(db, sid: sid, under: prefix)   // error 22 if there is no such snapshot
                return (c.files, c.links, c.folders)
            }
            let total = files.count + links.count
            nothingThere = total == 0 && folders.isEmpty
            guard !nothingThere else { return }
            let base = try to.map { try Folder.make($0) } ?? Folder.open(.root)
            let place = { (path: Path) in to.map { $0.absolute.under(path) } ?? path }
            // What a killed restore left in a folder this one writes into goes.
            let started = Folder.wallClock()
            let cursor = FolderCursor(base: base, makingWith: 0o777) { if !$0.isNew { $0.removeStaleTemps(before: started) } }
            // Folders there before anything is written keep their metadata, unless
            // overwritten. By path, parents first: under a folder not there, none is
            // (into a new folder: one look, not one failed open a folder).
            let probe = FolderCursor(base: base)
            var missing: Path?
            let kept = overwrite ? [] : Set(folders.map(\.path).filter { path in
                if let missing, path.isAtOrUnder(missing) { return false }
                if (try? probe.folder(path.components[...])) != nil { return true }
                missing = path
                return false
            })
            /// The folder a file goes into (made if missing) and its name there.
            var lastFolder: Folder?
            func parent(of path: Path) throws -> (Folder, Path) {
                let (folder, name) = try cursor.parent(of: path.components)
                if folder !== lastFolder, let st = try? folder.status(), written[UInt64(st.st_dev)] == nil { written[UInt64(st.st_dev)] = folder }
                lastFolder = folder
                return (folder, name)
            }
            /// What became of a file: the path written, nil for one left as it was, or its error.
            func record(_ path: Path, _ outcome: Result<Path?, Error>) {
                switch outcome {
                case .success(let done?): restored.append(done)
                case .success(nil): unchanged.append(place(path))
                case .failure(let error): failed.append(BMError.wrap(error, path: place(path)))
                }
                progress?(restored.count + unchanged.count + failed.count, total)
            }
            /// `restore` answers the path written, or nil for a file left as it was.
            func attempt(_ path: Path, _ restore: (Folder, Path) throws -> Path?) -> Bool {
                if session.options.stopRequested() { stopped = "\(restored.count) of \(total) files restored"; return false }
                record(path, Result { let (folder, name) = try parent(of: path); return try restore(folder, name) })
                return true
            }
            // Without --overwrite, a file already there as the snapshot has it
            // is left alone, as rsync and restic's --overwrite if-changed leave
            // it; only one that differs is error 15. Not while hook 4 is set:
            // what it makes of the stored data is known only by running it.
            let hook4 = try session.hookCode(4) != nil
            let leavesEqualFiles = !overwrite && !hook4
            // The first file of a hard-linked group restored is written; the
            // others become links of it, as they were (no hook fires for them).
            var hardLinks = HardLinkRestore(base: base)
            /// A folder this restore made held nothing: nothing in it needs a look.
            func alreadyThere(_ f: SnapshotFile, _ folder: Folder, _ name: Path) throws -> Bool {
                guard leavesEqualFiles, !folder.isNew, try holds(name, in: folder, backup: f.backup, version: f.version) else { return false }
                hardLinks.holds(f.path, group: f.hardlink)
                return true
            }
            /// A file not there yet, on this thread: a link of its group's first, or restbu with its hook 4.
            func restoreHere(_ f: SnapshotFile, _ folder: Folder, _ name: Path) throws -> Path {
                if let earlier = hardLinks.earlier(f.hardlink) {
                    _ = try session.replaceable(name, in: folder, overwrite: overwrite)
                    try hardLinks.link(name, in: folder, to: earlier, replacing: overwrite)
                    return folder.path.appending(name)
                }
                let done = try session.restbu(f.backup, version: f.version, overwrite: overwrite, into: folder, name: name, syncEach: false)
                hardLinks.holds(f.path, group: f.hardlink)
                return done
            }
            if hook4 || workers < 2 {
                for f in files {
                    guard attempt(f.path, { try alreadyThere(f, $0, $1) ? nil : try restoreHere(f, $0, $1) }) else { return }
                }
            } else {
                // Workers write a group of files while this thread readies the
                // next (its folders, what is there already); a file this thread
                // must do (a link of a hard-linked group's first file, a version
                // that is gone) waits for its group's workers.
                let writers = FileWriters(session: session, workers: workers)
                /// A group handed to the workers, and what its files came to so far.
                struct Group {
                    var files: ArraySlice<SnapshotFile>
                    var outcomes: [Result<Path?, Error>?]
                    var jobs: [FileWriters.Job] = [], jobIndex: [Int] = [], here: [(Int, Folder, Path)] = []
                    var writing: FileWriters.Pending?
                }
                /// The first file of each hard-linked group, once a job: the
                /// others wait for it, even in a later group.
                var firsts = Set<Int64>()
                func ready(_ files: ArraySlice<SnapshotFile>) -> (Group, stopsHere: Bool) {
                    var g = Group(files: files, outcomes: Array(repeating: nil, count: files.count))
                    for (k, f) in zip(0..., files) {
                        if session.options.stopRequested() { return (g, true) }   // the rest: no outcome, not recorded
                        do {
                            let (folder, name) = try parent(of: f.path)
                            if try alreadyThere(f, folder, name) { g.outcomes[k] = .success(nil); continue }
                            let first = f.hardlink.map { hardLinks.earlier($0) == nil && firsts.insert($0).inserted } ?? true
                            if let data = f.data, first {
                                g.jobs.append(.init(folder: folder, name: name, data: data))
                                g.jobIndex.append(k)
                            } else {
                                g.here.append((k, folder, name))
                            }
                        } catch {
                            g.outcomes[k] = .failure(error)
                        }
                    }
                    return (g, false)
                }
                /// Waits for a group's workers, does its files that were left
                /// to this thread, and records them all in order.
                func finish(_ group: Group) {
                    var g = group
                    for (j, failure) in (g.writing?.wait() ?? []).enumerated() {
                        let k = g.jobIndex[j], f = g.files[g.files.startIndex + k]
                        if let failure {
                            g.outcomes[k] = .failure(failure)
                        } else {
                            g.outcomes[k] = .success(g.jobs[j].folder.path.appending(g.jobs[j].name))
                            hardLinks.holds(f.path, group: f.hardlink)
                        }
                    }
                    for (k, folder, name) in g.here {
                        g.outcomes[k] = Result { try restoreHere(g.files[g.files.startIndex + k], folder, name) }   // not there: looked at above
                    }
                    for (k, outcome) in g.outcomes.enumerated() {
                        if let outcome { record(g.files[g.files.startIndex + k].path, outcome) }
                    }
                }
                var writing: Group?
                // Whatever ends the loop, what the workers were given is waited for.
                defer { if let writing { finish(writing) } }
                var next = 0
                while next < files.count {
                    var (group, stopsHere) = ready(files[next..<min(next + Self.groupSize, files.count)])
                    group.writing = try writers.start(group.jobs, overwrite: overwrite)
                    if let previous = writing { finish(previous) }
                    writing = group
                    if stopsHere {
                        finish(group)
                        writing = nil
                        stopped = "\(restored.count) of \(total) files restored"
                        return
                    }
                    next += group.files.count
                }
            }
            let filesRestored = restored.count
            defer { linksRestored = restored.count - filesRestored }
            for l in links {
                guard attempt(l.path, { try restoreLink(l, in: $0, name: $1, overwrite: overwrite) }) else { return }
            }
            restoreFolders(folders.filter { !kept.contains($0.path) }, cursor: cursor, base: base, place: place, failed: &failed)
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
        let copy = try session.read { db in try Catalog.backup(db, index: backup).map { try BackupDatabase.StoredCopy(db, of: $0, version: version) } }
        guard let data = copy?.data, Int64(st.st_size) == data.size, UInt32(st.st_mode & 0o7777) == data.mode & 0o7777,
              FS.nanoseconds(st.st_mtim) == data.mtimeNs else { return false }
        let fd = folder.openFile(name, flags: O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        return try session.objects.hash(fd: fd, name: folder.path.appending(name)) == data.object
    }

    /// Folders come last: the empty ones come back too, and a folder's mode,
    /// mtime, owner and extended attributes are set once nothing more is
    /// written into it, on its descriptor. `folders` are those not there
    /// before (or to be overwritten).
    /// `cursor` made the folders files went into; the others (empty ones) are made here.
    private func restoreFolders(_ folders: [SnapshotFolder], cursor: FolderCursor, base: Folder, place: (Path) -> Path,
                                failed: inout [BMError]) {
        var made: [SnapshotFolder] = []
        for folder in folders {   // by path: parents first
            do {
                try cursor.reach(folder.path.components)
                made.append(folder)
            } catch {
                failed.append(BMError.wrap(error, path: place(folder.path)))
            }
        }
        // All made now: opened, not made again (a mkdir that finds one there costs as much as an open).
        let opener = FolderCursor(base: base)
        for folder in made.reversed() {   // children first: a parent's mode may close it to them
            guard let open = try? opener.folder(folder.path.components[...]) else { continue }
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
        _ = try session.replaceable(name, in: folder, overwrite: overwrite)
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
}

/// What a restore of a snapshot did: the files written, the ones that
/// failed (each with its error), the symbolic links made, and the files
/// already there as the snapshot has them.
public struct RestoreSummary {
    public var restored: [Path]
    public var failed: [BMError]
    public var links: Int
    public var unchanged: [Path]
}
