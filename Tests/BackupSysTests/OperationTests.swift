import Foundation
import GRDB
import Testing
@testable import BackupSys
import TestSupport
@testable import HookVM

@Suite struct RollbackTests {
    /// A hook that raises in 1, 3, 4, 6, 7 leaves the catalog and the objects as they were.
    @Test(arguments: [1, 2, 3, 4, 6, 7])
    func aRaisingHookChangesNothing(hook: Int) throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "original")
        let i = try f.bd.newbu(path)
        let v = try f.bd.newver(i, comment: "c")
        try f.file("a.txt", "changed since")   // so that a store would make a new object
        let restoreTarget = try f.file("target.txt", "untouched")
        try f.hook(hook, "bhtemp = bm.tempfile(); error('refused by hook \(hook)')")
        let before = try f.state()
        var thrown: BMError?
        do {
            switch hook {
            case 1, 2: try f.bd.newbu(try f.file("b.txt", "new file"))
            case 3: try f.bd.updbu(i)
            case 4: try f.bd.restbu(i, version: v, overwrite: true, to: restoreTarget)
            case 6: try f.bd.newver(i)
            default: try f.bd.cmtver(i, v, comment: "other")
            }
        } catch let e as BMError { thrown = e }
        #expect(thrown?.number == 30)
        #expect(thrown?.message.contains("hook\(hook):1: refused by hook \(hook)") == true, "\(thrown?.message ?? "")")
        #expect(try f.state() == before)
        #expect(try f.read(restoreTarget) == "untouched")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: f.root + "/tmp")
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func failedNewbuLeavesNoObjectBehind() throws {
        let f = try Fixture()
        try f.hook(2, "error('late')")
        let before = try f.state()
        expectError(30) { try f.bd.newbu(try f.file("a.txt", "data only this backup has")) }
        #expect(try f.state() == before)
        #expect(f.bd.objects.allObjects().isEmpty)
    }
}

