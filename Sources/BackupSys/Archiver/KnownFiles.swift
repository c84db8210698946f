import Glibc

/// The backups by original path (bytewise), and each one's newest version.
/// Read once per run: each path is walked once, so a backup made in this
/// run is not met again.
struct KnownFiles {
    var byPath: [Path: Backup]
    var latest: [Int64: Int64]

    init(_ bd: BackupDatabase) throws {
        (byPath, latest) = try bd.read { db in
            (Dictionary(try Catalog.backups(db).map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a }), try Catalog.latestVersions(db))
        }
    }

    /// The version that already holds `b` as it is now (same size, mtime,
    /// ctime and inode: not even read), or nil if it must be stored.
    func unchangedVersion(of b: Backup, _ st: stat) -> Int64? {
        guard let v = latest[b.index], b.source == SourceState(st) else { return nil }
        return v
    }
}
