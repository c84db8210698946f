import Glibc

/// Files of one snapshot that are hard links of each other stay so: the
/// archiver numbers each group, the restorer writes a group's first file
/// and links the others to it (no hook fires for them).
struct HardLinkGroups {
    /// A file with other hard links → the backups of its links in the tree.
    private var sharing: [Inode: [Int64]] = [:]

    mutating func add(_ backup: Int64, _ st: stat) {
        if st.st_nlink > 1 { sharing[Inode(st), default: []].append(backup) }
    }

    /// Each backup with another link in the tree → its group's number (the group's smallest backup).
    var groups: [Int64: Int64] {
        var numbers: [Int64: Int64] = [:]
        for group in sharing.values where group.count > 1 {
            for backup in group { numbers[backup] = group.min() }
        }
        return numbers
    }
}

/// The restorer's side: where each group's first file went.
struct HardLinkRestore {
    private var first: [Int64: Path] = [:]
    private let source: FolderCursor

    init(base: Folder) { source = FolderCursor(base: base) }

    /// The path a file of `group` was restored to already, if one was.
    func earlier(_ group: Int64?) -> Path? { group.flatMap { first[$0] } }

    /// `path` holds its group's data now (restored, or already there).
    mutating func holds(_ path: Path, group: Int64?) {
        if let group, first[group] == nil { first[group] = path }
    }

    /// `name` in `folder` becomes a link of `earlier`, renamed into place.
    func link(_ name: Path, in folder: Folder, to earlier: Path, replacing: Bool) throws {
        let (from, fromName) = try source.parent(of: earlier.components)
        try folder.replace(name, replacing: replacing) { dir, temp in
            fromName.withCString { o in temp.withCString { linkat(from.fd, o, dir, $0, 0) } }
        }
    }
}
