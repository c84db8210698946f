import Foundation

/// Long work's progress on stderr : one line, rewritten at most five
/// times a second, only when stderr is a terminal and -q is not given.
final class ProgressLine {
    private let enabled: Bool
    private var last = Date.distantPast
    private var shown = false

    private let started = Date()

    /// On a terminal only, and never with -q or --json (scripts read stdout and want stderr for errors).
    init(_ global: GlobalOptions) { enabled = isatty(2) != 0 && !global.quiet && !global.json }

    /// `label: done of total noun, rate/s, ETA m:ss` (the ETA once a few are done).
    func update(_ label: String, done: Int, of total: Int, _ noun: String) {
        update({
            let seconds = Date().timeIntervalSince(started)
            var text = "\(label): \(done) of \(counted(total, noun))"
            if done > 0 && seconds > 0.5 && total > done {
                let left = Int((Double(total - done) / (Double(done) / seconds)).rounded())
                text += String(format: ", ETA %d:%02d", left / 60, left % 60)
            }
            return text
        }())
    }

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
