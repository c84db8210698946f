import HookVM

/// One call of one of the ten hooks (design.md, "Operations and their hooks"), with its inputs by name.
/// The one place that knows a hook's number, the order of its `bhin`, the
/// types of its outputs, its purpose and a sample input: every operation
/// builds its call from it, and `hooks list`, `hooks test`, `--trace-hooks`
/// and the tables in README.md and docs/hooks.md come from it (a test checks the tables).
public enum Hook: Sendable, Equatable {
    /// 1: newbu, before the data is stored (the backup is not in the catalog yet).
    case beforeNewBackup(original: Path, name: Path, storedAway: Bool)
    /// 2: newbu, after the backup exists; `actual` is the file that was read.
    case afterNewBackup(original: Path, actual: Path, name: Path, index: Int64, storedAway: Bool)
    /// 3: updbu, before the new data is stored.
    case beforeUpdate(original: Path, name: Path, index: Int64)
    /// 4: restbu, before the data is written back; `object` is the stored data's path.
    case beforeRestore(original: Path, object: Path, name: Path, index: Int64, version: Int64, overwrite: Bool)
    /// 5: delbu, before the backup is removed.
    case beforeDelete(original: Path, name: Path, index: Int64, deleteStoredAway: Bool)
    /// 6: newver, before the version's data is stored.
    case beforeNewVersion(original: Path, name: Path, index: Int64, comment: String, version: Int64)
    /// 7: cmtver, before the comment changes.
    case beforeComment(original: Path, name: Path, index: Int64, comment: String, version: Int64)
    /// 8: delver, before the version is removed.
    case beforeDeleteVersion(original: Path, name: Path, index: Int64, version: Int64)
    /// 9: errh, on any error, before the handler acts.
    case onError(number: Int, path: Path, dialog: Bool, pass: Bool)
    /// 10: errh, on an error number the handler does not know (after hook 9).
    case onUnknownError(number: Int, path: Path, dialog: Bool, pass: Bool)

    public static let numbers = 1...10

    public var number: Int {
        switch self {
        case .beforeNewBackup: 1
        case .afterNewBackup: 2
        case .beforeUpdate: 3
        case .beforeRestore: 4
        case .beforeDelete: 5
        case .beforeNewVersion: 6
        case .beforeComment: 7
        case .beforeDeleteVersion: 8
        case .onError: 9
        case .onUnknownError: 10
        }
    }

    /// The hook's input table, in Backup Manager 3's order.
    public var bhin: [LuaValue] {
        switch self {
        case let .beforeNewBackup(original, name, storedAway):
            [.path(original), .path(original), .path(name), 0, .boolean(storedAway)]
        case let .afterNewBackup(original, actual, name, index, storedAway):
            [.path(original), .path(actual), .path(name), .integer(index), .boolean(storedAway)]
        case let .beforeUpdate(original, name, index):
            [.path(original), .path(original), .path(name), .integer(index)]
        case let .beforeRestore(original, object, name, index, version, overwrite):
            [.path(original), .path(object), .path(name), .integer(index), .integer(version), .boolean(overwrite)]
        case let .beforeDelete(original, name, index, deleteStoredAway):
            [.path(original), .path(original), .path(name), .integer(index), .boolean(deleteStoredAway)]
        case let .beforeNewVersion(original, name, index, comment, version):
            [.path(original), .path(original), .path(name), .integer(index), .string(comment), .integer(version)]
        case let .beforeComment(original, name, index, comment, version):
            [.path(original), .path(original), .path(name), .integer(index), .string(comment), .integer(version)]
        case let .beforeDeleteVersion(original, name, index, version):
            [.path(original), .path(original), .path(name), .integer(index), .integer(version)]
        case let .onError(number, path, dialog, pass), let .onUnknownError(number, path, dialog, pass):
            [.integer(Int64(number)), .path(path), .boolean(dialog), .boolean(pass)]
        }
    }

    /// The file the error concerns, for a failed hook's error (bhin[1] of most hooks).
    var path: Path {
        switch self {
        case let .beforeNewBackup(p, _, _), let .afterNewBackup(p, _, _, _, _), let .beforeUpdate(p, _, _),
             let .beforeRestore(p, _, _, _, _, _), let .beforeDelete(p, _, _, _), let .beforeNewVersion(p, _, _, _, _),
             let .beforeComment(p, _, _, _, _), let .beforeDeleteVersion(p, _, _, _), let .onError(_, p, _, _),
             let .onUnknownError(_, p, _, _):
            p
        }
    }

    public var contract: Contract { Self.contracts[number - 1] }

