import Foundation
import GRDB
import HookVM

/// How a process uses the database: the global flags of the command line.
public struct SessionOptions {
    /// `--no-hooks`: operations run without their hooks.
    public var hooks = true
    /// `--trace-hooks`: each hook call, its bhin, bhout, bhout2 and time on stderr.
    public var traceHooks = false
    /// `--raw`: with --no-hooks, restore the stored bytes although a hook 4 is
    /// set (whose job may be to decrypt or decompress them).
    public var raw = false
    /// `--trust`: run hooks even from a repository that fails the ownership rule.
    public var trust = false
    /// `--lock-wait`: seconds to wait for another writer before error 2 (borg's option).
    public var lockWait = 0.0
    /// Where `bm.log`, traces and warnings go (stderr by default); `verbose` shows bm.log lines.
    public var verbose = false
    public var diagnostics: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    /// Asked between files by long work (a snapshot, a snapshot's restore): true
    /// once the user wants it stopped (Ctrl-C). The work then throws `Interrupted`.
    public var stopRequested: () -> Bool = { false }

    public init() {}
}

/// The open backup database (Backup Manager's `openbd`): one repository, the
/// one Lua state of the process, and the transaction in progress.
public final class BackupDatabase {
    public let repository: Repository
    public var options: SessionOptions
    var db: Database?
    var vmStorage: LuaVM?
    /// `inSavepoint`'s statements while the session has a transaction.
    var savepoints: Savepoint?
    var bhooksCache: [String]??
    /// Hook calls running now (an operation a hook calls may run hooks too).
    var hookDepth = 0
    /// Operations hooks have run that write to the catalog, counted: what a
    /// snapshot run looked up before a hook ran (which files are new, changed
    /// or unchanged) is looked up again once this has moved.
    private(set) var hookWrites = 0
    /// Base name → the first `-N` not known to be taken: a tree of many
    /// folders with the same file names (a thousand `index.html`) asks once
    /// per file, not once per earlier file of that name. Cleared when a
    /// backup is deleted (its name is free again).
    var nameSuffixHints: [[UInt8]: Int] = [:]
    /// Lines logged by `bm.log` during this process (what `hooks test` prints).
    public internal(set) var logLines: [String] = []
    /// The last BMError raised into Lua: `errh` and `passerr` keep its message.
    var lastLuaError: BMError?
    /// `openbd()` was called by a script and `closebd()` not yet.
    var openInLua = false
    /// Where a running prune reports its versions removed.
    var pruneProgress: ((Int, Int) -> Void)?
    /// Routines not defined because their names are Lua's or the API's.
    var withheldRoutines: Set<String> = []
    /// The repository passed the ownership rule in this process (design.md, "Trust").
    var repositoryTrusted = false
    /// How many `holdingWriterLock` and `write` calls are holding the writer lock.
    private var lockDepth = 0

    public init(repository: Repository, options: SessionOptions = SessionOptions()) {
        self.repository = repository
        self.options = options
    }

    public convenience init(at root: String, options: SessionOptions = SessionOptions()) throws {
        self.init(repository: try Repository.open(at: root), options: options)
    }

    /// The database at `root`, or, if no repository is there, one whose every
    /// use is error 40: for Lua code that may not need it (`bmlua eval 'return 1+1'`).
    public convenience init(orNoneAt root: String, options: SessionOptions = SessionOptions()) throws {
        do {
            try self.init(at: root, options: options)
        } catch let e as BMError where e.number == 40 {
            self.init(repository: try Repository.absent(at: root), options: options)
        }
    }

    var objects: ObjectStore { repository.objects }

    /// Closing clears `bhtemp` (design.md, "The hook call") and ends the Lua state.
    public func close() {
        vmStorage?.close()
        vmStorage = nil
    }

    deinit { close() }

    // MARK: Transactions

