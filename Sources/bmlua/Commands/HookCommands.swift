import ArgumentParser
import BackupSys
import Foundation
import HookVM

struct HooksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hooks", abstract: "Show, set, clear and try the ten hooks (the bhooks list).",
        subcommands: [ListHooks.self, Set.self, Clear.self, Test.self, Limits.self], defaultSubcommand: ListHooks.self)

    struct ListHooks: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Show the bhooks list.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.withDatabase { bd in
                let list = try bd.bhooks()
                if global.json { return try printJSON(list) }
                guard let list else { return print("no bhooks list is stored (set one with: bmlua hooks set N CODE)") }
                for (i, code) in list.enumerated() {
                    print(String(format: "%2d  ", i + 1) + (code.isEmpty ? "-" : reviewable(code)) + "    -- \(Hook.contracts[i].purpose)")
                }
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set",
            abstract: "Set hook N's code.",
            discussion: "Refuses to replace different code already in slot N (error 35) unless --force; on a terminal it asks first.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The hook number, 1 to 10.") var number: Int
        @Argument(help: "The Lua code, for example: hdtstamp(2)") var code: String
        @Flag(help: "Replace different code already in the slot.") var force = false

        func validate() throws {
            guard (1...10).contains(number) else { throw ValidationError("the hook number must be 1 to 10, not \(number)") }
        }

        func run() throws {
            try global.withDatabase { bd in
                let force = force || (isatty(0) != 0 && isatty(2) != 0 && confirmReplace(bd))
                try bd.setHook(number, code: code, force: force)
                try global.report("hook \(number) set", json: HookView(hook: number, code: code))
            }
        }

        private func confirmReplace(_ bd: BackupDatabase) -> Bool {
            let list: [String]? = (try? bd.bhooks()) ?? nil
            // Not list[n]: TOMLKit (seen here through BackupSys) adds an Array subscript that wins.
            guard let old: String = list?.dropFirst(number - 1).first, !old.isEmpty, old != code else { return false }
            FileHandle.standardError.write(Data("hook \(number) holds: \(old)\nreplace it with: \(code)\n[y/N] ".utf8))
            return readLine()?.lowercased().hasPrefix("y") ?? false
        }
    }

    struct Clear: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "clear", abstract: "Empty hook N's slot.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The hook number, 1 to 10.") var number: Int

        func run() throws {
            try global.withDatabase { bd in
                try bd.setHook(number, code: "", force: true)
                try global.report("hook \(number) cleared", json: HookView(hook: number, code: ""))
            }
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "test",
            abstract: "Run hook N on a given bhin in a transaction that is rolled back.",
            discussion: "Prints bhout, bhout2, what the hook logged and its error if any. Nothing is changed.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The hook number, 1 to 10.") var number: Int
        @Option(help: "bhin as a JSON array, e.g. '[15000, \"foo/bar\", true, false]'. Default: a sample for hook N.")
        var bhin: String?

        func run() throws {
            let input: [LuaValue]
            var sample: String?
            defer { if let sample { try? FileManager.default.removeItem(atPath: (sample as NSString).deletingLastPathComponent) } }
            if let bhin {
                guard case .list(let items) = try? JSON.decode(bhin) else {
                    throw CommandFailure(BMError(22, "--bhin must be a JSON array, like '[1, \"a\"]'"))
                }
                input = items
            } else {
                // A real file, so that a hook that reads or compresses its file works on the sample.
                let folder = NSTemporaryDirectory() + "bmlua-sample-\(getpid())"
                try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                sample = folder + "/notes.txt"
                try Data("Notes for trying a hook: this file is removed afterwards.\n".utf8).write(to: URL(fileURLWithPath: sample!))
                input = Hook.sample(number, file: Path(sample!))?.bhin ?? []
                if !global.json { print("sample: a temporary file \(sample!) (its act path too), backup 1, version 1") }
            }
            try global.withDatabase { bd in
                let r = try bd.testHook(number, bhin: input)
                if global.json {
                    return try printJSON(HookTestView(bhin: LuaJSON(.list(input)), bhout: LuaJSON(r.bhout), bhout2: LuaJSON(r.bhout2),
                                                      log: r.log, error: r.error?.description))
                }
                print("bhin   = \(LuaValue.list(input))")
                print("bhout  = \(r.bhout)")
                print("bhout2 = \(r.bhout2)")
                for line in r.log { print("log    | \(line)") }
                if let e = r.error { print("error  = \(e)"); throw ExitCode(1) }
            }
        }
    }
}

extension HooksCommand {
    struct Limits: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "limits", abstract: "Show or set this repository's limits for one hook call.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Seconds a hook call may run (error 32 past it): above 0.") var time: Seconds?
        @Option(help: "MiB the Lua heap may hold during a hook call (error 33 past it): 1 to 1048576.") var memory: MiB?

        func run() throws {
            try global.withDatabase { bd in
                if time != nil || memory != nil { try bd.setHookLimits(time: time?.value, memoryMiB: memory?.value) }
                let l = try bd.hookLimits()
                let t = l.time ?? 0, m = Int64((l.memory ?? 0) >> 20)
                if global.json { return try printJSON(LimitsView(time: t, memory_mib: m)) }
                print("time \(t) s, memory \(m) MiB")
            }
        }
    }
}

struct HookView: Encodable { let hook: Int, code: String }
struct LimitsView: Encodable { let time: Double, memory_mib: Int64 }

/// `hooks test --json`. The error is null when the hook ran without one.
struct HookTestView: Encodable {
    let bhin: LuaJSON, bhout: LuaJSON, bhout2: LuaJSON, log: [String], error: String?

    enum CodingKeys: String, CodingKey { case bhin, bhout, bhout2, log, error }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(bhin, forKey: .bhin); try c.encode(bhout, forKey: .bhout); try c.encode(bhout2, forKey: .bhout2)
        try c.encode(log, forKey: .log); try c.encode(error, forKey: .error)
    }
}