@Suite struct RestoreTests {
    @Test func versionRestoresByteIdenticalWithModeAndMtime() throws {
        let f = try Fixture()
        let bytes = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let path = f.work + "/data.bin"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o640)
        var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 123_456_789), timespec(tv_sec: 1_600_000_000, tv_nsec: 123_456_789)]
        utimensat(AT_FDCWD, path, &times, 0)
        let i = try f.bd.newbu(path)
        let v = try f.bd.newver(i, comment: "the original")
        try Data("something else".utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        try f.bd.updbu(i)
        try f.bd.restbu(i, version: v, overwrite: true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(bytes))
        let st = FS.stat(path)!
        #expect(st.st_mode & 0o7777 == 0o640)
        #expect(st.st_mtim.tv_sec == 1_600_000_000 && st.st_mtim.tv_nsec == 123_456_789)
        // And the current copy is the updated data.
        try f.bd.restbu(i, overwrite: true)
        #expect(try f.read(path) == "something else")
    }

    @Test func restoreWithoutOverwriteFailsWith15AndChangesNothing() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "backed up")
        let i = try f.bd.newbu(path)
        try f.file("a.txt", "newer work")
        let before = try f.state()
        expectError(15) { try f.bd.restbu(i) }
        #expect(try f.read(path) == "newer work")
        #expect(try f.state() == before)
    }

    @Test func restoreToAnotherPlaceOrFolder() throws {
        let f = try Fixture()
        let i = try f.bd.newbu(try f.file("a.txt", "x"))
        #expect(try f.bd.restbu(i, to: f.work + "/copy.txt") == f.work + "/copy.txt")
        try FileManager.default.createDirectory(atPath: f.work + "/dir", withIntermediateDirectories: true)
        #expect(try f.bd.restbu(i, to: f.work + "/dir") == f.work + "/dir/a.txt")
        #expect(try f.read(f.work + "/dir/a.txt") == "x")
    }

    @Test func storeAwayRemovesTheOriginalAndProtectsTheBackup() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "only copy")
        let i = try f.bd.newbu(path, .init(storeAway: true))
        #expect(!FS.exists(path))
        expectError(17) { try f.bd.delbu(i) }
        for e in [expectError(10) { try f.bd.updbu(i) }, expectError(10) { _ = try f.bd.newver(i) }] {
            #expect(e?.message.contains("stored away in backup \(i); bring it back with: bmlua restore \(i)") == true, "\(String(describing: e))")
        }
        try f.bd.delbu(i, deleteStoredAway: true)
        expectError(13) { _ = try f.bd.backup(i) }
    }

    /// Extended data: a per-backup field takes a value for a backup that
    /// exists, a per-group field for a group; anything else is an error that
    /// says which (18: no such field, 13: no such backup), and writes nothing.
    @Test func fieldValuesGoWhereTheirFieldSays() throws {
        let f = try Fixture()
        let i = try f.bd.newbu(try f.file("a.txt", "a"))
        try f.bd.registerField("Stamp", type: "d")
        try f.bd.registerField("Owner", type: "g")
        try f.bd.setFieldValue("Stamp", owner: i, .string(Array("today".utf8)))
        try f.bd.setFieldValue("Stamp", owner: i, .integer(7))   // replaced
        try f.bd.setFieldValue("Owner", owner: 3, .string(Array("ops".utf8)))
        #expect(try f.bd.fieldValues("Stamp", owner: nil) == [FieldEntry(owner: i, value: .integer(7))])
        #expect(try f.bd.fieldValues("Owner", owner: nil) == [FieldEntry(owner: 3, value: .string(Array("ops".utf8)))])
        expectError(13) { try f.bd.setFieldValue("Stamp", owner: i + 1, .integer(1)) }
        expectError(13) { try f.bd.setFieldValue("Stamp", owner: 0, .integer(1)) }
        expectError(18) { try f.bd.setFieldValue("Nope", owner: i, .integer(1)) }
        #expect(try f.bd.fieldValues("Stamp", owner: nil).count == 1)
        try f.bd.setFieldValue("Stamp", owner: i, nil)
        #expect(try f.bd.fieldValues("Stamp", owner: nil).isEmpty)
    }

    /// Like restic and Back In Time: a file comes back even if its folder went with it.
    @Test func restoreRemakesTheOriginalsFolder() throws {
        let f = try Fixture()
        let path = try f.file("gone/deeper/a.txt", "kept")
        let i = try f.bd.newbu(path, .init(storeAway: true))
        try FileManager.default.removeItem(atPath: f.work + "/gone")
        try f.bd.restbu(i)
        #expect(try f.read(path) == "kept")
    }

    /// `--to DIR/` names a folder, made if missing; `--to DIR/name` in a missing folder is a typo to report.
    @Test func restoreToAFolderMakesIt() throws {
        let f = try Fixture()
        let i = try f.bd.newbu(try f.file("a.txt", "x"))
        #expect(try f.bd.restbu(i, to: f.work + "/new/") == f.work + "/new/a.txt")
        #expect(try f.read(f.work + "/new/a.txt") == "x")
        expectError(10) { try f.bd.restbu(i, to: f.work + "/missing/b.txt") }
        #expect(!FS.exists(f.work + "/missing"))
    }

    /// As root, a restore gives the file back to its owner, as rsync -a and
    /// restic do (a set-uid bit survives: the mode is set after the owner).
    @Test(.enabled(if: geteuid() == 0, "only root can give a file away"))
    func restoreAsRootGivesTheFileBackToItsOwner() throws {
        let f = try Fixture()
        let path = try f.file("tool", "#!/bin/sh\n", mode: 0o4755)
        #expect(chown(path, 4321, 4322) == 0 && chmod(path, 0o4755) == 0)
        let i = try f.bd.newbu(path)
        #expect(chown(path, 5000, 5001) == 0 && chmod(path, 0o640) == 0)
        let v = try f.bd.newver(i)
        let owned = { (p: String) in FS.stat(p).map { "\($0.st_uid):\($0.st_gid) \(String($0.st_mode & 0o7777, radix: 8))" } }
        #expect(try owned(f.bd.restbu(i, to: f.work + "/current")) == "4321:4322 4755")
        #expect(try owned(f.bd.restbu(i, version: v, to: f.work + "/version")) == "5000:5001 640")
        let shown = try f.bd.runScript("local b = backup(\(i)) return b.uid .. ':' .. b.gid", name: "=t")
        #expect(shown.first?.stringValue == "4321:4322")
    }

    /// Extended attributes (here user.*, binary values too) come back with the
    /// data they were read with, as restic and borg restore them.
    @Test func extendedAttributesComeBackWithTheirVersion() throws {
        let f = try Fixture()
        let path = try f.file("tagged.txt", "data")
        func tag(_ pairs: [(String, [UInt8])]) throws {
            var x = ExtendedAttributes()
            x.entries = pairs.map { (Array($0.0.utf8), $0.1) }
            let fd = open(path, O_RDONLY)
            defer { close(fd) }
            x.apply(to: fd)
            #expect(ExtendedAttributes.read(path) == x, "this file system keeps user.* attributes")
        }
        try tag([("user.colour", Array("blue".utf8)), ("user.bytes", [0, 255, 0])])
        let i = try f.bd.newbu(path)
        unlink(path)   // a new file: its own attributes only
        try f.file("tagged.txt", "data, edited")
        try tag([("user.colour", Array("green".utf8))])
        let v = try f.bd.newver(i)
        let plain = try f.bd.newbu(try f.file("plain.txt", "no tags"))

        let attributes = { (p: String) in ExtendedAttributes.read(p)?.entries.map { "\(String(decoding: $0.name, as: UTF8.self))=\($0.value)" }.sorted() }
        #expect(try attributes(f.bd.restbu(i, to: f.work + "/current")) == ["user.bytes=[0, 255, 0]", "user.colour=[98, 108, 117, 101]"])
        #expect(try attributes(f.bd.restbu(i, version: v, to: f.work + "/version")) == ["user.colour=[103, 114, 101, 101, 110]"])
        #expect(try attributes(f.bd.restbu(plain, to: f.work + "/plain")) == nil)
        let x = try #require(ExtendedAttributes.read(f.work + "/current"))
        #expect(ExtendedAttributes(encoded: x.encoded) == x)
    }

    /// Restoring the current copy to where it came from ends "stored away"; a copy elsewhere or an old version does not.
    @Test func restoringTheOriginalEndsStoredAway() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "only copy")
        let i = try f.bd.newbu(path, .init(storeAway: true))
        try FileManager.default.createDirectory(atPath: f.work + "/elsewhere", withIntermediateDirectories: true)
        try f.bd.restbu(i, to: f.work + "/elsewhere")
        #expect(try f.bd.backup(i).storedAway)
        try f.bd.restbu(i)
        #expect(try f.read(path) == "only copy")
        #expect(try !f.bd.backup(i).storedAway)
        try f.bd.delbu(i)
        expectError(13) { _ = try f.bd.backup(i) }
    }

    @Test func aFailedRestoreKeepsStoredAway() throws {
        let f = try Fixture()
        let i = try f.bd.newbu(try f.file("a.txt", "only copy"), .init(storeAway: true))
        try f.hook(4, "error('refused')")
        expectError(30) { try f.bd.restbu(i) }
        #expect(try f.bd.backup(i).storedAway)
    }

    @Test func sameBaseNameInTwoFoldersIsKeptApart() throws {
        let f = try Fixture()
        let a = try f.bd.newbu(try f.file("one/notes.txt", "1"))
        let b = try f.bd.newbu(try f.file("two/notes.txt", "2"))
        let c = try f.bd.newbu(try f.file("three/notes.txt", "3"))
        #expect(try [a, b, c].map { try f.bd.backup($0).name } == ["notes.txt", "notes-2.txt", "notes-3.txt"])
        #expect(try f.bd.resolve("notes-2.txt").index == b)
        expectError(16) { try f.bd.newbu(f.work + "/one/notes.txt") }
    }

    @Test func indicesAreNeverReused() throws {
        let f = try Fixture()
        let a = try f.bd.newbu(try f.file("a", "1"))
        try f.bd.delbu(a)
        #expect(try f.bd.newbu(try f.file("b", "2")) == a + 1)
        let i = try f.bd.newbu(try f.file("c", "3"))
        let v1 = try f.bd.newver(i)
        try f.bd.delver(i, v1)
        #expect(try f.bd.newver(i) == v1 + 1)
    }

    @Test func identicalDataIsStoredOnce() throws {
        let f = try Fixture()
        try f.bd.newbu(try f.file("a", "same"))
        try f.bd.newbu(try f.file("b", "same"))
        #expect(f.bd.objects.allObjects().count == 1)
    }

    /// Sizes around the read chunk: a file that fits in one is hashed before
    /// it is written; a larger one is streamed. Both store and dedup the same way.
    @Test(arguments: [0, 1, ObjectStore.chunkSize - 1, ObjectStore.chunkSize, ObjectStore.chunkSize + 1, 3 * ObjectStore.chunkSize + 7])
    func dataOfEverySizeRoundTripsAndIsStoredOnce(size: Int) throws {
        let f = try Fixture()
        let bytes = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) })
        let path = f.work + "/data.bin"
        try bytes.write(to: URL(fileURLWithPath: path))
        let i = try f.bd.newbu(path)
        let v = try f.bd.newver(i)
        let b = try f.bd.backup(i)
        #expect(b.data.size == Int64(size))
        #expect(b.data.object == (try f.bd.objects.hash(of: path)))
        #expect(try f.bd.versions(of: i).first { $0.index == v }?.data.object == b.data.object)
        #expect(f.bd.objects.allObjects() == [b.data.object])
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.root + "/tmp").isEmpty)
        let restored = try f.bd.restbu(i, version: v, to: f.work + "/restored.bin")
        #expect(FileManager.default.contents(atPath: restored) == bytes)
    }
}

