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
        global.report("profile \(id) \(key)s \(all.joined(separator: ", "))",
                      json: .map(["id": .integer(id), .string(key): .list(all.map { .string($0) })]))
    }
}

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile", abstract: "Profiles: what a snapshot backs up, and into which repository.",
        subcommands: [ListProfiles.self, Add.self, Include.self, Exclude.self], defaultSubcommand: ListProfiles.self)

    struct ListProfiles: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the profiles.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var config: ConfigOption

        func run() throws {
            let c = try config.load()
            if global.json {
                return printJSON(.list(c.profiles.map { p in
                    .map(["id": .integer(p.id), "name": .string(p.name), "repo": .string(p.repo ?? global.root),
                          "include": .list(p.include.map { .string($0) }), "exclude": .list(p.exclude.map { .string($0) })])
                }))
            }
            for p in c.profiles {
                print("\(p.id)\t\(p.name)\t\(p.repo ?? global.root)")
                for i in p.include { print("\tinclude \(i)") }
                for e in p.exclude { print("\texclude \(e)") }
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
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
                if global.json { return printJSON(.map(["id": .integer(p.id)])) }
                print(p.id)
            } catch { throw CommandFailure(BMError.wrap(error)) }
        }
    }

    struct Include: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add paths a profile snapshots.")
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
        static let configuration = CommandConfiguration(abstract: "Add glob patterns a profile leaves out (matched against the full path and the name).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var config: ConfigOption
        @Argument(help: "Glob patterns, like '*.tmp' or '/home/me/.cache'.") var globs: [String]
        @Option(help: "The profile's id.") var profile = Index<FromOne>(1)

        func run() throws { try config.append(globs, to: \.exclude, named: "exclude", of: profile.value, reporting: global) }
    }
}
