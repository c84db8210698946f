import BackupSys
import Foundation
import LuaHost

/// Ctrl-C (and SIGTERM) during long work. The first asks the work to stop
/// between two files, so a snapshot still calls the user-callback's reasons 4,
/// 2 and 8 (a drive mounted on reason 7 is unmounted) and a restore leaves no
/// temp file beside a user's file; where the work is Lua code (`run`, `eval`,
/// `shell`) it also stops that code, as lua.c does. The second quits at once,
/// which the repository survives as it survives a crash. Exit status 130, as
/// restic and shells use. The handler itself is C's (LuaHost's interrupt.c).
enum Interruption {
    /// Installs the handler and returns the question the work asks between files.
    @discardableResult
    static func install(stoppingLua: Bool = false) -> @Sendable () -> Bool {
        bmlua_catchinterrupts(stoppingLua ? 1 : 0)
        return { bmlua_interrupts() > 0 }
    }

    /// The Lua code stopped: a note that it has not is no longer due.
    static func delivered() { bmlua_interruptdelivered() }

    /// Ctrl-C's usual meaning again (the shell, at its prompt).
    static func uninstall() { bmlua_releaseinterrupts() }

    static func exit(_ stop: Interrupted) -> Never {
        FileHandle.standardError.write(Data("bmlua: \(stop)\n".utf8))
        Foundation.exit(130)
    }
}
