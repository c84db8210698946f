import Foundation
import GRDB
import HookVM

/// Managing bhooks, routines and fields from the command line.
extension BackupDatabase {
    /// Backup Manager's rule: an installer must not silently replace another's
    /// hook. Different code already in the slot needs `force` (error 35).
    public func setHook(_ n: Int, code: String, force: Bool) throws {
        try setHooks([n: code], force: force)
    }

    /// Sets several slots at once, or none: a slot that holds other code is
    /// error 35 unless `force` (the rule of `hooks set`, and of `bm.sethooks`
    /// for installers), code that does not compile error 34.
    public func setHooks(_ slots: [Int: String], force: Bool) throws {
        var list = try bhooks() ?? Array(repeating: "", count: 10)
        for (n, code) in slots.sorted(by: { $0.key < $1.key }) {
            guard Hook.numbers.contains(n) else { throw BMError(22, "the hook number must be 1 to 10, not \(n)") }
            let old = list[n - 1]
            if !force && !old.isEmpty && old != code {
                throw BMError(35, "hook \(n) holds \(old.debugDescription); replace it with --force")
            }
            try checkCompiles(code, chunkName: "=hook\(n)")
            list[n - 1] = code
        }
        try setBhooks(list)
    }

    /// The per-repository limits of one hook call (design.md, "The hook call"): seconds and bytes.
    public func hookLimits() throws -> LuaVM.Limits { try luaVM().limits }

    public func setHookLimits(time: Double?, memoryMiB: Int?) throws {
        if let time, !(time > 0 && time.isFinite && time <= 1e9) { throw BMError(22, "the time limit must be a finite number of seconds above 0") }
        if let memoryMiB, !(1...(1 << 20)).contains(memoryMiB) { throw BMError(22, "the memory limit must be 1 to 1048576 MiB") }
        try write { db in
            if let time { try Catalog.setSetting(db, "hook_time_limit", time) }
            if let memoryMiB { try Catalog.setSetting(db, "hook_memory_limit", memoryMiB << 20) }
        }
        let vm = try luaVM()
        if let time { vm.limits.time = time }
        if let memoryMiB { vm.limits.memory = memoryMiB << 20 }
    }

    public struct HookTestResult {
        public var bhout: LuaValue = .nil
        public var bhout2: LuaValue = .nil
        public var log: [String] = []
        public var error: BMError?
    }

    private struct RollBack: Error {}

    /// Runs hook `n` on `bhin` inside a transaction that is then rolled back:
    /// whatever the hook writes to the catalog or the objects is undone.
    public func testHook(_ n: Int, bhin: [LuaValue]) throws -> HookTestResult {
        guard Hook.numbers.contains(n) else { throw BMError(22, "the hook number must be 1 to 10, not \(n)") }
        let code = try bhooks()?[n - 1] ?? ""
        guard !code.isEmpty else { throw BMError(22, "hook \(n) is empty (set it with: bmlua hooks set \(n) CODE)") }
        _ = try luaVM()
        try requireTrust()
        var result = HookTestResult()
        let logged = logLines.count
        do {
            try write { _ in
                do {
                    let out = try callHook(n, code: code, bhin: bhin)
                    (result.bhout, result.bhout2) = (out.bhout, out.bhout2)
                } catch {
                    result.error = BMError.wrap(error)
                }
                throw RollBack()
            }
        } catch is RollBack {}
        result.log = Array(logLines[logged...])
        return result
    }

    public func routines() throws -> [Routine] { try read(Catalog.routines) }