    /// Runs `body` as one transaction: it commits completely (objects made
    /// durable first) or not at all, and then the objects it created are removed
    /// (`inBatches` with no commit on the way). Nested calls (a hook calling an
    /// operation) run in a savepoint of the outer one.
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        try write(savepoint: true, body)
    }

    /// `savepoint: false`, inside the session's transaction: `body` runs in it
    /// straight, for a step whose statements are each whole and which takes
    /// back its own rows if it fails part-way (a savepoint's sub-journal copies
    /// every page the step touches: a snapshot's new file paid for that).
    /// What it stored is removed all the same.
    func write<T>(savepoint: Bool, _ body: (Database) throws -> T) throws -> T {
        if repository.isAbsent { throw Repository.missing(repository.root) }
        if hookDepth > 0 { hookWrites += 1 }
        if let db {
            // Objects new in a savepoint that rolls back are named by no row
            // that stays (one already there before it would have been found, not made).
            let mark = objects.created.count
            do {
                return try savepoint || !db.isInsideTransaction ? inSavepoint(db) { try body(db) } : body(db)
            } catch {
                objects.discardCreated(since: mark)
                throw error
            }
        }
        return try inBatches { try body($0.db) }
    }

    /// GRDB's `inSavepoint` with its three statements prepared once a
    /// transaction and run straight (`Statement.run`), not parsed again or
    /// looked up by their text for every file of a snapshot (a tenth of the
    /// session thread's time, then a twentieth). Outside a transaction,
    /// GRDB's own (which opens one).
    private func inSavepoint<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        guard db.isInsideTransaction else {
            var result: T?
            try db.inSavepoint { result = try body(); return .commit }
            return result!
        }
        let savepoint = try savepoints ?? Savepoint(db)
        savepoints = savepoint
        try savepoint.begin.run { _ in }
        do {
            let result = try body()
            try savepoint.release.run { _ in }
            return result
        } catch {
            // Rolled back to where it began and released; if SQLite aborted
            // the whole transaction already, there is nothing to roll back.
            try? savepoint.rollback.run { _ in }
            try? savepoint.release.run { _ in }
            throw error
        }
    }

    /// The statements of `inSavepoint`, made once a transaction of the
    /// session's (and gone with it, before its connection can close).
    final class Savepoint {
        let begin: Statement, release: Statement, rollback: Statement
        init(_ db: Database) throws {
            begin = try db.makeStatement(sql: "SAVEPOINT bmlua")
            release = try db.makeStatement(sql: "RELEASE SAVEPOINT bmlua")
            rollback = try db.makeStatement(sql: "ROLLBACK TRANSACTION TO SAVEPOINT bmlua")
        }
    }

    /// One part of a step that a `write` around it undoes whole if it fails
    /// (`enclosed`): no savepoint of its own. A snapshot's new file is newbu
    /// and newver in one such step; with hooks set, their own savepoints
    /// were two of the file's three.
    func part<T>(of enclosed: Bool, _ body: (Database) throws -> T) throws -> T {
        if enclosed, let db { return try body(db) }
        return try write(body)
    }

    /// A long run of small operations (a snapshot's files) as a chain of
    /// transactions: `body` calls `Batches.commit()` whenever it has done
    /// enough, which makes what is done so far durable and committed and
    /// begins the next. Durability is paid per batch of bytes or seconds,
    /// not per file; what `body` throws rolls back only the transaction open
    /// then, and the committed ones stay (an interrupted run resumes from them).
    /// Operations `body` runs are savepoints of the open transaction, as in `write`.
    func inBatches<T>(_ body: (Batches) throws -> T) throws -> T {
        if db != nil { return try write { db in try body(Batches(session: self, db: db, nested: true)) } }
        if repository.isAbsent { throw Repository.missing(repository.root) }
        try holdWriterLock()
        defer { releaseWriterLock() }
        // bhtemp lives until the next hook call; ending the operation ends it
        // too, so that no hook's temp file outlives it in tmp/.
        defer { vmStorage?.clearTemp() }
        do {
            return try repository.dbQueue.writeWithoutTransaction { db in
                self.db = db
                defer { self.db = nil; savepoints = nil }
                objects.beginTracking()
                try db.beginTransaction(.immediate)
                do {
                    let batches = Batches(session: self, db: db, nested: false)
                    let result = try body(batches)
                    try batches.commit(again: false)
                    return result
                } catch {
                    if db.isInsideTransaction { try? db.rollback() }
                    throw error
                }
            }
        } catch {
            bhooksCache = nil
            afterCommit.removeAll()
            objects.discardCreated()
            throw translate(error)
        }
    }

    /// The open transaction of `inBatches`.
    struct Batches {
        fileprivate let session: BackupDatabase
        let db: Database
        /// Inside another operation's transaction: that one commits, not this.
        fileprivate let nested: Bool

        /// Makes the objects stored so far durable, commits, and begins the next transaction.
        func commit() throws { try commit(again: true) }

        fileprivate func commit(again: Bool) throws {
            guard !nested else { return }
            session.objects.sync()
            try db.commit()
            session.ranCommitted()
            session.objects.beginTracking()
            if again { try db.beginTransaction(.immediate) }
        }
    }

    /// Runs what waited for the outermost transaction's commit.
    private func ranCommitted() {
        let due = afterCommit
        afterCommit.removeAll()
        for action in due { action() }
    }

    /// Work on files that follows the catalog: done once the outermost
    /// transaction has committed, dropped if it rolls back.
    private var afterCommit: [() -> Void] = []
    func onCommit(_ action: @escaping () -> Void) { afterCommit.append(action) }

    /// A restore's transaction: a write (its hooks may write the catalog),
    /// except in a repository that can only be read, where it is a read, and
    /// anything it tries to change is error 11.
    func restoring<T>(_ body: (Database) throws -> T) throws -> T {
        guard repository.isReadOnly, db == nil else { return try write(body) }
        return try deferredTransaction(asSession: true, body)
    }

    /// Keeps the writer lock across the operations `body` runs, each still its
    /// own transaction: a snapshot holds it for its whole run, so that no other
    /// writer slips in between two batches and makes the next one fail.
    public func holdingWriterLock<T>(_ body: () throws -> T) throws -> T {
        if repository.isAbsent { throw Repository.missing(repository.root) }
        if repository.isReadOnly { return try body() }
        try holdWriterLock()
        defer { releaseWriterLock() }
        return try body()
    }

    private func holdWriterLock() throws {
        if lockDepth == 0 { try repository.lockForWriting(wait: options.lockWait) }
        lockDepth += 1
    }

    private func releaseWriterLock() {
        lockDepth -= 1
        if lockDepth == 0 {
            repository.unlock()
            objects.forgetKnown()
        }
    }

    /// Reads inside the current transaction if there is one.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        if repository.isAbsent { throw Repository.missing(repository.root) }
        if let db { return try body(db) }
        return try deferredTransaction(asSession: false, body)
    }

    /// One deferred transaction, so several queries see one state. Not
    /// GRDB's read(), which also sets and resets PRAGMA query_only: four
    /// statements around every read, the most of a bfvar[i] in Lua. As the
    /// session's, the operations `body` calls run inside it (a restore in a
    /// read-only repository); otherwise only `body` reads in it.
    private func deferredTransaction<T>(asSession: Bool, _ body: (Database) throws -> T) throws -> T {
        do {
            return try repository.dbQueue.inDatabase { db in
                var result: T?
                try db.inTransaction(.deferred) {
                    if asSession { self.db = db }
                    defer { if asSession { self.db = nil; self.savepoints = nil } }
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch {
            throw translate(error)
        }
    }

    func translate(_ error: Error) -> Error {
        guard let e = error as? DatabaseError else { return error }
        return Catalog.failure(e, Repository.catalogPath(repository.root))
    }
}
