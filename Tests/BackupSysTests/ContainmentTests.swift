import Foundation
import GRDB
import Testing
@testable import BackupSys
import TestSupport
@testable import HookVM

/// design.md, "The repository": a restore never leaves its target, and a repository contains
/// itself. Each case is an attack tried on an earlier bmlua; a sentinel folder
/// outside the repository and the target must come out of it untouched.
@Suite struct ContainmentTests {
    /// A folder outside everything, with a file, and a way to see it is untouched.
    struct Sentinel {
        let path: String
        init(_ base: String) throws {
            path = base + "/sentinel"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try Data("keep me".utf8).write(to: URL(fileURLWithPath: path + "/keep.txt"))
            chmod(path + "/keep.txt", 0o600)
            chmod(path, 0o700)
        }
        var state: String {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path).sorted()) ?? []
            let modes = ([path] + names.map { path + "/" + $0 }).map { p in FS.stat(p, follow: false).map { "\($0.st_mode) \($0.st_uid)" } ?? "-" }
            return "\(names) \(modes) \((try? String(contentsOfFile: path + "/keep.txt", encoding: .utf8)) ?? "-")"
        }
    }

    // MARK: Restores

    @Test func aFolderReplacedByALinkIsNotRestoredThrough() throws {
        let s = try SnapshotFixture()
        let sentinel = try Sentinel(s.f.base), before = sentinel.state
        try s.write("sub/keep.txt", "from the snapshot")
        let sid = try #require(try s.run().sid)
        try FileManager.default.removeItem(atPath: s.tree + "/sub")
        #expect(symlink(sentinel.path, s.tree + "/sub") == 0)
        let r = try s.f.bd.restore(sid, overwrite: true)
        #expect(!r.failed.isEmpty && r.failed.allSatisfy { $0.number == 12 }, "\(r.failed)")
        #expect(sentinel.state == before)
    }

    @Test func aLinkPlantedInTheTargetIsNotRestoredThrough() throws {
        let s = try SnapshotFixture()
        let sentinel = try Sentinel(s.f.base), before = sentinel.state
        let sid = try #require(try s.run().sid)
        let out = s.f.base + "/out"
        try FileManager.default.createDirectory(atPath: out + s.tree, withIntermediateDirectories: true)
        #expect(symlink(sentinel.path, out + s.tree + "/sub") == 0)
        let r = try s.f.bd.restore(sid, to: out, overwrite: true)
        #expect(!r.failed.isEmpty && r.failed.allSatisfy { $0.number == 12 }, "\(r.failed)")
        #expect(sentinel.state == before)
        #expect(try s.f.read(out + s.tree + "/a.txt") == "alpha")
    }

    /// The first snapshot brings back `sub` as an absolute link; the second's
    /// `sub/…` files must not go through it.
    @Test func twoSnapshotsIntoOneTargetDoNotWriteThroughALinkTheFirstMade() throws {
        let s = try SnapshotFixture()
        let sentinel = try Sentinel(s.f.base), before = sentinel.state
        try FileManager.default.moveItem(atPath: s.tree + "/sub", toPath: s.f.base + "/sub-away")
        #expect(symlink(sentinel.path, s.tree + "/sub") == 0)
        let first = try #require(try s.run(at: Date(timeIntervalSinceNow: -3600)).sid)
        unlink(s.tree + "/sub")
        try FileManager.default.moveItem(atPath: s.f.base + "/sub-away", toPath: s.tree + "/sub")
        let second = try #require(try s.run().sid)
        let out = s.f.base + "/out"
        #expect(try s.f.bd.restore(first, to: out).failed.isEmpty)
        let r = try s.f.bd.restore(second, to: out, overwrite: true)
        #expect(!r.failed.isEmpty && r.failed.allSatisfy { $0.number == 12 }, "\(r.failed)")
        #expect(sentinel.state == before)
    }

    @Test func aSingleFileRestoreInPlaceDoesNotGoThroughALinkedParent() throws {
        let f = try Fixture()
        let sentinel = try Sentinel(f.base), before = sentinel.state
        let i = try f.bd.newbu(try f.file("dir/keep.txt", "mine"))
        try FileManager.default.removeItem(atPath: f.work + "/dir")
        #expect(symlink(sentinel.path, f.work + "/dir") == 0)
        expectError(12) { try f.bd.restbu(i, overwrite: true) }
        #expect(sentinel.state == before)
    }

    /// A file that appears between the check and the rename (here made by hook 4) is kept.
    @Test func aFileThatAppearsDuringARestoreIsKept() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "backed up")
        let i = try f.bd.newbu(path)
        unlink(path)
        try f.hook(4, "local h = io.open('\(path)', 'w') h:write('made meanwhile') h:close()")
        expectError(15) { try f.bd.restbu(i) }
        #expect(try f.read(path) == "made meanwhile")
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.work) == ["a.txt"], "no temp file is left")
    }

    // MARK: A hostile repository

    @Test func aLinkAsTmpIsRefusedBeforeAnythingIsDeleted() throws {
        let f = try Fixture()
        let sentinel = try Sentinel(f.base), before = sentinel.state
        let i = try f.bd.newbu(try f.file("a.txt", "a"))
        f.bd.close()
        try FileManager.default.removeItem(atPath: f.root + "/tmp")
        #expect(symlink(sentinel.path, f.root + "/tmp") == 0)
        let bd = try BackupDatabase(at: f.root)
        defer { bd.close() }
        expectError(21) { _ = try bd.newver(i) }
        #expect(sentinel.state == before)
    }

    @Test func aLinkAsSnapshotsIsRefusedByGC() throws {
        let s = try SnapshotFixture()
        let sentinel = try Sentinel(s.f.base), before = sentinel.state
        _ = try s.run()
        try FileManager.default.removeItem(atPath: s.f.root + "/snapshots")
        #expect(symlink(sentinel.path, s.f.root + "/snapshots") == 0)
        expectError(21) { _ = try GarbageCollector(s.f.bd).collect() }
        #expect(sentinel.state == before)
    }

    @Test func aLinkAsTheLockIsNotFollowed() throws {
        let f = try Fixture()
        let target = f.base + "/created-by-lock"
        unlink(f.root + "/lock")
        #expect(symlink(target, f.root + "/lock") == 0)
        let bd = try BackupDatabase(at: f.root)
        defer { bd.close() }
        expectError(21) { _ = try bd.newbu(try f.file("a.txt", "a")) }
        #expect(!FS.exists(target))
    }

    /// Rows written straight into the catalog, as a hostile repository holds them.
    func craft(_ f: Fixture, _ sql: String) throws {
        try f.bd.dbQueueForTests.writeWithoutTransaction {
            try $0.execute(sql: "PRAGMA foreign_keys = OFF; PRAGMA ignore_check_constraints = ON; " + sql
                + "; PRAGMA ignore_check_constraints = OFF; PRAGMA foreign_keys = ON")
        }
    }

    @Test func aSidThatClimbsOutIsRefusedByPrune() throws {
        let s = try SnapshotFixture()
        let sentinel = try Sentinel(s.f.base), before = sentinel.state
        _ = try s.run(at: Date(timeIntervalSinceNow: -3600))
        try s.write("c.txt", "c")
        _ = try s.run()
        try craft(s.f, "UPDATE snapshot SET sid = '../../sentinel' WHERE sid = (SELECT min(sid) FROM snapshot)")
        expectError(21) { _ = try Retention(s.f.bd).prune(.init(last: 1)) }
        #expect(sentinel.state == before)
    }

    @Test func aPathThatClimbsOutIsRefusedByDelete() throws {
        let s = try SnapshotFixture()
        let sentinel = try Sentinel(s.f.base), before = sentinel.state
        _ = try #require(try s.run().sid)
        let a = try s.f.bd.resolve(s.tree + "/a.txt").index
        let climb = String(repeating: "/..", count: 12) + sentinel.path + "/keep.txt"
        try craft(s.f, "UPDATE backup SET path = CAST('\(climb)' AS BLOB) WHERE idx = \(a)")
        expectError(21) { _ = try s.f.bd.delbu(a) }
        #expect(sentinel.state == before)
    }

    /// What a catalog's path must be to be read: clean and absolute, each
    /// name neither empty, `.` nor `..`, no NUL. `.x` and `..x` are names.
    @Test func onlyCleanAbsolutePathsAreRead() {
        for clean in ["/", "/a", "/a/b", "/.x", "/..x/x..", "/a/.../b"] { #expect(Path(clean).isClean, "\(clean)") }
        for unclean in ["", "a/b", "//", "/a/", "/a//b", "/.", "/./a", "/a/.", "/..", "/a/../b", "/a/.."] {
            #expect(!Path(unclean).isClean, "\(unclean)")
        }
        #expect(!Path(Array("/a".utf8) + [0] + Array("b".utf8)).isClean)
    }

    /// newver reads the backup's path before it opens the file: a crafted
    /// one that climbs out is error 21, and nothing is read or written.
    @Test func aPathThatClimbsOutIsRefusedByNewver() throws {
        let f = try Fixture()
        let a = try f.bd.newbu(try f.file("a.txt", "a"))
        let versions = try f.bd.versions(of: a)
        try craft(f, "UPDATE backup SET path = CAST('/tmp/../etc/passwd' AS BLOB) WHERE idx = \(a)")
        expectError(21) { _ = try f.bd.newver(a) }
        #expect(try f.bd.versions(of: a) == versions)
    }

    /// A restore may stop reading an object where the catalog says it ends,
    /// but trusts that size for nothing: crafted smaller or larger, the file
    /// still comes back whole, as its object's hash names it.
    @Test(arguments: [1, 1 << 21])
    func aCraftedSizeStillRestoresTheWholeFile(size: Int) throws {
        let f = try Fixture()
        let text = String(repeating: "alpha ", count: 1000)
        let a = try f.bd.newbu(try f.file("a.txt", text))
        try craft(f, "UPDATE backup SET size = \(size) WHERE idx = \(a)")
        let done = try f.bd.restbu(a, to: Path(f.base + "/out/"))
        #expect(try f.read(done.text) == text)
    }

    /// A snapshot's tree crafted to climb out (a link or a folder named `..`
    /// or with a `/` in its name) or to name itself: error 21, nothing
    /// written outside the target, no endless walk.
    @Test(arguments: [("link", ".."), ("link", "a/../../../evil"), ("folder", ".."), ("folder", "x/../../.."), ("folder", "loop")])
    func aCraftedTreeDoesNotLeaveTheTarget(kind: String, name: String) throws {
        let s = try SnapshotFixture()
        let sentinel = try Sentinel(s.f.base), before = sentinel.state
        let sid = try #require(try s.run().sid)
        let out = s.f.base + "/out/deep/er"
        let root = try s.f.bd.read { try SnapshotContents.root($0, sid) }
        var node = TreeNode(metadata: nil)
        if kind == "link" {
            node.links = [TreeNode.Link(name: Path(name), target: Path(sentinel.path), mtimeNs: 0, owner: Owner(uid: 0, gid: 0)!)]
        } else {
            node.folders = [TreeNode.Subfolder(name: Path(name), tree: root)]   // the root again: a loop, whatever the name
        }
        let hex = node.encoded.map { String(format: "%02x", $0) }.joined()
        try craft(s.f, "UPDATE tree SET content = X'\(hex)' WHERE id = \(root)")
        expectError(21) { _ = try s.f.bd.restore(sid, to: out, overwrite: true) }
        expectError(21) { _ = try s.f.bd.snapshotFiles(sid) }
        #expect(!(try Checker(s.f.bd).check(readData: false).ok))
        #expect(sentinel.state == before)
    }

    /// Crafted rows of every kind: error 21 from the commands that read them
    /// and a problem that `check` names, never a crash.
    @Test(arguments: [
        ("INSERT INTO bhook (slot, code) VALUES (11, 'x = 1')", "bhook"),
        ("INSERT INTO bhook (slot, code) VALUES (0, 'x = 1')", "bhook"),
        ("INSERT INTO routine (name, code) VALUES ('tidy', X'FF00FE')", "routine"),
        ("UPDATE backup SET mtime_ns = 'yesterday'", "backup"),
        ("UPDATE backup SET name = CAST('../x' AS BLOB)", "backup"),
        ("INSERT INTO field (name, type) VALUES ('f', 'z')", "field"),
    ])
    func aCraftedRowIsError21(sql: String, table: String) throws {
        let f = try Fixture()
        _ = try f.bd.newbu(try f.file("a.txt", "a"))
        try craft(f, sql)
        let report = try Checker(f.bd).check(readData: true)
        #expect(!report.ok && report.problems.contains { $0.contains("catalog table \(table)") }, "\(report.problems)")
        f.bd.close()
        let bd = try BackupDatabase(at: f.root)
        defer { bd.close() }
        expectError(21) {
            switch table {
            case "bhook": _ = try bd.bhooks()
            case "routine": _ = try bd.routines()
            case "field": _ = try bd.fields()
            default: _ = try bd.backups()
            }
        }
    }

    /// A catalog that lacks a table fails `check`, whatever its objects say.
    @Test func aCatalogWithoutATableFailsCheck() throws {
        let f = try Fixture()
        _ = try f.bd.newbu(try f.file("a.txt", "a"))
        try craft(f, "DROP TABLE field_value")
        let report = try Checker(f.bd).check(readData: true)
        #expect(!report.ok && report.problems.contains { $0.contains("schema") }, "\(report.problems)")
    }

    /// A value of the wrong type is error 21 naming the row, not a crash.
    @Test func aMalformedRowIsError21() throws {
        let f = try Fixture()
        let i = try f.bd.newbu(try f.file("a.txt", "a"))
        try craft(f, "UPDATE backup SET size = 'lots', object = 'not-hex' WHERE idx = \(i)")
        let e = expectError(21) { _ = try f.bd.backups() }
        #expect(e?.message.contains("catalog table backup, row \(i)") == true, "\(e?.message ?? "")")
    }
}

