import Foundation
import GRDB

/// `snapshots diff`: what changed between two snapshots, by original path.
public struct Differ {
    let session: BackupDatabase

    public init(_ session: BackupDatabase) { self.session = session }

    public enum Change: String, Sendable {
        case added, removed, modified
        /// restic's marks: `+`, `-`, `M`.
        public var mark: String { self == .added ? "+" : self == .removed ? "-" : "M" }
    }

    /// What changed from snapshot `from` to snapshot `to`, by original path: a
    /// file is modified when its data differs, a link or a folder (its path
    /// ends in `/`, as restic shows it) when its shape does: what makes a
    /// snapshot run see a change.
    /// The two trees are read side by side and a folder both share is
    /// skipped unread, so the diff costs what differs.
    public func diff(_ from: String, _ to: String) throws -> [SnapshotChange] {
        _ = try session.snapshot(from)
        _ = try session.snapshot(to)
        var changes: [SnapshotChange] = []
        try session.read { db in
            let store = TreeStore(db)
            func note(_ path: Path, _ change: Change) { changes.append(SnapshotChange(path: path, change: change)) }
            func folderPath(_ p: Path) -> Path { p == .root ? .root : Path(p.bytes + [Path.slash]) }
            func object(_ backup: Int64, _ version: Int64) throws -> String? {
                try Catalog.snapshotFile(db, backup: backup, version: version)?.data?.object
            }
            func pathOf(_ backup: Int64) throws -> Path { try Catalog.existingBackup(db, index: backup).path }

            func compare(_ a: Int64?, _ b: Int64?, at path: Path, depth: Int) throws {
                guard a != b else { return }
                guard depth < TreeStore.maximumDepth else { throw BMError(21, "catalog table tree: folders nested deeper than any path") }
                let old = try a.map(store.node), new = try b.map(store.node)
                switch (old?.metadata, new?.metadata) {
                case (let x?, let y?) where x.shape != y.shape: note(folderPath(path), .modified)
                case (_?, nil): note(folderPath(path), .removed)
                case (nil, _?): note(folderPath(path), .added)
                default: break
                }
                // Files by backup index, both sides sorted.
                let oldFiles = old?.files ?? [], newFiles = new?.files ?? []
                var i = 0, j = 0
                while i < oldFiles.count || j < newFiles.count {
                    let x = i < oldFiles.count ? oldFiles[i] : nil, y = j < newFiles.count ? newFiles[j] : nil
                    if let x, let y, x.backup == y.backup {
                        if x.version != y.version, try object(x.backup, x.version) != object(y.backup, y.version) {
                            note(try pathOf(y.backup), .modified)
                        }
                        i += 1; j += 1
                    } else if let x, y == nil || x.backup < y!.backup {
                        note(try pathOf(x.backup), .removed); i += 1
                    } else if let y {
                        note(try pathOf(y.backup), .added); j += 1
                    }
                }
                let oldLinks = Dictionary((old?.links ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                let newLinks = Dictionary((new?.links ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                for (name, l) in newLinks {
                    if let o = oldLinks[name] {
                        if o.target != l.target || o.owner != l.owner { note(path.appending(name), .modified) }
                    } else {
                        note(path.appending(name), .added)
                    }
                }
                for name in oldLinks.keys where newLinks[name] == nil { note(path.appending(name), .removed) }
                let oldFolders = Dictionary((old?.folders ?? []).map { ($0.name, $0.tree) }, uniquingKeysWith: { a, _ in a })
                let newFolders = Dictionary((new?.folders ?? []).map { ($0.name, $0.tree) }, uniquingKeysWith: { a, _ in a })
                for name in Set(oldFolders.keys).union(newFolders.keys) {
                    try compare(oldFolders[name], newFolders[name], at: path.appending(name), depth: depth + 1)
                }
            }
            try compare(try SnapshotContents.root(db, from), try SnapshotContents.root(db, to), at: .root, depth: 0)
        }
        return changes.sorted { $0.path < $1.path }
    }
}

/// One difference between two snapshots (a folder's path ends in `/`).
public struct SnapshotChange: Sendable, Equatable {
    public var path: Path
    public var change: Differ.Change
}
