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
    /// Files per transaction: a batch is made durable with one sync.
    var batchSize: Int
    /// The clock that names snapshots.
    var now: () -> Date
    /// Called now and then with the running totals.
    var progress: ((Summary) -> Void)?
    /// Threads that read new and changed files (1: the caller's alone).
    var workers = 4

    func take() throws -> Summary {
        // Hooks that may not run would fail every file: fail once, recording nothing.
        if session.options.hooks, try (session.bhooks() ?? []).contains(where: { $0.contains { !$0.isWhitespace } }) {
            _ = try session.luaVM()
            try session.requireTrust()
        }
        let started = now()
        var summary = Summary()
        let readsBefore = session.objects.sourceReads
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
        let known = try KnownFiles(session)
        var entries: [(backup: Int64, version: Int64)] = []
        var hardLinks = HardLinkGroups()
        func enter(_ backup: Int64, _ version: Int64, _ st: stat) {
            entries.append((backup, version))
            hardLinks.add(backup, st)
        }
        let comment = "snapshot \(sid)"
        var lastReport = Date()

        /// What a file needs: nothing (unchanged), a version (changed) or a backup and its version (new).
        enum Need {
            case unchanged(backup: Int64, version: Int64, stat)
            case changed(Backup)
            case new

            var readsFile: Bool { if case .unchanged = self { false } else { true } }
        }
        func need(_ file: Walker.File) throws -> Need {
            guard let b = known.byPath[file.path] else { return .new }
            guard let st = file.lookUp() else { throw FS.failure("cannot read", file.path) }
            if let v = known.unchangedVersion(of: b, st) { return .unchanged(backup: b.index, version: v, st) }
            return .changed(b)
        }

        /// One file: nothing if unchanged, newver if changed, newbu and newver
        /// (one read, one object) if new; `read`: a worker opened and read it already.
        func store(_ file: Walker.File, _ need: Need, _ read: Stager.Read?) throws {
            switch need {
            case let .unchanged(backup, version, st):
                summary.unchangedFiles += 1
                enter(backup, version, st)
            case .changed(let b):
                let source = try read?.source ?? file.open()
                let v = try session.newver(b.index, comment: comment, source: source, staged: read?.staged)
                summary.changedFiles += 1
                summary.bytesStored += Int64(source.status.st_size)
                enter(b.index, v, source.status)
            case .new:
                let source = try read?.source ?? file.open()
                // One step: a file whose version fails leaves no backup behind either.
                let (i, v) = try session.write { _ in
                    let made = try session.newbu(source, .init(group: profile.id), staged: read?.staged)
                    return (made.index, try session.newver(made.index, comment: comment, source: source, sharing: made.fromSource ? made.stored : nil))
                }
                summary.newFiles += 1
                summary.bytesStored += Int64(source.status.st_size)
                enter(i, v, source.status)
            }
        }

        // Workers may read a file ahead of its hooks only when no hook can
        // name another file to store instead (hooks 1 and 6).
        let choosesFiles = try session.hookCode(1) != nil || session.hookCode(6) != nil
        let stager = workers > 1 && !choosesFiles ? Stager(objects: session.objects, workers: workers) : nil

        // Files are stored as the walk meets them, a batch a transaction: its
        // folders stay open until the batch is done.
        var batch: [Walker.File] = []
        func flush() throws {
            guard !batch.isEmpty else { return }
            let needs = batch.map { file in Result { try need(file) } }
            var reads = [Stager.Read?](repeating: nil, count: batch.count)
            if let stager {
                let toRead = needs.indices.filter { (try? needs[$0].get())?.readsFile == true }
                for (k, read) in try stager.stage(toRead.map { batch[$0] }).enumerated() { reads[toRead[k]] = read }
            }
            // What a worker staged for a file that failed, or was not reached, goes
            // (a stored file's staged object was committed or discarded already).
            defer { for read in reads { if let read { session.objects.discard(read.staged) } } }
            try session.write { _ in
                for (i, file) in batch.enumerated() {
                    // Stopping rolls back this batch only: what earlier batches
                    // stored is in the catalog, and the next run does not copy it again.
                    if stop() { throw Interrupted("no snapshot recorded (the next run does not copy again what earlier batches stored)") }
                    do {
                        try store(file, needs[i].get(), reads[i])
                        reads[i] = nil
                    } catch let stop as Interrupted { throw stop } catch { failed(file.path, error) }
                    if let progress, Date().timeIntervalSince(lastReport) > 0.2 {
                        lastReport = Date()
                        progress(summary)
                    }
                }
            }
            batch.removeAll(keepingCapacity: true)
        }
        let tree = try Walker(profile, in: session.repository, until: stop).walk { file in
            batch.append(file)
            if batch.count >= batchSize { try flush() }
        }
        if stop() { throw Interrupted("no snapshot recorded (stopped while listing the files; the next run does not copy again what earlier batches stored)") }
        try flush()
        if session.options.verbose {
            for (path, kind) in tree.skipped { session.options.diagnostics("bmlua: skipped \(FS.shown(path)): \(kind)") }
        }
        if !tree.failures.isEmpty { try session.write { _ in for (path, e) in tree.failures { failed(path, e) } } }
        summary.links = tree.links.count

        summary.seconds = Date().timeIntervalSince(started)
        summary.filesRead = session.objects.sourceReads - readsBefore
        let last = try session.read { db in try Catalog.lastSnapshot(db, profile: profile.id) }
        let (previous, previousLinks, previousFolders) = try session.read { db in
            try last.map {
                (try Catalog.snapshotEntries(db, sid: $0), try Catalog.snapshotLinks(db, sid: $0), try Catalog.snapshotFolders(db, sid: $0))
            } ?? ([], [], [])
        }
        let lastHadErrors = try last.map { try session.snapshot($0).status != "ok" } ?? false
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
            progress?(summary)   // the totals, though no snapshot comes of them
            return summary
        }
        // The data is stored either way; only the record waits for the next run.
        if let existing = try session.read({ try Catalog.snapshot($0, stamped: stamp) }) {
            throw BMError(4, "snapshot \(existing) was taken this second", path: existing)
        }
        let snapshot = Snapshot(sid: sid, profile: profile.id, time: started,
                                status: summary.failedFiles > 0 ? "with errors" : "ok", files: entries.count, links: tree.links.count)
        do {
            try session.write { db in
                try Catalog.insertSnapshot(db, snapshot, entries: entries, hardlinks: hardLinks.groups, links: tree.links, folders: tree.folders)
                try BrowseView(session).make(sid: sid, db)
            }
        } catch {
            // The record is gone with the rollback: so goes its view, whole or half-built.
            BrowseView(session).remove(sid)
            throw error
        }
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
