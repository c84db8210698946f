import Foundation
import GRDB

/// `bmlua gc`: what nothing in the catalog names goes.
public struct GarbageCollector {
    let session: BackupDatabase

    public init(_ session: BackupDatabase) { self.session = session }

    /// Removes objects no backup or version names (left by interrupted or failed
    /// runs), and browse views no snapshot record names: a `.SID.partial` a
    /// crash left half-built, or one renamed into place just before a crash
    /// undid its commit. Their hard links would keep removed data on the disk.
    /// `progress` hears (objects looked at, objects in all).
    public func collect(progress: ((Int, Int) -> Void)? = nil) throws -> GCSummary {
        try session.write { db in
            let sids = Set(try Catalog.snapshots(db).map(\.sid))
            var views = 0
            let root = try session.repository.folder(["snapshots"])   // a link there is error 21: nothing is deleted
            for entry in try root.entries() where !sids.contains(String(decoding: entry.name.bytes, as: UTF8.self)) {
                if root.removeTree(entry.name) { views += 1 }
            }
            let trees = try TreeStore(db).collectUnheld()
            let used = Set(try Catalog.referencedObjects(db).map(\.object))
            var removed = 0
            var bytes: Int64 = 0
            let all = session.objects.allObjects()
            for (n, id) in all.enumerated() {
                progress?(n + 1, all.count)
                guard !used.contains(id) else { continue }
                let size = (try? session.objects.status(of: id)).flatMap { $0 }.map { Int64($0.st_size) } ?? 0
                if session.objects.remove(id) {
                    removed += 1
                    bytes += size
                }
            }
            return GCSummary(removed: removed, bytes: bytes, views: views, trees: trees)
        }
    }
}

/// What `gc` removed: objects nothing names, their bytes, and browse views
/// of snapshots the catalog no longer has.
public struct GCSummary: Sendable {
    public var removed: Int
    public var bytes: Int64
    public var views: Int
    /// Snapshot tree nodes nothing held (the nodes only they held went with them, not counted).
    public var trees = 0
}
