import ArgumentParser
import BackupSys
import Foundation
import HookVM

struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot", abstract: "Back up a profile's files and record a snapshot.",
        discussion: "Calls the user-callback with Back In Time's protocol. A snapshot taken with errors (unreadable files) prints error 6 and exits 1, as every error does; the snapshot is kept.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var config: ConfigOption
    @Option(help: "The profile's id.") var profile = Index<FromOne>(1)
    @Option(name: .customLong("user-callback"), help: ArgumentHelp("The user-callback program.", discussion: "Default: $BMLUA_USER_CALLBACK, else $XDG_CONFIG_HOME/bmlua/user-callback.", valueName: "path"))
    var userCallback: String?
    @Option(name: .customLong("callback-timeout"), help: "Seconds each user-callback call may take: above 0.") var callbackTimeout = Seconds(600)
    @Flag(name: .customLong("dry-run"), help: ArgumentHelp(
        "Store nothing: say which files a snapshot would store (with -v, each one).",
        discussion: "No hook and no user-callback runs. Handy to try excludes."))
    var dryRun = false

    func run() throws {
        if dryRun { return try plan() }
        var run = SnapshotRun(config: try config.load(), defaultRepository: global.root)
        run.profileID = profile.value
        run.options = global.sessionOptions
        run.options.stopRequested = Interruption.install()
        run.callbackPath = UserCallback.locate(userCallback)
        run.callbackTimeLimit = callbackTimeout.value
        let started = Date()
        let line = ProgressLine(global)
        run.progress = { s in
            let files = s.newFiles + s.changedFiles + s.unchangedFiles + s.failedFiles
            let rate = Double(s.bytesStored) / max(0.001, Date().timeIntervalSince(started)) / 1e6
            line.update(String(format: "%d files, %.1f MB stored, %.1f MB/s", files, Double(s.bytesStored) / 1e6, rate))
        }
        let s: SnapshotRun.Summary
        do { s = try run.run() } catch {
            line.finish()
            if let stop = error as? Interrupted { throw CommandInterrupted(stop) }
            throw CommandFailure(BMError.wrap(error))
        }
        line.finish()
        if global.json {
            try printJSON(SnapshotRunView(s))
        } else if let sid = s.sid {
            global.say("snapshot \(sid): \(s.newFiles) new, \(s.changedFiles) changed, \(s.unchangedFiles) unchanged, \(s.failedFiles) failed"
                + (s.links > 0 ? "; \(counted(s.links, "link")) kept" : ""))
        } else if s.failedFiles > 0 {
            global.say("no new snapshot: nothing changed but the same \(counted(s.failedFiles, "file")) failed as in the last one")
        } else {
            global.say("nothing changed: no snapshot taken (\(counted(s.unchangedFiles, "file")) unchanged)")
        }
        if s.failedFiles > 0 {
            FileHandle.standardError.write(Data("bmlua: \(BMError(6, "\(counted(s.failedFiles, "file")) could not be backed up"))\n".utf8))
            throw ExitCode(1)
        }
    }
}

extension SnapshotCommand {
    func plan() throws {
        var run = SnapshotRun(config: try config.load(), defaultRepository: global.root)
        run.profileID = profile.value
        run.options = global.sessionOptions
        let p: SnapshotRun.Plan
        do { p = try run.plan() } catch { throw CommandFailure(BMError.wrap(error)) }
        for (path, e) in p.unreadable { FileHandle.standardError.write(Data("bmlua: \(printable(path)): \(e.reported)\n".utf8)) }
        if global.json {
            return try printJSON(PlanView(new: p.new.map(Name.init), changed: p.changed.map(Name.init), unchanged: p.unchanged,
                                          links: p.links, bytes: p.bytes, unreadable: p.unreadable.map { Name($0.path) }))
        }
        if global.verbose {
            for path in p.new { print("+    \(printable(path))") }
            for path in p.changed { print("M    \(printable(path))") }
        }
        global.say(String(format: "would store %@ and %@ (%.1f MB); %@ unchanged", counted(p.new.count, "new file"),
                          counted(p.changed.count, "changed file"), Double(p.bytes) / 1e6, counted(p.unchanged, "file"))
                   + (p.unreadable.isEmpty ? "" : "; \(counted(p.unreadable.count, "path")) unreadable"))
    }
}

