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
    private var vmStorage: LuaVM?
    private var bhooksCache: [String]??
    /// Lines logged by `bm.log` during this process (what `hooks test` prints).
    public internal(set) var logLines: [String] = []
    /// The last BMError raised into Lua: `errh` and `passerr` keep its message.
    var lastLuaError: BMError?
    /// `openbd()` was called by a script and `closebd()` not yet.
    var openInLua = false
    /// Where a running prune reports its versions removed.
    var pruneProgress: ((Int, Int) -> Void)?
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
    /// durable first) or not at all, and then the objects it created are removed.
    /// Nested calls (a hook calling an operation) run in a savepoint of the outer one.
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        if repository.isAbsent { throw Repository.missing(repository.root) }
        if let db {
            var result: T?
            try db.inSavepoint {
                result = try body(db)
                return .commit
            }
            return result!
        }
        try holdWriterLock()
        defer { releaseWriterLock() }
        objects.beginTracking()
        // bhtemp lives until the next hook call; ending the operation ends it
        // too, so that no hook's temp file outlives it in tmp/.
        defer { vmStorage?.clearTemp() }
        var result: T?
        do {
            try repository.dbQueue.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    self.db = db
                    defer { self.db = nil }
                    result = try body(db)
                    objects.sync()
                    return .commit
                }
            }
        } catch {
            bhooksCache = nil
            afterCommit.removeAll()
            objects.discardCreated()
            throw translate(error)
        }
        let due = afterCommit
        afterCommit.removeAll()
        for action in due { action() }
        return result!
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
                    defer { if asSession { self.db = nil } }
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

    // MARK: Lua

    /// The process's one Lua state, made on first use with the Lua API and the routines.
    public func luaVM() throws -> LuaVM {
        if let vm = vmStorage { return vm }
        let limits = repository.isAbsent ? LuaVM.Limits(time: 10, memory: 256 << 20) : try read { db in
            LuaVM.Limits(time: try Catalog.setting(db, "hook_time_limit").flatMap { Double.fromDatabaseValue($0) } ?? 10,
                         memory: try Catalog.setting(db, "hook_memory_limit").flatMap { Int.fromDatabaseValue($0) } ?? 256 << 20)
        }
        let vm = LuaVM(limits: limits, tempDirectory: repository.isAbsent ? nil : repository.root + "/tmp")
        vmStorage = vm
        vm.setOvertimeLabel("error 32: \(ErrorTable.message(for: 32)!)")
        LuaAPI.install(in: vm, database: self)
        vm.reserveGlobals()
        try defineRoutines(in: vm)
        return vm
    }

    /// design.md, "Trust": the repository's code (hooks, routines) runs only from a
    /// repository that passes the ownership rule, or with --trust; and a
    /// routine that would take a name of Lua's or of the API only with --trust.
    func requireTrust() throws {
        if !options.trust, let reason = repository.untrustedReason {
            throw BMError(36, "\(reason); run with --trust to run its hooks and routines, or --no-hooks to run without them")
        }
        if !options.trust, !withheldRoutines.isEmpty {
            throw BMError(36, "routine \(withheldRoutines.sorted().joined(separator: ", ")) would replace Lua's or bmlua's own; run with --trust to allow it")
        }
    }

    /// Routines not defined because their names are Lua's or the API's.
    var withheldRoutines: Set<String> = []

    /// The routines become globals only where the repository's code may run;
    /// one whose name is taken is left out (its calls would reach the builtin).
    func defineRoutines(in vm: LuaVM) throws {
        guard !repository.isAbsent, repository.isTrusted || options.trust else { return }
        for r in try read(Catalog.routines) {
            if vm.reservedNames.contains(r.name) && !options.trust {
                withheldRoutines.insert(r.name)
                continue
            }
            do {
                try vm.define(r.name, code: r.code)
            } catch let e as LuaError {
                options.diagnostics("bmlua: warning: routine \(r.name) does not compile: \(e.message)")
            }
        }
    }

    /// The stored bhooks list (nil if none was ever stored).
    public func bhooks() throws -> [String]? {
        if let cached = bhooksCache { return cached }
        let list = try read(Catalog.bhooks)
        bhooksCache = .some(list)
        return list
    }

    func setBhooks(_ list: [String]?) throws {
        try write { db in try Catalog.setBhooks(db, list) }
        bhooksCache = .some(list)
    }

    // MARK: Hooks

    /// Runs `hook` if one is set in its slot: nil when there is none (or hooks are off).
    /// A hook that fails throws its error (30–34) as a BMError.
    func runHook(_ hook: Hook) throws -> HookOutputs? {
        guard let code = try hookCode(hook.number) else { return nil }
        try requireTrust()
        do {
            return try callHook(hook.number, code: code, bhin: hook.bhin)
        } catch var e as BMError where e.path.isEmpty {
            e.path = hook.path   // raised with no file (passerr): it concerns the operation's
            throw e
        }
    }

    /// The code hook `n` runs: nil when none is set (or hooks are off).
    func hookCode(_ n: Int) throws -> String? {
        guard options.hooks, let list = try bhooks(), n >= 1, n <= list.count else { return nil }
        let code = list[n - 1]
        return code.contains(where: { !$0.isWhitespace }) ? code : nil
    }

    /// One hook call with the signature of the table, traced when asked.
    func callHook(_ n: Int, code: String, bhin: [LuaValue]) throws -> HookOutputs {
        let vm = try luaVM()
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let out = try vm.callHook(n, code: code, bhin: bhin, returns: Hook.contracts[n - 1].signature)
            trace(n, bhin, "bhout=\(out.bhout) bhout2=\(out.bhout2)", since: start)
            return out
        } catch let e as LuaError {
            trace(n, bhin, "error \(e.code): \(e.message)", since: start)
            throw BMError(e, path: bhin.first?.pathValue ?? "")
        } catch var e as BMError {
            // Named like a Lua error in a hook: `hook3: hdtstamp:7`.
            if let place = e.place, !place.hasPrefix("hook\(n):") { e.place = "hook\(n): " + place }
            trace(n, bhin, "\(e)", since: start)
            throw e
        } catch {
            trace(n, bhin, "\(error)", since: start)
            throw error
        }
    }

    private func trace(_ n: Int, _ bhin: [LuaValue], _ outcome: String, since start: UInt64) {
        guard options.traceHooks else { return }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        options.diagnostics("bmlua: hook \(n): bhin=\(LuaValue.list(bhin)) \(outcome) (\(String(format: "%.3f", ms)) ms)")
    }

    func log(_ line: String) {
        logLines.append(line)
        if options.verbose { options.diagnostics(line) }
    }
}
