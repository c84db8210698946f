import Synchronization
import Foundation
import GRDB
import Testing
@testable import BackupSys
import TestSupport
@testable import HookVM

/// design.md, "Snapshots and the user-callback": snapshots and Back In Time's user-callback, row by row.
final class SnapshotFixture {
    let f: Fixture
    let tree: String
    let calls: String
    let callback: String
    var config: ProfileConfig

    /// `script` runs before the recording; it may `exit` to veto or `sleep`.
    init(callbackScript script: String = "", profileName: String = "Main profile") throws {
        f = try Fixture()
        tree = f.work + "/tree"
        calls = f.base + "/calls"
        callback = f.base + "/user callback"
        try FileManager.default.createDirectory(atPath: tree + "/sub", withIntermediateDirectories: true)
        try Fixture.script("""
            #!/bin/sh
            printf '%s\\t' "$@" >> '\(calls)'
            printf 'env=%s,%s,%s,%s\\n' "$BMLUA_PROFILE_ID" "$BMLUA_PROFILE_NAME" "$BMLUA_REASON" "$BMLUA_REPO" >> '\(calls)'
            \(script)
            exit 0
            """, at: callback)
        config = ProfileConfig(path: f.base + "/config.toml", profiles: [Profile(id: 1, name: profileName, include: [tree])])
        try write("a.txt", "alpha")
        try write("sub/b.txt", "beta")
    }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: tree + "/" + name))
    }

    func run(profile: Int64 = 1, timeLimit: Double = 600, at date: Date? = nil,
             batchSize: Int = 256, workers: Int = 4, stopWhen stop: @escaping () -> Bool = { false },
             saying said: Fixture.Sink? = nil) throws -> SnapshotRun.Summary {
        var r = SnapshotRun(config: config, defaultRepository: f.root)
        r.profileID = profile
        r.batchSize = batchSize
        r.workers = workers
        r.callbackPath = callback
        r.callbackTimeLimit = timeLimit
        r.lockDirectory = f.base + "/locks"
        var o = SessionOptions()
        o.diagnostics = { said?.lines.append($0) }
        o.stopRequested = stop
        r.options = o
        if let date { r.now = { date } }
        return try r.run()
    }

    /// Each call as its argv (fields) and environment line.
    func recorded() throws -> [(argv: [String], env: String)] {
        guard let text = try? String(contentsOfFile: calls, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map { line in
            let parts = line.components(separatedBy: "\t")
            return (Array(parts.dropLast()), parts.last ?? "")
        }
    }

    /// `snapshot --dry-run`, with the same settings as `run`.
    func plan(profile: Int64 = 1) throws -> SnapshotRun.Plan {
        var r = SnapshotRun(config: config, defaultRepository: f.root)
        r.profileID = profile
        r.callbackPath = callback
        r.options.diagnostics = { _ in }
        return try r.plan()
    }

    func reasons() throws -> [String] {
        try recorded().map { c in c.argv[2] + (c.argv[2] == "4" ? "(\(c.argv[3]))" : "") }
    }

    func resetCalls() { unlink(calls) }
}

@Suite struct UserCallbackOrderTests {
    @Test func success() throws {
        let s = try SnapshotFixture()
        let summary = try s.run()
        let sid = try #require(summary.sid)
        #expect(try s.reasons() == ["7", "1", "3", "2", "8"])
        let calls = try s.recorded()
        #expect(calls[0].argv[0] == "1" && calls[0].argv[1] == "Main profile")
        #expect(calls[2].argv == ["1", "Main profile", "3", sid, s.f.root + "/snapshots/" + sid])
        #expect(calls[0].env == "env=1,Main profile,7,\(s.f.root)")
        #expect(summary.newFiles == 2)
        #expect(try s.f.read(s.f.root + "/snapshots/" + sid + s.tree + "/sub/b.txt") == "beta")
    }

    @Test func noChanges() throws {
        let s = try SnapshotFixture()
        _ = try s.run()
        s.resetCalls()
        let second = try s.run()
        #expect(second.sid == nil)
        #expect(try s.reasons() == ["7", "1", "2", "8"])
        #expect(second.filesRead == 0, "an unchanged tree is not read")
        #expect(second.unchangedFiles == 2)
    }

    @Test func failedWithNoSnapshot() throws {
        let s = try SnapshotFixture()
        // The browse view cannot be made: the run fails and records nothing.
        try FileManager.default.removeItem(atPath: s.f.root + "/snapshots")
        try Data().write(to: URL(fileURLWithPath: s.f.root + "/snapshots"))
        expectError(5) { _ = try s.run() }
        #expect(try s.reasons() == ["7", "1", "4(5)", "2", "8"])
        #expect(try s.recorded()[2].argv.count == 5, "reason 4 carries the message")
        #expect(try s.f.bd.snapshots().isEmpty)
        #expect(try Checker(s.f.bd).check(readData: true).ok)
        // The next run does not copy again what the failed one stored.
        unlink(s.f.root + "/snapshots")
        try FS.mkdir(s.f.root + "/snapshots")
        let next = try s.run()
        #expect(next.sid != nil && next.filesRead == 0 && next.unchangedFiles == 2)
    }

