import Foundation
import GRDB
import Glibc

/// `bmlua snapshot` (design.md, "Snapshots and the user-callback"): back up a profile's tree as backups and
/// versions, record a snapshot, and call the user-callback at each step.
public struct SnapshotRun {
    public var profileID: Int64 = 1
    public var config: ProfileConfig
    /// The default repository (`--repo`, `$BMLUA_REPO`, …), for profiles without their own.
    public var defaultRepository: String
    public var options = SessionOptions()
    public var callbackPath: String?
    public var callbackTimeLimit: Double = 600
    /// Called now and then with the running totals (files, bytes stored).
    public var progress: ((Summary) -> Void)?
    /// Files per transaction: a batch is made durable with one sync.
    public var batchSize = 256
    /// Where the per-profile "already running" locks live (default: ProfileLock.directory()).
    public var lockDirectory: String?
    /// The clock that names snapshots.
    public var now: () -> Date = Date.init

    public init(config: ProfileConfig, defaultRepository: String) {
        self.config = config
        self.defaultRepository = defaultRepository
    }

    public struct Summary: Sendable {
        public var sid: String?
        public var newFiles = 0
        public var changedFiles = 0
        public var unchangedFiles = 0
        public var failedFiles = 0
        /// Symbolic links kept as links.
        public var links = 0
        public var bytesStored: Int64 = 0
        /// Source files opened to be stored (unchanged files are never opened).
        public var filesRead = 0
        public var seconds = 0.0
        public var errors: [String] = []
    }

    /// Runs the whole protocol. Throws 1, 2, 3, 4, 5 or 7 as §8's table says,
    /// or `Interrupted` (called back as reason 4 with 5, then 2 and 8); a
    /// snapshot taken with errors returns normally with `failedFiles > 0`.
    public func run() throws -> Summary {
        let log = options.diagnostics
        let verbose = options.verbose
        let info: (String) -> Void = { if verbose { log("bmlua: \($0)") } }
        let repo = repository
        guard callbackTimeLimit > 0 && callbackTimeLimit.isFinite else {
            throw BMError(22, "the user-callback's time limit must be a finite number of seconds above 0")
        }
        let callback = UserCallback(path: callbackPath, repository: repo, timeLimit: callbackTimeLimit,
                                    log: info, errorLog: { log("bmlua: \($0)") })

        let profile: Profile
        do { profile = try configuredProfile() } catch {
            callback.call(config.profile(profileID) ?? Profile(id: profileID, name: ""), .error, ["1"])
            throw error
        }
        let lock: ProfileLock
        do {
            lock = try ProfileLock(profile: profile.id, directory: lockDirectory)
        } catch {
            callback.call(profile, .error, ["2"])
            throw error
        }
        defer { lock.release() }

        guard callback.call(profile, .mount) else {
            callback.call(profile, .unmount)
            throw BMError(7, "reason 7 (mount) exited non-zero")
        }
        guard callback.call(profile, .begins) else {
            callback.call(profile, .unmount)
            throw BMError(7, "reason 1 (begins) exited non-zero")
        }
        var failure: Error?
        var summary = Summary()
        do {
            try requireRepository(repo)
            // Nothing to read at all is a failed run, as restic says "all source
            // files do not exist": an empty snapshot "with errors" is only noise.
            let includes = profile.include.map { Path($0).absolute }
            if includes.allSatisfy({ FS.stat($0) == nil && errno == ENOENT }) {   // followed, as walk follows an include
                throw BMError(5, "none of profile \(profile.id)'s include paths exists (\(includes.map { FS.shown($0) }.joined(separator: ", "))); is the drive mounted?")
            }
            let bd = try BackupDatabase(at: repo, options: options)
            defer { bd.close() }
            summary = try bd.holdingWriterLock { try take(profile, in: bd) }
            // Failures are reason 4 with 6 whether or not a snapshot was taken (the
            // same failures as the last one record none); reason 3 only for a new one.
            if summary.failedFiles > 0 { callback.call(profile, .error, ["6", isoTime(Date())]) }
            if let sid = summary.sid {
                callback.call(profile, .newSnapshot, [sid, repo + "/snapshots/" + sid])
            }
        } catch let stop as Interrupted {
            callback.call(profile, .error, ["5", stop.description])
            failure = stop
        } catch let e as BMError where e.number == 36 {
            callback.call(profile, .error, ["5", e.description])
            failure = e
        } catch let e as BMError where e.number == 3 || e.number == 4 {
            callback.call(profile, .error, e.number == 3 ? ["3"] : ["4", String(decoding: e.path.bytes, as: UTF8.self)])
            failure = e
        } catch {
            let e = BMError.wrap(error)
            callback.call(profile, .error, ["5", e.description])
            failure = e.number == 5 ? e : BMError(5, e.description)
        }
        callback.call(profile, .ends)
        callback.call(profile, .unmount)
        if let failure { throw failure }
        return summary
    }

