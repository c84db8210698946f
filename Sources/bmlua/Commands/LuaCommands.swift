import ArgumentParser
import BackupSys
import Foundation
import HookVM

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a Lua script with the bmlua API (... = the arguments).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The script.") var script: String
    @Argument(parsing: .captureForPassthrough, help: "Arguments for the script.") var arguments: [String] = []

    func run() throws {
        let code: String
        do { code = try String(contentsOfFile: script, encoding: .utf8) } catch { fail(BMError(10, "cannot read \(script)", path: script)) }
        try global.withDatabase { bd in
            let results = try bd.runScript(code, name: "@" + script, args: arguments.map { .string($0) })
            printResults(results, json: global.json)
        }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a line of Lua with the bmlua API and print what it returns.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The Lua code, for example: 'return #backups()'") var code: String

    func run() throws {
        try global.withDatabase { bd in
            printResults(try bd.runScript(code, name: "=eval"), json: global.json)
        }
    }
}

func printResults(_ results: [LuaValue], json: Bool) {
    if json { return printJSON(.list(results)) }
    for r in results { print(r.stringValue ?? r.description) }
}

struct Shell: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "An interactive Lua prompt with the bmlua API.",
        discussion: "Calls the user-callback with reasons 5 (start) and 6 (exit), as Back In Time's app does.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var config: ConfigOption
    @Option(name: .customLong("user-callback"), help: ArgumentHelp("The user-callback program.", valueName: "path")) var userCallback: String?

    func run() throws {
        let callback = UserCallback(path: UserCallback.locate(userCallback), repository: global.root,
                                    log: { if global.verbose { FileHandle.standardError.write(Data("bmlua: \($0)\n".utf8)) } },
                                    errorLog: { FileHandle.standardError.write(Data("bmlua: \($0)\n".utf8)) })
        let profile = config.load().profile(1) ?? .main
        callback.call(profile, .appStart)
        defer { callback.call(profile, .appClose) }
        try global.withDatabase { bd in
            let interactive = isatty(0) != 0
            let history = LineHistory()
            if interactive { print("bmlua shell on \(bd.repository.root) (\(_luaVersion(bd))). Ctrl-D leaves.") }
            var pending = ""
            while true {
                if interactive {
                    print(pending.isEmpty ? "> " : ">> ", terminator: "")
                    fflush(stdout)
                }
                guard let line = readLine() else { break }
                pending += pending.isEmpty ? line : "\n" + line
                // A line that reads as an expression is printed, as in lua.c.
                let asExpression = "return " + pending
                let code = (try? bd.luaVM().checkSyntax(asExpression, chunkName: "=stdin")) != nil ? asExpression : pending
                do {
                    try bd.luaVM().checkSyntax(code, chunkName: "=stdin")
                } catch let e as LuaError where e.message.hasSuffix("<eof>") {
                    continue   // incomplete: read more lines
                } catch {}
                history.add(pending)
                do {
                    for r in try bd.runScript(code, name: "=stdin") { print(r.stringValue ?? r.description) }
                } catch {
                    let e = bd.handle(BMError.wrap(error))
                    FileHandle.standardError.write(Data("bmlua: \(e)\n".utf8))
                }
                pending = ""
            }
            if interactive { print() }
        }
    }

    private func _luaVersion(_ bd: BackupDatabase) -> String {
        (try? bd.luaVM()[global: "_VERSION"].stringValue) ?? "Lua"
    }
}

/// The shell's history, kept in `$XDG_STATE_HOME/bmlua/history`.
final class LineHistory {
    let path: String
    init() {
        let env = ProcessInfo.processInfo.environment
        let state = env["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.local/state"
        try? FileManager.default.createDirectory(atPath: state + "/bmlua", withIntermediateDirectories: true)
        path = state + "/bmlua/history"
    }

    func add(_ entry: String) {
        guard let h = FileHandle(forWritingAtPath: path) ?? {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)
        }() else { return }
        h.seekToEndOfFile()
        h.write(Data((entry.replacingOccurrences(of: "\n", with: "\\n") + "\n").utf8))
        h.closeFile()
    }
}
