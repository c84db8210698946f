import Foundation
import GRDB
import Glibc
import Synchronization

/// A snapshot as folders one can browse, made of hard links to its objects.
struct BrowseView {
    let session: BackupDatabase

    init(_ session: BackupDatabase) { self.session = session }

    /// `snapshots/<sid>/<original absolute path>`: the tree's folders, hard
    /// links to the objects, and the tree's symbolic links as they were, built
    /// under a hidden name through descriptors (no path is too long for it)
    /// and renamed into place. A snapshot run links the files it stores as it
    /// stores them (`ViewBuilder.add`), and the rest when it is recorded (`finish`).
    func begin(sid: String) throws -> ViewBuilder {
        try ViewBuilder(session, sid: sid)
    }

    /// The view of `sid` goes, whole or half-built: its record is gone, or never committed.
    func remove(_ sid: String) {
        guard let views = try? session.repository.folder(["snapshots"]) else { return }
        for view in [sid, ".\(sid).partial"] { views.removeTree(Path(view)) }
    }
}

/// One browse view as it is built, under `.<sid>.partial`. A snapshot run
/// adds the files it stores while their objects are at hand, a folder's batch
/// at a time, linked by workers while the run reads on; `finish` walks the
/// snapshot's tree for the rest (files stored before, empty folders, links)
/// and renames the view into place. A first snapshot's view is so made
/// during the run, not in a second pass that read every file's row again.
final class ViewBuilder {
    private let session: BackupDatabase
    private let sid: String
    private let views: Folder
    private let partialName: Path
    private let cursor: FolderCursor
    private let links: ViewLinks
    private var batch: [(name: Path, object: String)] = [], batchFolder: Folder?
    /// The backups whose file is linked already (the run's versions of them).
    private var added = Set<Int64>()
    private var finished = false

    fileprivate init(_ session: BackupDatabase, sid: String) throws {
        self.session = session
        self.sid = sid
        views = try session.repository.folder(["snapshots"])
        partialName = Path(".\(sid).partial")
        views.removeTree(partialName)
        let owner = session.repository.foreignOwner
        cursor = FolderCursor(base: try views.makeFolder(partialName, mode: 0o755), makingWith: 0o755) { folder in
            if let owner { fchown(folder.fd, owner.uid, owner.gid) }
        }
        links = ViewLinks(objects: try session.repository.folder(["objects"]))
    }

    /// Backup `backup`'s file at `path` is `object` in this view: linked by a
    /// worker (`finish` skips it). Files of one folder come together, in walk
    /// order. A folder that cannot be made here is left to `finish`, which
    /// fails the snapshot if it still cannot.
    func add(_ path: Path, object: String, backup: Int64) {
        guard let (folder, name) = try? cursor.parent(of: path.components) else { return }
        if let current = batchFolder, current !== folder { flush() }
        batchFolder = folder
        batch.append((name, object))
        added.insert(backup)
    }

    private func flush() {
        if let batchFolder, !batch.isEmpty { links.make(batch, in: batchFolder) }
        batch.removeAll()
        batchFolder = nil
    }

    /// The rest of the view from the snapshot's tree, then the view in place.
    func finish(_ db: Database) throws {
        flush()
        // Folder by folder down the snapshot's tree (never the whole snapshot in
        // memory): the walked folders, the empty ones too, hard links to the
        // objects, and the links as they were. A file's folder may be one that
        // was not walked (the way to an include that is a file): made as needed.
        // This thread reads the catalog and makes the folders; workers make a
        // folder's hard links, a folder at a time.
        // A folder the run's files were linked into is there already: not made again (`reach`).
        try TreeStore(db).walk(try SnapshotContents.root(db, sid)) { path, node in
            if node.metadata != nil { try cursor.reach(path.components) }
            for f in node.files where !added.contains(f.backup) {
                guard let (filePath, data) = try Catalog.snapshotFile(db, backup: f.backup, version: f.version) else {
                    throw BMError(21, "catalog table tree: snapshot \(sid) holds backup \(f.backup), which is not in the catalog")
                }
                guard let object = data?.object else { continue }
                let (folder, name) = try cursor.parent(of: filePath.components)
                if let current = batchFolder, current !== folder { flush() }
                batchFolder = folder
                batch.append((name, object))
            }
            flush()
            for l in node.links {
                let (folder, name) = try cursor.parent(of: path.appending(l.name).components)
                guard l.target.withCString({ t in name.withCString { symlinkat(t, folder.fd, $0) } }) == 0 else {
                    throw FS.failure("cannot create the link", folder.path.appending(name))
                }
            }
        }
        // What the workers could not link: too many links to one object (EMLINK)
        // becomes a copy of it, anything else is the view's error.
        for (folder, name, object, error) in links.finish() {
            guard error == EMLINK else {
                errno = error
                throw FS.failure("cannot link", folder.path.appending(name))
            }
            let fd = folder.createFile(name, mode: 0o444)
            guard fd >= 0 else { throw FS.failure("cannot create", folder.path.appending(name)) }
            defer { close(fd) }
            try session.objects.copy(object, to: fd, destination: folder.path.appending(name))
        }
        guard partialName.withCString({ p in Path(sid).withCString { renameat(views.fd, p, views.fd, $0) } }) == 0 else {
            throw FS.failure("cannot create the browse view", session.repository.root + "/snapshots/" + sid)
        }
        finished = true
    }

    /// The view goes, whole or half-built: its snapshot was not recorded.
    func discard() {
        links.finish()
        BrowseView(session).remove(sid)
    }

    deinit { if !finished { links.finish() } }
}

/// A browse view's hard links, made by a few threads, a folder's batch at a
/// time, while the session's thread reads the next folder from the catalog.
/// Each batch keeps its folder (and so its descriptor) open until it is done.
private final class ViewLinks: @unchecked Sendable {
    private let objects: Folder
    private let threads = Workers("bmlua.browse-view", count: 4)
    private var next = 0   // the worker the next batch goes to (the session's thread alone counts)
    private let running = DispatchGroup()
    private let slots = DispatchSemaphore.permits(4)
    private let failures = Mutex<[(Unshared<Folder>, Path, String, Int32)]>([])

    init(objects: Folder) { self.objects = objects }

    func make(_ batch: [(name: Path, object: String)], in folder: Folder) {
        slots.wait()
        // The folder is only read (its descriptor) by the one batch, and kept
        // open by it until it is done.
        let job = Unshared(folder)
        next += 1
        threads.async(next, group: running) { [self] in
            defer { slots.signal() }
            let folder = job.value
            for (name, object) in batch {
                let linked = Path("\(object.prefix(2))/\(object)").withCString { o in name.withCString { linkat(objects.fd, o, folder.fd, $0, 0) } }
                if linked != 0 {
                    let error = errno
                    failures.withLock { $0.append((job, name, object, error)) }
                }
            }
        }
    }

    /// Waits for every batch; what failed, with its errno.
    @discardableResult
    func finish() -> [(Folder, Path, String, Int32)] {
        running.wait()
        return failures.withLock { f in
            defer { f.removeAll() }
            return f.map { ($0.0.value, $0.1, $0.2, $0.3) }
        }
    }
}
