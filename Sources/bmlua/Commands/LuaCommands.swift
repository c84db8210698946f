import ArgumentParser
import BackupSys
import Foundation
import CReadline
import HookVM

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a Lua script with the bmlua API (... and arg[1], arg[2] … = the arguments, arg[0] = the script).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The script.") var script: String
    @Argument(parsing: .captureForPassthrough, help: "Arguments for the script.") var arguments: [String] = []

    func run() throws {
        let code = try readTextFile(script)
        try global.withDatabase(orNone: true) { bd in
            Interruption.install(stoppingLua: true)
            let results = try bd.runScript(code, name: "@" + script, args: arguments.map { .string($0) }, scriptPath: script)
            try printResults(results, json: global.json)
        }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Run a line of Lua with the bmlua API and print what it returns.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The Lua code, for example: 'return #backups()'") var code: String

    func run() throws {
        try global.withDatabase(orNone: true) { bd in
            Interruption.install(stoppingLua: true)
            try printResults(try bd.runScript(code, name: "=eval"), json: global.json)
        }
    }
}

func printResults(_ results: [LuaValue], json: Bool) throws {
    if json { return try printJSON(LuaJSON(.list(results))) }
    for r in results { printLua(r) }
}

/// A result as `lua` prints one: a string's bytes as they are (a path that is not UTF-8 included).
func printLua(_ v: LuaValue) {
    fflush(nil)   // after what print() holds in its buffer (stdout's, among all)
    FileHandle.standardOutput.write(Data((v.bytesValue ?? Array(v.description.utf8)) + [10]))
}

struct Shell: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "shell",
        abstract: "An interactive Lua prompt with the bmlua API.",
        discussion: """
            Line editing and history (readline; kept in $XDG_STATE_HOME/bmlua/history). An expression's value is printed; \
            an incomplete statement continues on the next line. Calls the user-callback with reasons 5 (start) and 6 (exit), \
            as Back In Time's app does.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var config: ConfigOption
    @Option(name: .customLong("user-callback"), help: ArgumentHelp("The user-callback program.", valueName: "path")) var userCallback: String?

    func run() throws {
        let callback = UserCallback(path: UserCallback.locate(userCallback), repository: global.root,
                                    log: { if global.verbose { FileHandle.standardError.write(Data("bmlua: \($0)\n".utf8)) } },
                                    errorLog: { FileHandle.standardError.write(Data("bmlua: \($0)\n".utf8)) })
        let profile = try config.load().profile(1) ?? .main
        callback.call(profile, .appStart)
        defer { callback.call(profile, .appClose) }
        try global.withDatabase(orNone: true) { bd in
            let input = LineInput()
            if input.interactive {
                print("bmlua shell on \(bd.repository.root) (\((try? bd.luaVM()[global: "_VERSION"].stringValue) ?? "Lua")). Ctrl-D leaves.")
            }
            var pending = ""
            while let line = input.read(prompt: pending.isEmpty ? "> " : ">> ") {
                pending += pending.isEmpty ? line : "\n" + line
                // A line that reads as an expression is printed, as in lua.c.
                var code = "return " + pending
                if (try? bd.luaVM().checkSyntax(code, chunkName: "=stdin")) == nil {
                    code = pending
                    do {
                        try bd.luaVM().checkSyntax(code, chunkName: "=stdin")
                    } catch let e as LuaError where e.message.hasSuffix("<eof>") {
                        continue   // incomplete: read more lines
                    } catch {}   // a real syntax error: running it reports it
                }
                input.remember(pending)
                // Ctrl-C stops the code and comes back here, as in lua.c; at the prompt it quits.
                Interruption.install(stoppingLua: true)
                do {
                    for r in try bd.runScript(code, name: "=stdin") { printLua(r) }
                } catch let stop as Interrupted {
                    Interruption.delivered()
                    FileHandle.standardError.write(Data("bmlua: \(stop)\n".utf8))
                } catch {
                    FileHandle.standardError.write(Data("bmlua: \(bd.handle(BMError.wrap(error)).reported)\n".utf8))
                }
                Interruption.uninstall()
                pending = ""
            }
            if input.interactive { print() }
        }
    }
}

/// The shell's input: readline with history on a terminal, plain lines otherwise.
/// History lives in `$XDG_STATE_HOME/bmlua/history`.
final class LineInput {
    let interactive = isatty(0) != 0
    private let historyPath: String

    init() {
        let state = XDG.state()
        try? FileManager.default.createDirectory(atPath: state + "/bmlua", withIntermediateDirectories: true)
        historyPath = state + "/bmlua/history"
        if interactive {
            using_history()
            read_history(historyPath)
        }
    }

    func read(prompt: String) -> String? {
        guard interactive else { return readLine() }
        guard let p = readline(prompt) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// Each entry goes to the history file at once, appended (two shells do not
    /// overwrite each other's), so a shell ended by Ctrl-C keeps its history.
    func remember(_ entry: String) {
        if !FileManager.default.fileExists(atPath: historyPath) { _ = FileManager.default.createFile(atPath: historyPath, contents: nil) }
        if interactive {
            add_history(entry)
            append_history(1, historyPath)
        } else if let h = FileHandle(forWritingAtPath: historyPath) {
            h.seekToEndOfFile()
            h.write(Data((entry + "\n").utf8))
            h.closeFile()
        }
    }
}
