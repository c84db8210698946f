import Foundation
import Glibc

/// The walk of a profile's includes (minus its excludes), folder by folder
/// through descriptors: a regular file is handed on as its folder and name,
/// so the file is opened there, once, by whoever stores it. Links inside the
/// tree are kept as links and never followed; an include that is a link is
/// followed (the user named it).
struct Walker {
    var includes: [Path]
    var excludes: [String]
    var stop: () -> Bool = { false }
    /// Folders passed by with their reason, as found (the repository itself: as
    /// Back In Time leaves out its snapshot folder, a snapshot never backs up its own data).
    var passOver: [Inode: String] = [:]

    /// A regular file the walk met.
    struct File {
        let folder: Folder
        let name: Path
        let path: Path
        /// Its status if the walk had to look (readdir did not give the type, or an include).
        let status: stat?
        /// An include: the user named it, so a link there is followed.
        let isInclude: Bool

        /// Its status, looked up now if the walk did not.
        func lookUp() -> stat? { status ?? folder.stat(name, follow: isInclude) }

        /// Opens it to be stored.
        func open() throws -> SourceFile {
            isInclude ? try SourceFile.open(path: path) : try SourceFile.open(name, in: folder)
        }
    }

    /// What the walk meets, in walk order.
    enum Item {
        case file(File)
        /// A symbolic link inside the tree, kept as what it says.
        case link(SnapshotLink)
        /// A folder walked into (an include among them), before what is in it.
        case folder(SnapshotFolder)
    }

    /// What the walk could not hand on.
    struct Tree {
        /// What could not be walked (a folder that can't be listed), each with its error.
        var failures: [(path: Path, error: BMError)] = []
        /// What was passed over (FIFOs, sockets, devices), each with its kind.
        var skipped: [(path: Path, kind: String)] = []
    }

    /// Calls `visit` for each file, link and folder in walk order (what it
    /// throws ends the walk and is thrown on): bytewise
    /// order of paths, a folder's counted as ending in `/` (git's order), so
    /// a folder comes right before what is in it and a snapshot's tree is
    /// built and the catalog read alongside, a folder at a time. An include
    /// inside another is walked once, as part of the outer one.
    func walk(_ visit: (Item) throws -> Void) throws -> Tree {
        var tree = Tree()

        func excluded(_ path: Path, _ name: Path) -> Bool {
            path.withCString { p in name.withCString { n in excludes.contains { fnmatch($0, p, 0) == 0 || fnmatch($0, n, 0) == 0 } } }
        }
        func failed(_ path: Path, _ error: Error) { tree.failures.append((path, BMError.wrap(error, path: path))) }

        func visitFolder(_ folder: Folder) throws {
            if stop() { return }
            let path = folder.path
            let st: stat
            do { st = try folder.status() } catch { return failed(path, error) }
            if let reason = passOver[Inode(st)] { return tree.skipped.append((path, reason)) }
            try visit(.folder(SnapshotFolder(path: path, mode: UInt32(st.st_mode & 0o7777), mtimeNs: FS.nanoseconds(st.st_mtim),
                                             owner: Owner(st), xattrs: ExtendedAttributes.read(fd: folder.fd))))
            let listed: [Folder.Entry]
            do { listed = try folder.entries() } catch { return failed(path, error) }
            // Each entry's type, looked up where readdir did not say, and its
            // walk-order key, made once (not once a comparison).
            var entries: [(key: [UInt8], name: Path, child: Path, type: UInt8, status: stat?)] = []
            entries.reserveCapacity(listed.count)
            for entry in listed {
                let child = path.appending(entry.name)
                if excluded(child, entry.name) { continue }
                var type = entry.type, status: stat?
                if type == UInt8(DT_UNKNOWN) {
                    guard let st = folder.stat(entry.name) else { failed(child, FS.failure("cannot read", child)); continue }
                    (type, status) = (Self.direntType(st.st_mode), st)
                }
                entries.append((entry.name.walkKey(isFolder: type == UInt8(DT_DIR)), entry.name, child, type, status))
            }
            entries.sort { $0.key.lexicographicallyPrecedes($1.key) }
            for (_, name, child, type, status) in entries {
                switch Int(type) {
                case Int(DT_REG):
                    try visit(.file(File(folder: folder, name: name, path: child, status: status, isInclude: false)))
                case Int(DT_DIR):
                    // What `visit` throws ends the walk; only a folder that cannot be opened is its failure.
                    let sub: Folder
                    do { sub = try folder.folder(name) } catch let e as BMError where e.number == 12 {
                        continue   // it became something else since readdir: gone from this walk, as if a moment later
                    } catch { failed(child, error); continue }
                    try visitFolder(sub)
                case Int(DT_LNK):
                    guard let st = status ?? folder.stat(name) else { failed(child, FS.failure("cannot read", child)); continue }
                    guard st.st_mode & S_IFMT == S_IFLNK else { continue }
                    let link: SnapshotLink
                    do {
                        link = SnapshotLink(path: child, target: try folder.linkTarget(name, size: Int(st.st_size) + 1),
                                            mtimeNs: FS.nanoseconds(st.st_mtim), owner: Owner(st))
                    } catch { failed(child, error); continue }
                    try visit(.link(link))
                default:
                    let mode = status?.st_mode ?? folder.stat(name)?.st_mode ?? 0
                    tree.skipped.append((child, FS.kind(mode)))   // a backup holds a regular file's data
                }
            }
        }

        // The includes in walk order, each with its status (followed: the user named it).
        var includes: [(path: Path, status: stat)] = []
        for include in Set(self.includes.map(\.absolute)) where !excluded(include, include.baseName) {
            guard let st = FS.stat(include) else { failed(include, FS.failure("cannot read", include)); continue }
            includes.append((include, st))
        }
        func key(_ i: (path: Path, status: stat)) -> [UInt8] { i.path.walkKey(isFolder: i.status.st_mode & S_IFMT == S_IFDIR) }
        includes.sort { key($0).lexicographicallyPrecedes(key($1)) }
        var outer: Path?
        for (include, st) in includes {
            if stop() { break }
            if let outer, include.isAtOrUnder(outer) { continue }   // walked already, inside an include before it
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                outer = include
                let folder: Folder
                do { folder = try Folder.open(include) } catch { failed(include, error); continue }
                try visitFolder(folder)
            case S_IFREG:
                let folder: Folder
                do { folder = try Folder.open(include.directory) } catch { failed(include, error); continue }
                try visit(.file(File(folder: folder, name: include.baseName, path: include, status: st, isInclude: true)))
            default:
                tree.skipped.append((include, FS.kind(st.st_mode)))
            }
        }
        tree.failures.sort { $0.path < $1.path }
        return tree
    }

    static func direntType(_ mode: mode_t) -> UInt8 {
        switch mode & S_IFMT {
        case S_IFREG: UInt8(DT_REG)
        case S_IFDIR: UInt8(DT_DIR)
        case S_IFLNK: UInt8(DT_LNK)
        default: UInt8(DT_FIFO)
        }
    }
}

extension Walker {
    /// A profile's walk: its includes and excludes, passing over the repository itself.
    init(_ profile: Profile, in repository: Repository, until stop: @escaping () -> Bool = { false }) {
        self.init(includes: profile.include.map { Path($0) }, excludes: profile.exclude, stop: stop)
        if let repo = repository.identity { passOver[repo] = "the repository itself" }
    }
}
