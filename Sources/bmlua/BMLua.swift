import ArgumentParser
import BackupSys
import HookVM
import Foundation

struct BMLua: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bmlua",
        abstract: "A versioned file backup manager whose operations are altered by Lua hooks.",
        discussion: "The repository is --repo DIR, else $BMLUA_REPO, else $XDG_DATA_HOME/bmlua. Start with: bmlua init",
        subcommands: [
            Init.self, BackupCommand.self, Update.self, Restore.self, Delete.self, VersionCommand.self,
            List.self, Show.self, FieldCommand.self, HooksCommand.self, RoutineCommand.self,
            ProfileCommand.self, ScheduleCommand.self, SnapshotCommand.self, SnapshotsCommand.self, Prune.self,
            Run.self, Eval.self, Shell.self, Check.self, GC.self, Errors.self,
        ]
    )
}

extension BMLua {
    /// `bmlua --repo DIR -v list`, as restic and borg allow: argument-parser reads a
    /// command's options only after the command's name, so the global options given
    /// before it are moved to just after it (not to the end, where `run` would pass
    /// them on to the script).
    static func optionsAfterCommand(_ args: [String]) -> [String] {
        var leading: [String] = [], i = 0
        while i < args.count {
            let name = String(args[i].prefix { $0 != "=" })
            guard let takesValue = GlobalOptions.names[name] else { break }
            let inline = name.count < args[i].count
            leading.append(args[i])
            if takesValue && !inline && i + 1 < args.count { leading.append(args[i + 1]); i += 1 }
            i += 1
        }
        guard !leading.isEmpty else { return args }
        var command: ParsableCommand.Type = BMLua.self, end = i
        while end < args.count, let sub = command.configuration.subcommands.first(where: { $0._commandName == args[end] }) {
            command = sub
            end += 1
        }
        return Array(args[i..<end]) + leading + Array(args[end...])
    }
}

/// Usage errors exit 2 and failures exit 1 (design.md, "Errors"), so parsing is done here.
@main enum Main {
    static func main() {
        // The C argv, not CommandLine.arguments: that one replaces bytes that
        // are not UTF-8 and would name another file (see ArgumentBytes).
        let arguments = (1..<Int(CommandLine.argc)).map { ArgumentBytes.text(CommandLine.unsafeArgv[$0]!) }
        OpenFileLimit.raise()
        LuaVM.adoptOrphans()   // what a hook's programs leave detached stays under its time limit
        do {
            var command = try BMLua.parseAsRoot(BMLua.optionsAfterCommand(arguments))
            try command.run()
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch let failure as CommandFailure {
            FileHandle.standardError.write(Data("bmlua: \(failure.error.reported)\n".utf8))
            exit(1)
        } catch let stop as CommandInterrupted {
            Interruption.exit(stop.stop)
        } catch {
            let code = BMLua.exitCode(for: error)
            let text = BMLua.fullMessage(for: error)
            if code == .success {
                print(text)
                exit(0)
            }
            FileHandle.standardError.write(Data((text.hasPrefix("Error:") ? "bmlua: " + text.dropFirst(7) : "bmlua: " + text[...]).utf8 + [10]))
            exit(2)
        }
    }
}
