import ArgumentParser
import BackupSys
import Foundation

struct RoutineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routine", abstract: "Lua programs stored in the catalog, callable by name from hooks.",
        subcommands: [Add.self, ListRoutines.self, ShowRoutine.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Store a routine from a file (its name: the file's base name).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The Lua file.") var file: String
        @Option(help: "The routine's name, if not the file's base name.") var name: String?

        func run() throws {
            let code = try readTextFile(file)
            let routine = name ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            try global.withDatabase { bd in try bd.setRoutine(routine, code: code) }
            try global.report("routine \(routine) stored", json: NameView(name: routine))
        }
    }

    struct ListRoutines: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the routines.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.withDatabase { bd in
                let all = try bd.routines()
                if global.json { return try printJSON(all.map(\.name)) }
                for r in all { print(r.name) }
            }
        }
    }

    struct ShowRoutine: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Print a routine's code.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The routine's name.") var name: String

        func run() throws {
            try global.withDatabase { bd in
                guard let r = try bd.routines().first(where: { $0.name == name }) else {
                    throw BMError(22, "no routine \(name) (see: bmlua routine list)")
                }
                let shown = reviewable(r.code)
                print(shown, terminator: shown.hasSuffix("\n") ? "" : "\n")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a routine.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The routine's name.") var name: String

        func run() throws {
            try global.withDatabase { bd in try bd.setRoutine(name, code: nil) }
            try global.report("routine \(name) removed", json: NameView(name: name))
        }
    }
}