/// An untrusted repository with hooks fails a snapshot once, recording nothing.
@Suite struct UntrustedSnapshotTests {
    @Test func anUntrustedRepositoryWithHooksFailsTheSnapshotOnce() throws {
        let s = try SnapshotFixture()
        try s.f.hook(1, "bm.log('ran')")
        chmod(s.f.root, 0o777)
        expectError(36) { _ = try s.run() }
        #expect(try s.f.bd.snapshots().isEmpty && s.f.bd.backups().isEmpty)
        #expect(try s.reasons() == ["7", "1", "4(5)", "2", "8"])
    }
}

/// design.md, "The repository": an object is never shared before its bytes are known good.
@Suite struct DurabilityTests {
    /// What a power cut can leave: a file under a content name that no row
    /// references, with no bytes or other bytes. A backup of that content
    /// must not share it.
    @Test(arguments: ["", "wrong bytes"]) func aBadObjectNoRowNamesIsNotShared(left: String) throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "precious data")
        let id = try f.bd.objects.hash(of: path)
        let object = f.bd.objects.path(of: id)
        try Data(left.utf8).write(to: URL(fileURLWithPath: object))
        chmod(object, 0o444)
        let i = try f.bd.newbu(path)
        #expect(try f.objectBytes(f.bd.backup(i).data.object) == "precious data")
        #expect(try Checker(f.bd).check(readData: true).ok)
    }
}

