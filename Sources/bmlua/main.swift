import BackupSys
import Foundation
import HookVM

// Placeholder until the CLI lands: bmlua eval CODE
let args = CommandLine.arguments
if args.count == 3, args[1] == "eval" {
    let vm = LuaVM()
    do {
        for v in try vm.run(args[2], chunkName: "=eval") { print(v) }
    } catch {
        let e = BMError.wrap(error)
        FileHandle.standardError.write(Data("bmlua: \(e)\n".utf8))
        exit(1)
    }
}