    /// Stores (or with nil removes) a routine; it must compile (error 34).
    public func setRoutine(_ name: String, code: String?) throws {
        guard name.first.map({ $0.isLetter || $0 == "_" }) == true, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw BMError(22, "a routine's name must be a Lua name (letters, digits, _), not \(name.debugDescription)")
        }
        if code != nil, try luaVM().reservedNames.contains(name) {
            throw BMError(22, "\(name) is a name of Lua's standard library or of bmlua's API; a routine called so would replace it (choose another name)")
        }
        if let code {
            try checkCompiles(code, chunkName: "=\(name)")
        } else if try !routines().contains(where: { $0.name == name }) {
            throw BMError(22, "no routine \(name)")
        }
        try write { db in try Catalog.setRoutine(db, name: name, code: code) }
        let vm = try luaVM()
        if let code { try vm.define(name, code: code) } else { vm[global: name] = .nil }
    }

    public func registerField(_ name: String, type: String) throws {
        guard let kind = Field.Kind(rawValue: type) else { throw BMError(22, "a field's type is d (per backup) or g (per group), not \(type)") }
        try write { db in
            if try Catalog.field(db, name: name) != nil { throw BMError(19, "field \(name) is already registered") }
            try Catalog.registerField(db, Field(name: name, kind: kind))
        }
    }

    public func fields() throws -> [Field] { try read(Catalog.fields) }

    public func fieldValues(_ name: String, owner: Int64?) throws -> [(Int64, LuaValue)] {
        try read { db in
            guard try Catalog.field(db, name: name) != nil else { throw BMError(18, "no field \(name)") }
            if let owner { return [(owner, try Catalog.fieldValue(db, field: name, owner: owner))] }
            return try Catalog.fieldValues(db, field: name).map { ($0.owner, $0.value) }
        }
    }

    public func setFieldValue(_ name: String, owner: Int64, _ value: LuaValue) throws {
        try write { db in
            guard let f = try Catalog.field(db, name: name) else { throw BMError(18, "no field \(name)") }
            if f.kind == .backup, try Catalog.backup(db, index: owner) == nil { throw BMError(13, "no backup has index \(owner)") }
            try Catalog.setFieldValue(db, field: name, owner: owner, value)
        }
    }

    public func describe(_ index: Int64) throws -> LuaValue {
        let b = try backup(index)
        return try read { try describe(b, $0, versions: true) }
    }

    /// Every backup, or those of files at or under `folder`.
    public func describeAll(under folder: Path? = nil) throws -> [LuaValue] {
        let folder = folder?.absolute
        return try read { db in
            try Catalog.backups(db).filter { b in folder.map { b.path.isAtOrUnder($0) } ?? true }
                .map { try describe($0, db, versions: false) }
        }
    }

    // MARK: Lua programs

    /// Runs a script (`bmlua run`, `bmlua eval`): `...` = args. A script that
    /// ends with the database open (openbd without closebd) is closed for it.
    /// With `scriptPath`, the script is a file and is run as the `lua` command
    /// runs one: a first line starting with `#` (`#!/usr/bin/env -S bmlua run`)
    /// is skipped, and the global `arg` holds the script (`arg[0]`) and the arguments.
    public func runScript(_ code: String, name: String, args: [LuaValue] = [], scriptPath: String? = nil) throws -> [LuaValue] {
        let vm = try luaVM()
        // The user's own code, but the repository's routines are globals it may call.
        if options.hooks, !repository.isAbsent, try !routines().isEmpty { try requireTrust() }
        var code = code
        if let scriptPath {
            if code.hasPrefix("#") {   // keep the newline: line numbers stay those of the file
                code = code.firstIndex(of: "\n").map { String(code[$0...]) } ?? ""
            }
            var arg: [LuaValue: LuaValue] = [0: .string(Array(scriptPath.utf8))]
            for (i, a) in args.enumerated() { arg[.integer(Int64(i + 1))] = a }
            vm[global: "arg"] = .map(arg)
        }
        let results: [LuaValue]
        do {
            results = try vm.run(code, chunkName: name, args: args, traceback: true)
        } catch let e as LuaError {
            openInLua = false
            vm.clearTemp()
            if e.interrupted { throw Interrupted("the Lua code stopped (an operation it was in is rolled back)") }
            // A script is no hook: its Lua errors say so (the number stays 30).
            throw e.code == 30 ? BMError(number: 30, message: "Lua error in the script: \(e.message)") : BMError(e)
        }
        if openInLua {
            try storeBhooks(vm[global: "bhooks"])
            openInLua = false
        }
        return results
    }
}