    /// What a run would store, found as `run()` finds it (`snapshot --dry-run`).
    public struct Plan: Sendable {
        public var new: [Path] = []
        public var changed: [Path] = []
        public var unchanged = 0
        public var links = 0
        /// Bytes of the new and changed files, as they are on disk (before any hook).
        public var bytes: Int64 = 0
        /// What could not be walked, each with its error.
        public var unreadable: [(path: Path, error: BMError)] = []
    }

    /// The repository the profile snapshots into: its own, else the default.
    var repository: String { config.profile(profileID)?.repo ?? defaultRepository }

    /// The profile, if it exists and includes something; error 1 if not.
    func configuredProfile() throws -> Profile {
        guard let profile = config.profile(profileID) else {
            throw BMError(1, "no profile \(profileID) in \(config.path) (see: bmlua profile list)")
        }
        guard !profile.include.isEmpty else {
            throw BMError(1, "profile \(profileID) includes nothing (add paths with: bmlua profile include PATH --profile \(profileID))")
        }
        return profile
    }

    /// Error 3 if the profile's repository is not there (a drive not mounted).
    func requireRepository(_ repo: String) throws {
        guard !Repository.exists(at: repo) else { return }
        throw BMError(3, "no repository at \(FS.shown(repo)) (is the drive mounted? create one with: bmlua init --repo \(FS.shown(repo)))", path: repo)
    }

    /// `run()` without its effects: no lock, no hook, no user-callback,
    /// nothing stored. Throws 1 or 3 as `run()` would.
    public func plan() throws -> Plan {
        let profile = try configuredProfile(), repo = repository
        try requireRepository(repo)
        let bd = try BackupDatabase(at: repo, options: options)
        defer { bd.close() }
        let known = try KnownFiles(bd)
        var plan = Plan()
        let tree = try walker(profile, in: bd).walk { file in
            guard let st = file.lookUp() else { return plan.unreadable.append((file.path, FS.failure("cannot read", file.path))) }
            if let b = known.byPath[file.path], known.unchangedVersion(of: b, st) != nil {
                plan.unchanged += 1
                return
            }
            if known.byPath[file.path] == nil { plan.new.append(file.path) } else { plan.changed.append(file.path) }
            plan.bytes += Int64(st.st_size)
        }
        plan.links = tree.links.count
        plan.unreadable += tree.failures
        return plan
    }

    func walker(_ profile: Profile, in bd: BackupDatabase, until stop: @escaping () -> Bool = { false }) -> Walker {
        var w = Walker(includes: profile.include.map { Path($0) }, excludes: profile.exclude, stop: stop)
        if let repo = bd.repository.identity { w.passOver[repo] = "the repository itself" }
        return w
    }

    /// The backups by original path (bytewise), and each one's newest version.
    /// Read once per run: each path is walked once, so a backup made in this
    /// run is not met again.
    struct KnownFiles {
        var byPath: [Path: Backup]
        var latest: [Int64: Int64]

        init(_ bd: BackupDatabase) throws {
            (byPath, latest) = try bd.read { db in
                (Dictionary(try Catalog.backups(db).map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a }), try Catalog.latestVersions(db))
            }
        }