/// A restore cleans up after a killed one, and a finished one can be run again.
@Suite struct RestoreAgainTests {
    @Test func aRestoreRemovesWhatAKilledOneLeft() throws {
        let s = try SnapshotFixture()
        let sid = try #require(try s.run().sid)
        let out = s.f.base + "/out", folder = out + s.tree + "/sub"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in [".b.txt.bmlua-tmp-1x2y3z", ".other.bmlua-tmp-abc", ".b.txt.bak", "notes.bmlua-tmp-abc"] {
            try Data("left".utf8).write(to: URL(fileURLWithPath: folder + "/" + name))
        }
        chown(folder + "/.other.bmlua-tmp-abc", 65534, 65534)   // another user's: not ours to remove
        let r = try s.f.bd.restore(sid, to: out)
        #expect(r.failed.isEmpty, "\(r.failed)")
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(left == (geteuid() == 0 ? [".b.txt.bak", ".other.bmlua-tmp-abc", "b.txt", "notes.bmlua-tmp-abc"]
                                        : [".b.txt.bak", "b.txt", "notes.bmlua-tmp-abc"]), "\(left)")
    }

    @Test func aFinishedRestoreRunAgainFindsEverythingThere() throws {
        let s = try SnapshotFixture()
        #expect(symlink("a.txt", s.tree + "/link") == 0)
        let sid = try #require(try s.run().sid)
        let out = s.f.base + "/out"
        let first = try s.f.bd.restore(sid, to: out)
        #expect(first.failed.isEmpty && first.links == 1)
        let again = try s.f.bd.restore(sid, to: out)
        #expect(again.failed.isEmpty && again.restored.isEmpty, "\(again.failed)")
        #expect(Set(again.unchanged) == [out + s.tree + "/a.txt", out + s.tree + "/sub/b.txt", out + s.tree + "/link"])
    }
}

