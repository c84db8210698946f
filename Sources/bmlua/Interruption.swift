import BackupSys
import Foundation
import HookVM
import Synchronization

/// Ctrl-C (and SIGTERM) during long work. The first asks the work to stop
/// between two files, so a snapshot still calls the user-callback's reasons 4,
/// 2 and 8 (a drive mounted on reason 7 is unmounted) and a restore leaves no
/// temp file beside a user's file; where the work is Lua code (`run`, `eval`,
/// `shell`) it also stops that code, as lua.c does. The second quits at once,
/// which the repository survives as it survives a crash. Exit status 130, as
/// restic and shells use.
enum Interruption {
    /// Signals received; read by the work, written by the handler (async-signal-safe).
    static let signals = Atomic<Int>(0)
    static let stopsLua = Atomic<Bool>(false)

    /// Installs the handler and returns the question the work asks between files.
    /// A real handler, not SIG_IGN: programs the work starts (the user-callback,
    /// a hook's gzip) get the default action back when they exec.
    @discardableResult
    static func install(stoppingLua: Bool = false) -> () -> Bool {
        signals.store(0, ordering: .relaxed)
        stopsLua.store(stoppingLua, ordering: .relaxed)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = onSignal
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
        var late = sigaction()
        late.__sigaction_handler.sa_handler = onLate
        sigemptyset(&late.sa_mask)
        late.sa_flags = SA_RESTART
        sigaction(SIGALRM, &late, nil)
        // A parent may have started bmlua with them blocked (blocked masks are inherited).
        var wanted = sigset_t()
        sigemptyset(&wanted)
        sigaddset(&wanted, SIGINT)
        sigaddset(&wanted, SIGTERM)
        sigaddset(&wanted, SIGALRM)
        pthread_sigmask(SIG_UNBLOCK, &wanted, nil)
        return { signals.load(ordering: .relaxed) > 0 }
    }

    /// The Lua code stopped: a note that it has not is no longer due.
    static func delivered() { alarm(0) }

    /// Ctrl-C's usual meaning again (the shell, at its prompt).
    static func uninstall() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    static func exit(_ stop: Interrupted) -> Never {
        FileHandle.standardError.write(Data("bmlua: \(stop)\n".utf8))
        Foundation.exit(130)
    }
}

/// Code Lua runs with its hooks off (a finalizer, a message handler) or a
/// blocking call does not see the first Ctrl-C: say so, and how to quit.
private func onLate(_: Int32) {
    let note: StaticString = "\nbmlua: the Lua code has not stopped (it runs with Lua's hooks off or waits in a system call); press Ctrl-C again to quit at once\n"
    _ = write(2, note.utf8Start, note.utf8CodeUnitCount)
}

private func onSignal(_: Int32) {
    if Interruption.signals.add(1, ordering: .relaxed).newValue > 1 { _exit(130) }
    if Interruption.stopsLua.load(ordering: .relaxed) {
        LuaVM.interruptRunningCode()
        alarm(2)   // if the code has not stopped by then, onLate says so
        return
    }
    let note: StaticString = "\nbmlua: stopping after the current file (press Ctrl-C again to quit at once)\n"
    _ = write(2, note.utf8Start, note.utf8CodeUnitCount)
}