/// One writer at a time (design.md, "The repository"): the next fails with error 2, or waits with --lock-wait.
@Suite struct WriterLockTests {
    @Test func aSecondWriterFailsAtOnceOrWaitsItsTurn() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "a")
        var options = SessionOptions()
        options.diagnostics = { _ in }
        let other = try BackupDatabase(at: f.root, options: options)
        defer { other.close() }
        try f.bd.holdingWriterLock {
            let e = expectError(2) { try other.newbu(path) }
            #expect(e?.message.contains("--lock-wait") == true)
            other.options.lockWait = 0.2
            expectError(2) { try other.newbu(path) }
        }
        #expect(try f.bd.read { try Catalog.backups($0) }.isEmpty, "the refused writer wrote nothing")
        // A writer that waits gets its turn once the holder is done.
        other.options.lockWait = 30
        let locked = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        let root = f.root
        Thread {
            // Another session of the same repository, on its own thread, as another process would be.
            if let holder = try? BackupDatabase(at: root) {
                try? holder.holdingWriterLock { locked.signal(); usleep(200_000) }
                holder.close()
            }
            done.signal()
        }.start()
        try #require(locked.wait(timeout: .now() + 10) == .success, "the holder never got the lock")
        #expect(try other.newbu(path) == 1)
        done.wait()
    }
}