/// A repository never backs up its own data.
@Suite struct OwnDataTests {
    @Test func aFileInsideTheRepositoryIsNotBackedUp() throws {
        let f = try Fixture()
        let i = try f.bd.newbu(try f.file("a.txt", "a"))
        let object = f.bd.objects.path(of: try f.bd.backup(i).data.object)
        expectError(22) { try f.bd.newbu(object, .init(storeAway: true)) }
        #expect(FS.exists(object))
        expectError(22) { try f.bd.newbu(f.root + "/catalog.sqlite") }
    }

    /// As Back In Time leaves out its snapshot folder: a profile that includes
    /// its own repository does not back the repository up into itself.
    @Test func aSnapshotPassesItsOwnRepositoryBy() throws {
        let f = try Fixture()
        try f.file("a.txt", "a")
        var r = SnapshotRun(config: ProfileConfig(path: f.base + "/config.toml", profiles: [Profile(id: 1, name: "all", include: [f.base], exclude: ["*.lock"])]),
                            defaultRepository: f.root)
        r.lockDirectory = f.base + "/locks"
        let said = Fixture.Sink()
        r.options.verbose = true
        r.options.diagnostics = { said.lines.append($0) }
        let first = try r.run()
        #expect(first.newFiles == 1, "\(first.errors)")
        #expect(try f.bd.backups().map(\.path).allSatisfy { !$0.isAtOrUnder(Path(f.root)) })
        #expect(said.lines.contains("bmlua: skipped \(f.root): the repository itself"), "\(said.lines)")
        r.now = { Date(timeIntervalSinceNow: 60) }   // a new snapshot would have a new sid
        #expect(try r.run().sid == nil, "the second run finds nothing new")
    }

