import Foundation
import GRDB
import HookVM

/// Routines: named Lua functions the repository keeps, globals in every Lua context it trusts.
extension BackupDatabase {
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
}
