import ArgumentParser
import BackupSys
import Foundation
import HookVM

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backup", abstract: "Back up files (newbu; hooks 1 and 2).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The files to back up.") var paths: [String]
    @Option(help: "The group (profile id) the backups belong to: 0 or more.") var group = Index<FromZero>(0)
    @Flag(name: .customLong("store-away"), help: "Remove the originals once they are safely backed up (restoring one to its place brings it back).") var storeAway = false

    func run() throws {
        try global.withDatabase { bd in
            var failed = false
            var made: [Int64] = []
            for path in paths {
                do {
                    let i = try bd.newbu(Path(argument: path), .init(group: group.value, storeAway: storeAway))
                    made.append(i)
                    global.say("backup \(i): \(printable(try bd.backup(i).name))")
                } catch {
                    FileHandle.standardError.write(Data("bmlua: \(bd.handle(BMError.wrap(error, path: Path(argument: path))).reported)\n".utf8))
                    failed = true
                }
            }
            if global.json { try printJSON(made) }
            if failed { throw ExitCode(1) }
        }
    }
}

struct Update: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Replace backups' current copies from their originals (updbu; hook 3).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Backups, by index, name or original path.") var backups: [String]

    func run() throws {
        try global.withDatabase { bd in
            var updated: [Int64] = []
            for ref in backups {
                let b = try bd.resolve(Path(argument: ref))
                try bd.updbu(b.index)
                updated.append(b.index)
                global.say("updated backup \(b.index): \(printable(b.name))")
            }
            if global.json { try printJSON(updated) }
        }
    }
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restore", abstract: "Write a backup's data back (restbu; hook 4).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The backup, by index, name or original path.") var backup: String
    @Option(help: "Restore this version instead of the current copy (0).") var version = Index<FromZero>(0)
    @Option(help: "Write here instead of the original path: a file, or a folder to restore into (with a trailing /, made if missing).") var to: String?
    @Flag(help: "Replace an existing file.") var overwrite = false
    @Flag(help: "With --no-hooks, restore the stored bytes although a hook 4 is set.") var raw = false

    func run() throws {
        try global.withDatabase { bd in
            bd.options.raw = raw
            let b = try bd.resolve(Path(argument: backup))
            let path = try bd.restbu(b.index, version: version.value, overwrite: overwrite, to: to.map { Path(argument: $0) })
            try global.report("restored \(printable(b.name))\(version.value > 0 ? " version \(version)" : "") to \(printable(path))",
                              json: VersionRef(index: b.index, version: version.value, path: Name(path)))
        }
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete",
        abstract: "Delete a backup and its versions (delbu; hook 5).",
        discussion: "Snapshots that hold the file lose it too, as with Back In Time's \"remove from all snapshots\".")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The backup, by index, name or original path.") var backup: String
    @Flag(name: .customLong("delete-stored-away"), help: "Also delete a backup that holds the only copy of its file.") var deleteStoredAway = false

    func run() throws {
        try global.withDatabase { bd in
            let b = try bd.resolve(Path(argument: backup))
            let sids = try bd.delbu(b.index, deleteStoredAway: deleteStoredAway)
            let json = DeletedView(index: b.index, name: Name(b.name), snapshots: sids.isEmpty ? nil : sids)
            try global.report("deleted backup \(b.index): \(printable(b.name))" + (sids.isEmpty ? "" : ", and its file from \(counted(sids.count, "snapshot"))"),
                              json: json)
        }
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the backups.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Only the backups of files at or under this path.") var under: String?

    func run() throws {
        try global.withDatabase { bd in
            let under = under.map { Path(argument: $0) }
            // Only --json prints the fields: the text list reads the backups alone.
            if global.json { return try printJSON(try bd.allDetails(under: under).map(BackupView.init)) }
            for b in try bd.backups(under: under) {
                print("\(b.index)\t\(printable(b.name))\t\(b.data.size) B\t\(printable(b.path))")
            }
        }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a backup: its data, extended data and versions.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The backup, by index, name or original path.") var backup: String

    func run() throws {
        try global.withDatabase { bd in
            let info = try bd.details(bd.resolve(Path(argument: backup)).index)
            if global.json { return try printJSON(BackupView(info)) }
            let b = info.backup
            let rows: [(String, String)] = [
                ("index", "\(b.index)"), ("name", printable(b.name)), ("path", printable(b.path)), ("group", "\(b.group)"),
                ("stored_away", "\(b.storedAway)"), ("size", "\(b.data.size)"), ("sha256", b.data.object),
                ("mtime", isoTime(nanoseconds: b.data.mtimeNs)), ("created", isoTime(b.created)), ("updated", isoTime(b.updated)),
            ]
            for (key, value) in rows { print(key.padding(toLength: 12, withPad: " ", startingAt: 0) + value) }
            if !info.fields.isEmpty {
                print("fields")
                for f in info.fields { print("  \(printable(f.name)) = \(f.value.luaText)") }
            }
            if let versions = info.versions, !versions.isEmpty {
                print("versions")
                for v in versions { print("  \(v.index)  \(isoTime(v.time))  \(v.data.size) B  \(printable(v.comment))") }
            }
        }
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Make, re-comment and delete versions.",
        subcommands: [Create.self, Comment.self, Remove.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Make a new version from the original file (newver; hook 6).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The backup, by index, name or original path.") var backup: String
        @Option(name: [.customShort("m"), .long], help: "The version's comment.") var comment = ""

        func run() throws {
            try global.withDatabase { bd in
                let b = try bd.resolve(Path(argument: backup))
                let v = try bd.newver(b.index, comment: comment)
                try global.report("version \(v) of \(printable(b.name))", json: VersionRef(index: b.index, version: v))
            }
        }
    }

    struct Comment: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "comment", abstract: "Change a version's comment (cmtver; hook 7).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The backup, by index, name or original path.") var backup: String
        @Argument(help: "The version.") var version: Int64
        @Argument(help: "The new comment.") var comment: String

        func run() throws {
            try global.withDatabase { bd in
                let b = try bd.resolve(Path(argument: backup))
                let stored = try bd.cmtver(b.index, version, comment: comment)
                try global.report("version \(version) of \(printable(b.name)): \(stored)",
                                  json: VersionRef(index: b.index, version: version, comment: stored))
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a version (delver; hook 8).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The backup, by index, name or original path.") var backup: String
        @Argument(help: "The version.") var version: Int64

        func run() throws {
            try global.withDatabase { bd in
                let b = try bd.resolve(Path(argument: backup))
                try bd.delver(b.index, version)
                try global.report("deleted version \(version) of \(printable(b.name))", json: VersionRef(index: b.index, version: version))
            }
        }
    }
}

struct DeletedView: Encodable { let index: Int64, name: Name, snapshots: [String]? }