extension WriterLockTests {
    /// The first writer of a process empties tmp/ of what crashes left, but not
    /// of a temp file a running script got from bm.tempfile() outside any operation.
    @Test func tmpLosesLeftoversButNotARunningProcesssTempFile() throws {
        let f = try Fixture()
        let live = try f.bd.luaVM().makeTempFile()
        let tmp = f.root + "/tmp"
        for leftover in ["obj-AbC123", "bmlua-hook-2147483647-Xy12Z9"] {
            #expect(FileManager.default.createFile(atPath: tmp + "/" + leftover, contents: nil))
        }
        var options = SessionOptions()
        options.diagnostics = { _ in }
        let other = try BackupDatabase(at: f.root, options: options)
        defer { other.close() }
        try other.newbu(try f.file("a.txt", "a"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp) == [FS.baseName(live)])
    }
}

@Suite struct CheckTests {
    @Test func readDataFindsAFlippedByteAndAMissingObject() throws {
        let f = try Fixture()
        let a = try f.bd.backup(try f.bd.newbu(try f.file("a", "aaaa")))
        let b = try f.bd.backup(try f.bd.newbu(try f.file("b", "bbbb")))
        #expect(try Checker(f.bd).check(readData: true).ok)
        let pa = f.bd.objects.path(of: a.data.object)
        chmod(pa, 0o644)
        try Data("aaab".utf8).write(to: URL(fileURLWithPath: pa))
        #expect(try Checker(f.bd).check(readData: false).ok, "without --read-data, presence and size are checked")
        let report = try Checker(f.bd).check(readData: true)
        #expect(report.problems.count == 1 && report.problems[0].contains("corrupt"))
        unlink(f.bd.objects.path(of: b.data.object))
        let r2 = try Checker(f.bd).check()
        #expect(r2.problems.contains { $0.contains("missing") })
        // Restoring corrupt data is refused (21) and leaves no partial file.
        expectError(21) { try f.bd.restbu(a.index, to: f.work + "/out") }
        #expect(!FS.exists(f.work + "/out"))
    }