struct SnapshotsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshots", abstract: "List, show, compare, restore and remove snapshots.",
        subcommands: [ListSnapshots.self, ShowSnapshot.self, DiffSnapshots.self, RestoreSnapshot.self, RemoveSnapshot.self],
        defaultSubcommand: ListSnapshots.self)

    struct ListSnapshots: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the snapshots.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.withDatabase { bd in
                let all = try bd.snapshots()
                if global.json {
                    return try printJSON(all.map { s in
                        SnapshotView(sid: s.sid, profile: s.profile, time: isoTime(s.time), status: s.status, files: s.files, links: s.links)
                    })
                }
                for s in all {
                    let contents = counted(s.files, "file") + (s.links > 0 ? ", " + counted(s.links, "link") : "")
                    print("\(s.sid)\tprofile \(s.profile)\t\(contents)\t\(s.status)")
                }
            }
        }
    }

    struct ShowSnapshot: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "List a snapshot's files (backup/version, path) and links (path -> target).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The snapshot id.") var sid: String

        func run() throws {
            try global.withDatabase { bd in
                let files = try bd.snapshotFiles(sid), links = try bd.snapshotLinks(sid)
                // One list by path, as the tree holds them.
                let rows: [(path: Path, json: SnapshotEntryView, text: String)] =
                    files.map { f in
                        // hardlink: the number shared by the files hard-linked together
                        (f.path, SnapshotEntryView(path: Name(f.path), backup: f.backup, version: f.version, hardlink: f.hardlink),
                         "\(f.backup)/\(f.version)\t\(printable(f.path))")
                    } + links.map { l in
                        (l.path, SnapshotEntryView(path: Name(l.path), link: Name(l.target)),
                         "link\t\(printable(l.path)) -> \(printable(l.target))")
                    }
                let sorted = rows.sorted { $0.path < $1.path }
                if global.json { return try printJSON(sorted.map(\.json)) }
                for r in sorted { print(r.text) }
            }
        }
    }

    struct DiffSnapshots: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff", abstract: "Show the files added (+), removed (-) and modified (M) from one snapshot to another.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The older snapshot's id.") var from: String
        @Argument(help: "The newer snapshot's id.") var to: String

        func run() throws {
            try global.withDatabase { bd in
                let changes = try Differ(bd).diff(from, to)
                if global.json {
                    return try printJSON(changes.map { ChangeView(path: Name($0.path), change: $0.change.rawValue) })
                }
                for c in changes { print("\(c.change.mark)    \(printable(c.path))") }
                let count = { (kind: Differ.Change) in changes.filter { $0.change == kind }.count }
                global.say("\(count(.added)) added, \(count(.removed)) removed, \(count(.modified)) modified")
            }
        }
    }

    struct RestoreSnapshot: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "restore", abstract: "Restore a snapshot's files, or those under PATH.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The snapshot id.") var sid: String
        @Argument(help: "Only this file or folder (its original path).") var path: String?
        @Option(help: "Restore under this folder (as DIR/<original path>) instead of in place.") var to: String?
        @Flag(help: "Replace existing files (without it, a file already as the snapshot has it is left alone, and one that differs is error 15).")
        var overwrite = false
        @Flag(help: "With --no-hooks, restore the stored bytes although a hook 4 is set.") var raw = false

        func run() throws {
            try global.withDatabase { bd in
                bd.options.raw = raw
                bd.options.stopRequested = Interruption.install()
                let line = ProgressLine(global)
                defer { line.finish() }
                let r = try Restorer(bd).restore(sid, path: path.map { Path(argument: $0) }, to: to.map { Path(argument: $0) }, overwrite: overwrite) { done, total in
                    line.update("restoring", done: done, of: total, "file")
                }
                line.finish()
                let failed = r.failed.map { bd.handle($0) }
                for e in failed { FileHandle.standardError.write(Data("bmlua: \(e.reported)\n".utf8)) }
                let links = r.links > 0 ? " and \(counted(r.links, "link"))" : ""
                let unchanged = r.unchanged.isEmpty ? "" : ", \(r.unchanged.count) already there"
                try global.report("restored \(counted(r.restored.count - r.links, "file"))\(links)\(unchanged)\(failed.isEmpty ? "" : ", \(failed.count) failed")",
                                  json: RestoreView(restored: r.restored.map(Name.init), unchanged: r.unchanged.map(Name.init), failed: failed.map(FailureView.init)))
                if !r.failed.isEmpty { throw ExitCode(1) }
            }
        }
    }

    struct RemoveSnapshot: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a snapshot (its versions stay until prune).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The snapshot id.") var sid: String

        func run() throws {
            try global.withDatabase { bd in try bd.removeSnapshot(sid) }
            try global.report("removed snapshot \(sid)", json: SIDView(sid: sid))
        }
    }
}

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune",
        abstract: "Remove snapshots outside a keep policy, and the versions only they used (hook 8 fires for each).")
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("keep-last"), help: "Keep the newest N snapshots.") var last = Count(0)
    @Option(name: .customLong("keep-hourly"), help: "Keep the newest snapshot of each of the last N hours that have one.") var hourly = Count(0)
    @Option(name: .customLong("keep-daily"), help: "Keep the newest snapshot of each of the last N days that have one.") var daily = Count(0)
    @Option(name: .customLong("keep-weekly"), help: "Keep the newest snapshot of each of the last N weeks that have one.") var weekly = Count(0)
    @Option(name: .customLong("keep-monthly"), help: "Keep the newest snapshot of each of the last N months that have one.") var monthly = Count(0)
    @Option(name: .customLong("keep-yearly"), help: "Keep the newest snapshot of each of the last N years that have one.") var yearly = Count(0)
    @Option(name: .customLong("keep-within"), help: ArgumentHelp(
        "Keep every snapshot taken within this long of the newest one.",
        discussion: "A duration as restic writes it: numbers with y (years), m (months), d (days), h (hours), e.g. 1y6m or 14d12h.",
        valueName: "duration"),
        transform: { text in
            guard let d = PrunePolicy.duration(text) else {
                throw ValidationError("--keep-within wants a duration like 14d, 36h or 1y6m, not '\(text)'")
            }
            return d
        })
    var within: DateComponents?
    @Option(help: "Only this profile's snapshots.") var profile: Index<FromOne>?
    @Flag(name: .customLong("dry-run"), help: "Change nothing: list the snapshots that would be removed and count the versions.")
    var dryRun = false
    @Flag(name: .customLong("forget-deleted"), help: ArgumentHelp(
        "Also delete the backups snapshots made of files no longer on disk, once nothing holds them.",
        discussion: "Otherwise their current copies stay until bmlua delete. Stored-away backups and those made with bmlua backup stay."))
    var forgetDeleted = false

    func run() throws {
        try global.withDatabase { bd in
            let policy = PrunePolicy(last: last.value, hourly: hourly.value, daily: daily.value, weekly: weekly.value,
                                                    monthly: monthly.value, yearly: yearly.value, within: within)
            let profiles = Dictionary(try bd.snapshots().map { ($0.sid, $0.profile) }, uniquingKeysWith: { a, _ in a })
            let line = ProgressLine(global)
            let r = try Retention(bd).prune(policy, profile: profile?.value, dryRun: dryRun, forgetDeleted: forgetDeleted) { done, total in
                line.update("pruning", done: done, of: total, "version")
            }
            line.finish()
            if global.json {
                return try printJSON(PruneView(removed: r.removed, versions: r.versions, dry_run: dryRun, backups: forgetDeleted ? r.backups : nil))
            }
            let what = "\(counted(r.removed.count, "snapshot")) and \(counted(r.versions, "version"))"
                + (forgetDeleted ? ", and \(counted(r.backups, "backup")) of deleted files" : "")
            if dryRun {
                for sid in r.removed { print("\(sid)\tprofile \(profiles[sid].map(String.init) ?? "?")") }
                global.say("would remove " + what)
            } else {
                global.say("removed " + what)
            }
        }
    }
}

