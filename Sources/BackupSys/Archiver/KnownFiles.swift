import GRDB
import Glibc

/// The catalog's backups read alongside the walk, in the same bytewise order
/// of paths (a merge, as restic's archiver reads the last snapshot's tree
/// beside the folder it walks): a window of rows at a time, never every
/// backup in memory.
struct KnownFiles {
    /// What a run needs of a backup to tell whether its file changed.
    struct Known {
        var index: Int64
        var path: Path
        var source: SourceState?
        /// Its newest version and that version's object (none: a backup whose versions were all deleted).
        var newest: (version: Int64, object: String)?
    }

    static let windowSize = 1024
    private var window: [Known] = []
    private var at = 0
    private var last: Path?
    /// The count of hooks' catalog writes (`BackupDatabase.hookWrites`) when
    /// its rows were read: they hold only as long as no hook has written since.
    private(set) var asOf: Int

    init(asOf writes: Int) { asOf = writes }

    /// Forgets the rows read, if a hook has written to the catalog since (`writes` moved).
    mutating func refresh(asOf writes: Int) {
        if writes != asOf { self = KnownFiles(asOf: writes) }
    }

    /// The backup of `path`, if there is one. Paths asked for in walk order
    /// cost a seek per window; one asked for out of order is looked up alone.
    mutating func find(_ path: Path, _ db: Database) throws -> Known? {
        if let last, !(last < path) { return try Catalog.knownFiles(db, from: path, limit: 1).first { $0.path == path } }
        last = path
        while at < window.count && window[at].path < path { at += 1 }
        if at == window.count {
            window = try Catalog.knownFiles(db, from: path, limit: Self.windowSize)
            at = 0
        }
        return at < window.count && window[at].path == path ? window[at] : nil
    }

    /// The version that already holds the file as it is now (same size,
    /// mtime, ctime and inode: not even read), or nil if it must be stored.
    static func unchangedVersion(of k: Known, _ st: stat) -> (index: Int64, object: String)? {
        guard let newest = k.newest, k.source == SourceState(st) else { return nil }
        return (newest.version, newest.object)
    }
}
