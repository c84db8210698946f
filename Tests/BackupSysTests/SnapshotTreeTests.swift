import Foundation
import GRDB
import Glibc
import Synchronization
import Testing
import TestSupport
@testable import BackupSys

/// Snapshots that cost what changed (design.md, "Snapshot trees").
@Suite struct SnapshotTreeTests {
    /// The id of the node of `folder` in snapshot `sid`'s tree.
    func node(_ bd: BackupDatabase, _ sid: String, at folder: String) throws -> Int64 {
        try bd.read { db in
            var id = try SnapshotContents.root(db, sid)
            for name in Path(folder).components {
                id = try #require(try TreeStore(db).node(id).folders.first { $0.name == name }).tree
            }
            return id
        }
    }

    /// `folders` folders d0, d1, … of `files` small files each, under the fixture's tree.
    func makeFolders(_ s: SnapshotFixture, _ folders: Int, of files: Int) throws {
        for d in 0..<folders {
            try FileManager.default.createDirectory(atPath: s.tree + "/d\(d)", withIntermediateDirectories: true)
            for i in 0..<files { try s.write("d\(d)/f\(i)", "\(d)/\(i)") }
        }
    }

    func treeRows(_ bd: BackupDatabase) throws -> Int {
        try bd.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM tree") ?? 0 }
    }

    /// The catalog's size once packed (VACUUM INTO): what its rows take, free pages left out.
    func packedSize(_ f: Fixture) throws -> Int {
        let copy = f.base + "/packed-\(UUID().uuidString).sqlite"
        defer { unlink(copy) }
        try f.bd.dbQueueForTests.writeWithoutTransaction { try $0.execute(sql: "VACUUM INTO ?", arguments: [copy]) }
        return Int(FS.stat(copy)!.st_size)
    }

    @Test func anUnchangedFolderIsStoredOnceAndOutlivesTheOtherSnapshot() throws {
        let s = try SnapshotFixture()
        for i in 0..<20 { try s.write("sub/keep\(i).txt", "kept \(i)") }
        let first = try #require(try s.run(at: Date(timeIntervalSinceNow: -60)).sid)
        let rowsAfterFirst = try treeRows(s.f.bd)
        try s.write("a.txt", "alpha, changed")
        let second = try #require(try s.run().sid)
        // The same node for sub in both; only the changed folder's node and the
        // nodes above it (tree, and the folders on the way to it) are new.
        #expect(try node(s.f.bd, first, at: s.tree + "/sub") == node(s.f.bd, second, at: s.tree + "/sub"))
        #expect(try node(s.f.bd, first, at: s.tree) != node(s.f.bd, second, at: s.tree))
        let depth = Path(s.tree).components.count
        #expect(try treeRows(s.f.bd) == rowsAfterFirst + depth + 1)
        let files = try s.f.bd.snapshotFiles(second)
        #expect(files.count == 22)

        try s.f.bd.removeSnapshot(first)
        #expect(try treeRows(s.f.bd) == rowsAfterFirst, "the first's own nodes went, the shared one stayed")
        #expect(try s.f.bd.snapshotFiles(second) == files)
        #expect(try Checker(s.f.bd).check(readData: true).ok)
        let r = try s.f.bd.restore(second, to: s.f.base + "/out")
        #expect(r.failed.isEmpty && r.restored.count == 22)
        #expect(try s.f.read(s.f.base + "/out" + s.tree + "/sub/keep7.txt") == "kept 7")
    }

    /// 5,000 files in 50 folders: a snapshot where one file changed adds its
    /// version and the nodes on the way to it, not a row per file.
    @Test func aSnapshotGrowsTheCatalogByWhatChanged() throws {
        let s = try SnapshotFixture()
        try makeFolders(s, 50, of: 100)
        _ = try #require(try s.run(at: Date(timeIntervalSinceNow: -60)).sid)
        let before = try packedSize(s.f)
        // Nothing changed: no snapshot, nothing kept of the run.
        let unchanged = try s.run(at: Date(timeIntervalSinceNow: -30))
        #expect(unchanged.sid == nil && unchanged.unchangedFiles == 5002)
        #expect(try packedSize(s.f) == before)
        try s.write("d7/f3", "changed")
        let summary = try s.run()
        #expect(summary.sid != nil && summary.changedFiles == 1)
        let growth = try packedSize(s.f) - before
        #expect(growth < 10_000, "the catalog grew by \(growth) bytes")
    }