    /// Root writing into another user's repository leaves what it writes theirs.
    @Test func rootWritesAnotherUsersRepositoryAsTheirs() throws {
        guard geteuid() == 0 else { return }
        let f = try Fixture()
        f.bd.close()
        _ = try FileManager.default.subpathsOfDirectory(atPath: f.root).map { chown(f.root + "/" + $0, 65534, 65534) }
        chown(f.root, 65534, 65534)
        try FileManager.default.removeItem(atPath: f.root + "/objects/ab")   // a fan-out folder made now, by root
        let bd = try BackupDatabase(at: f.root, options: { var o = SessionOptions(); o.trust = true; return o }())
        defer { bd.close() }
        var content = "", id = ""
        for n in 0..<5000 where !id.hasPrefix("ab") {   // a file whose object goes into objects/ab
            content = "data \(n)"
            try Data(content.utf8).write(to: URL(fileURLWithPath: f.work + "/probe"))
            id = try bd.objects.hash(of: f.work + "/probe")
        }
        let i = try bd.newbu(try f.file("x.txt", content))
        let object = bd.objects.path(of: try bd.backup(i).data.object)
        #expect(FS.stat(object)?.st_uid == 65534 && FS.stat(f.root + "/objects/ab")?.st_uid == 65534)
    }
}
