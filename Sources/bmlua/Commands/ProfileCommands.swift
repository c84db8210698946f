import ArgumentParser
import BackupSys
import Foundation
import HookVM

/// `--config FILE`: the profiles file, else `$XDG_CONFIG_HOME/bmlua/config.toml`.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The profiles file.", discussion: "Default: $XDG_CONFIG_HOME/bmlua/config.toml.", valueName: "file"))
    var config: String?

    func load() throws -> ProfileConfig {
        do { return try ProfileConfig.load(config.map { absolutePath($0) }) } catch { throw CommandFailure(BMError.wrap(error)) }
    }

    /// Adds `items` (once each) to list `key` ("include" or "exclude") of profile `id`,
    /// saves the file and reports the whole list.
    func append(_ items: [String], to list: WritableKeyPath<Profile, [String]>, named key: String, of id: Int64,
                reporting global: GlobalOptions) throws {
        var c = try load()
        do {
            try c.update(id) { p in for item in items where !p[keyPath: list].contains(item) { p[keyPath: list].append(item) } }
        } catch { throw CommandFailure(BMError.wrap(error)) }
        let all = c.profile(id)?[keyPath: list] ?? []
        try global.report("profile \(id) \(key)s \(all.joined(separator: ", "))",
                          json: key == "include" ? PathsView(id: id, include: all) : PathsView(id: id, exclude: all))
    }
}

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile", abstract: "Profiles: what a snapshot backs up, and into which repository.",
        subcommands: [ListProfiles.self, Add.self, Include.self, Exclude.self, ImportBackInTime.self], defaultSubcommand: ListProfiles.self)

    struct ImportBackInTime: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-backintime", abstract: "Make bmlua profiles of Back In Time's.",
            discussion: "Reads Back In Time's config (default: $XDG_CONFIG_HOME/backintime/config): each profile's name, include paths, exclude globs and local snapshot folder (its repository: FOLDER/bmlua). Profiles keep their ids; one bmlua already has under that id is replaced. Says what it could not carry over.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var config: ConfigOption
        @Argument(help: "Back In Time's config file.") var file: String?
        @Flag(name: .customLong("copy-user-callback"), help: "Also copy Back In Time's user-callback to bmlua's place (if none is there).") var copyUserCallback = false

        func run() throws {
            let path = file ?? BackInTimeImport.defaultPath()
            let text = try readTextFile(path)
            let imported = BackInTimeImport(text: text)
            var c = try config.load()
            do { for i in imported.profiles { try c.put(i.profile) } } catch { throw CommandFailure(BMError.wrap(error)) }
            for i in imported.profiles {
                global.say("profile \(i.profile.id) (\(i.profile.name)): \(counted(i.profile.include.count, "include")), \(counted(i.profile.exclude.count, "exclude"))"
                    + (i.profile.repo.map { "; repository \($0) (create it with: bmlua init --repo \($0))" } ?? ""))
                if let s = i.schedule { global.say("  its schedule: \(s)") }
            }
            for n in imported.notes { FileHandle.standardError.write(Data("bmlua: note: \(n)\n".utf8)) }
            if copyUserCallback {
                let from = (path as NSString).deletingLastPathComponent + "/user-callback"
                let to = (ProfileConfig.defaultPath() as NSString).deletingLastPathComponent + "/user-callback"
                if FileManager.default.fileExists(atPath: from) && !FileManager.default.fileExists(atPath: to) {
                    try? FileManager.default.createDirectory(atPath: (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    do { try FileManager.default.copyItem(atPath: from, toPath: to) } catch { throw CommandFailure(BMError.wrap(error)) }
                    global.say("copied Back In Time's user-callback to \(to)")
                } else if FileManager.default.fileExists(atPath: to) {
                    FileHandle.standardError.write(Data("bmlua: note: \(to) exists; Back In Time's user-callback was not copied\n".utf8))
                }
            }
            if global.json {
                try printJSON(ImportView(profiles: imported.profiles.map(\.profile.id), notes: imported.notes))
            }
        }
    }

    struct ListProfiles: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the profiles.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var config: ConfigOption

        func run() throws {
            let c = try config.load()
            if global.json {
                return try printJSON(c.profiles.map { p in
                    ProfileView(id: p.id, name: p.name, repo: p.repo ?? global.root, include: p.include, exclude: p.exclude)
                })
            }
            for p in c.profiles {
                print("\(p.id)\t\(p.name)\t\(p.repo ?? global.root)")
                for i in p.include { print("\tinclude \(i)") }
                for e in p.exclude { print("\texclude \(e)") }
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add",
            abstract: "Add a profile; prints its id.",
            discussion: "--repo DIR is the repository the profile snapshots into; without it, the profile uses whichever repository is the default when a snapshot runs.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var config: ConfigOption
        @Argument(help: "The profile's name.") var name: String

        func run() throws {
            var c = try config.load()
            do {
                // Only an explicit --repo: $BMLUA_REPO is the default of the run, not of the profile.
                let p = try c.add(name: name, repo: global.repo)
                if global.json { return try printJSON(IDView(id: p.id)) }
                print(p.id)
            } catch { throw CommandFailure(BMError.wrap(error)) }
        }
    }

    struct Include: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "include", abstract: "Add paths a profile snapshots.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var config: ConfigOption
        @Argument(help: "Files or folders.") var paths: [String]
        @Option(help: "The profile's id.") var profile = Index<FromOne>(1)

        func run() throws {
            let paths = paths.map(absolutePath)
            try config.append(paths, to: \.include, named: "include", of: profile.value, reporting: global)
            // Added all the same: it may be on a drive the user-callback mounts (reason 7).
            for p in paths where !global.quiet && !FileManager.default.fileExists(atPath: p) {
                FileHandle.standardError.write(Data("bmlua: warning: \(p) does not exist (yet): snapshots count it as failed until it does\n".utf8))
            }
        }
    }

    struct Exclude: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "exclude", abstract: "Add glob patterns a profile leaves out (matched against the full path and the name).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var config: ConfigOption
        @Argument(help: "Glob patterns, like '*.tmp' or '/home/me/.cache'.") var globs: [String]
        @Option(help: "The profile's id.") var profile = Index<FromOne>(1)

        func run() throws { try config.append(globs, to: \.exclude, named: "exclude", of: profile.value, reporting: global) }
    }
}

struct ImportView: Encodable { let profiles: [Int64], notes: [String] }
struct ProfileView: Encodable { let id: Int64, name: String, repo: String, include: [String], exclude: [String] }
/// `profile include` / `profile exclude`: the profile's list after the change.
struct PathsView: Encodable {
    let id: Int64
    var include: [String]? = nil
    var exclude: [String]? = nil
}