    /// `--read-data-subset n/t`: the parts split the objects, every one in
    /// exactly one part; a flipped byte shows in its part only.
    @Test func readDataSubsetsSplitTheObjects() throws {
        let f = try Fixture()
        let backups = try (0..<24).map { try f.bd.backup(try f.bd.newbu(try f.file("f\($0)", "data \($0)"))) }
        let victim = backups[5].data.object
        let path = f.bd.objects.path(of: victim)
        chmod(path, 0o644)
        try Data("data 6".utf8).write(to: URL(fileURLWithPath: path))   // same size, other bytes
        var read = 0, found: [Int] = []
        for n in 1...3 {
            let r = try Checker(f.bd).check(readData: true, subset: .part(n, of: 3))
            #expect(r.objectsChecked == 24)
            read += r.objectsRead
            if !r.ok { found.append(n) }
        }
        #expect(read == 24 && found.count == 1)
        #expect(try Checker(f.bd).check(readData: true, subset: .fraction(1)).objectsRead == 24)
        #expect(try Checker(f.bd).check(readData: false, subset: .part(1, of: 3)).objectsRead == 0)
        #expect(Checker.DataSubset("2/7") == .part(2, of: 7) && Checker.DataSubset("10%") == .fraction(0.1))
        for bad in ["0/3", "4/3", "1/0", "x", "0%", "101%", "1/2/3", ""] { #expect(Checker.DataSubset(bad) == nil, "\(bad)") }
    }

    /// A truncated object (a disk that filled up, a bad copy) shows without --read-data.
    @Test func checkFindsATruncatedObjectWithoutReadingIt() throws {
        let f = try Fixture()
        let a = try f.bd.backup(try f.bd.newbu(try f.file("a", "four")))
        let path = f.bd.objects.path(of: a.data.object)
        chmod(path, 0o644)
        truncate(path, 2)
        let report = try Checker(f.bd).check()
        #expect(report.problems == ["backup \(a.index): object \(a.data.object) has 2 bytes, not 4"])
    }

    @Test func gcRemovesOnlyUnusedObjects() throws {
        let f = try Fixture()
        let i = try f.bd.newbu(try f.file("a", "v1"))
        try f.file("a", "v2")
        try f.bd.updbu(i)
        #expect(f.bd.objects.allObjects().count == 2)
        #expect(try GarbageCollector(f.bd).collect().removed == 1)
        #expect(try Checker(f.bd).check(readData: true).ok)
    }
}

@Suite struct BadInputTests {
    /// `init` does not take over a folder that holds other things (nor change
    /// its mode), as borg; an empty folder, or one an earlier init left, is fine.
    @Test func initWantsANewOrEmptyFolder() throws {
        let f = try Fixture()
        try f.file("docs/letter.txt", "mine")
        chmod(f.work + "/docs", 0o755)
        expectError(22) { try Repository.create(at: f.work + "/docs") }
        #expect(FS.stat(f.work + "/docs")!.st_mode & 0o777 == 0o755 && !Repository.exists(at: f.work + "/docs"))
        try FS.mkdir(f.work + "/empty")
        try Repository.create(at: f.work + "/empty")
        try FS.makeDirectories(f.work + "/cut-short/objects")
        try Repository.create(at: f.work + "/cut-short")
        #expect(Repository.exists(at: f.work + "/empty") && Repository.exists(at: f.work + "/cut-short"))
    }

    @Test func missingFileIs10() throws {
        let f = try Fixture()
        expectError(10) { try f.bd.newbu(f.work + "/nope") }
    }

    /// A full disk damages nothing: SQLite's I/O errors are 20, only damage is 21.
    @Test(arguments: [(ResultCode.SQLITE_FULL, 20), (.SQLITE_IOERR_WRITE, 20), (.SQLITE_IOERR_SHMSIZE, 20),
                      (.SQLITE_CORRUPT, 21), (.SQLITE_NOTADB, 21), (.SQLITE_CANTOPEN, 11), (.SQLITE_READONLY, 11)])
    func catalogFailuresByKind(code: ResultCode, number: Int) {
        #expect(Catalog.failure(DatabaseError(resultCode: code, message: "m"), "/r/catalog.sqlite").number == number)
    }

