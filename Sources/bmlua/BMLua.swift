import ArgumentParser
import BackupSys
import Foundation

struct BMLua: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bmlua",
        abstract: "A versioned file backup manager whose operations are altered by Lua hooks.",
        discussion: "The repository is --repo DIR, else $BMLUA_REPO, else $XDG_DATA_HOME/bmlua. Start with: bmlua init",
        subcommands: [
            Init.self, BackupCommand.self, Update.self, Restore.self, Delete.self, VersionCommand.self,
            List.self, Show.self, FieldCommand.self, HooksCommand.self, RoutineCommand.self,
            ProfileCommand.self, SnapshotCommand.self, SnapshotsCommand.self, Prune.self,
            Run.self, Eval.self, Shell.self, Check.self, GC.self, Errors.self,
        ]
    )
}

/// Usage errors exit 2 and failures exit 1 (DESIGN §6), so parsing is done here.
@main enum Main {
    static func main() {
        // Swift decodes argv as UTF-8 and would silently replace other bytes,
        // naming a different file: refuse such arguments instead.
        for i in 1..<Int(CommandLine.argc) {
            if let raw = CommandLine.unsafeArgv[i], String(validatingCString: raw) == nil {
                fail(BMError(22, "argument \(i) is not valid UTF-8; bmlua handles only UTF-8 file names (rename the file, or back up its folder with a snapshot)"))
            }
        }
        do {
            var command = try BMLua.parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            exit(code.rawValue)
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
