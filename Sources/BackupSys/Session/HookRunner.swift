import Foundation
import GRDB
import HookVM

/// The session's Lua state and the hook call: one hook run with the
/// signature of its slot, under the trust rule, traced when asked.
extension BackupDatabase {
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
        guard !options.trust else { return }
        // Who owns the repository and who may write in it only its owner (or
        // root) can change: once it passes, it passes for the process, not
        // four stats a hook call.
        if !repositoryTrusted {
            if let reason = repository.untrustedReason {
                throw BMError(36, "\(reason); run with --trust to run its hooks and routines, or --no-hooks to run without them")
            }
            repositoryTrusted = true
        }
        if !withheldRoutines.isEmpty {
            throw BMError(36, "routine \(withheldRoutines.sorted().joined(separator: ", ")) would replace Lua's or bmlua's own; run with --trust to allow it")
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
        hookDepth += 1
        defer { hookDepth -= 1 }
        do {
            let out = try vm.callHook(n, code: code, bhin: bhin, returns: Hook.contracts[n - 1].signature)
            trace(n, bhin, "bhout=\(out.bhout) bhout2=\(out.bhout2)", since: start)
            return out
        } catch let e as LuaError {
            trace(n, bhin, "error \(BMError.number(of: e.kind)): \(e.message)", since: start)
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

    /// `outcome` is made only when tracing: a hook call that is not traced
    /// does not describe its outputs.
    private func trace(_ n: Int, _ bhin: [LuaValue], _ outcome: @autoclosure () -> String, since start: UInt64) {
        guard options.traceHooks else { return }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        options.diagnostics("bmlua: hook \(n): bhin=\(LuaValue.list(bhin)) \(outcome()) (\(String(format: "%.3f", ms)) ms)")
    }

    func log(_ line: String) {
        logLines.append(line)
        if options.verbose { options.diagnostics(line) }
    }
}
