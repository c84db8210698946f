import Foundation

/// Long work's progress on stderr (DESIGN §9): one line, rewritten at most five
/// times a second, only when stderr is a terminal and -q is not given.
final class ProgressLine {
    private let enabled: Bool
    private var last = Date.distantPast
    private var shown = false

    init(_ global: GlobalOptions) { enabled = isatty(2) != 0 && !global.quiet }

    /// Called as often as the work likes: `text` is built only when it is shown.
    func update(_ text: @autoclosure () -> String) {
        guard enabled, Date().timeIntervalSince(last) >= 0.2 else { return }
        last = Date()
        shown = true
        FileHandle.standardError.write(Data(("\r" + text() + "\u{1b}[K").utf8))
    }

    /// Clears the line, before the command's own output (or its error).
    func finish() {
        if shown { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
        shown = false
    }
}