    /// Ctrl-C: the run stops between two files, calls back as "failed, no
    /// snapshot" (so reason 8 unmounts what 7 mounted), and keeps the batches it
    /// finished: the next run does not read those files again.
    @Test func interruptedBetweenFiles() throws {
        let s = try SnapshotFixture()
        let flag = s.f.base + "/stop"
        // Hook 2 fires once the first backup exists: from then on a stop is asked.
        try s.f.hook(2, "io.open('\(flag)', 'w'):close()")
        #expect(throws: Interrupted.self) { _ = try s.run(batchSize: 1) { FS.exists(flag) } }
        #expect(try s.reasons() == ["7", "1", "4(5)", "2", "8"])
        #expect(try s.recorded()[2].argv[4].hasPrefix("interrupted: no snapshot recorded"))
        #expect(try s.f.bd.snapshots().isEmpty && s.f.bd.backups().count == 1)
        #expect(try Checker(s.f.bd).check(readData: true).ok)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.f.root + "/tmp").isEmpty)

        unlink(flag)
        let next = try s.run()
        #expect(next.sid != nil && next.unchangedFiles == 1 && next.newFiles == 1 && next.filesRead == 1,
                "the finished file is not read again; the new one is read once, for newbu and newver both")
    }

    /// A snapshot links the new files it stores into its browse view as it
    /// goes (a first snapshot needs no second pass over its files); a run
    /// stopped meanwhile leaves no half-built view, and the next run's holds every file.
    @Test func aStoppedRunLeavesNoHalfBuiltView() throws {
        let s = try SnapshotFixture()
        try FS.mkdir(s.tree + "/many")
        for i in 0..<40 { try s.write("many/f\(i).txt", "file \(i)") }
        let views = s.f.root + "/snapshots"
        // A stop is asked once the view is there: only a view begun during the run is seen so.
        #expect(throws: Interrupted.self) {
            _ = try s.run(batchSize: 4) { ((try? FileManager.default.contentsOfDirectory(atPath: views)) ?? []).contains { $0.hasSuffix(".partial") } }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: views).isEmpty)
        let sid = try #require(try s.run().sid)
        for i in 0..<40 {
            #expect(try s.f.read(views + "/" + sid + s.tree + "/many/f\(i).txt") == "file \(i)")
        }
        #expect(try s.f.read(views + "/" + sid + s.tree + "/sub/b.txt") == "beta")
        #expect(try Checker(s.f.bd).check(readData: true).ok)
    }

    /// A later run's view takes each unchanged file that comes after the
    /// run's first change with the object the walk's window of the catalog
    /// gave (no row read again for it): here the unchanged files' version
    /// rows are damaged where only a second read would decode them. A run
    /// where nothing changed makes no view, not even for a moment.
    @Test func anIncrementalViewTakesUnchangedFilesFromTheWalk() throws {
        let s = try SnapshotFixture()
        try FS.mkdir(s.tree + "/many")
        for i in 0..<40 { try s.write(String(format: "many/f%02d.txt", i), "file \(i)") }
        _ = try #require(try s.run(at: Date(timeIntervalSinceNow: -7200), batchSize: 8).sid)
        try s.write("a.txt", "alpha, changed")   // first in the walk: the view begins with it
        try s.f.bd.write { db in
            try db.execute(sql: "UPDATE version SET mode = 'damaged' WHERE backup IN (SELECT idx FROM backup WHERE instr(path, '/many/') > 0)")
        }
        let views = s.f.root + "/snapshots"
        let second = try s.run(at: Date(timeIntervalSinceNow: -3600), batchSize: 8)
        let sid = try #require(second.sid, "\(second.errors)")
        #expect(second.changedFiles == 1 && second.unchangedFiles == 41 && second.failedFiles == 0, "\(second)")
        #expect(try s.f.read(views + "/" + sid + s.tree + "/a.txt") == "alpha, changed")
        for i in 0..<40 {
            let name = String(format: "many/f%02d.txt", i)
            #expect(try s.f.read(views + "/" + sid + s.tree + "/" + name) == "file \(i)")
            let b = try #require(try s.f.bd.read { try Catalog.backup($0, path: Path(s.tree + "/" + name)) })
            #expect(FS.stat(views + "/" + sid + s.tree + "/" + name)?.st_ino == FS.stat(s.f.bd.objects.path(of: b.data.object))?.st_ino)
        }
        let before = try FileManager.default.contentsOfDirectory(atPath: views).sorted()
        // Nothing changed: a stop asked while a view is there would end the run.
        let third = try s.run { ((try? FileManager.default.contentsOfDirectory(atPath: views)) ?? []).contains { $0.hasSuffix(".partial") } }
        #expect(third.sid == nil && third.unchangedFiles == 42, "\(third)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: views).sorted() == before)
    }

    /// `bmlua update` stores the file's new bytes as the backup's copy, not
    /// as a version: the next snapshot still finds the file changed since
    /// its newest version, and holds what the file is now.
    @Test func aSnapshotAfterAnUpdateHoldsTheFileAsItIsNow() throws {
        let s = try SnapshotFixture()
        _ = try #require(try s.run(at: Date(timeIntervalSinceNow: -7200)).sid)
        try s.write("a.txt", "alpha, updated")
        let a = try s.f.bd.resolve(Path(s.tree + "/a.txt"))
        try s.f.bd.updbu(a.index)
        let second = try s.run(at: Date(timeIntervalSinceNow: -3600))
        let sid = try #require(second.sid, "\(second)")
        #expect(second.changedFiles == 1, "\(second)")
        #expect(try s.f.read(s.f.root + "/snapshots/" + sid + s.tree + "/a.txt") == "alpha, updated")
        let out = s.f.base + "/restored"
        _ = try Restorer(s.f.bd).restore(sid, to: Path(out))
        #expect(try s.f.read(out + s.tree + "/a.txt") == "alpha, updated")
    }

    @Test func takenWithErrors() throws {
        let s = try SnapshotFixture()
        try s.f.hook(1, "if bhin[1]:match('b%.txt$') then error('unreadable, say') end")
        let summary = try s.run()
        #expect(summary.failedFiles == 1 && summary.newFiles == 1)
        #expect(try s.reasons() == ["7", "1", "4(6)", "3", "2", "8"])
        #expect(try s.f.bd.snapshots().first?.status == "with errors")
    }

    /// Each failed file is one line on stderr that names it once.
    @Test func aFailedFileIsNamedOnce() throws {
        let s = try SnapshotFixture()
        try s.f.hook(1, "if bhin[1]:match('b%.txt$') then error('not today') end")
        _ = try s.run()
        try s.write("sub/c.txt", "gamma")
        try s.write("a.txt", "alpha, changed")
        try s.f.hook(6, "if bhin[1]:match('a%.txt$') then passerr(11, 'cannot read ' .. bhin[1]) end")
        let summary = try s.run(at: Date().addingTimeInterval(2))
        #expect(summary.errors.count == 2)
        #expect(summary.errors.contains("error 11: cannot read \(s.tree)/a.txt"))
        #expect(summary.errors.contains { $0.hasPrefix("\(s.tree)/sub/b.txt: error 30: ") && $0.hasSuffix("not today") })
    }

    /// A new file is newbu then newver as one step: when newver fails, no backup is left without its version.
    @Test func aNewFileWhoseVersionFailsLeavesNoBackup() throws {
        let s = try SnapshotFixture()
        try s.f.hook(6, "if bhin[1]:match('b%.txt$') then error('no version for you') end")
        let summary = try s.run()
        #expect(summary.failedFiles == 1 && summary.newFiles == 1)
        #expect(try s.f.bd.read { try Catalog.backups($0) }.map(\.name) == ["a.txt"])
        #expect(try Checker(s.f.bd).check(readData: false).ok)
    }

    @Test func snapshotForNowExists() throws {
        let s = try SnapshotFixture()
        let now = Date()
        let first = try #require(try s.run(at: now).sid)
        try s.write("a.txt", "changed")
        s.resetCalls()
        expectError(4) { _ = try s.run(at: now) }
        #expect(try s.reasons() == ["7", "1", "4(4)", "2", "8"])
        #expect(try s.recorded()[2].argv[4] == first)
    }

    @Test func repositoryMissing() throws {
        let s = try SnapshotFixture()
        s.config = ProfileConfig(path: s.config.path, profiles: [Profile(id: 1, name: "Main profile", repo: s.f.base + "/unmounted", include: [s.tree])])
        expectError(3) { _ = try s.run() }
        #expect(try s.reasons() == ["7", "1", "4(3)", "2", "8"])
    }

    /// Includes that are all missing (a drive not mounted) fail the run, as restic
    /// does, instead of recording an empty snapshot "with errors". One missing
    /// include among others is only a failed file.
    @Test func includesAllMissingFailWithNoSnapshot() throws {
        let s = try SnapshotFixture()
        let gone = [s.f.base + "/unmounted/docs", s.f.base + "/unmounted/photos"]
        s.config = ProfileConfig(path: s.config.path, profiles: [Profile(id: 1, name: "Main profile", include: gone)])
        let e = expectError(5) { _ = try s.run() }
        #expect(e?.message.contains("none of profile 1's include paths exists") == true, "\(String(describing: e))")
        #expect(try s.reasons() == ["7", "1", "4(5)", "2", "8"])
        #expect(try s.f.bd.snapshots().isEmpty && s.f.bd.backups().isEmpty)

        s.resetCalls()
        s.config = ProfileConfig(path: s.config.path, profiles: [Profile(id: 1, name: "Main profile", include: gone + [s.tree])])
        let summary = try s.run()
        #expect(summary.sid != nil && summary.failedFiles == 2 && summary.newFiles == 2)
        #expect(try s.reasons() == ["7", "1", "4(6)", "3", "2", "8"])
    }

    @Test func vetoOnReason1() throws {
        let s = try SnapshotFixture(callbackScript: "[ \"$3\" = 1 ] && exit 1")
        expectError(7) { _ = try s.run() }
        #expect(try s.reasons() == ["7", "1", "8"])
        #expect(try s.f.bd.snapshots().isEmpty && s.f.bd.backups().isEmpty)
    }

    @Test func vetoOnReason7() throws {
        let s = try SnapshotFixture(callbackScript: "[ \"$3\" = 7 ] && exit 1")
        expectError(7) { _ = try s.run() }
        #expect(try s.reasons() == ["7", "8"])
    }

    @Test func notConfigured() throws {
        let s = try SnapshotFixture()
        expectError(1) { _ = try s.run(profile: 5) }
        #expect(try s.reasons() == ["4(1)"])
        s.resetCalls()
        s.config = ProfileConfig(path: s.config.path, profiles: [.main])
        expectError(1) { _ = try s.run() }
        #expect(try s.reasons() == ["4(1)"])
    }

    @Test func alreadyRunning() throws {
        let s = try SnapshotFixture()
        let held = try ProfileLock(profile: 1, directory: s.f.base + "/locks")
        defer { held.release() }
        expectError(2) { _ = try s.run() }
        #expect(try s.reasons() == ["4(2)"])
    }

    @Test func argumentsWithSpacesAndQuotesArriveIntact() throws {
        let name = "Bob's \"weekly\" $HOME `x` ; profile"
        let s = try SnapshotFixture(profileName: name)
        _ = try s.run()
        let calls = try s.recorded()
        #expect(!calls.isEmpty && calls.allSatisfy { $0.argv[1] == name }, "\(calls)")
    }

    @Test func aCallbackPastItsTimeLimitIsKilled() throws {
        // Reason 2 sleeps (with a child holding the pipes): killed, logged, the run goes on to 8.
        let s = try SnapshotFixture(callbackScript: "[ \"$3\" = 2 ] && { sleep 30.25 & sleep 30.5; }")
        let said = Fixture.Sink()
        let summary = try s.run(timeLimit: 0.5, saying: said)
        #expect(summary.sid != nil)
        #expect(said.lines.contains { $0.contains("ran past 0.5 s and was killed (reason 2)") }, "\(said.lines)")
        // A killed process leaves /proc at once; an unkilled one would stay for half a minute.
        let leftovers = ["sleep 30.25", "sleep 30.5"]
        for _ in 0..<100 where leftovers.contains(where: { !processes(holding: $0).isEmpty }) { usleep(10_000) }
        #expect(processes(holding: "sleep 30.25").isEmpty && processes(holding: "sleep 30.5").isEmpty, "the callback's group was killed")
        #expect(try s.reasons() == ["7", "1", "3", "2", "8"])
        // On reason 1 a time-out is a veto.
        let v = try SnapshotFixture(callbackScript: "[ \"$3\" = 1 ] && sleep 30")
        expectError(7) { _ = try v.run(timeLimit: 0.5) }
        #expect(try v.reasons() == ["7", "1", "8"])
    }

    @Test func aCallbackStillOpenForWritingIsWaitedFor() throws {
        // exec fails with ETXTBSY while any process holds the program open for writing
        // (an editor saving it, or a child another thread forked); that passes within moments.
        let s = try SnapshotFixture()
        let writer = open(s.callback, O_WRONLY | O_CLOEXEC)
        #expect(writer >= 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { close(writer) }
        let r = ChildProcess.run(s.callback, arguments: ["1", "p", "7"], environment: [:], timeLimit: 10)
        #expect(r.outcome == .exited(0))
        #expect(try s.reasons() == ["7"])
    }
}