    /// What a hook is, as the tables show it.
    public struct Contract: Sendable {
        public var number: Int
        /// The Lua function and the command that run it.
        public var operation: String
        public var when: String
        /// The names of `bhin`'s elements, in order (nil: "same as 9").
        public var inputs: [String]?
        public var bhout: Output?
        public var bhout2: Output?
        /// What the hook may return, for the Lua host.
        public var signature: HookSignature { HookSignature(bhout: bhout?.type, bhout2: bhout2?.type) }
        /// `hooks list`'s note: the operation and when.
        public var purpose: String { "\(operation.split(separator: "`")[0]), \(when)" }
    }

    public struct Output: Sendable {
        public var type: LuaType
        public var meaning: String
    }

    public static let contracts: [Contract] = [
        Contract(number: 1, operation: "`newbu` / `bmlua backup`", when: "before the data is stored",
                 inputs: ["orig path", "act path", "bkup file", "0", "stored away?"], bhout: Output(type: .string, meaning: "actual file to store")),
        Contract(number: 2, operation: "`newbu`", when: "after the backup exists",
                 inputs: ["orig path", "act path", "bkup file", "bkup index", "stored away?"]),
        Contract(number: 3, operation: "`updbu` / `bmlua update`", when: "before the new data is stored",
                 inputs: ["orig path", "act path", "bkup file", "bkup index"], bhout: Output(type: .string, meaning: "actual file")),
        Contract(number: 4, operation: "`restbu` / `bmlua restore`", when: "before the data is written back",
                 inputs: ["orig path", "act path", "bkup file", "bkup index", "vers index", "overwrite?"],
                 bhout: Output(type: .string, meaning: "actual file to restore from")),
        Contract(number: 5, operation: "`delbu` / `bmlua delete`", when: "before the backup is removed",
                 inputs: ["orig path", "orig path", "bkup file", "bkup index", "delete stored-away?"]),
        Contract(number: 6, operation: "`newver` / `bmlua version create`", when: "before the version's data is stored",
                 inputs: ["orig path", "act path", "bkup file", "bkup index", "vers comment", "vers index"],
                 bhout: Output(type: .string, meaning: "actual file"), bhout2: Output(type: .string, meaning: "comment to use")),
        Contract(number: 7, operation: "`cmtver` / `bmlua version comment`", when: "before the comment changes",
                 inputs: ["orig path", "orig path", "bkup file", "bkup index", "vers comment", "vers index"],
                 bhout: Output(type: .string, meaning: "comment to use")),
        Contract(number: 8, operation: "`delver` / `bmlua version delete`", when: "before the version is removed",
                 inputs: ["orig path", "orig path", "bkup file", "bkup index", "vers index"]),
        Contract(number: 9, operation: "`errh`", when: "any error, before the handler acts",
                 inputs: ["error number", "backup file path", "display error dlg?", "pass other errors?"],
                 bhout: Output(type: .number, meaning: "errornum to assume"), bhout2: Output(type: .string, meaning: "message text")),
        Contract(number: 10, operation: "`errh`", when: "an error number the handler does not know (after hook 9)",
                 inputs: nil,
                 bhout: Output(type: .number, meaning: "errornum to assume"), bhout2: Output(type: .string, meaning: "message text")),
    ]

    /// A plausible call of hook `n`, for `hooks test N` when no `bhin` is
    /// given: on `file` (a real one, so that a hook that reads it works).
    public static func sample(_ n: Int, file: Path = "/home/user/notes.txt") -> Hook? {
        let orig = file, name = file.baseName
        switch n {
        case 1: return .beforeNewBackup(original: orig, name: name, storedAway: false)
        case 2: return .afterNewBackup(original: orig, actual: orig, name: name, index: 1, storedAway: false)
        case 3: return .beforeUpdate(original: orig, name: name, index: 1)
        case 4: return .beforeRestore(original: orig, object: orig, name: name, index: 1, version: 0, overwrite: false)
        case 5: return .beforeDelete(original: orig, name: name, index: 1, deleteStoredAway: false)
        case 6: return .beforeNewVersion(original: orig, name: name, index: 1, comment: "", version: 1)
        case 7: return .beforeComment(original: orig, name: name, index: 1, comment: "comment", version: 1)
        case 8: return .beforeDeleteVersion(original: orig, name: name, index: 1, version: 1)
        case 9: return .onError(number: 15000, path: orig, dialog: true, pass: false)
        case 10: return .onUnknownError(number: 15000, path: orig, dialog: true, pass: false)
        default: return nil
        }
    }

    /// The row of the hook table in README.md and docs/hooks.md (the form of design.md, "Operations and their hooks").
    public static func tableRow(_ c: Contract) -> String {
        func output(_ o: Output?) -> String { o.map { "\($0.type.rawValue): \($0.meaning)" } ?? "–" }
        let inputs = c.inputs.map { "{" + $0.joined(separator: ", ") + "}" } ?? "same as 9"
        return "| \(c.number) | \(c.operation) | \(c.when) | \(inputs) | \(output(c.bhout)) | \(output(c.bhout2)) |"
    }
}
