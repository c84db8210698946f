import Foundation
import GRDB

/// `snapshots diff`: what changed between two snapshots, by original path.
public struct Differ {
    let session: BackupDatabase

    public init(_ session: BackupDatabase) { self.session = session }

    /// What a snapshot holds at a path, as `diff` compares it.
    private enum Held: Equatable {
        case file(object: String?)
        case link(SnapshotLink.Shape)
        case folder(SnapshotFolder.Shape)
    }

    public enum Change: String, Sendable {
        case added, removed, modified
        /// restic's marks: `+`, `-`, `M`.
        public var mark: String { self == .added ? "+" : self == .removed ? "-" : "M" }
    }

    /// What changed from snapshot `from` to snapshot `to`, by original path: a
    /// file is modified when its data differs, a link or a folder (its path
    /// ends in `/`, as restic shows it) when its shape does: what makes a
    /// snapshot run see a change.
    public func diff(_ from: String, _ to: String) throws -> [SnapshotChange] {
        _ = try session.snapshot(from)
        _ = try session.snapshot(to)
        let (before, after) = try session.read { db in
            func data(_ sid: String) throws -> [Path: Held] {
                let files = try Catalog.snapshotFiles(db, sid: sid).map { ($0.path, Held.file(object: $0.object)) }
                let links = try Catalog.snapshotLinks(db, sid: sid).map { ($0.path, Held.link($0.shape)) }
                let folders = try Catalog.snapshotFolders(db, sid: sid).map {
                    ($0.path == .root ? .root : Path($0.path.bytes + [Path.slash]), Held.folder($0.shape))
                }
                return Dictionary(files + links + folders, uniquingKeysWith: { a, _ in a })
            }
            return (try data(from), try data(to))
        }
        var changes: [SnapshotChange] = []
        for (path, held) in after {
            if let old = before[path] {
                if old != held { changes.append(SnapshotChange(path: path, change: .modified)) }
            } else {
                changes.append(SnapshotChange(path: path, change: .added))
            }
        }
        for path in before.keys where after[path] == nil { changes.append(SnapshotChange(path: path, change: .removed)) }
        return changes.sorted { $0.path < $1.path }
    }
}

/// One difference between two snapshots (a folder's path ends in `/`).
public struct SnapshotChange: Sendable, Equatable {
    public var path: Path
    public var change: Differ.Change
}
