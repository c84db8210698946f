import Foundation
import GRDB
import Glibc

/// A snapshot as folders one can browse, made of hard links to its objects.
struct BrowseView {
    let session: BackupDatabase

    init(_ session: BackupDatabase) { self.session = session }

    /// `snapshots/<sid>/<original absolute path>`: the tree's folders, hard
    /// links to the objects, and the tree's symbolic links as they were, built
    /// under a hidden name through descriptors (no path is too long for it)
    /// and renamed into place.
    func make(sid: String, _ db: Database) throws {
        let views = try session.repository.folder(["snapshots"])
        let objects = try session.repository.folder(["objects"])
        let partialName = Path(".\(sid).partial")
        views.removeTree(partialName)
        let owner = session.repository.foreignOwner
        let cursor = FolderCursor(base: try views.makeFolder(partialName, mode: 0o755), makingWith: 0o755) { folder in
            if let owner { fchown(folder.fd, owner.uid, owner.gid) }
        }
        // Folder by folder down the snapshot's tree (never the whole snapshot in
        // memory): the walked folders, the empty ones too, hard links to the
        // objects, and the links as they were. A file's folder may be one that
        // was not walked (the way to an include that is a file): made as needed.
        try TreeStore(db).walk(try SnapshotContents.root(db, sid)) { path, node in
            if node.metadata != nil { _ = try cursor.folder(path.components[...]) }
            for f in node.files {
                guard let (filePath, data) = try Catalog.snapshotFile(db, backup: f.backup, version: f.version) else {
                    throw BMError(21, "catalog table tree: snapshot \(sid) holds backup \(f.backup), which is not in the catalog")
                }
                guard let object = data?.object else { continue }
                let (folder, name) = try cursor.parent(of: filePath.components)
                let linked = Path("\(object.prefix(2))/\(object)").withCString { o in name.withCString { linkat(objects.fd, o, folder.fd, $0, 0) } }
                if linked != 0 {   // too many links to one object (EMLINK): a copy of it
                    let fd = folder.createFile(name, mode: 0o444)
                    guard fd >= 0 else { throw FS.failure("cannot create", folder.path.appending(name)) }
                    defer { close(fd) }
                    try session.objects.copy(object, to: fd, destination: folder.path.appending(name))
                }
            }
            for l in node.links {
                let (folder, name) = try cursor.parent(of: path.appending(l.name).components)
                guard l.target.withCString({ t in name.withCString { symlinkat(t, folder.fd, $0) } }) == 0 else {
                    throw FS.failure("cannot create the link", folder.path.appending(name))
                }
            }
        }
        guard partialName.withCString({ p in Path(sid).withCString { renameat(views.fd, p, views.fd, $0) } }) == 0 else {
            throw FS.failure("cannot create the browse view", session.repository.root + "/snapshots/" + sid)
        }
    }

    /// The view of `sid` goes, whole or half-built: its record is gone, or never committed.
    func remove(_ sid: String) {
        guard let views = try? session.repository.folder(["snapshots"]) else { return }
        for view in [sid, ".\(sid).partial"] { views.removeTree(Path(view)) }
    }
}