@Suite struct SnapshotContentTests {
    /// A snapshot commits in batches but keeps the writer lock for its whole
    /// run: another writer that got in between two batches would make the
    /// next one fail with error 2.
    @Test func noOtherWriterGetsInBetweenBatches() throws {
        let s = try SnapshotFixture()
        for i in 0..<100 { try s.write("f\(i).txt", "\(i)") }
        let fd = open(s.f.root + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        // Another writer tries the lock all along; once it has seen it held,
        // getting it before the snapshot's last step means a gap.
        let seenHeld = Flag(), gap = Flag(), finished = Flag(), stopped = DispatchSemaphore(value: 0)
        Thread {
            while !finished.isSet {
                if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                    if seenHeld.isSet { gap.set() }
                    flock(fd, LOCK_UN)
                } else {
                    seenHeld.set()
                }
            }
            stopped.signal()
        }.start()
        defer { finished.set() }   // should the run fail before its last report
        var r = SnapshotRun(config: s.config, defaultRepository: s.f.root)
        r.batchSize = 1
        r.lockDirectory = s.f.base + "/locks"
        r.options.diagnostics = { _ in }
        r.options.lockWait = 30   // the other writer's brief turns before the snapshot starts
        // The last report comes with the snapshot's id, still inside the run's lock.
        r.progress = { summary in
            if summary.sid != nil { finished.set(); stopped.wait() }
        }
        #expect(try r.run().newFiles == 102)
        #expect(seenHeld.isSet && !gap.isSet, "another writer took the lock in the middle of the snapshot")
    }