        /// The version that already holds `b` as it is now (same size, mtime,
        /// ctime and inode: not even read), or nil if it must be stored.
        func unchangedVersion(of b: Backup, _ st: stat) -> Int64? {
            guard let v = latest[b.index], b.source == SourceState(st) else { return nil }
            return v
        }
    }

    // MARK: The snapshot proper

    func take(_ profile: Profile, in bd: BackupDatabase) throws -> Summary {
        // Hooks that may not run would fail every file: fail once, recording nothing.
        if bd.options.hooks, try (bd.bhooks() ?? []).contains(where: { $0.contains { !$0.isWhitespace } }) {
            _ = try bd.luaVM()
            try bd.requireTrust()
        }
        let started = now()
        var summary = Summary()
        let readsBefore = bd.objects.sourceReads
        let stamp = Self.stamp(started)
        let sid = stamp + String(format: "-%03d", Int.random(in: 0...999))

        // A file that can't be backed up is reported, goes through the error
        // handler (hooks 9 and 10) and makes the snapshot "taken with errors".
        func failed(_ path: Path, _ error: Error) {
            let e = bd.handle(BMError.wrap(error, path: path), dialog: false)
            summary.failedFiles += 1
            // Most messages name the file already; a hook's own error may not.
            let line = e.message.contains(FS.shown(path)) ? e.reported : "\(FS.shown(path)): \(e.reported)"
            summary.errors.append(line)
            bd.options.diagnostics("bmlua: " + line)
        }
        let stop = bd.options.stopRequested
        let known = try KnownFiles(bd)
        var entries: [(backup: Int64, version: Int64)] = []
        var sharing: [Inode: [Int64]] = [:]   // a file with other hard links → the backups of its links in the tree
        func enter(_ backup: Int64, _ version: Int64, _ st: stat) {
            entries.append((backup, version))
            if st.st_nlink > 1 { sharing[Inode(st), default: []].append(backup) }
        }
        let comment = "snapshot \(sid)"
        var lastReport = Date()

        /// One file: nothing if unchanged, newver if changed, newbu and newver
        /// (one read, one object) if new.
        func store(_ file: Walker.File) throws {
            if let b = known.byPath[file.path] {
                guard let st = file.lookUp() else { throw FS.failure("cannot read", file.path) }
                if let v = known.unchangedVersion(of: b, st) {
                    summary.unchangedFiles += 1
                    return enter(b.index, v, st)
                }
                let source = try file.open()
                let v = try bd.newver(b.index, comment: comment, source: source)
                summary.changedFiles += 1
                summary.bytesStored += Int64(source.status.st_size)
                return enter(b.index, v, source.status)
            }
            let source = try file.open()
            // One step: a file whose version fails leaves no backup behind either.
            let (i, v) = try bd.write { _ in
                let made = try bd.newbu(source, .init(group: profile.id))
                return (made.index, try bd.newver(made.index, comment: comment, source: source, sharing: made.fromSource ? made.stored : nil))
            }
            summary.newFiles += 1
            summary.bytesStored += Int64(source.status.st_size)
            enter(i, v, source.status)
        }

        // Files are stored as the walk meets them, a batch a transaction: its
        // folders stay open until the batch is done.
        var batch: [Walker.File] = []
        func flush() throws {
            guard !batch.isEmpty else { return }
            try bd.write { _ in
                for file in batch {
                    // Stopping rolls back this batch only: what earlier batches
                    // stored is in the catalog, and the next run does not copy it again.
                    if stop() { throw Interrupted("no snapshot recorded (the next run does not copy again what earlier batches stored)") }
                    do { try store(file) } catch let stop as Interrupted { throw stop } catch { failed(file.path, error) }
                    if let progress, Date().timeIntervalSince(lastReport) > 0.2 {
                        lastReport = Date()
                        progress(summary)
                    }
                }
            }
            batch.removeAll(keepingCapacity: true)
        }
        let tree = try walker(profile, in: bd, until: stop).walk { file in
            batch.append(file)
            if batch.count >= batchSize { try flush() }
        }
        if stop() { throw Interrupted("no snapshot recorded (stopped while listing the files; the next run does not copy again what earlier batches stored)") }
        try flush()
        if bd.options.verbose {
            for (path, kind) in tree.skipped { bd.options.diagnostics("bmlua: skipped \(FS.shown(path)): \(kind)") }
        }
        if !tree.failures.isEmpty { try bd.write { _ in for (path, e) in tree.failures { failed(path, e) } } }
        summary.links = tree.links.count

        summary.seconds = Date().timeIntervalSince(started)
        summary.filesRead = bd.objects.sourceReads - readsBefore
        let last = try bd.read { db in try Catalog.lastSnapshot(db, profile: profile.id) }
        let (previous, previousLinks, previousFolders) = try bd.read { db in
            try last.map {
                (try Catalog.snapshotEntries(db, sid: $0), try Catalog.snapshotLinks(db, sid: $0), try Catalog.snapshotFolders(db, sid: $0))
            } ?? ([], [], [])
        }
        let lastHadErrors = try last.map { try bd.snapshot($0).status != "ok" } ?? false
        let sameFiles = previous.count == entries.count
            && Set(previous.map { "\($0.backup)/\($0.version)" }) == Set(entries.map { "\($0.backup)/\($0.version)" })
        // Links and folders are sorted by path on both sides.
        let sameLinks = previousLinks.map(\.path) == tree.links.map(\.path) && previousLinks.map(\.shape) == tree.links.map(\.shape)
        let sameFolders = previousFolders.map(\.path) == tree.folders.map(\.path) && previousFolders.map(\.shape) == tree.folders.map(\.shape)
        let same = sameFiles && sameLinks && sameFolders
        let empty = entries.isEmpty && tree.links.isEmpty
        // Nothing changed: no snapshot. Nor when the only news is failures
        // the last snapshot had too (its files are the same, and it was taken
        // with errors): a copy of it every run would push good ones out of prune.
        if summary.newFiles == 0 && summary.changedFiles == 0 && (same || empty) && (summary.failedFiles == 0 || lastHadErrors) {
            return summary
        }
        // The data is stored either way; only the record waits for the next run.
        if let existing = try bd.read({ try Catalog.snapshot($0, stamped: stamp) }) {
            throw BMError(4, "snapshot \(existing) was taken this second", path: existing)
        }
        let snapshot = Snapshot(sid: sid, profile: profile.id, time: started,
                                status: summary.failedFiles > 0 ? "with errors" : "ok", files: entries.count, links: tree.links.count)
        do {
            try bd.write { db in
                var hardlinks: [Int64: Int64] = [:]
                for group in sharing.values where group.count > 1 {
                    for backup in group { hardlinks[backup] = group.min() }
                }
                try Catalog.insertSnapshot(db, snapshot, entries: entries, hardlinks: hardlinks, links: tree.links, folders: tree.folders)
                try makeBrowseView(sid: sid, in: bd, db)
            }
        } catch {
            // The record is gone with the rollback: so goes its view, whole or half-built.
            if let views = try? bd.repository.folder(["snapshots"]) {
                for view in [sid, ".\(sid).partial"] { views.removeTree(Path(view)) }
            }
            throw error
        }
        summary.sid = sid
        progress?(summary)
        return summary
    }

    /// `snapshots/<sid>/<original absolute path>`: the tree's folders, hard
    /// links to the objects, and the tree's symbolic links as they were, built
    /// under a hidden name through descriptors (no path is too long for it)
    /// and renamed into place.
    func makeBrowseView(sid: String, in bd: BackupDatabase, _ db: Database) throws {
        let views = try bd.repository.folder(["snapshots"])
        let objects = try bd.repository.folder(["objects"])
        let partialName = Path(".\(sid).partial")
        views.removeTree(partialName)
        let owner = bd.repository.foreignOwner
        let cursor = FolderCursor(base: try views.makeFolder(partialName, mode: 0o755), makingWith: 0o755) { folder in
            if let owner { fchown(folder.fd, owner.uid, owner.gid) }
        }
        // The walked folders, the empty ones too; a file's folder may be one
        // that was not walked (an include that is a file).
        for f in try Catalog.snapshotFolders(db, sid: sid) { _ = try cursor.folder(f.path.components[...]) }
        for file in try Catalog.snapshotFiles(db, sid: sid) {
            guard let object = file.object else { continue }
            let (folder, name) = try cursor.parent(of: file.path.components)
            let linked = Path("\(object.prefix(2))/\(object)").withCString { o in name.withCString { linkat(objects.fd, o, folder.fd, $0, 0) } }
            if linked != 0 {   // too many links to one object (EMLINK): a copy of it
                let fd = folder.createFile(name, mode: 0o444)
                guard fd >= 0 else { throw FS.failure("cannot create", folder.path.appending(name)) }
                defer { close(fd) }
                try bd.objects.copy(object, to: fd, destination: folder.path.appending(name))
            }
        }
        for l in try Catalog.snapshotLinks(db, sid: sid) {
            let (folder, name) = try cursor.parent(of: l.path.components)
            guard l.target.withCString({ t in name.withCString { symlinkat(t, folder.fd, $0) } }) == 0 else {
                throw FS.failure("cannot create the link", folder.path.appending(name))
            }
        }
        guard partialName.withCString({ p in Path(sid).withCString { renameat(views.fd, p, views.fd, $0) } }) == 0 else {
            throw FS.failure("cannot create the browse view", bd.repository.root + "/snapshots/" + sid)
        }
    }

    static func stamp(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.string(from: d)
    }
}

/// A file's identity on its file system: files of one snapshot with the same one are hard links of each other.
struct Inode: Hashable {
    var device: UInt64
    var inode: UInt64
    init(_ st: stat) { (device, inode) = (UInt64(st.st_dev), UInt64(st.st_ino)) }
}

/// "Already running" (error 2): a per-profile lock outside the repository, so
/// it works before the user-callback has mounted the repository's drive.
final class ProfileLock {
    private let fd: Int32

    static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let run = environment["XDG_RUNTIME_DIR"], !run.isEmpty { return run + "/bmlua" }
        return XDG.state(environment) + "/bmlua"
    }

    init(profile: Int64, directory: String? = nil) throws {
        let dir = directory ?? Self.directory()
        try? FS.makeDirectories(dir)   // a failure shows as the lock's own, just below
        let path = "\(dir)/profile-\(profile).lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FS.failure("cannot open the lock", path) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw BMError(2, "a snapshot of profile \(profile) is running (lock \(path))", path: path)
        }
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
