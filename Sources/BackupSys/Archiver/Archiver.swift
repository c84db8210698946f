import Foundation
import GRDB
import Glibc

/// The snapshot proper (restic's archiver): the walk's files stored as
/// backups and versions, a batch a transaction, then the snapshot's record
/// and its browse view. Nothing is recorded when nothing changed.
struct Archiver {
    typealias Summary = SnapshotRun.Summary

    let session: BackupDatabase
    let profile: Profile
    /// Files the workers read ahead at a time.
    var batchSize: Int
    /// A transaction commits (its objects made durable with one sync) once it
    /// has stored this many bytes or run this long, whichever comes first.
    var commitBytes: Int64
    var commitSeconds: Double
    /// The clock that names snapshots.
    var now: () -> Date
    /// Called now and then with the running totals.
    var progress: ((Summary) -> Void)?
    /// Threads that read new and changed files (1: the caller's alone).
    var workers = 4
    /// Groups handed to the workers before the oldest is stored: more than
    /// one keeps them reading while this thread waits on a commit's sync.
    /// What a file needs is looked up when its group is handed over, and
    /// again when it is stored if a hook has written to the catalog since.
    var groupsAhead = 4

    func take() throws -> Summary {
        // Hooks that may not run would fail every file: fail once, recording nothing.
        if session.options.hooks, try (session.bhooks() ?? []).contains(where: { $0.contains { !$0.isWhitespace } }) {
            _ = try session.luaVM()
            try session.requireTrust()
        }
        let started = now()
        var summary = Summary()
        let readsBefore = session.objects.sourceReads, droppedBefore = session.objects.stagedDropped
        let stamp = Self.stamp(started)
        let sid = stamp + String(format: "-%03d", Int.random(in: 0...999))

        // A file that can't be backed up is reported, goes through the error
        // handler (hooks 9 and 10) and makes the snapshot "taken with errors".
        func failed(_ path: Path, _ error: Error) {
            let e = session.handle(BMError.wrap(error, path: path), dialog: false)
            summary.failedFiles += 1
            // Most messages name the file already; a hook's own error may not.
            let line = e.message.contains(FS.shown(path)) ? e.reported : "\(FS.shown(path)): \(e.reported)"
            summary.errors.append(line)
            session.options.diagnostics("bmlua: " + line)
        }
        let stop = session.options.stopRequested
        var known = KnownFiles(asOf: session.hookWrites)
        var hardLinks = HardLinkGroups()
        var builder: TreeBuilder!
        /// A file's entry in the snapshot's tree, in walk order.
        func enter(_ path: Path, _ backup: Int64, _ version: Int64, _ st: stat) throws {
            try builder.file(path, backup: backup, version: version, hardlink: hardLinks.number(backup, st))
        }
        let comment = "snapshot \(sid)"
        var lastReport = Date()
        // The browse view, begun with the first new file the run stores; it
        // goes unless the snapshot is recorded. One that cannot be begun then
        // is tried again at the end, where it fails the snapshot, not the file.
        var view: ViewBuilder?, viewTried = false
        var recorded = false
        defer { if !recorded { view?.discard() } }
        func addToView(_ path: Path, _ object: String, _ backup: Int64) {
            if !viewTried {
                viewTried = true
                view = try? BrowseView(session).begin(sid: sid)
            }
            view?.add(path, object: object, backup: backup)
        }

        /// What a file needs: nothing (unchanged), a version (changed) or a backup and its version (new).
        enum Need {
            case unchanged(backup: Int64, version: Int64, object: String, stat)
            case changed(Int64)
            case new

            var readsFile: Bool { if case .unchanged = self { false } else { true } }
        }
        func need(_ file: Walker.File, _ db: Database, _ known: inout KnownFiles) throws -> Need {
            guard let b = try known.find(file.path, db) else { return .new }
            guard let st = file.lookUp() else { throw FS.failure("cannot read", file.path) }
            if let v = KnownFiles.unchangedVersion(of: b, st) { return .unchanged(backup: b.index, version: v.index, object: v.object, st) }
            return .changed(b.index)
        }

        /// One file: nothing if unchanged, newver if changed, newbu and newver
        /// (one read, one object) if new; `read`: a worker opened and read it already.
        func store(_ file: Walker.File, _ need: Need, _ read: Stager.Read?) throws {
            switch need {
            case let .unchanged(backup, version, object, st):
                summary.unchangedFiles += 1
                try enter(file.path, backup, version, st)
                // Once the run has something to record, its view takes the
                // unchanged files too, their objects at hand (not a query each
                // after the run). Before, they are left to the view's last pass:
                // a run where nothing changed makes no view at all.
                if view != nil { addToView(file.path, object, backup) }
            case .changed(let b):
                let source = try read?.source ?? file.open()
                let (v, object) = try session.newver(b, comment: comment, source: source, staged: read?.staged)
                summary.changedFiles += 1
                summary.bytesStored += Int64(source.status.st_size)
                try enter(file.path, b, v, source.status)
                addToView(file.path, object, b)
            case .new where plainNew:
                let source = try read?.source ?? file.open()
                let (i, object) = try session.newbuWithVersion(source, group: profile.id, comment: comment, staged: read?.staged)
                summary.newFiles += 1
                summary.bytesStored += Int64(source.status.st_size)
                try enter(file.path, i, 1, source.status)
                addToView(file.path, object, i)
            case .new:
                let source = try read?.source ?? file.open()
                // One step: a file whose version fails leaves no backup behind either.
                // The lookup that found it new is as of the last hook write: no backup is looked for again.
                let (i, v) = try session.write { _ in
                    let made = try session.newbu(source, .init(group: profile.id), staged: read?.staged, absent: true, enclosed: true)
                    return (made.index, try session.newver(made.index, comment: comment, source: source,
                                                           sharing: made.fromSource ? made.stored : nil, head: made.head, enclosed: true))
                }
                summary.newFiles += 1
                summary.bytesStored += Int64(source.status.st_size)
                try enter(file.path, i, v.index, source.status)
                addToView(file.path, v.object, i)
            }
        }

        // Workers read a group of files ahead while this thread stores the
        // group before. With hook 1 or 6 set the read is a guess that the hook
        // will not name another file; where it does, the staged copy is dropped
        // and the named file read here. Guesses stop while they mostly miss.
        let choosesFiles = try session.hookCode(1) != nil || session.hookCode(6) != nil
        // No hook watches a new file: newbu and newver in one step.
        let plainNew = try !choosesFiles && session.hookCode(2) == nil
        let stager = workers > 1 ? Stager(objects: session.objects, workers: workers) : nil
        var guessesMissed = false, guessesHit = false

        /// A group of the walk's items, what each file needs (as of `hookWrites`
        /// then), and the workers' reads of them.
        struct Group {
            var items: [Walker.Item]
            var needs: [Result<Need, Error>?]
            var lookedUpAt: Int
            var reads: Stager.Group?
            var readIndex: [Int]
        }
        var staging: [Group] = []   // the groups the workers have now, oldest first
        // With hook 1 or 6 set, the workers read one group ahead until a group
        // shows the hooks leave the files be: where they name another file
        // every time (the gzip example), the miss costs one group's reads, not four.
        var ahead: Int { choosesFiles && !guessesHit ? 1 : max(1, groupsAhead) }

        /// What a file needs, or the error that fails it alone (a catalog's error fails the run).
        func lookUp(_ file: Walker.File, _ db: Database, _ known: inout KnownFiles) throws -> Result<Need, Error> {
            do { return .success(try need(file, db, &known)) } catch let e as BMError where e.number == 21 || e.number == 20 {
                throw e
            } catch { return .failure(error) }
        }
        var batchBytes: Int64 = 0, batchStarted = Date()

        /// Stores a group's files in walk order, inside the open transaction,
        /// which is committed (objects made durable first) every `commitBytes` or `commitSeconds`.
        func storeGroup(_ group: Group, _ batches: BackupDatabase.Batches) throws {
            var reads = [Stager.Read?](repeating: nil, count: group.items.count)
            if let staged = group.reads?.wait() {
                for (k, read) in staged.enumerated() { reads[group.readIndex[k]] = read }
            }
            // What a worker staged for a file that failed, or was not reached, goes
            // (a stored file's staged object was committed or discarded already).
            defer { for read in reads { if let read { session.objects.discard(read.staged) } } }
            let droppedBeforeGroup = session.objects.stagedDropped
            var fresh = KnownFiles(asOf: group.lookedUpAt)
            for (i, item) in group.items.enumerated() {
                let file: Walker.File
                switch item {
                case .folder(let f): try builder.folder(f); continue
                case .link(let l): try builder.link(l); continue
                case .file(let f): file = f
                }
                if stop() { throw Interrupted("no snapshot recorded (the next run does not copy again what was stored)") }
                var read = reads[i]
                reads[i] = nil
                // Looked up anew, a file at a time, if a hook has written to the
                // catalog since the group was handed over: it may have deleted a
                // backup a later file has, or made one.
                var needs = group.needs[i]!
                if session.hookWrites != group.lookedUpAt {
                    fresh.refresh(asOf: session.hookWrites)
                    needs = try lookUp(file, batches.db, &fresh)
                    // Read for nothing now (a hook stored it meanwhile): what was staged goes.
                    if let r = read, (try? needs.get())?.readsFile != true {
                        session.objects.discard(r.staged)
                        read = nil
                    }
                }
                do {
                    try store(file, needs.get(), read)
                } catch let stop as Interrupted { throw stop } catch { failed(file.path, error) }
                if let progress, Date().timeIntervalSince(lastReport) > 0.2 {
                    lastReport = Date()
                    progress(summary)
                }
                if summary.bytesStored - batchBytes >= commitBytes || Date().timeIntervalSince(batchStarted) >= commitSeconds {
                    try batches.commit()
                    batchBytes = summary.bytesStored
                    batchStarted = Date()
                }
            }
            if choosesFiles && !group.readIndex.isEmpty {
                guessesMissed = (session.objects.stagedDropped - droppedBeforeGroup) * 2 > group.readIndex.count
                guessesHit = guessesHit || !guessesMissed
            }
        }

        /// Hands a full group to the workers and stores the oldest they have, once `ahead` are theirs.
        var walked: [Walker.Item] = [], walkedFiles = 0
        func next(_ batches: BackupDatabase.Batches) throws {
            known.refresh(asOf: session.hookWrites)
            let needs = try walked.map { item -> Result<Need, Error>? in
                guard case .file(let file) = item else { return nil }
                return try lookUp(file, batches.db, &known)
            }
            let toRead = needs.indices.filter { (try? needs[$0]?.get())?.readsFile == true }
            let reads = try stager.flatMap { stager in
                toRead.isEmpty || (choosesFiles && guessesMissed) ? nil : try stager.start(toRead.map {
                    guard case .file(let file) = walked[$0] else { preconditionFailure("only files are read") }
                    return file
                })
            }
            staging.append(Group(items: walked, needs: needs, lookedUpAt: known.asOf, reads: reads, readIndex: reads == nil ? [] : toRead))
            walked.removeAll(keepingCapacity: true)
            walkedFiles = 0
            if staging.count > ahead { try storeGroup(staging.removeFirst(), batches) }
        }

        // Nodes a stopped run interned but never recorded a snapshot with go first.
        _ = try session.write { db in try TreeStore(db).collectUnheld() }
        let (tree, built) = try session.inBatches { batches in
            builder = TreeBuilder(batches.db)
            // Whatever ends the run early, the workers finish and what they staged goes.
            defer { for group in staging { group.reads?.discard(in: session.objects) } }
            do {
                // A group's folders stay open until it is stored.
                let tree = try Walker(profile, in: session.repository, until: stop).walk { item in
                    walked.append(item)
                    if case .file = item { walkedFiles += 1 }
                    if walkedFiles >= batchSize { try next(batches) }
                }
                if stop() { throw Interrupted("no snapshot recorded (stopped while listing the files; the next run does not copy again what was stored)") }
                try next(batches)   // the last, partial group
                while !staging.isEmpty { try storeGroup(staging.removeFirst(), batches) }
                for (path, e) in tree.failures { failed(path, e) }
                return (tree, try builder.finish())
            } catch let stopped as Interrupted {
                // A stop comes between files: every file stored so far is whole,
                // so it is kept (borg checkpoints so on Ctrl-C) and not read again.
                try batches.commit()
                throw stopped
            }
        }
        if session.options.verbose {
            for (path, kind) in tree.skipped { session.options.diagnostics("bmlua: skipped \(FS.shown(path)): \(kind)") }
        }
        summary.links = builder.links

        summary.seconds = Date().timeIntervalSince(started)
        summary.filesRead = session.objects.sourceReads - readsBefore
        summary.readsDropped = session.objects.stagedDropped - droppedBefore
        let (lastShape, lastHadErrors) = try session.read { db in
            let last = try Catalog.lastSnapshot(db, profile: profile.id)
            let shape = try last.flatMap { try Catalog.snapshotRoot(db, sid: $0) }.flatMap { try Catalog.treeShape(db, id: $0) }
            return (shape, try last.flatMap { try Catalog.snapshot(db, sid: $0) }.map { $0.status != "ok" } ?? false)
        }
        let same = lastShape == built.shape
        let empty = builder.files == 0 && builder.links == 0
        // Nothing changed: no snapshot. Nor when the only news is failures
        // the last snapshot had too (its files are the same, and it was taken
        // with errors): a copy of it every run would push good ones out of prune.
        if summary.newFiles == 0 && summary.changedFiles == 0 && (same || empty) && (summary.failedFiles == 0 || lastHadErrors) {
            try session.write { db in try TreeStore(db).collect([built.root]) }   // what only this run's tree held
            progress?(summary)   // the totals, though no snapshot comes of them
            return summary
        }
        // The data is stored either way; only the record waits for the next run.
        if let existing = try session.read({ try Catalog.snapshot($0, stamped: stamp) }) {
            throw BMError(4, "snapshot \(existing) was taken this second", path: existing)
        }
        let snapshot = Snapshot(sid: sid, profile: profile.id, time: started,
                                status: summary.failedFiles > 0 ? "with errors" : "ok", files: builder.files, links: builder.links)
        // Failing, the record is gone with the rollback: so goes its view, whole or half-built.
        let finishing = try view ?? BrowseView(session).begin(sid: sid)
        view = finishing
        try session.write { db in
            try Catalog.insertSnapshot(db, snapshot, root: built.root)
            try finishing.finish(db)
        }
        recorded = true
        summary.sid = sid
        progress?(summary)   // still inside the run's lock
        return summary
    }

    /// A snapshot's name is the second it was taken, then three random digits.
    static func stamp(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return f.string(from: d)
    }
}