    /// A crash can leave a half-built browse view, or a whole one whose record
    /// was rolled back: gc removes those and keeps every recorded snapshot's.
    @Test func gcRemovesBrowseViewsNoSnapshotHas() throws {
        let s = try SnapshotFixture()
        let sid = try #require(try s.run().sid)
        let views = s.f.root + "/snapshots"
        for leftover in ["/.20990101-000000-001.partial/tmp", "/20990101-000000-002/tmp"] {
            try FS.makeDirectories(views + leftover)
            try Data("x".utf8).write(to: URL(fileURLWithPath: views + leftover + "/a.txt"))
        }
        #expect(try GarbageCollector(s.f.bd).collect().views == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: views) == [sid])
        #expect(try s.f.read(views + "/" + sid + s.tree + "/a.txt") == "alpha")
        #expect(try GarbageCollector(s.f.bd).collect().views == 0)
    }

    /// An include that is a symbolic link (~/Documents -> /data/docs) is
    /// followed; a link inside the tree is kept as a link, not followed.
    @Test func anIncludedLinkIsFollowedButNotLinksInside() throws {
        let s = try SnapshotFixture()
        let link = s.f.base + "/docs"
        #expect(symlink(s.tree, link) == 0)
        #expect(symlink(s.tree + "/sub", s.tree + "/loop") == 0)
        #expect(mkfifo(s.tree + "/pipe", 0o600) == 0)
        s.config = ProfileConfig(path: s.config.path, profiles: [Profile(id: 1, name: "Main profile", include: [link])])
        var r = SnapshotRun(config: s.config, defaultRepository: s.f.root)
        r.lockDirectory = s.f.base + "/locks"
        let said = Fixture.Sink()
        r.options.verbose = true
        r.options.diagnostics = { said.lines.append($0) }
        let summary = try r.run()
        let sid = try #require(summary.sid)
        #expect(try s.f.bd.snapshotFiles(sid).map(\.path.text) == [link + "/a.txt", link + "/sub/b.txt"])
        #expect(try s.f.bd.snapshotLinks(sid).map { [$0.path.text, $0.target.text] } == [[link + "/loop", s.tree + "/sub"]])
        #expect(summary.links == 1 && summary.failedFiles == 0)
        // -v says what was passed over.
        #expect(said.lines.contains("bmlua: skipped \(link)/pipe: a FIFO"), "\(said.lines)")
    }

