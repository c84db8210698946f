import Foundation
import HookVM

/// A failure with its number from the table of design.md, "Errors".
public struct BMError: Error, CustomStringConvertible, LuaRaisable, Equatable {
    public var number: Int
    public var message: String
    /// The backup file path the error concerns, passed to the error handler (bhin[2]).
    public var path: Path
    /// The message was given with the error (`passerr(n, message)`), not taken
    /// from the table: the handler keeps it even for a number it does not know.
    public var hasOwnMessage = false
    /// Where in Lua code a bmlua function raised it (`hook3:2`, `eval:1`), for
    /// the command line to show; nil for errors the user raised with passerr.
    public var place: String?
    /// Raised on purpose by the user's code (passerr, errh): its place is no news.
    var raisedByUser = false

    public init(_ number: Int, _ detail: String? = nil, path: Path = "") {
        self.number = number
        self.path = path
        let base = ErrorTable.message(for: number) ?? ErrorTable.unknown(number)
        self.message = detail.map { "\(base): \($0)" } ?? base
    }

    public init(_ number: Int, _ detail: String? = nil, path: String) { self.init(number, detail, path: Path(path)) }

    /// An error whose text is given whole (hook-defined numbers, remapped messages).
    public init(number: Int, message: String, path: Path = "") {
        self.number = number
        self.message = message
        self.path = path
        hasOwnMessage = !message.isEmpty
    }

    public var description: String { "error \(number): \(message)" }
    public var luaMessage: String { description }
    /// As the command line and a snapshot's failure lines say it: with the
    /// place in Lua code, if a bmlua function raised it there (design.md, "The hook call").
    public var reported: String { description + (place.map { " (raised at \($0))" } ?? "") }

    public func raised(at place: String) -> Error {
        guard self.place == nil, !raisedByUser else { return self }
        var e = self
        e.place = place
        return e
    }

    /// A hook failure as a BMError: each kind of Lua failure has its number, 30–34.
    public init(_ e: LuaError, path: Path = "") {
        let number = Self.number(of: e.kind)
        self.init(number: number, message: "\(ErrorTable.message(for: number)!): \(e.message)", path: path)
    }

    public static func number(of kind: LuaError.Kind) -> Int {
        switch kind {
        case .runtime: 30
        case .wrongType: 31
        case .timeLimit: 32
        case .memoryLimit: 33
        case .syntax: 34
        }
    }

    /// Any error as a BMError: Lua errors keep their number, others become 5 or 20.
    public static func wrap(_ error: Error, path: Path = "") -> BMError {
        switch error {
        case let e as BMError: return e
        case let e as LuaError: return BMError(e, path: path)
        case let e as CocoaError:
            // Foundation's file errors, numbered like FS's own (on Linux they do not carry the errno).
            let file = e.filePath.map { Path($0) } ?? path
            switch e.code {
            case .fileNoSuchFile, .fileReadNoSuchFile: return BMError(10, "\(FS.shown(file)): no such file or folder", path: file)
            case .fileReadNoPermission, .fileWriteNoPermission: return BMError(11, "\(FS.shown(file)): permission denied", path: file)
            case .fileWriteOutOfSpace: return BMError(20, "\(FS.shown(file)): no space left", path: file)
            default: return BMError(20, "cannot write \(FS.shown(file))", path: file)
            }
        default: return BMError(20, "\(error)", path: path)
        }
    }
}

/// design.md, "Errors". Numbers 1–6 are Back In Time's user-callback error codes.
public enum ErrorTable {
    public static let entries: [(Int, String)] = [
        (1, "The application is not configured (no such profile, or it includes nothing)"),
        (2, "A \"take snapshot\" process is already running (the repository is locked)"),
        (3, "Can't find snapshots folder (is it on a removable drive?): the profile's repository is missing"),
        (4, "A snapshot for \"now\" already exists"),
        (5, "Error while taking a snapshot"),
        (6, "New snapshot taken but with errors"),
        (7, "The user-callback cancelled the snapshot"),
        (10, "File not found"),
        (11, "Permission denied"),
        (12, "Not a regular file"),
        (13, "Backup not found"),
        (14, "Version not found"),
        (15, "Destination exists (use --overwrite)"),
        (16, "That file is already backed up"),
        (17, "The backup is stored away (use --delete-stored-away)"),
        (18, "Field not registered"),
        (19, "Field already registered"),
        (20, "Disk full or write failed"),
        (21, "Stored data is corrupt"),
        (22, "Invalid argument"),
        (30, "Hook failed (a Lua error)"),
        (31, "Hook returned a value of the wrong type"),
        (32, "Hook ran past its time limit"),
        (33, "Hook ran out of memory"),
        (34, "Hook code does not compile"),
        (35, "Hook slot already in use (replacing needs --force)"),
        (36, "Hooks not run: the repository is not trusted"),
        (40, "The backup database is not open"),
    ]

    private static let byNumber = Dictionary(uniqueKeysWithValues: entries)

    public static func message(for number: Int) -> String? { byNumber[number] }
    public static func knows(_ number: Int) -> Bool { byNumber[number] != nil }
    public static func unknown(_ number: Int) -> String { "Unknown error \(number)--probably a bug." }
}

/// Long work stopped at the user's request (Ctrl-C, SIGTERM) between two
/// files. Not a failure of the operation: it does not go through the error
/// handler, and what was finished stays finished.
public struct Interrupted: Error, CustomStringConvertible {
    public var progress: String
    public init(_ progress: String) { self.progress = progress }
    public var description: String { "interrupted: \(progress)" }
}
