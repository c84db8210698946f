import Foundation
import GRDB
import HookVM

/// The ten hook slots (`hooks set`, `hooks limits`, `hooks test`).
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
}