    /// A symbolic link inside the tree is kept as what it says (as rsync -a and
    /// restic keep it): in the record, the browse view, diff and restore. It
    /// has no data, so it is no backup and no hook fires for it.
    @Test func linksInsideTheTreeAreKeptAsLinks() throws {
        let s = try SnapshotFixture()
        #expect(symlink("sub/b.txt", s.tree + "/rel") == 0)
        #expect(symlink("/nowhere/at all", s.tree + "/sub/dangling") == 0)
        if geteuid() == 0 { lchown(s.tree + "/rel", 4321, 4322) }
        var linkTime = [FS.timespecOf(1_500_000_000_000_000_001), FS.timespecOf(1_500_000_000_000_000_001)]
        #expect(utimensat(AT_FDCWD, s.tree + "/rel", &linkTime, AT_SYMLINK_NOFOLLOW) == 0)
        try s.f.hook(1, "if bhin[1]:find('rel') or bhin[1]:find('dangling') then error('a hook for a link') end")
        let first = try s.run(at: Date(timeIntervalSinceNow: -3600))
        let sid = try #require(first.sid)
        #expect(first.newFiles == 2 && first.links == 2 && first.failedFiles == 0)
        #expect(try s.f.bd.snapshotLinks(sid).map { [$0.path.text, $0.target.text] } == [[s.tree + "/rel", "sub/b.txt"],
                                                                            [s.tree + "/sub/dangling", "/nowhere/at all"]])
        #expect(try s.f.bd.snapshots().first?.links == 2)
        #expect(try s.f.bd.backups().count == 2)   // no backup for a link
        // The browse view holds the links themselves; the relative one resolves inside the view.
        let view = s.f.root + "/snapshots/" + sid + s.tree
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: view + "/rel") == "sub/b.txt")
        #expect(try s.f.read(view + "/rel") == "beta")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: view + "/sub/dangling") == "/nowhere/at all")

        // Nothing changed, links included: no snapshot.
        #expect(try s.run().sid == nil)
        // A link that points elsewhere is a change on its own.
        unlink(s.tree + "/rel")
        #expect(symlink("a.txt", s.tree + "/rel") == 0)
        let second = try #require(try s.run().sid)
        #expect(try Differ(s.f.bd).diff(sid, second).map { "\($0.change.mark) \($0.path.baseName.text)" } == ["M rel"])

        // Restored as links, with their targets verbatim.
        let out = s.f.base + "/out"
        let r = try s.f.bd.restore(sid, to: out)
        #expect(r.failed.isEmpty && r.restored.count == 4 && r.links == 2)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out + s.tree + "/rel") == "sub/b.txt")
        if geteuid() == 0 { #expect(FS.stat(out + s.tree + "/rel", follow: false)?.st_uid == 4321) }   // only root gives links away
        #expect(FS.stat(out + s.tree + "/rel", follow: false).map { FS.nanoseconds($0.st_mtim) } == 1_500_000_000_000_000_001)
        #expect(try s.f.read(out + s.tree + "/rel") == "beta")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out + s.tree + "/sub/dangling") == "/nowhere/at all")
        // In place, an existing link is replaced only with --overwrite, and whole.
        let refused = try s.f.bd.restore(sid, path: s.tree + "/rel")
        #expect(refused.failed.map(\.number) == [15] && refused.restored.isEmpty)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: s.tree + "/rel") == "a.txt")
        #expect(try s.f.bd.restore(sid, path: s.tree + "/rel", overwrite: true).restored == [s.tree + "/rel"])
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: s.tree + "/rel") == "sub/b.txt")
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.tree).sorted() == ["a.txt", "rel", "sub"])
        // A folder where the link was is never replaced.
        try FS.makeDirectories(out + "/folder" + s.tree + "/sub/dangling")
        let folder = try s.f.bd.restore(sid, path: s.tree + "/sub/dangling", to: out + "/folder", overwrite: true)
        #expect(folder.failed.map(\.number) == [12])

        // Removing the snapshot removes the tree nodes only it held, its links with them.
        let treeRows = { try s.f.bd.dumpCatalog().split(separator: "\n").filter { $0.hasPrefix("tree:") }.count }
        let before = try treeRows()
        try s.f.bd.removeSnapshot(sid)
        let held = try s.f.bd.read { db in
            var nodes = Set<Int64>()
            _ = try SnapshotContents.versions(db, roots: [try SnapshotContents.root(db, second)], visited: &nodes)
            return nodes.count
        }
        #expect(try treeRows() == held && held < before)
        #expect(try s.f.bd.snapshotLinks(second).count == 2)
    }

    /// Folders are kept as rsync -a and restic keep them: an empty one comes
    /// back, and each gets its mode and mtime again.
    @Test func foldersComeBackWithTheirModeAndTime() throws {
        let s = try SnapshotFixture()
        try FS.makeDirectories(s.tree + "/empty/deeper")
        chmod(s.tree + "/sub", 0o750)
        if geteuid() == 0 { chown(s.tree + "/sub", 4321, 4322) }
        var tag = ExtendedAttributes()
        tag.entries = [(Array("user.colour".utf8), Array("red".utf8))]
        let folder = open(s.tree + "/sub", O_RDONLY | O_DIRECTORY)
        tag.apply(to: folder)
        close(folder)
        let then = FS.timespecOf(1_600_000_000_123_456_789)
        for folder in ["/sub", "/empty/deeper"] {
            var times = [then, then]
            #expect(utimensat(AT_FDCWD, s.tree + folder, &times, 0) == 0)
        }
        let sid = try #require(try s.run(at: Date(timeIntervalSinceNow: -3600)).sid)
        #expect(FS.isDirectory(s.f.root + "/snapshots/" + sid + s.tree + "/empty/deeper"))

        // A file that comes and goes moves its folder's mtime only: no change.
        try s.write("sub/brief.txt", "gone soon")
        unlink(s.tree + "/sub/brief.txt")
        #expect(try s.run().sid == nil)
        // A new empty folder is a change.
        try FS.makeDirectories(s.tree + "/empty/new")
        #expect(try s.run(at: Date(timeIntervalSinceNow: -1800)).sid != nil)
        let second = try #require(try s.f.bd.snapshots().last?.sid)
        #expect(try Differ(s.f.bd).diff(sid, second).map { "\($0.change.mark) \($0.path.text.dropFirst(s.tree.count))" } == ["+ /empty/new/"])
        // So is a folder's new mode.
        chmod(s.tree + "/empty", 0o700)
        let third = try #require(try s.run().sid)
        #expect(try Differ(s.f.bd).diff(second, third).map { "\($0.change.mark) \($0.path.text.dropFirst(s.tree.count))" } == ["M /empty/"])
        // And new extended attributes: what makes a snapshot is what diff shows.
        var colour = ExtendedAttributes()
        colour.entries = [(Array("user.colour".utf8), Array("blue".utf8))]
        let empty = open(s.tree + "/empty", O_RDONLY | O_DIRECTORY)
        colour.apply(to: empty)
        close(empty)
        let fourth = try #require(try s.run(at: Date(timeIntervalSinceNow: 60)).sid)
        #expect(try Differ(s.f.bd).diff(third, fourth).map { "\($0.change.mark) \($0.path.text.dropFirst(s.tree.count))" } == ["M /empty/"])

        let out = s.f.base + "/out"
        let r = try s.f.bd.restore(sid, to: out)
        #expect(r.failed.isEmpty && r.restored.count == 2)
        let deeper = try #require(FS.stat(out + s.tree + "/empty/deeper"))
        #expect(deeper.st_mode & S_IFMT == S_IFDIR && FS.nanoseconds(deeper.st_mtim) == 1_600_000_000_123_456_789)
        let sub = try #require(FS.stat(out + s.tree + "/sub"))
        #expect(sub.st_mode & 0o7777 == 0o750 && FS.nanoseconds(sub.st_mtim) == 1_600_000_000_123_456_789)
        if geteuid() == 0 { #expect(sub.st_uid == 4321 && sub.st_gid == 4322) }   // only root gives folders away
        #expect(ExtendedAttributes.read(out + s.tree + "/sub") == tag)
        #expect(!FS.exists(out + s.tree + "/empty/new"))
        // In place and not told to overwrite, a folder that is there keeps its own mode.
        _ = try s.f.bd.restore(sid, path: s.tree + "/empty")
        #expect(FS.stat(s.tree + "/empty")!.st_mode & 0o7777 == 0o700)
        _ = try s.f.bd.restore(sid, path: s.tree + "/empty", overwrite: true)
        #expect(FS.stat(s.tree + "/empty")!.st_mode & 0o7777 != 0o700)
        // An empty folder alone is something to restore, not "no file there".
        rmdir(s.tree + "/empty/deeper")
        _ = try s.f.bd.restore(sid, path: s.tree + "/empty/deeper")
        #expect(FS.isDirectory(s.tree + "/empty/deeper"))
        // A path the snapshot has nothing at or under is error 10.
        expectError(10) { _ = try s.f.bd.restore(sid, path: s.tree + "/empty/new") }
    }

    /// `snapshot --dry-run` says what a run would store, and changes nothing:
    /// no hook, no user-callback, no object, no catalog row.
    @Test func aDryRunSaysWhatWouldBeStoredAndStoresNothing() throws {
        let s = try SnapshotFixture()
        try s.f.hook(1, "error('no hook in a dry run')")
        let first = try s.plan()
        #expect(first.new.map(\.baseName.text) == ["a.txt", "b.txt"] && first.changed.isEmpty && first.bytes == 9)
        #expect(try s.f.bd.backups().isEmpty && s.recorded().isEmpty)
        try s.f.hook(1, "")
        _ = try s.run(at: Date(timeIntervalSinceNow: -60))
        try s.write("a.txt", "alpha, edited")
        try s.write("c.txt", "new")
        let before = try s.f.state()
        s.resetCalls()
        let second = try s.plan()
        #expect(second.new.map(\.text) == [s.tree + "/c.txt"] && second.changed.map(\.text) == [s.tree + "/a.txt"] && second.unchanged == 1)
        #expect(try s.f.state() == before && s.recorded().isEmpty)
        // What a run then does is what the plan said.
        let taken = try s.run()
        #expect(taken.newFiles == 1 && taken.changedFiles == 1 && taken.unchangedFiles == 1)
        expectError(1) { _ = try s.plan(profile: 9) }
    }

    /// Files hard-linked to each other come back linked, as rsync -H (Back In
    /// Time), restic and borg restore them: the first is written (hook 4 fires),
    /// the others are links of it. Equal data in unlinked files stays apart.
    @Test func hardLinkedFilesComeBackLinked() throws {
        let s = try SnapshotFixture()
        try s.write("x.txt", "shared")
        #expect(link(s.tree + "/x.txt", s.tree + "/sub/y.txt") == 0)
        try s.write("z.txt", "shared")
        let sid = try #require(try s.run().sid)
        let files = try s.f.bd.snapshotFiles(sid)
        let group = Dictionary(files.map { ($0.path.baseName.text, $0.hardlink) }, uniquingKeysWith: { a, _ in a })
        #expect(group["x.txt"]! != nil && group["x.txt"] == group["y.txt"] && group["z.txt"]! == nil && group["a.txt"]! == nil)
        try s.f.hook(4, "restores = (restores or 0) + 1")
        let out = s.f.base + "/out"
        let r = try s.f.bd.restore(sid, to: out)
        #expect(r.failed.isEmpty && r.restored.count == 5)
        let inode = { (name: String) in FS.stat(out + s.tree + "/" + name)?.st_ino }
        #expect(inode("x.txt") != nil && inode("x.txt") == inode("sub/y.txt") && inode("z.txt") != inode("x.txt"))
        #expect(try s.f.read(out + s.tree + "/sub/y.txt") == "shared")
        #expect(try s.f.global("restores") == 4, "one hook 4 per file written, none per link")
        // Only one of them asked for: it is written, there being nothing to link it to.
        let alone = try s.f.bd.restore(sid, path: s.tree + "/sub", to: s.f.base + "/alone")
        #expect(alone.failed.isEmpty && alone.restored.count == 2)
        #expect(try s.f.read(s.f.base + "/alone" + s.tree + "/sub/y.txt") == "shared")
        // An existing file is replaced by the link only when told.
        let again = try s.f.bd.restore(sid, to: out)
        #expect(again.failed.allSatisfy { $0.number == 15 } && again.failed.count == 5)
    }

    /// A restore's workers write one group of files while the next is made
    /// ready: a hard link whose first file is in the group still being
    /// written is linked to it once it is, not written again.
    @Test func aHardLinkInALaterGroupOfTheRestoreIsLinkedToItsFirst() throws {
        let s = try SnapshotFixture()
        for folder in ["a0", "m", "z"] { #expect(mkdir(s.tree + "/" + folder, 0o755) == 0) }
        try s.write("a0/x.txt", "shared")
        for i in 0..<(Restorer.groupSize + 10) { try s.write(String(format: "m/f%04d.txt", i), "\(i)") }
        #expect(link(s.tree + "/a0/x.txt", s.tree + "/z/y.txt") == 0)
        let sid = try #require(try s.run().sid)
        let out = s.f.base + "/out"
        let r = try s.f.bd.restore(sid, to: out)
        #expect(r.failed.isEmpty && r.restored.count == Restorer.groupSize + 14)
        let inode = { (name: String) in FS.stat(out + s.tree + "/" + name)?.st_ino }
        #expect(inode("a0/x.txt") != nil && inode("a0/x.txt") == inode("z/y.txt"))
        #expect(try s.f.read(out + s.tree + "/z/y.txt") == "shared" && s.f.read(out + s.tree + "/m/f0265.txt") == "265")
    }

    /// Restoring in place without --overwrite: a file already there as the
    /// snapshot has it is left alone (as rsync and restic's --overwrite
    /// if-changed), so bringing back one lost file is no error; a file that
    /// differs in its bytes or its mode is still error 15, and kept.
    @Test func aFileAlreadyThereAsTheSnapshotHasItIsLeftAlone() throws {
        let s = try SnapshotFixture()
        try s.write("c.txt", "gamma")
        try s.write("d.txt", "delta")
        #expect(link(s.tree + "/a.txt", s.tree + "/sub/a-link.txt") == 0)
        let sid = try #require(try s.run().sid)
        unlink(s.tree + "/sub/b.txt")            // lost
        unlink(s.tree + "/sub/a-link.txt")       // lost, its twin still there
        try s.write("c.txt", "gamma, edited")    // changed since
        chmod(s.tree + "/d.txt", 0o600)          // the same bytes, another mode
        let r = try s.f.bd.restore(sid)
        #expect(Set(r.restored) == [s.tree + "/sub/b.txt", s.tree + "/sub/a-link.txt"])
        #expect(r.unchanged == [s.tree + "/a.txt"])
        #expect(Set(r.failed.map(\.path.text)) == [s.tree + "/c.txt", s.tree + "/d.txt"] && r.failed.allSatisfy { $0.number == 15 })
        #expect(try s.f.read(s.tree + "/c.txt") == "gamma, edited")
        #expect(FS.stat(s.tree + "/sub/a-link.txt")?.st_ino == FS.stat(s.tree + "/a.txt")?.st_ino, "linked to its twin again")
        // Done again, the restored files are already there too.
        #expect(try s.f.bd.restore(sid).unchanged.count == 3)
        // Hook 4 may make other bytes of the stored data: then nothing is taken as already there.
        try s.f.hook(4, "restores = (restores or 0) + 1")
        let hooked = try s.f.bd.restore(sid)
        #expect(hooked.unchanged.isEmpty && hooked.failed.count == 5 && hooked.failed.allSatisfy { $0.number == 15 })
        #expect(try s.f.global("restores").isNil, "refused before hook 4")
    }

    /// A repository made before owners, links and folders were kept opens, and its next snapshot keeps them.
    @Test func aRepositoryFromBeforeOwnersAndLinksIsMigrated() throws {
        let s = try SnapshotFixture()
        let old = try #require(try s.run(at: Date(timeIntervalSinceNow: -3600)).sid)
        s.f.bd.close()
        let queue = try DatabaseQueue(path: s.f.root + "/catalog.sqlite")
        try queue.write { db in
            // Back to v2's snapshot rows: one per file.
            try db.execute(sql: """
                CREATE TABLE snapshot_entry (
                    sid TEXT NOT NULL REFERENCES snapshot(sid) ON DELETE CASCADE,
                    backup INTEGER NOT NULL REFERENCES backup(idx) ON DELETE CASCADE,
                    version INTEGER NOT NULL,
                    PRIMARY KEY (sid, backup)
                );
                CREATE INDEX snapshot_entry_version ON snapshot_entry(backup, version);
                CREATE TABLE snapshot_v2 (sid TEXT PRIMARY KEY, profile INTEGER NOT NULL, time REAL NOT NULL, status TEXT NOT NULL);
                INSERT INTO snapshot_v2 SELECT sid, profile, time, status FROM snapshot;
                DROP TABLE snapshot; ALTER TABLE snapshot_v2 RENAME TO snapshot; DROP TABLE tree;
                INSERT INTO snapshot_entry SELECT '\(old)', idx, 1 FROM backup;
                ALTER TABLE backup DROP COLUMN uid; ALTER TABLE backup DROP COLUMN gid;
                ALTER TABLE version DROP COLUMN uid; ALTER TABLE version DROP COLUMN gid;
                ALTER TABLE backup DROP COLUMN xattrs; ALTER TABLE version DROP COLUMN xattrs;
                DELETE FROM grdb_migrations WHERE identifier LIKE 'v3:%' OR identifier LIKE 'v5:%'
                """)
        }
        try queue.close()
        let bd = try BackupDatabase(at: s.f.root)
        defer { bd.close() }
        #expect(try bd.snapshots().map { "\($0.sid) \($0.files) \($0.links)" } == ["\(old) 2 0"])
        // What was stored before owners were recorded restores as it did: the owner is unknown.
        let a = try bd.resolve(s.tree + "/a.txt")
        #expect(try a.data.owner == nil && bd.versions(of: a.index).allSatisfy { $0.data.owner == nil })
        #expect(try bd.restbu(a.index, version: 1, to: s.f.base + "/a.txt") == s.f.base + "/a.txt")
        #expect(symlink("a.txt", s.tree + "/link") == 0)
        let sid = try #require(try s.run().sid)
        #expect(try bd.snapshotLinks(sid).map { [$0.path.text, $0.target.text] } == [[s.tree + "/link", "a.txt"]])
    }

    /// Deleting a backup takes its file out of the snapshots that hold it, and
    /// out of their browse views, only once the deletion is committed.
    @Test func deletingABackupTakesItOutOfSnapshotsAndViews() throws {
        let s = try SnapshotFixture()
        let sid = try #require(try s.run().sid)
        let a = try s.f.bd.resolve(s.tree + "/a.txt").index
        let view = s.f.root + "/snapshots/" + sid + s.tree + "/a.txt"
        // Rolled back with the operation that called it: the view keeps the file.
        try s.f.hook(2, "delbu(\(a)); error('changed my mind')")
        expectError(30) { try s.f.bd.newbu(try s.f.file("other.txt", "o")) }
        #expect(try FS.exists(view) && s.f.bd.snapshotFiles(sid).count == 2)
        try s.f.hook(2, "")
        #expect(try s.f.bd.delbu(a) == [sid])
        #expect(try s.f.bd.snapshotFiles(sid).map { $0.path.baseName.text } == ["b.txt"])
        #expect(!FS.exists(view) && FS.exists(s.f.root + "/snapshots/" + sid + s.tree + "/sub/b.txt"))
    }

    /// `snapshots diff`: restic's + - M, by original path; a touched file with the same data is no change.
    @Test func diffShowsAddedRemovedAndModifiedFiles() throws {
        let s = try SnapshotFixture()
        try s.write("same.txt", "same")
        let first = try #require(try s.run(at: Date(timeIntervalSinceNow: -3600)).sid)
        try s.write("a.txt", "alpha, edited")
        unlink(s.tree + "/sub/b.txt")
        try s.write("d.txt", "new later")
        try s.write("same.txt", "same")   // rewritten: a new mtime, the same data
        let second = try #require(try s.run().sid)
        let diff = try Differ(s.f.bd).diff(first, second)
        #expect(diff.map { "\($0.change.mark) \($0.path.baseName.text)" } == ["M a.txt", "+ d.txt", "- b.txt"])
        #expect(try Differ(s.f.bd).diff(second, first).map(\.change) == [.modified, .removed, .added])
        #expect(try Differ(s.f.bd).diff(first, first).isEmpty)
        expectError(22) { _ = try Differ(s.f.bd).diff(first, "20000101-000000-000") }
    }

    @Test func restoredSnapshotIsTheTreeAtThatTime() throws {
        let s = try SnapshotFixture()
        try s.write("c.bin", String(repeating: "x", count: 100_000))
        let first = try #require(try s.run(at: Date(timeIntervalSinceNow: -3600)).sid)
        try s.write("a.txt", "alpha, edited")
        unlink(s.tree + "/sub/b.txt")
        try s.write("d.txt", "new later")
        let second = try #require(try s.run().sid)
        #expect(first != second)
        let out = s.f.base + "/out"
        let r = try s.f.bd.restore(first, to: out)
        #expect(r.failed.isEmpty && r.restored.count == 3)
        #expect(try s.f.read(out + s.tree + "/a.txt") == "alpha")
        #expect(try s.f.read(out + s.tree + "/sub/b.txt") == "beta")
        #expect(try s.f.read(out + s.tree + "/c.bin") == String(repeating: "x", count: 100_000))
        #expect(!FS.exists(out + s.tree + "/d.txt"))
        #expect(try s.f.bd.snapshotFiles(second).count == 3)
        // Only a sub-folder, in place, refuses to overwrite without --overwrite.
        let inPlace = try s.f.bd.restore(first, path: s.tree + "/a.txt")
        #expect(inPlace.failed.first?.number == 15)
        _ = try s.f.bd.restore(first, path: s.tree + "/a.txt", overwrite: true)
        #expect(try s.f.read(s.tree + "/a.txt") == "alpha")
    }

    /// Ctrl-C during `snapshots restore`: the file in hand is finished, no temp
    /// file is left beside a user's file, and the error says how far it got.
    @Test func interruptedRestoreStopsBetweenFiles() throws {
        let s = try SnapshotFixture()
        let sid = try #require(try s.run().sid)
        let flag = s.f.base + "/stop", out = s.f.base + "/out"
        try s.f.hook(4, "io.open('\(flag)', 'w'):close()")
        s.f.bd.options.stopRequested = { FS.exists(flag) }
        let e = #expect(throws: Interrupted.self) { _ = try s.f.bd.restore(sid, to: out) }
        #expect(e?.progress == "1 of 2 files restored")
        #expect(try s.f.read(out + s.tree + "/a.txt") == "alpha" && !FS.exists(out + s.tree + "/sub"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: out + s.tree) == ["a.txt"])
    }

    @Test func excludesAndGroups() throws {
        let s = try SnapshotFixture()
        try s.write("skip.tmp", "no")
        s.config = ProfileConfig(path: s.config.path, profiles: [Profile(id: 1, name: "Main profile", include: [s.tree], exclude: ["*.tmp", s.tree + "/sub"])])
        let sid = try #require(try s.run().sid)
        #expect(try s.f.bd.snapshotFiles(sid).map { $0.path.baseName.text } == ["a.txt"])
        let all = try s.f.bd.backups()
        #expect(!all.isEmpty && all.allSatisfy { $0.group == 1 })
    }

    @Test func pruneKeepsWhatKeptSnapshotsUseAndFiresHook8() throws {
        let s = try SnapshotFixture()
        let t0 = Date(timeIntervalSinceNow: -10 * 86400)
        for day in 0..<3 {
            try s.write("a.txt", "day \(day)")
            _ = try s.run(at: t0.addingTimeInterval(Double(day) * 86400))
        }
        try s.f.hook(8, "deleted = (deleted or 0) + 1")
        let a = try s.f.bd.resolve(s.tree + "/a.txt").index
        #expect(try s.f.bd.versions(of: a).count == 3)
        // A dry run says what would go and changes nothing.
        let before = try s.f.state()
        let plan = try Retention(s.f.bd).prune(.init(last: 1), dryRun: true)
        #expect(plan.removed.count == 2 && plan.versions == 2)
        #expect(try s.f.state() == before)
        #expect(try s.f.global("deleted") == .nil, "a dry run fires no hook")
        let r = try Retention(s.f.bd).prune(.init(last: 1))
        #expect(r.removed == plan.removed && r.versions == plan.versions)
        // a.txt's two old versions go; b.txt's only version is used by the kept snapshot.
        #expect(try s.f.bd.versions(of: a).map(\.index) == [3])
        #expect(try s.f.bd.versions(of: s.f.bd.resolve(s.tree + "/sub/b.txt").index).count == 1)
        #expect(try s.f.global("deleted") == 2)
        #expect(try s.f.bd.snapshots().count == 1)
        expectError(22) { _ = try Retention(s.f.bd).prune(.init()) }
    }

    /// `prune --forget-deleted`: a snapshot-made backup of a file gone from disk
    /// goes once nothing holds it; a manual backup, or a file still there, stays.
    @Test func pruneForgetsBackupsOfDeletedFilesWhenAsked() throws {
        let s = try SnapshotFixture()
        let t0 = Date(timeIntervalSinceNow: -10 * 86400)
        _ = try s.run(at: t0)
        let manual = try s.f.bd.newbu(try s.f.file("manual.txt", "kept by hand"))
        unlink(s.f.work + "/manual.txt")
        unlink(s.tree + "/sub/b.txt")
        try s.write("a.txt", "alpha, later")
        _ = try s.run(at: t0.addingTimeInterval(86400))
        try s.f.hook(5, "deleted = (deleted or '') .. bhin[3] .. ' '")
        let before = try s.f.state()
        let plan = try Retention(s.f.bd).prune(.init(last: 1), dryRun: true, forgetDeleted: true)
        #expect(plan.removed.count == 1 && plan.versions == 2 && plan.backups == 1)
        #expect(try s.f.state() == before)
        let r = try Retention(s.f.bd).prune(.init(last: 1), forgetDeleted: true)
        #expect(r.versions == 2 && r.backups == 1)
        #expect(try s.f.global("deleted") == "b.txt ")
        #expect(try s.f.bd.read { try Catalog.backups($0) }.map(\.name).sorted() == ["a.txt", "manual.txt"])
        #expect(try s.f.bd.backup(manual).name == "manual.txt")
    }

    @Test func profilesRoundTripThroughTheConfigFile() throws {
        let f = try Fixture()
        var c = try ProfileConfig.load(f.base + "/cfg/config.toml")
        #expect(c.profiles == [.main])
        let p = try c.add(name: "Work \"laptop\"", repo: f.base + "/nas")
        try c.update(p.id) { $0.include = ["/home/me/work"]; $0.exclude = ["*.o", "build"] }
        let again = try ProfileConfig.load(f.base + "/cfg/config.toml")
        #expect(again.profiles == c.profiles)
        #expect(again.profile(2)?.name == "Work \"laptop\"")
    }
}

/// A flag two threads share.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// restic's keep policy, on snapshots made up for it (UTC, so the buckets are plain).
@Suite struct PrunePolicyTests {
    var utc: Calendar { var c = Calendar(identifier: .iso8601); c.timeZone = TimeZone(identifier: "UTC")!; return c }

    /// Snapshots named by their time, "2026-03-02 10:05".
    func snapshots(_ times: [String]) -> [Snapshot] {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return times.map { Snapshot(sid: $0, profile: 1, time: f.date(from: $0)!, status: "ok", files: 1) }
    }

    func kept(_ policy: PrunePolicy, _ times: [String]) -> [String] {
        policy.kept(snapshots(times), calendar: utc).sorted()
    }

    @Test func eachBucketKeepsItsNewestSnapshot() {
        let times = ["2025-12-31 23:00", "2026-01-05 09:00", "2026-03-01 10:05", "2026-03-01 10:30", "2026-03-01 11:10",
                     "2026-03-02 08:00", "2026-03-09 08:00"]
        #expect(kept(.init(last: 2), times) == ["2026-03-02 08:00", "2026-03-09 08:00"])
        #expect(kept(.init(hourly: 3), times) == ["2026-03-01 11:10", "2026-03-02 08:00", "2026-03-09 08:00"])
        #expect(kept(.init(hourly: 4), times) == ["2026-03-01 10:30", "2026-03-01 11:10", "2026-03-02 08:00", "2026-03-09 08:00"])
        #expect(kept(.init(daily: 3), times) == ["2026-03-01 11:10", "2026-03-02 08:00", "2026-03-09 08:00"])
        // 2026-03-01 is a Sunday: ISO weeks start on Monday.
        #expect(kept(.init(weekly: 3), times) == ["2026-03-01 11:10", "2026-03-02 08:00", "2026-03-09 08:00"])
        #expect(kept(.init(monthly: 2), times) == ["2026-01-05 09:00", "2026-03-09 08:00"])
        #expect(kept(.init(yearly: 5), times) == ["2025-12-31 23:00", "2026-03-09 08:00"])
        // Rules add up; a snapshot kept twice is kept once.
        #expect(kept(.init(last: 1, yearly: 1), times) == ["2026-03-09 08:00"])
        #expect(kept(.init(last: 1, monthly: 2), times) == ["2026-01-05 09:00", "2026-03-09 08:00"])
        #expect(kept(.init(), times).isEmpty)
    }

    /// As restic: within the duration of the newest snapshot, not of now.
    @Test func withinCountsBackFromTheNewestSnapshot() {
        let times = ["2025-03-09 08:00", "2026-03-01 10:05", "2026-03-07 09:00", "2026-03-07 08:00", "2026-03-09 08:00"]
        let within = { (d: String) in PrunePolicy(within: PrunePolicy.duration(d)!) }
        #expect(kept(within("2d"), times) == ["2026-03-07 09:00", "2026-03-09 08:00"])
        #expect(kept(within("2d1h"), times) == ["2026-03-07 08:00", "2026-03-07 09:00", "2026-03-09 08:00"].sorted())
        #expect(kept(within("1m"), times) == ["2026-03-01 10:05", "2026-03-07 08:00", "2026-03-07 09:00", "2026-03-09 08:00"])
        #expect(kept(within("1y"), times).count == 4)
        #expect(kept(within("1y1h"), times).count == 5)
    }

    @Test func durationsAreWrittenAsRestic() {
        let d = PrunePolicy.duration
        #expect(d("1y6m") == DateComponents(year: 1, month: 6))
        #expect(d("14d12h") == DateComponents(day: 14, hour: 12))
        #expect(d("36h") == DateComponents(hour: 36))
        for bad in ["", "5", "d", "3w", "1.5d", "-2d", "2d3"] { #expect(d(bad) == nil, "\(bad)") }
    }
}

/// Processes whose command line holds `marker`.
func processes(holding marker: String) -> [String] {
    let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return pids.filter { $0.first?.isNumber == true }.filter { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(marker)
    }
}
