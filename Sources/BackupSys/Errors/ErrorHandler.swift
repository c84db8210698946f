import HookVM

/// Backup Manager's error handler (design.md, "Errors"): hook 9 on every error, hook 10
/// on a number the table does not know, then the table's message or
/// `Unknown error N--probably a bug.`
extension BackupDatabase {
    /// The error as the user sees it after hooks 9 and 10. `dlg` and `pass` are
    /// the handler's flags, passed to the hooks (bhin[3], bhin[4]).
    public func handle(_ error: BMError, dialog: Bool = true, pass: Bool = false) -> BMError {
        var e = error
        var hookGaveMessage = false
        func consult(_ hook: Hook) {
            do {
                guard let out = try runHook(hook) else { return }
                if !out.bhout.isNil && out.bhout.integerValue == nil {
                    throw BMError(31, "hook \(hook.number): bhout must be an integer error number, not \(out.bhout)")
                }
                if let n = out.bhout.integerValue, n != e.number {
                    e.number = Int(n)
                    e.message = ErrorTable.message(for: e.number) ?? ErrorTable.unknown(e.number)
                    e.hasOwnMessage = false
                }
                if let text = out.bhout2.stringValue {
                    e.message = text
                    hookGaveMessage = true
                }
            } catch {
                // The handler must not fail itself: the original error stands.
                options.diagnostics("bmlua: warning: \(BMError.wrap(error).description) (in the error handler; the original error stands)")
            }
        }
        consult(.onError(number: e.number, path: e.path, dialog: dialog, pass: pass))
        if !ErrorTable.knows(e.number) && !hookGaveMessage {
            consult(.onUnknownError(number: e.number, path: e.path, dialog: dialog, pass: pass))
        }
        if !ErrorTable.knows(e.number) && !hookGaveMessage && !e.hasOwnMessage { e.message = ErrorTable.unknown(e.number) }
        return e
    }
}
