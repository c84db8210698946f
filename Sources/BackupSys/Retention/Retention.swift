import Foundation
import GRDB

/// `snapshots prune`: the keep policy applied, and what only the snapshots
/// it drops used removed with them.
public struct Retention {
    let session: BackupDatabase

    public init(_ session: BackupDatabase) { self.session = session }

    /// Removes the snapshots `policy` does not keep, then the versions only
    /// they used (hook 8 fires for each). A version still used by a kept
    /// snapshot stays. With `dryRun`, nothing changes: the result says what would go.
    ///
    /// With `forgetDeleted`, the backups a snapshot made (group = its profile)
    /// of files no longer on disk go too (hook 5 fires), once no snapshot holds
    /// them and no version is left: otherwise their current copies stay for
    /// ever. Stored-away backups, and those made with `bmlua backup`, stay.
    /// `progress` hears (versions removed, versions to remove).
    public func prune(_ policy: PrunePolicy, profile: Int64? = nil, dryRun: Bool = false, forgetDeleted: Bool = false,
                      progress: ((Int, Int) -> Void)? = nil)
        throws -> PruneSummary
    {
        session.pruneProgress = progress
        defer { session.pruneProgress = nil }
        guard [policy.last, policy.hourly, policy.daily, policy.weekly, policy.monthly, policy.yearly].allSatisfy({ $0 >= 0 }) else {
            throw BMError(22, "a keep count must be 0 or more")
        }
        guard !policy.isEmpty else { throw BMError(22, "say what to keep, e.g. --keep-last 7 --keep-daily 14 (or --keep-within 30d)") }
        // Decided and done under one writer lock: no snapshot appears in between. A dry run only reads.
        if dryRun { return try prune(policy, profile: profile, forgetDeleted: forgetDeleted, apply: false) }
        return try session.holdingWriterLock { try prune(policy, profile: profile, forgetDeleted: forgetDeleted, apply: true) }
    }

    private func prune(_ policy: PrunePolicy, profile: Int64?, forgetDeleted: Bool, apply: Bool)
        throws -> PruneSummary
    {
        let all = try session.snapshots().filter { profile == nil || $0.profile == profile }.sorted { $0.sid > $1.sid }
        // Each profile's snapshots by themselves, as restic groups by host and
        // paths: --keep-last 1 keeps the newest of every profile, not of all.
        let keep = Dictionary(grouping: all, by: \.profile).values.reduce(into: Set<String>()) { $0.formUnion(policy.kept($1)) }
        let doomed = all.filter { !keep.contains($0.sid) }.map(\.sid)

        // The versions that only doomed snapshots use, each once: the kept
        // snapshots' trees are read first, and a node they share is not read again.
        let gone = Set(doomed)
        func unused(_ db: Database) throws -> (versions: [[Int64]], held: Set<Int64>) {
            let roots = try Catalog.snapshotRoots(db)
            var visited = Set<Int64>()
            let kept = try SnapshotContents.versions(db, roots: roots.filter { !gone.contains($0.sid) }.map(\.root), visited: &visited)
            var doomedVisited = Set<Int64>()
            let candidates = try SnapshotContents.versions(db, roots: roots.filter { gone.contains($0.sid) }.map(\.root),
                                                           skipping: visited, visited: &doomedVisited).subtracting(kept)
            let versions = try candidates.sorted { $0.lexicographicallyPrecedes($1) }.filter { c in
                try Catalog.version(db, backup: c[0], index: c[1]) != nil
            }
            return (versions, Set(kept.map { $0[0] }))
        }
        // Snapshot-made backups of deleted files that nothing will hold once the versions go.
        func forgotten(_ db: Database, _ versions: [[Int64]], held: Set<Int64>) throws -> [Int64] {
            guard forgetDeleted else { return [] }
            let going = Set(versions)
            return try Catalog.backups(db).filter { b in
                guard b.group >= 1, profile == nil || b.group == profile, !b.storedAway, !held.contains(b.index), !FS.exists(b.path) else { return false }
                return try Catalog.versions(db, backup: b.index).allSatisfy { going.contains([b.index, $0.index]) }
            }.map(\.index)
        }
        if !apply {
            return try session.read { db in
                let (versions, held) = try unused(db)
                return PruneSummary(removed: doomed, versions: versions.count, backups: try forgotten(db, versions, held: held).count)
            }
        }
        let (removedVersions, removedBackups): (Int, Int) = try session.write { db in
            let (versions, held) = try unused(db)
            let backups = try forgotten(db, versions, held: held)
            for sid in doomed { try Catalog.deleteSnapshot(db, sid: sid) }
            for (n, c) in versions.enumerated() {
                try session.delver(c[0], c[1])
                session.pruneProgress?(n + 1, versions.count)
            }
            for i in backups { try session.delbu(i) }
            return (versions.count, backups.count)
        }
        for sid in doomed { BrowseView(session).remove(sid) }
        return PruneSummary(removed: doomed, versions: removedVersions, backups: removedBackups)
    }
}

/// What `prune` removed (or, in a dry run, would remove): snapshots by sid,
/// and counts of the versions and backups no kept snapshot uses.
public struct PruneSummary: Sendable {
    public var removed: [String]
    public var versions: Int
    public var backups: Int
}
