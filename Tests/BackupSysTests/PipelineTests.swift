import Foundation
import Synchronization
import Testing
@testable import BackupSys
import TestSupport

/// A snapshot's file workers read, hash and stage new and changed files
/// while hooks and the catalog keep to one thread, in walk order.
@Suite struct PipelineTests {
    /// 360 files in six folders: empty ones, equal ones (staged twice in one
    /// batch, stored once), some of 3 MiB (several chunks), the rest of random bytes.
    func makeTree(_ s: SnapshotFixture) throws -> [String: Data] {
        var generator = SystemRandomNumberGenerator()
        var files: [String: Data] = [:]
        for i in 0..<360 {
            let name = String(format: "d%d/f%03d.bin", i % 6, i)
            let data: Data
            switch i % 10 {
            case 0: data = Data()
            case 3: data = Data("the same bytes".utf8)
            default:
                let size = i % 97 == 1 ? 3 << 20 : Int.random(in: 1...20_000, using: &generator)
                data = Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) })
            }
            try FileManager.default.createDirectory(atPath: s.tree + "/d\(i % 6)", withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: s.tree + "/" + name))
            files[name] = data
        }
        return files
    }

    /// The repository checks out, and the run's snapshot restores to `files`, byte for byte.
    func expectWhole(_ s: SnapshotFixture, _ summary: SnapshotRun.Summary, _ files: [String: Data]) throws {
        #expect(try Checker(s.f.bd).check(readData: true).ok)
        let out = s.f.base + "/restored"
        let restored = try Restorer(s.f.bd).restore(try #require(summary.sid), to: Path(out))
        #expect(restored.failed.isEmpty)
        for (name, data) in files { #expect(FileManager.default.contents(atPath: out + s.tree + "/" + name) == data, "\(name)") }
    }

    func tmpIsEmpty(_ s: SnapshotFixture) throws -> Bool {
        try FileManager.default.contentsOfDirectory(atPath: s.f.root + "/tmp").isEmpty
    }

    @Test func filesReadByWorkersAreStoredAndRestoredExactlyWithHooksInWalkOrder() throws {
        let s = try SnapshotFixture()
        let files = try makeTree(s)
        let log = s.f.base + "/hook2.log"
        // Hook 2 logs every file and fails those whose number ends in 7: they are
        // "with errors", and what a worker staged for them is not left behind.
        try s.f.hook(2, "local f = io.open('\(log)', 'a') f:write(bhin[1], '\\n') f:close() if bhin[1]:match('7%.bin$') then error('not this one') end")
        let summary = try s.run(batchSize: 50, workers: 4)
        let failing = files.keys.filter { $0.hasSuffix("7.bin") }.count
        #expect(summary.failedFiles == failing && summary.newFiles == files.count + 2 - failing, "\(summary)")
        let logged = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(logged.count == files.count + 2)
        #expect(logged.map { Array($0.utf8) } == logged.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }, "hook 2 saw the files out of walk order")
        #expect(try tmpIsEmpty(s))
        #expect(try Checker(s.f.bd).check(readData: true).ok)
        // Equal files share one object; the empty ones another.
        let objects = try Repository.objectsForTests(s.f.root)
        #expect(objects.count == Set(files.filter { !$0.key.hasSuffix("7.bin") }.values).count + 2, "\(objects.count)")

        let sid = try #require(summary.sid)
        let out = s.f.base + "/restored"
        _ = try Restorer(s.f.bd).restore(sid, to: Path(out))
        for (name, data) in files where !name.hasSuffix("7.bin") {
            #expect(FileManager.default.contents(atPath: out + s.tree + "/" + name) == data, "\(name)")
        }
    }

    /// What a run looked up ahead of the hooks is looked up again once a hook
    /// has written to the catalog: here the first file's hook 6 deletes every
    /// other backup, so files read as unchanged a moment before are new again
    /// and stored, and the snapshot names no backup that is gone.
    @Test func filesAHookDeletedTheBackupsOfAreStoredAgain() throws {
        let s = try SnapshotFixture()
        let files = try makeTree(s)
        #expect(try s.run(at: Date(timeIntervalSince1970: 1_800_000_000), batchSize: 50, workers: 4).sid != nil)
        try s.write("a.txt", "alpha, changed")   // the first file of the walk
        try s.f.hook(6, """
            if bhin[1]:match('/a%.txt$') then
              for _, b in ipairs(backups()) do if b.index ~= bhin[4] then delbu(b.index) end end
            end
            """)
        let summary = try s.run(at: Date(timeIntervalSince1970: 1_800_000_060), batchSize: 50, workers: 4)
        #expect(summary.failedFiles == 0 && summary.changedFiles == 1 && summary.newFiles == files.count + 1, "\(summary)")
        try expectWhole(s, summary, files)
    }

    /// A hook that changes more than a savepoint keeps in memory (its
    /// sub-journal spills to a temporary file) and then fails takes all of
    /// it back: every backup it deleted is there again, and the rest of the
    /// run goes on. A sub-journal SQLite cannot spill fails the file with
    /// "database or disk is full" and ends the run's transaction.
    @Test func aFailingHookThatChangedMuchLeavesNothingChanged() throws {
        let s = try SnapshotFixture()
        let files = try makeTree(s)
        #expect(try s.run(at: Date(timeIntervalSince1970: 1_800_000_000), batchSize: 50, workers: 4).sid != nil)
        let before = try s.f.bd.backups()
        try s.write("a.txt", "alpha, changed")   // the first file of the walk
        try s.f.hook(6, """
            if bhin[1]:match('/a%.txt$') then
              for _, b in ipairs(backups()) do if b.index ~= bhin[4] then delbu(b.index) end end
              error('changed my mind')
            end
            """)
        let summary = try s.run(at: Date(timeIntervalSince1970: 1_800_000_060), batchSize: 50, workers: 4)
        #expect(summary.failedFiles == 1 && summary.unchangedFiles == files.count + 1, "\(summary)")
        #expect(try s.f.bd.backups().map(\.index) == before.map(\.index))
        #expect(try Checker(s.f.bd).check(readData: true).ok)
    }

    /// And files a hook stored meanwhile (a backup and a version each) are
    /// unchanged when their turn comes: what the workers read of them goes.
    @Test func filesAHookStoredMeanwhileAreNotStoredTwice() throws {
        let s = try SnapshotFixture()
        let files = try makeTree(s)
        try s.f.hook(2, """
            if bhin[1]:match('/a%.txt$') then
              for i = 0, 354, 6 do newver(newbu('\(s.tree)/' .. string.format('d0/f%03d.bin', i))) end
            end
            """)
        let summary = try s.run(batchSize: 50, workers: 4)
        #expect(summary.failedFiles == 0 && summary.unchangedFiles == 60 && summary.newFiles == files.count + 2 - 60, "\(summary)")
        #expect(summary.readsDropped == 60, "the workers had read d0's files, in the groups handed over before the hook ran")
        #expect(try tmpIsEmpty(s))
        try expectWhole(s, summary, files)
    }

    /// newbu hands newver the backup it just made, not read back; but not
    /// when hook 2 has written since: here it makes version 1 itself for some
    /// files, and the run's version of them is 2, not a second version 1.
    @Test func aVersionHook2MadeComesBeforeTheRunsOwn() throws {
        let s = try SnapshotFixture()
        let files = try makeTree(s)
        try s.f.hook(2, "if bhin[1]:match('5%.bin$') then newver(bhin[4], 'by hook 2') end")
        let summary = try s.run(batchSize: 50, workers: 4)
        #expect(summary.failedFiles == 0 && summary.newFiles == files.count + 2, "\(summary)")
        for name in files.keys.filter({ $0.hasSuffix("5.bin") }).prefix(5) {
            let b = try s.f.bd.resolve("path:" + s.tree + "/" + name)
            #expect(try s.f.bd.versions(of: b.index).map(\.comment) == ["by hook 2", "snapshot \(try #require(summary.sid))"], "\(name)")
        }
        try expectWhole(s, summary, files)
    }

    /// A new file is newbu and newver in one step with one savepoint: when
    /// hook 6 fails, what newbu and its hook 2 wrote goes too, and the files
    /// before and after it in the batch stay.
    @Test func aNewFileWhoseVersionFailsLeavesNoBackupNorFieldBehind() throws {
        let s = try SnapshotFixture()
        let files = try makeTree(s)
        try s.f.bd.registerField("Seen", type: "d")
        try s.f.hook(2, "getbd('Seen', 'd') bfvar[bhin[4]] = bhin[3]")
        try s.f.hook(6, "if bhin[1]:match('7%.bin$') then error('not this one') end")
        let summary = try s.run(batchSize: 50, workers: 4)
        let failing = files.keys.filter { $0.hasSuffix("7.bin") }.count
        #expect(failing > 0 && summary.failedFiles == failing, "\(summary)")
        let backups = try s.f.bd.backups()
        #expect(!backups.contains { $0.path.bytes.suffix(5).elementsEqual("7.bin".utf8) })
        #expect(backups.count == files.count + 2 - failing)   // and the fixture's a.txt and sub/b.txt
        let seen = try s.f.bd.fieldValues("Seen", owner: nil)
        #expect(Set(seen.map(\.owner)) == Set(backups.map(\.index)), "a field of a backup rolled back stayed")
        #expect(try Checker(s.f.bd).check(readData: true).ok)
    }

    /// Without hooks too, a new file whose version cannot be inserted (here a
    /// trigger refuses some) leaves no backup behind, and the next run stores it.
    @Test func aNewFileWhoseVersionInsertFailsLeavesNoBackupWithoutHooks() throws {
        let s = try SnapshotFixture()
        let files = try makeTree(s)
        try s.f.bd.write { db in
            try db.execute(sql: """
                CREATE TRIGGER refuse BEFORE INSERT ON version
                WHEN (SELECT CAST(path AS TEXT) FROM backup WHERE idx = NEW.backup) LIKE '%7.bin'
                BEGIN SELECT RAISE(ABORT, 'refused'); END
                """)
        }
        let summary = try s.run(batchSize: 50, workers: 4)
        let failing = files.keys.filter { $0.hasSuffix("7.bin") }.count
        #expect(failing > 0 && summary.failedFiles == failing && summary.newFiles == files.count + 2 - failing, "\(summary)")
        let backups = try s.f.bd.backups()
        #expect(!backups.contains { $0.path.bytes.suffix(5).elementsEqual("7.bin".utf8) }, "a backup without its version stayed")
        #expect(try backups.allSatisfy { try !s.f.bd.versions(of: $0.index).isEmpty })
        try s.f.bd.write { db in try db.execute(sql: "DROP TRIGGER refuse") }   // check holds the schema to bmlua's
        let report = try Checker(s.f.bd).check(readData: true)
        #expect(report.ok, "\(report.problems)")

        let next = try s.run(at: Date(timeIntervalSince1970: 1_800_000_060), batchSize: 50, workers: 4)
        #expect(next.failedFiles == 0 && next.newFiles == failing, "\(next)")
        try expectWhole(s, next, files)
    }

    /// A new file's backup takes its base name, or the next free `-N` one:
    /// the insert itself finds a taken name (no query before it), in a run
    /// with no hooks, where newbu and newver are one step.
    @Test func aSnapshotsNewFilesTakeTheNextFreeNameWhereTheirsIsTaken() throws {
        let s = try SnapshotFixture()
        // Taken before the run by a backup of a file outside the tree: notes.txt and notes-2.txt.
        let outside = s.f.base + "/outside"
        try FileManager.default.createDirectory(atPath: outside + "/x", withIntermediateDirectories: true)
        for name in ["notes.txt", "x/notes.txt"] { try Data("elsewhere".utf8).write(to: URL(fileURLWithPath: outside + "/" + name)) }
        try s.f.bd.newbu(outside + "/notes.txt")
        try s.f.bd.newbu(outside + "/x/notes.txt")
        for k in 0..<5 {
            try FileManager.default.createDirectory(atPath: s.tree + "/d\(k)", withIntermediateDirectories: true)
            try Data("notes \(k)".utf8).write(to: URL(fileURLWithPath: s.tree + "/d\(k)/notes.txt"))
        }
        let summary = try s.run(batchSize: 3, workers: 2)
        #expect(summary.newFiles == 7 && summary.failedFiles == 0, "\(summary)")
        let named = try s.f.bd.backups().filter { $0.path.bytes.starts(with: Array(s.tree.utf8)) }
            .map { (String(decoding: $0.path.bytes, as: UTF8.self), String(decoding: $0.name.bytes, as: UTF8.self)) }
            .sorted { $0.0 < $1.0 }
        #expect(named.map(\.1) == ["a.txt", "notes-3.txt", "notes-4.txt", "notes-5.txt", "notes-6.txt", "notes-7.txt", "b.txt"], "\(named)")
        for (path, name) in named { #expect(try s.f.bd.resolve(name).path == Path(path)) }
        #expect(try s.f.bd.backups().allSatisfy { try s.f.bd.versions(of: $0.index).count == ($0.path.bytes.starts(with: Array(outside.utf8)) ? 0 : 1) })
        #expect(try Checker(s.f.bd).check(readData: true).ok)
    }

    @Test func aStopMidRunKeepsCommittedBatchesAndLeavesNoTempFiles() throws {
        let s = try SnapshotFixture()
        let files = try makeTree(s)
        let asked = Mutex(0)
        #expect(throws: Interrupted.self) {
            _ = try s.run(batchSize: 40, workers: 4, stopWhen: { asked.withLock { $0 += 1; return $0 > 130 } })
        }
        #expect(try tmpIsEmpty(s))
        #expect(try Checker(s.f.bd).check(readData: true).ok)
        let kept = try s.f.bd.read { try Catalog.backups($0) }.count
        #expect(kept > 0 && kept < files.count + 2, "\(kept)")
        // The next run stores only what the stopped one did not commit.
        let again = try s.run(batchSize: 40, workers: 4)
        #expect(again.newFiles == files.count + 2 - kept && again.unchangedFiles == kept, "\(again)")
        #expect(try Checker(s.f.bd).check(readData: true).ok)
    }

    /// With hook 1 or 6 set the hook may name another file: nothing is read
    /// ahead, and the hook's choice is what is stored.
    @Test func aHookThatChoosesTheFileIsStillObeyed() throws {
        let s = try SnapshotFixture()
        _ = try makeTree(s)
        let other = try s.f.file("other.txt", "chosen by hook 1")
        try s.f.hook(1, "if bhin[1]:match('f005%.bin$') then bhout = '\(other)' end")
        let summary = try s.run(workers: 4)
        #expect(summary.failedFiles == 0)
        let b = try #require(try s.f.bd.read { try Catalog.backup($0, path: Path(s.tree + "/d5/f005.bin")) })
        #expect(b.data.size == Int64("chosen by hook 1".utf8.count))
        #expect(try tmpIsEmpty(s))
    }

    /// Workers name a new object as soon as it is written. Of two equal files
    /// staged at once one names it; when hook 1 then chooses another file for
    /// one of them, dropping that staged copy must not take the object from
    /// the other: every `b` file's data is there, and no object is left unnamed.
    @Test func droppingOneOfTwoEqualStagedFilesKeepsTheOthersObject() throws {
        let s = try SnapshotFixture()
        for i in 0..<120 {
            let bytes = Data("pair \(i) ".utf8 + (0..<(i * 37 % 5000)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
            try bytes.write(to: URL(fileURLWithPath: s.tree + "/a\(i)"))
            try bytes.write(to: URL(fileURLWithPath: s.tree + "/b\(i)"))
        }
        let other = try s.f.file("other.txt", "chosen by hook 1")
        try s.f.hook(1, "if bhin[1]:match('/a%d+$') then bhout = '\(other)' end")
        let sid = try #require(try s.run(batchSize: 32, workers: 4).sid)
        #expect(try Checker(s.f.bd).check(readData: true).ok)
        let out = s.f.base + "/out"
        let r = try Restorer(s.f.bd).restore(sid, to: Path(out))
        #expect(r.failed.isEmpty)
        for i in 0..<120 {
            #expect(FileManager.default.contents(atPath: out + s.tree + "/b\(i)") == FileManager.default.contents(atPath: s.tree + "/b\(i)"))
            // The backup's copy is what hook 1 chose; the snapshot's version, newver's own read of the original.
            #expect(try s.f.bd.resolve(Path(s.tree + "/a\(i)")).data.size == Int64("chosen by hook 1".utf8.count))
            #expect(FileManager.default.contents(atPath: out + s.tree + "/a\(i)") == FileManager.default.contents(atPath: s.tree + "/a\(i)"))
        }
        #expect(try GarbageCollector(s.f.bd).collect().removed == 0, "an object no row names was left behind")
    }

    /// The gzip example (hooks 1 and 6 name a compressed temp file, hook 4
    /// decompresses): what the workers read ahead is dropped for the file the
    /// hook named, reading ahead stops once it mostly misses, and the tree
    /// comes back byte for byte.
    @Test func theGzipHooksStoreCompressedAndRestoreExactly() throws {
        let s = try SnapshotFixture()
        let files = try makeTree(s).filter { !$0.key.hasPrefix("d5/") && !$0.key.hasPrefix("d4/") && !$0.key.hasPrefix("d3/") }
        try FileManager.default.removeItem(atPath: s.tree + "/d3")
        try FileManager.default.removeItem(atPath: s.tree + "/d4")
        try FileManager.default.removeItem(atPath: s.tree + "/d5")
        try ExampleHookTests().install("hgzip", in: s.f)
        let summary = try s.run(batchSize: 20, workers: 4)
        #expect(summary.failedFiles == 0 && summary.newFiles == files.count + 2, "\(summary.errors)")
        for b in try s.f.bd.backups() where b.data.size > 0 {
            let stored = try #require(FileManager.default.contents(atPath: s.f.bd.objects.path(of: b.data.object)))
            #expect(stored.prefix(2) == Data([0x1f, 0x8b]), "\(FS.shown(b.path)) is not stored compressed")
        }
        // The first group's guesses all missed, the second's too; then none are made.
        let dropped = summary.readsDropped
        #expect(dropped > 0 && dropped <= 40, "\(dropped) files of \(files.count) were read ahead for nothing")
        #expect(try tmpIsEmpty(s))

        let out = s.f.base + "/restored"
        let restored = try Restorer(s.f.bd).restore(try #require(summary.sid), to: Path(out))
        #expect(restored.failed.isEmpty)
        for (name, data) in files {
            #expect(FileManager.default.contents(atPath: out + s.tree + "/" + name) == data, "\(name)")
        }
    }

    /// Hook 1 and 6 run after a worker read the file: a hook that rewrites
    /// the original in place (and names no other file) has the rewritten
    /// bytes stored, as if nothing had been read ahead; and both hooks see the
    /// files in walk order.
    @Test func aFileAHookRewritesIsStoredAsRewritten() throws {
        let s = try SnapshotFixture()
        let files = try makeTree(s)
        let log = s.f.base + "/hooks.log"
        try s.f.hook(1, """
            local f = io.open('\(log)', 'a') f:write('1 ', bhin[1], '\\n') f:close()
            if bhin[1]:match('5%.bin$') then local g = io.open(bhin[1], 'w') g:write('rewritten by hook 1') g:close() end
            """)
        try s.f.hook(6, "local f = io.open('\(log)', 'a') f:write('6 ', bhin[1], '\\n') f:close()")
        let summary = try s.run(batchSize: 50, workers: 4)
        #expect(summary.failedFiles == 0, "\(summary.errors)")
        for (name, data) in files {
            let b = try #require(try s.f.bd.read { try Catalog.backup($0, path: Path(s.tree + "/" + name)) })
            let stored = FileManager.default.contents(atPath: s.f.bd.objects.path(of: b.data.object))
            #expect(stored == (name.hasSuffix("5.bin") ? Data("rewritten by hook 1".utf8) : data), "\(name)")
        }
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        for hook in ["1 ", "6 "] {
            let paths = lines.filter { $0.hasPrefix(hook) }.map { Array($0.utf8) }
            #expect(paths.count == files.count + 2)
            #expect(paths == paths.sorted { $0.lexicographicallyPrecedes($1) }, "hook \(hook)saw the files out of walk order")
        }
        #expect(try tmpIsEmpty(s))
        #expect(try Checker(s.f.bd).check(readData: true).ok)
    }

    /// Hook 6 that names no file: version 1 is the object newbu stored, the
    /// file read once, unless the hook rewrote the file (then read again);
    /// and the browse view, made as the run goes, holds each file's version.
    @Test func aHook6ThatNamesNoFileReadsEachNewFileOnceAndTheViewHoldsItsVersion() throws {
        let s = try SnapshotFixture()
        var files = try makeTree(s)
        files["a.txt"] = Data("alpha".utf8)
        files["sub/b.txt"] = Data("beta".utf8)
        try s.f.hook(2, "local seen = bhin[1]")
        try s.f.hook(6, "if bhin[1]:match('5%.bin$') then local g = io.open(bhin[1], 'w') g:write('rewritten by hook 6') g:close() end")
        let summary = try s.run(batchSize: 50, workers: 4)
        #expect(summary.failedFiles == 0 && summary.newFiles == files.count, "\(summary.errors)")
        let rewritten = files.keys.filter { $0.hasSuffix("5.bin") }.count
        #expect(rewritten > 0 && summary.filesRead == files.count + rewritten, "\(summary.filesRead) reads of \(files.count) files")
        let view = s.f.root + "/snapshots/" + (try #require(summary.sid)) + s.tree
        for (name, data) in files {
            let b = try #require(try s.f.bd.read { try Catalog.backup($0, path: Path(s.tree + "/" + name)) })
            let v = try #require(try s.f.bd.versions(of: b.index).first)
            let expected = name.hasSuffix("5.bin") ? Data("rewritten by hook 6".utf8) : data
            #expect(FileManager.default.contents(atPath: s.f.bd.objects.path(of: v.data.object)) == expected, "\(name)")
            #expect(FileManager.default.contents(atPath: view + "/" + name) == expected, "\(name) in the view")
        }
        #expect(try tmpIsEmpty(s))
        #expect(try Checker(s.f.bd).check(readData: true).ok)
    }

    /// A restore's workers write files a group at a time; stopped part-way,
    /// every file written is whole, no temp file is left, and a second
    /// restore into the same place leaves those alone and writes the rest.
    @Test func aRestoreByWorkersStopsBetweenGroupsAndResumes() throws {
        let s = try SnapshotFixture()
        var files = try makeTree(s)
        files["a.txt"] = Data("alpha".utf8)
        files["sub/b.txt"] = Data("beta".utf8)
        let sid = try #require(try s.run().sid)
        let out = s.f.base + "/restored"
        let asked = Mutex(0)
        s.f.bd.options.stopRequested = { asked.withLock { $0 += 1; return $0 > 300 } }
        #expect(throws: Interrupted.self) { _ = try Restorer(s.f.bd, workers: 4).restore(sid, to: Path(out)) }
        let written = files.filter { FS.exists(out + s.tree + "/" + $0.key) }
        #expect(!written.isEmpty && written.count < files.count, "\(written.count)")
        for (name, data) in written { #expect(FileManager.default.contents(atPath: out + s.tree + "/" + name) == data, "\(name)") }
        let temps = try FileManager.default.subpathsOfDirectory(atPath: out).filter { $0.contains(".bmlua-tmp-") }
        #expect(temps.isEmpty, "\(temps)")

        s.f.bd.options.stopRequested = { false }
        let again = try Restorer(s.f.bd, workers: 4).restore(sid, to: Path(out))
        #expect(again.failed.isEmpty && again.unchanged.count == written.count && again.restored.count == files.count - written.count)
        for (name, data) in files { #expect(FileManager.default.contents(atPath: out + s.tree + "/" + name) == data, "\(name)") }
    }
}
