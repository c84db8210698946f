import Glibc

/// Files of one snapshot that are hard links of each other stay so: the
/// archiver numbers each group, the restorer writes a group's first file
/// and links the others to it (no hook fires for them).
struct HardLinkGroups {
    /// A file with other hard links → the number of its group: the backup of
    /// the first of its links the walk met (so a tree that did not change is
    /// numbered as before, and shared).
    private var numbers: [Inode: Int64] = [:]

    /// The number of `backup`'s group, nil for a file with no other link. A
    /// file whose other links are outside the tree has a group of one, read
    /// back as no group (SnapshotContents.files).
    mutating func number(_ backup: Int64, _ st: stat) -> Int64? {
        guard st.st_nlink > 1 else { return nil }
        if let n = numbers[Inode(st)] { return n }
        numbers[Inode(st)] = backup
        return backup
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