    /// `snapshots diff` reads only the folders that differ: a shared folder's
    /// node made unreadable does not stop it, though reading the whole snapshot fails.
    @Test func diffAndARestoreOfOneFileReadOnlyWhatTheyNeed() throws {
        let s = try SnapshotFixture()
        try FileManager.default.createDirectory(atPath: s.tree + "/other", withIntermediateDirectories: true)
        try s.write("other/c.txt", "gamma")
        let first = try #require(try s.run(at: Date(timeIntervalSinceNow: -60)).sid)
        try s.write("sub/b.txt", "beta, changed")
        try s.write("sub/new.txt", "new")
        let second = try #require(try s.run().sid)
        let shared = try node(s.f.bd, second, at: s.tree + "/other")
        #expect(try node(s.f.bd, first, at: s.tree + "/other") == shared)
        try ContainmentTests().craft(s.f, "UPDATE tree SET content = X'FF' WHERE id = \(shared)")

        let changes = try Differ(s.f.bd).diff(first, second)
        #expect(changes.contains { $0.path.text == s.tree + "/sub/b.txt" && $0.change == .modified })
        #expect(changes.contains { $0.path.text == s.tree + "/sub/new.txt" && $0.change == .added })
        #expect(!changes.contains { $0.path.text.hasPrefix(s.tree + "/other") })
        expectError(21) { _ = try s.f.bd.snapshotFiles(second) }

        let one = try s.f.bd.restore(second, path: s.tree + "/sub/b.txt", to: s.f.base + "/out")
        #expect(one.failed.isEmpty && one.restored.count == 1)
        #expect(try s.f.read(s.f.base + "/out" + s.tree + "/sub/b.txt") == "beta, changed")
    }

