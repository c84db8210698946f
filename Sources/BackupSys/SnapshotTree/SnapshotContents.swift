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

    /// What a snapshot holds at and under a path, each list by path.
    struct Contents {
        var files: [SnapshotFile] = []
        var links: [SnapshotLink] = []
        /// The folders the walk went through (not those only on the way to an include).
        var folders: [SnapshotFolder] = []
    }

    /// A snapshot's files, links and folders (all, or those at and under
    /// `under`) in one walk of its tree. Each file costs an indexed lookup of
    /// its path and its version's data, which `files: false` skips. A file
    /// keeps its hard-link group only if another file of the group is among them.
    static func read(_ db: Database, sid: String, under: Path? = nil, files withFiles: Bool = true) throws -> Contents {
        var c = Contents()
        let selected = { (p: Path) in under.map { p.isAtOrUnder($0) } ?? true }
        try TreeStore(db).walk(try root(db, sid), under: under) { path, node in
            if let m = node.metadata, selected(path) {
                c.folders.append(SnapshotFolder(path: path, mode: m.mode, mtimeNs: m.mtimeNs, owner: m.owner, xattrs: m.xattrs))
            }
            for l in node.links {
                let at = path.appending(l.name)
                if selected(at) { c.links.append(SnapshotLink(path: at, target: l.target, mtimeNs: l.mtimeNs, owner: l.owner)) }
            }
            guard withFiles else { return }
            for f in node.files {
                guard let (path, data) = try Catalog.snapshotFile(db, backup: f.backup, version: f.version) else {
                    throw BMError(21, "catalog table tree: snapshot \(sid) holds backup \(f.backup), which is not in the catalog")
                }
                if selected(path) { c.files.append(SnapshotFile(path: path, backup: f.backup, version: f.version, data: data, hardlink: f.hardlink)) }
            }
        }
        c.files.sort { $0.path < $1.path }
        c.links.sort { $0.path < $1.path }
        c.folders.sort { $0.path < $1.path }
        // A group of one (its other links are outside the tree, or not restored now) is a plain file.
        var members: [Int64: Int] = [:]
        for f in c.files { if let h = f.hardlink { members[h, default: 0] += 1 } }
        for i in c.files.indices where c.files[i].hardlink.map({ members[$0]! < 2 }) == true { c.files[i].hardlink = nil }
        return c
    }

    static func files(_ db: Database, sid: String, under: Path? = nil) throws -> [SnapshotFile] {
        try read(db, sid: sid, under: under).files
    }

    static func links(_ db: Database, sid: String, under: Path? = nil) throws -> [SnapshotLink] {
        try read(db, sid: sid, under: under, files: false).links
    }

    static func folders(_ db: Database, sid: String, under: Path? = nil) throws -> [SnapshotFolder] {
        try read(db, sid: sid, under: under, files: false).folders
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