struct SnapshotRunView: Encodable {
    struct Files: Encodable { let new: Int, changed: Int, unchanged: Int, failed: Int }
    let sid: String?, files: Files, links: Int, bytes_stored: Int64, seconds: Double

    init(_ s: SnapshotRun.Summary) {
        (sid, links, bytes_stored, seconds) = (s.sid, s.links, s.bytesStored, s.seconds)
        files = Files(new: s.newFiles, changed: s.changedFiles, unchanged: s.unchangedFiles, failed: s.failedFiles)
    }

    enum CodingKeys: String, CodingKey { case sid, files, links, bytes_stored, seconds }

    func encode(to encoder: Encoder) throws {   // sid is null when nothing changed
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sid, forKey: .sid); try c.encode(files, forKey: .files); try c.encode(links, forKey: .links)
        try c.encode(bytes_stored, forKey: .bytes_stored); try c.encode(seconds, forKey: .seconds)
    }
}

struct PlanView: Encodable {
    var dry_run = true
    let new: [Name], changed: [Name], unchanged: Int, links: Int, bytes: Int64, unreadable: [Name]
}

struct SnapshotView: Encodable { let sid: String, profile: Int64, time: String, status: String, files: Int, links: Int }

/// A file (backup, version and hard-link group) or a symbolic link (its target) of a snapshot.
struct SnapshotEntryView: Encodable {
    let path: Name
    var backup: Int64? = nil
    var version: Int64? = nil
    var hardlink: Int64? = nil
    var link: Name? = nil
}

struct ChangeView: Encodable { let path: Name, change: String }
struct RestoreView: Encodable { let restored: [Name], unchanged: [Name], failed: [FailureView] }
struct PruneView: Encodable { let removed: [String], versions: Int, dry_run: Bool, backups: Int? }