    /// A stopped run interned the folders it had left, but recorded no
    /// snapshot to hold them: check passes, and gc (or the next run) removes them.
    @Test func nodesAStoppedRunLeftAreRemoved() throws {
        let s = try SnapshotFixture()
        try makeFolders(s, 6, of: 50)
        func stopped() {
            let asked = Mutex(0)
            #expect(throws: Interrupted.self) {
                _ = try s.run(batchSize: 16, workers: 2, stopWhen: { asked.withLock { $0 += 1; return $0 > 200 } })
            }
        }
        stopped()
        #expect(try !s.f.bd.read { try Catalog.unheldTrees($0) }.isEmpty)
        #expect(try Checker(s.f.bd).check().ok)
        #expect(try GarbageCollector(s.f.bd).collect().trees > 0)
        #expect(try treeRows(s.f.bd) == 0)
        stopped()
        let sid = try #require(try s.run().sid)
        #expect(try s.f.bd.read { try Catalog.unheldTrees($0) }.isEmpty)
        #expect(try s.f.bd.snapshotFiles(sid).count == 302)
        #expect(try Checker(s.f.bd).check(readData: true).ok)
    }

    /// A catalog of schema v4 (a row per file, link and folder of each
    /// snapshot) opens with every snapshot as it was: files with their
    /// versions and hard-link groups, links, folders walked and not.
    @Test func snapshotsOfSchemaV4AreMigratedIdentical() throws {
        let f = try Fixture()
        let (queue, catalog) = try f.olderCatalog(upTo: "v4: names are bytes")
        let id = try f.bd.objects.put(from: open(try f.file("data.txt", "data"), O_RDONLY), name: "data.txt").id
        f.bd.objects.sync()
        // Paths bytewise, one of them not UTF-8, and folders `a` and `a-b` whose walk order differs from their paths' order.
        let paths: [[UInt8]] = [Array("/h/a/x".utf8), Array("/h/a-b/y".utf8), Array("/h/a/deep/z".utf8), [0x2F, 0x68, 0x2F, 0x6E, 0xE9], Array("/h/link2".utf8)]
        try queue.write { db in
            for (i, p) in paths.enumerated() {
                try db.execute(sql: """
                    INSERT INTO backup (idx, path, name, grp, object, size, mode, mtime_ns, created, updated, next_version, uid, gid)
                    VALUES (?, ?, ?, 1, ?, 4, 420, 0, 0, 0, 3, 0, 0)
                    """, arguments: [i + 1, Data(p), Data(Path(p).baseName.bytes), id])
                for v in 1...2 {
                    try db.execute(sql: "INSERT INTO version (backup, idx, object, size, mode, mtime_ns, time, uid, gid) VALUES (?, ?, ?, 4, 420, 0, 0, 0, 0)",
                                   arguments: [i + 1, v, id])
                }
            }
            try db.execute(sql: """
                INSERT INTO snapshot (sid, profile, time, status) VALUES ('20260101-000000-001', 1, 0, 'ok'), ('20260102-000000-002', 1, 1, 'with errors');
                INSERT INTO snapshot_entry (sid, backup, version, hardlink) VALUES
                    ('20260101-000000-001', 1, 1, 1), ('20260101-000000-001', 2, 1, 1), ('20260101-000000-001', 3, 1, NULL), ('20260101-000000-001', 4, 1, NULL),
                    ('20260102-000000-002', 1, 2, NULL), ('20260102-000000-002', 2, 1, NULL), ('20260102-000000-002', 5, 2, NULL);
                INSERT INTO snapshot_link (sid, path, target, mtime_ns, uid, gid) VALUES
                    ('20260101-000000-001', CAST('/h/a/l' AS BLOB), CAST('../a-b/y' AS BLOB), 5, 1, 2),
                    ('20260102-000000-002', CAST('/h/l' AS BLOB), X'2FFF', -7, 0, 0);
                INSERT INTO snapshot_folder (sid, path, mode, mtime_ns, uid, gid, xattrs) VALUES
                    ('20260101-000000-001', CAST('/h' AS BLOB), 493, 10, 0, 0, NULL),
                    ('20260101-000000-001', CAST('/h/a' AS BLOB), 448, 11, 1000, 1000, X'757365722E7400010000007A'),
                    ('20260101-000000-001', CAST('/h/empty' AS BLOB), 511, 12, 0, 0, NULL),
                    ('20260102-000000-002', CAST('/h' AS BLOB), 493, 13, 0, 0, NULL);
                """)
        }
        let old = try queue.read { db in
            try (1...2).map { n -> (files: [String], links: [String], folders: [String]) in
                let sid = n == 1 ? "20260101-000000-001" : "20260102-000000-002"
                let files = try Row.fetchAll(db, sql: """
                    SELECT b.path, e.backup, e.version, e.hardlink FROM snapshot_entry e JOIN backup b ON b.idx = e.backup WHERE sid = ? ORDER BY b.path
                    """, arguments: [sid]).map { "\(Path(bytes: ($0[0] as Data))) \($0[1] as Int64) \($0[2] as Int64) \(($0[3] as Int64?).map(String.init) ?? "-")" }
                let links = try Row.fetchAll(db, sql: "SELECT path, target, mtime_ns, uid, gid FROM snapshot_link WHERE sid = ? ORDER BY path", arguments: [sid])
                    .map { "\(Path(bytes: ($0[0] as Data))) \(Path(bytes: ($0[1] as Data))) \($0[2] as Int64) \($0[3] as Int64):\($0[4] as Int64)" }
                let folders = try Row.fetchAll(db, sql: "SELECT path, mode, mtime_ns, uid, gid, xattrs FROM snapshot_folder WHERE sid = ? ORDER BY path", arguments: [sid])
                    .map { "\(Path(bytes: ($0[0] as Data))) \($0[1] as Int64) \($0[2] as Int64) \($0[3] as Int64):\($0[4] as Int64) \(($0[5] as Data?)?.count ?? 0)" }
                return (files, links, folders)
            }
        }
        try queue.close()
        f.bd.close()
        for suffix in ["", "-wal", "-shm"] { unlink(f.root + "/catalog.sqlite" + suffix) }
        #expect(rename(catalog, f.root + "/catalog.sqlite") == 0)

        let bd = try BackupDatabase(at: f.root)
        defer { bd.close() }
        #expect(try bd.snapshots().map { "\($0.sid) \($0.status) \($0.files) \($0.links)" }
                == ["20260101-000000-001 ok 4 1", "20260102-000000-002 with errors 3 1"])
        for (n, sid) in ["20260101-000000-001", "20260102-000000-002"].enumerated() {
            let files = try bd.snapshotFiles(sid).map { "\($0.path) \($0.backup) \($0.version) \($0.hardlink.map(String.init) ?? "-")" }
            let links = try bd.snapshotLinks(sid).map { "\($0.path) \($0.target) \($0.mtimeNs) \($0.owner.uid):\($0.owner.gid)" }
            let folders = try bd.read { db in try SnapshotContents.folders(db, sid: sid) }
                .map { "\($0.path) \($0.mode) \($0.mtimeNs) \($0.owner.uid):\($0.owner.gid) \($0.xattrs?.encoded.count ?? 0)" }
            #expect(files == old[n].files)
            #expect(links == old[n].links)
            #expect(folders == old[n].folders)
        }
        #expect(try Checker(bd).check(readData: true).ok)
    }
}
