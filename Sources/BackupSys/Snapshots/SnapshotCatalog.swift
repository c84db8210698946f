import Foundation
import GRDB

/// The snapshots in the catalog: listed, read and removed.
extension BackupDatabase {
    public func snapshots() throws -> [Snapshot] { try read(Catalog.snapshots) }

    public func snapshot(_ sid: String) throws -> Snapshot {
        guard let s = try read({ try Catalog.snapshot($0, sid: sid) }) else {
            throw BMError(22, "no snapshot \(sid) (see: bmlua snapshots)")
        }
        return s
    }

    /// The files of a snapshot: original path, backup, version, and the
    /// number its group of hard-linked files shares, if it has other links there.
    public func snapshotFiles(_ sid: String) throws -> [SnapshotFile] {
        _ = try snapshot(sid)
        return try read { db in try SnapshotContents.files(db, sid: sid) }
    }

    /// The symbolic links a snapshot kept, by path.
    public func snapshotLinks(_ sid: String) throws -> [SnapshotLink] {
        _ = try snapshot(sid)
        return try read { db in try SnapshotContents.links(db, sid: sid) }
    }

    /// Removes the snapshot record and its browse view; its versions stay (prune removes those).
    public func removeSnapshot(_ sid: String) throws {
        _ = try snapshot(sid)
        try write { db in try Catalog.deleteSnapshot(db, sid: sid) }
        BrowseView(self).remove(sid)
    }
}
