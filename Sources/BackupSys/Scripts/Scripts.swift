import Foundation
import GRDB
import HookVM

/// Lua programs the user runs (`bmlua run`, `bmlua eval`).
extension BackupDatabase {
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
            throw e.kind == .runtime ? BMError(number: 30, message: "Lua error in the script: \(e.message)") : BMError(e)
        }
        if openInLua {
            try storeBhooks(vm[global: "bhooks"])
            openInLua = false
        }
        return results
    }
}
