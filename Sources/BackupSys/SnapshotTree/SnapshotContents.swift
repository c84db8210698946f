import GRDB

/// What a snapshot holds, read from its tree: its files, links and folders
/// (all, or those at and under a path, reading only that part of the tree),
/// and which snapshots hold a backup or a version (looked up where the
/// backup's folder is, not by reading whole trees).
enum SnapshotContents {
    static func root(_ db: Database, _ sid: String) throws -> Int64 {
        guard let root = try Catalog.snapshotRoot(db, sid: sid) else { throw BMError(22, "no snapshot \(sid) (see: bmlua snapshots)") }
        return root
    }

    /// The files, by original path, with the data of each one's version (nil
    /// if that version is gone) and its hard-link group if another file of the
    /// group is among them: one walk and one indexed lookup a file.
    static func files(_ db: Database, sid: String, under: Path? = nil) throws -> [SnapshotFile] {
        var files: [SnapshotFile] = []
        try TreeStore(db).walk(try root(db, sid), under: under) { _, node in
            for f in node.files {
                guard let (path, data) = try Catalog.snapshotFile(db, backup: f.backup, version: f.version) else {
                    throw BMError(21, "catalog table tree: snapshot \(sid) holds backup \(f.backup), which is not in the catalog")
                }
                if let under, !path.isAtOrUnder(under) { continue }
                files.append(SnapshotFile(path: path, backup: f.backup, version: f.version, data: data, hardlink: f.hardlink))
            }
        }
        files.sort { $0.path < $1.path }
        // A group of one (its other links are outside the tree, or not restored now) is a plain file.
        var members: [Int64: Int] = [:]
        for f in files { if let h = f.hardlink { members[h, default: 0] += 1 } }
        for i in files.indices where files[i].hardlink.map({ members[$0]! < 2 }) == true { files[i].hardlink = nil }
        return files
    }

    static func links(_ db: Database, sid: String, under: Path? = nil) throws -> [SnapshotLink] {
        var links: [SnapshotLink] = []
        try TreeStore(db).walk(try root(db, sid), under: under) { path, node in
            for l in node.links {
                let at = path.appending(l.name)
                if let under, !at.isAtOrUnder(under) { continue }
                links.append(SnapshotLink(path: at, target: l.target, mtimeNs: l.mtimeNs, owner: l.owner))
            }
        }
        return links.sorted { $0.path < $1.path }
    }

    /// The folders the walk went through (not those only on the way to an include).
    static func folders(_ db: Database, sid: String, under: Path? = nil) throws -> [SnapshotFolder] {
        var folders: [SnapshotFolder] = []
        try TreeStore(db).walk(try root(db, sid), under: under) { path, node in
            guard let m = node.metadata, under.map({ path.isAtOrUnder($0) }) ?? true else { return }
            folders.append(SnapshotFolder(path: path, mode: m.mode, mtimeNs: m.mtimeNs, owner: m.owner, xattrs: m.xattrs))
        }
        return folders.sorted { $0.path < $1.path }
    }

    /// Each version a snapshot holds, by tree node, each node read once
    /// however many snapshots share it; nodes in `skipping` are not read.
    static func versions(_ db: Database, roots: [Int64], skipping: Set<Int64> = [], visited: inout Set<Int64>) throws -> Set<[Int64]> {
        let store = TreeStore(db)
        var held: Set<[Int64]> = [], pending = roots
        while let id = pending.popLast() {
            guard !skipping.contains(id), visited.insert(id).inserted else { continue }
            let node = try store.node(id)
            for f in node.files { held.insert([f.backup, f.version]) }
            pending += node.folders.map(\.tree)
        }
        return held
    }

    /// The snapshots whose file `backup` is (in version `version`, if given):
    /// each looked up in the backup's folder, a node read once however many share it.
    static func holding(_ db: Database, backup: Int64, version: Int64? = nil) throws -> [String] {
        let b = try Catalog.existingBackup(db, index: backup)
        let store = TreeStore(db)
        var answers: [Int64: Bool] = [:]
        return try Catalog.snapshotRoots(db).filter { s in
            if let known = answers[s.root] { return known }
            let node = try store.node(s.root, at: b.path.directory)
            let held = node?.files.contains { $0.backup == backup && (version == nil || $0.version == version) } ?? false
            answers[s.root] = held
            return held
        }.map(\.sid)
    }

    /// Takes a backup out of every snapshot that holds it (delete): each such
    /// tree is stored again along the backup's folder, the rest shared.
    static func remove(backup b: Backup, from sids: [String], _ db: Database) throws {
        let store = TreeStore(db)
        var rewritten: [Int64: Int64] = [:]
        for s in try Catalog.snapshotRoots(db) where sids.contains(s.sid) {
            let root = try rewritten[s.root] ?? store.rewrite(s.root, at: b.path.directory) { node in
                node.files.removeAll { $0.backup == b.index }
            } ?? s.root
            rewritten[s.root] = root
            try Catalog.setSnapshotRoot(db, sid: s.sid, root: root, filesRemoved: 1)
            try Catalog.addTreeReference(db, root)
            try store.release(s.root)
        }
    }
}