    @Test func aCatalogThatIsNotADatabaseIs21() throws {
        let f = try Fixture()
        f.bd.close()
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: f.root + "/catalog.sqlite"))
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: f.root + "/catalog.sqlite" + suffix) }
        expectError(21) { _ = try BackupDatabase(at: f.root) }
    }

    /// A file where a folder must be: init inside or at it, restore into it.
    @Test func aFileGivenAsAFolderIs22() throws {
        let f = try Fixture()
        let file = try f.file("plain", "x")
        for root in [file, file + "/repo"] {
            let e = expectError(22) { try Repository.create(at: root) }
            #expect(e?.message.hasSuffix("\(file) is a file, not a folder") == true)
        }
        let i = try f.bd.newbu(try f.file("a.txt", "a"))
        expectError(22) { try f.bd.restbu(i, to: file + "/") }
    }

    /// Foundation's file errors become numbered errors with the errno's text, not NSCocoaErrorDomain dumps.
    @Test func foundationFileErrorsKeepTheirErrno() throws {
        let f = try Fixture()
        let missing = f.work + "/missing/x"
        let missingError = try #require(#expect(throws: (any Error).self) { try Data().write(to: URL(fileURLWithPath: missing)) })
        let e = BMError.wrap(missingError)
        #expect(e.number == 10 && e.message.hasSuffix("\(missing): no such file or folder"), "\(e)")
        let file = try f.file("plain", "x")
        let notAFolder = try #require(#expect(throws: (any Error).self) {
            try FileManager.default.createDirectory(atPath: file + "/sub", withIntermediateDirectories: true)
        })
        let e2 = BMError.wrap(notAFolder)
        #expect(!e2.message.contains("NSCocoaErrorDomain") && e2.message.contains(file), "\(e2)")
    }

    /// An empty argument would otherwise mean the current folder.
    @Test func emptyPathIs22() throws {
        let f = try Fixture()
        expectError(22) { try f.bd.newbu("") }
    }

    @Test func directoryAndFifoAre12() throws {
        let f = try Fixture()
        expectError(12) { try f.bd.newbu(f.work) }
        mkfifo(f.work + "/fifo", 0o600)
        expectError(12) { try f.bd.newbu(f.work + "/fifo") }
    }

    @Test func unknownBackupIs13AndUnknownVersion14() throws {
        let f = try Fixture()
        expectError(13) { _ = try f.bd.resolve("missing") }
        expectError(13) { try f.bd.updbu(42) }
        let i = try f.bd.newbu(try f.file("a", "x"))
        expectError(14) { try f.bd.restbu(i, version: 3, overwrite: true) }
        expectError(14) { try f.bd.cmtver(i, 3, comment: "") }
        expectError(14) { try f.bd.delver(i, 3) }
    }

    @Test func unreadableFileIs11() throws {
        let f = try Fixture()
        let path = try f.file("secret", "x", mode: 0o000)
        if geteuid() == 0 {
            // root reads everything: check the mapping of EACCES instead.
            #expect(FS.failure("cannot read", path, errno: EACCES).number == 11)
        } else {
            expectError(11) { try f.bd.newbu(path) }
        }
    }

    @Test func pathsWithSpacesAndNewlinesWork() throws {
        let f = try Fixture()
        for name in ["with space.txt", "new\nline.txt", "tab\there \"quoted\".txt", "ünïcödé.txt"] {
            let path = try f.file(name, name)
            let i = try f.bd.newbu(path)
            unlink(path)
            try f.bd.restbu(i)
            #expect(try f.read(path) == name)
            #expect(try f.bd.resolve(path).index == i)
        }
    }
}

/// A session and its Lua state keep each other alive through nothing: the
/// API's functions hold the session unowned, so letting go of it frees both.
@Suite struct SessionLifetimeTests {
    @Test func aSessionWithItsLuaStateIsFreedWhenLetGo() throws {
        let f = try Fixture()
        weak var session: BackupDatabase?
        weak var state: LuaVM?
        try {
            let bd = try BackupDatabase(at: f.root)
            _ = try bd.runScript("return bm.tempfile() ~= nil", name: "=t")
            session = bd
            state = try bd.luaVM()
        }()
        #expect(session == nil && state == nil)
    }
}
