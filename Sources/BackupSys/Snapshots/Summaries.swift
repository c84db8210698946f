/// What a restore of a snapshot did: the files written, the ones that
/// failed (each with its error), the symbolic links made, and the files
/// already there as the snapshot has them.
public struct RestoreSummary {
    public var restored: [Path]
    public var failed: [BMError]
    public var links: Int
    public var unchanged: [Path]
}

/// What `prune` removed (or, in a dry run, would remove): snapshots by sid,
/// and counts of the versions and backups no kept snapshot uses.
public struct PruneSummary: Sendable {
    public var removed: [String]
    public var versions: Int
    public var backups: Int
}

/// What `gc` removed: objects nothing names, their bytes, and browse views
/// of snapshots the catalog no longer has.
public struct GCSummary: Sendable {
    public var removed: Int
    public var bytes: Int64
    public var views: Int
}

/// One difference between two snapshots (a folder's path ends in `/`).
public struct SnapshotChange: Sendable, Equatable {
    public var path: Path
    public var change: BackupDatabase.Change
}
