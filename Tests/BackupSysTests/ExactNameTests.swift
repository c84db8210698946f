import Foundation
import GRDB
import Testing
@testable import BackupSys
import TestSupport
@testable import HookVM

/// design.md, "Names are bytes": every name is kept. Every name Linux allows is kept, exactly.
@Suite struct ExactNameTests {
    static let nfc: [UInt8] = Array("caf\u{E9}.txt".utf8)           // é as one scalar
    static let nfd: [UInt8] = Array("cafe\u{301}.txt".utf8)         // e + combining acute
    static let binary: [UInt8] = [0xFF, 0xFE] + Array(".bin".utf8)
    static let latin1Folder: [UInt8] = Array("d".utf8) + [0xE9, 0x6A, 0xE0]   // "déjà" in Latin-1

    /// A file `name` in `folder` holding `data`, made through descriptors (no path is too long).
    static func make(_ folder: Folder, _ name: [UInt8], _ data: String, mode: mode_t = 0o644) throws {
        let fd = folder.createFile(Path(name), mode: mode)
        try #require(fd >= 0)
        defer { close(fd) }
        let bytes = Array(data.utf8)
        #expect(write(fd, bytes, bytes.count) == bytes.count)
    }

    /// Every entry under `folder`: relative path (bytes) → what it is, byte for byte.
    static func listing(_ folder: Folder, _ prefix: [UInt8] = []) throws -> [[UInt8]: String] {
        var out: [[UInt8]: String] = [:]
        for e in try folder.entries() {
            let rel = prefix + [0x2F] + e.name.bytes
            let st = try #require(folder.stat(e.name))
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                out[rel] = "folder"
                out.merge(try listing(folder.folder(e.name), rel)) { a, _ in a }
            case S_IFLNK:
                out[rel] = "link \(try folder.linkTarget(e.name).bytes)"
            default:
                let fd = folder.openFile(e.name)
                defer { close(fd) }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = read(fd, &buffer, buffer.count)
                out[rel] = "file \(buffer.prefix(max(n, 0))) mode \(String(st.st_mode & 0o7777, radix: 8)) mtime \(FS.nanoseconds(st.st_mtim))"
            }
        }
        return out
    }

    /// A path's last name and the `-N` names made from it are bytes, found
    /// from the end: trailing slashes skipped, the root its own, a leading
    /// dot no extension, a name that is not UTF-8 kept as it is.
    @Test func baseNamesAndTheirSuffixedNamesAreExactBytes() {
        let cases: [([UInt8], [UInt8])] = [
            (Array("/a/b/notes.txt".utf8), Array("notes.txt".utf8)),
            (Array("/a/b/".utf8), Array("b".utf8)),
            (Array("plain".utf8), Array("plain".utf8)),
            (Array("/".utf8), Array("/".utf8)),
            (Array("//x//".utf8), Array("x".utf8)),
            ([0x2F] + Self.latin1Folder + [0x2F] + Self.binary, Self.binary),
        ]
        for (path, base) in cases {
            #expect(Path(path).baseName.bytes == base, "\(path)")
            #expect(Path(path).baseName.bytes == (Path(path).components.last?.bytes ?? path), "\(path)")
        }
        #expect(BackupDatabase.name(Path("notes.txt"), suffix: 2).bytes == Array("notes-2.txt".utf8))
        #expect(BackupDatabase.name(Path(".profile"), suffix: 3).bytes == Array(".profile-3".utf8))
        #expect(BackupDatabase.name(Path(Self.binary), suffix: 2).bytes == [0xFF, 0xFE] + Array("-2.bin".utf8))
        #expect(BackupDatabase.name(Path(Self.nfd), suffix: 2).bytes == Array("cafe\u{301}-2.txt".utf8))
    }

    @Test func everyNameIsStoredAndComesBackByteForByte() throws {
        let s = try SnapshotFixture()
        let tree = try Folder.open(Path(s.tree))
        try Self.make(tree, Self.nfc, "composed")
        try Self.make(tree, Self.nfd, "decomposed")
        try Self.make(tree, Self.binary, "binary", mode: 0o600)
        let latin = try tree.makeFolder(Path(Self.latin1Folder))
        try Self.make(latin, Array("inside.txt".utf8), "in a Latin-1 folder")
        #expect(Path(Self.latin1Folder + [0x2F, 0xFF]).withCString { symlinkat($0, tree.fd, "odd-link") } == 0)
        // A file at a path of more than 4,000 bytes: twenty folders of 200-byte names.
        var deep = tree
        for i in 0..<20 { deep = try deep.makeFolder(Path(Array(repeating: UInt8(ascii: "a") + UInt8(i), count: 200))) }
        try Self.make(deep, Array("deep.txt".utf8), "far down")
        #expect(deep.path.appending("deep.txt").bytes.count > 4000)

        let first = try s.run(at: Date(timeIntervalSinceNow: -3600))
        let sid = try #require(first.sid)
        #expect(first.failedFiles == 0 && first.newFiles == 7 && first.links == 1, "\(first.errors)")
        #expect(try s.f.bd.snapshotFiles(sid).count == 7)
        #expect(try Differ(s.f.bd).diff(sid, sid).isEmpty)
        // Two names that are canonically equivalent are two backups, each with its own data.
        let composed = try s.f.bd.resolve(Path(s.tree).appending(Path(Self.nfc)))
        let decomposed = try s.f.bd.resolve(Path(s.tree).appending(Path(Self.nfd)))
        #expect(composed.index != decomposed.index && composed.data.object != decomposed.data.object)

        let out = s.f.base + "/out"
        let r = try Restorer(s.f.bd).restore(sid, to: Path(out))
        #expect(r.failed.isEmpty, "\(r.failed)")
        let back = try Folder.open(Path(out)).descend(Path(s.tree).components)
        #expect(try Self.listing(back) == Self.listing(tree))

        let second = try s.run()
        #expect(second.sid == nil && second.unchangedFiles == 7 && second.filesRead == 0)
    }

    /// The walk gives each new file to newbu and newver through one descriptor: one read.
    @Test func aNewFileIsReadOnceAndHook6StillDecides() throws {
        let s = try SnapshotFixture()
        let first = try s.run(at: Date(timeIntervalSinceNow: -3600))
        #expect(first.newFiles == 2 && first.filesRead == 2)
        let a = try s.f.bd.resolve(s.tree + "/a.txt")
        #expect(try s.f.bd.versions(of: a.index).map(\.data.object) == [a.data.object])

        // With hook 6, the version is what it says: its bhin as ever, its bhout stored.
        let seen = s.f.base + "/seen", other = try s.f.file("other.txt", "from hook 6")
        try s.f.hook(6, "local f = io.open('\(seen)', 'w') f:write(bhin[1], '|', bhin[5], '|', bhin[6]) f:close() bhout = '\(other)'")
        try s.write("c.txt", "gamma")
        let next = try s.run()
        #expect(next.newFiles == 1)
        let c = try s.f.bd.resolve(s.tree + "/c.txt")
        let version = try #require(try s.f.bd.versions(of: c.index).first)
        #expect(try s.f.objectBytes(version.data.object) == "from hook 6" && s.f.objectBytes(c.data.object) == "gamma")
        #expect(try s.f.read(seen) == s.tree + "/c.txt|snapshot \(try #require(next.sid))|1")
    }

    /// A file that became a link or a FIFO after the walk listed it is that
    /// file's error: no data from another file, and no hang on the FIFO.
    @Test func aFileSwappedAfterTheWalkIsItsOwnError() throws {
        let s = try SnapshotFixture()
        try s.write("c.txt", "gamma")
        try s.write("d.txt", "delta")
        // Hook 2 of a.txt (the first file) runs after the folder was listed; one
        // thread, so no worker opens c.txt or d.txt ahead of it.
        try s.f.hook(2, """
            if bhin[1]:match('a%.txt$') then
              os.remove('\(s.tree)/c.txt') os.execute("ln -s a.txt '\(s.tree)/c.txt'")
              os.remove('\(s.tree)/d.txt') os.execute("mkfifo '\(s.tree)/d.txt'")
            end
            """)
        let summary = try s.run(batchSize: 1, workers: 1)
        #expect(summary.failedFiles == 2 && summary.newFiles == 2, "\(summary.errors)")
        #expect(summary.errors.allSatisfy { $0.hasPrefix("error 12:") }, "\(summary.errors)")
        #expect(try s.f.bd.backups().count == 2)
    }

    /// A hook sees a name as its exact bytes, and a bhout that is not UTF-8 names the file it stores.
    @Test func hooksSeeAndGiveExactBytes() throws {
        let f = try Fixture()
        let work = try Folder.open(Path(f.work))
        let name = Array("caf".utf8) + [0xE9]
        try Self.make(work, name, "latin-1 name")
        try Self.make(work, [0xFF, 0x2E, 0x67, 0x7A], "stored instead")   // "\xff.gz"
        let seen = f.base + "/seen"
        try f.hook(1, "local f = io.open('\(seen)', 'w') f:write(#bhin[1], ' ', bhin[1]:byte(-1)) f:close() bhout = '\(f.work)/' .. string.char(255) .. '.gz'")
        let i = try f.bd.newbu(Path(f.work).appending(Path(name)))
        #expect(try f.read(seen) == "\(f.work.utf8.count + 5) 233")
        let b = try f.bd.backup(i)
        #expect(b.path.bytes == Array(f.work.utf8) + [0x2F] + name && b.name.bytes == name)
        #expect(try f.objectBytes(b.data.object) == "stored instead")
    }

    /// Paths stored as text by the schema before v4 are bytes after it:
    /// every backup, version, field, snapshot, link and folder is there and restores.
    @Test func aCatalogOfSchemaV3IsMigrated() throws {
        let f = try Fixture()
        let (queue, catalog) = try f.olderCatalog(upTo: "v3: owners, snapshot links and folders")
        // One object, used by a backup's current copy and its version.
        let id = try f.bd.objects.put(from: open(try f.file("data.txt", "old data"), O_RDONLY), name: "data.txt").id
        f.bd.objects.sync()
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO backup (idx, path, name, grp, stored_away, object, size, mode, mtime_ns, created, updated, next_version, uid, gid)
                VALUES (7, '/home/u/café.txt', 'café.txt', 1, 0, '\(id)', 8, 420, 1000000000, 0, 0, 2, 0, 0);
                INSERT INTO version (backup, idx, object, size, mode, mtime_ns, comment, time, uid, gid)
                VALUES (7, 1, '\(id)', 8, 420, 1000000000, 'first', 0, 0, 0);
                INSERT INTO field (name, type) VALUES ('tag', 'd');
                INSERT INTO field_value (field, owner, kind, value) VALUES ('tag', 7, 'i', 42);
                INSERT INTO snapshot (sid, profile, time, status) VALUES ('20260101-000000-001', 1, 0, 'ok');
                INSERT INTO snapshot_entry (sid, backup, version) VALUES ('20260101-000000-001', 7, 1);
                INSERT INTO snapshot_link (sid, path, target, mtime_ns, uid, gid) VALUES ('20260101-000000-001', '/home/u/link', 'café.txt', 0, 0, 0);
                INSERT INTO snapshot_folder (sid, path, mode, mtime_ns, uid, gid) VALUES ('20260101-000000-001', '/home/u', 493, 0, 0, 0);
                DELETE FROM backup WHERE idx = 7 AND 0;
                UPDATE sqlite_sequence SET seq = 9 WHERE name = 'backup';
                """)
        }
        try queue.close()
        f.bd.close()
        for suffix in ["", "-wal", "-shm"] { unlink(f.root + "/catalog.sqlite" + suffix) }
        #expect(rename(catalog, f.root + "/catalog.sqlite") == 0)

        let bd = try BackupDatabase(at: f.root)
        defer { bd.close() }
        let b = try bd.resolve(Path("/home/u/café.txt"))
        #expect(b.index == 7 && b.name == Path("café.txt") && b.group == 1 && b.data.object == id && b.data.size == 8)
        #expect(try bd.versions(of: 7).map { "\($0.index) \($0.data.object == id) \($0.comment)" } == ["1 true first"])
        #expect(try bd.fieldValues("tag", owner: 7).map(\.value) == [.integer(42)])
        #expect(try bd.snapshotFiles("20260101-000000-001").map(\.path) == [Path("/home/u/café.txt")])
        #expect(try bd.snapshotLinks("20260101-000000-001").map { [$0.path, $0.target] } == [[Path("/home/u/link"), Path("café.txt")]])
        let r = try Restorer(bd).restore("20260101-000000-001", to: Path(f.base + "/out"))
        #expect(r.failed.isEmpty && r.restored.count == 2, "\(r.failed)")
        #expect(try f.read(f.base + "/out/home/u/café.txt") == "old data")
        // The index counter came across: a new backup does not take a used index.
        #expect(try bd.newbu(try f.file("new.txt", "n")) == 10)
    }

    /// The hook tables of README.md and docs/hooks.md say what `Hook` does.
    @Test func theHookTablesAgreeWithTheHookType() throws {
        for file in ["README.md", "docs/hooks.md"] {
            let text = try String(contentsOfFile: packageRoot + "/" + file, encoding: .utf8)
            for c in Hook.contracts {
                #expect(text.contains(Hook.tableRow(c) + "\n"), "\(file) lacks: \(Hook.tableRow(c))")
            }
        }
        for n in Hook.numbers {
            let sample = try #require(Hook.sample(n))
            #expect(sample.number == n)
            #expect(sample.bhin.count == (Hook.contracts[n - 1].inputs ?? Hook.contracts[8].inputs!).count)
        }
    }
}
