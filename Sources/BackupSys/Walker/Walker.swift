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

    /// What the walk found besides files.
    struct Tree {
        /// Symbolic links met inside the tree, sorted by path.
        var links: [SnapshotLink] = []
        /// The folders walked (the includes among them), sorted by path.
        var folders: [SnapshotFolder] = []
        /// What could not be walked (a folder that can't be listed), each with its error.
        var failures: [(path: Path, error: BMError)] = []
        /// What was passed over (FIFOs, sockets, devices), each with its kind.
        var skipped: [(path: Path, kind: String)] = []
    }

    /// Calls `file` for each regular file, in walk order (each folder's names
    /// bytewise), and returns the rest of the tree. A path met twice (two
    /// includes that overlap) is handed on once.
    func walk(_ file: (File) throws -> Void) throws -> Tree {
        var tree = Tree()
        var seenFiles = Set<Path>(), links: [Path: SnapshotLink] = [:], folders: [Path: SnapshotFolder] = [:]

        func excluded(_ path: Path, _ name: Path) -> Bool {
            path.withCString { p in name.withCString { n in excludes.contains { fnmatch($0, p, 0) == 0 || fnmatch($0, n, 0) == 0 } } }
        }
        func failed(_ path: Path, _ error: Error) { tree.failures.append((path, BMError.wrap(error, path: path))) }

        func visitFolder(_ folder: Folder) throws {
            if stop() { return }
            let path = folder.path
            if folders[path] == nil {
                let st: stat
                do { st = try folder.status() } catch { return failed(path, error) }
                if let reason = passOver[Inode(st)] { return tree.skipped.append((path, reason)) }
                folders[path] = SnapshotFolder(path: path, mode: UInt32(st.st_mode & 0o7777), mtimeNs: FS.nanoseconds(st.st_mtim),
                                               owner: Owner(st), xattrs: ExtendedAttributes.read(fd: folder.fd))
            }
            let entries: [Folder.Entry]
            do { entries = try folder.entries() } catch { return failed(path, error) }
            for entry in entries {
                let child = path.appending(entry.name)
                if excluded(child, entry.name) { continue }
                var type = entry.type, status: stat?
                if type == UInt8(DT_UNKNOWN) {
                    guard let st = folder.stat(entry.name) else { failed(child, FS.failure("cannot read", child)); continue }
                    status = st
                    type = Self.direntType(st.st_mode)
                }
                switch Int(type) {
                case Int(DT_REG):
                    if seenFiles.insert(child).inserted {
                        try file(File(folder: folder, name: entry.name, path: child, status: status, isInclude: false))
                    }
                case Int(DT_DIR):
                    do { try visitFolder(folder.folder(entry.name)) } catch let e as BMError where e.number == 12 {
                        continue   // it became something else since readdir: gone from this walk, as if a moment later
                    } catch { failed(child, error) }
                case Int(DT_LNK):
                    guard let st = status ?? folder.stat(entry.name) else { failed(child, FS.failure("cannot read", child)); continue }
                    guard st.st_mode & S_IFMT == S_IFLNK else { continue }
                    do {
                        links[child] = SnapshotLink(path: child, target: try folder.linkTarget(entry.name, size: Int(st.st_size) + 1),
                                                    mtimeNs: FS.nanoseconds(st.st_mtim), owner: Owner(st))
                    } catch { failed(child, error) }
                default:
                    let mode = status?.st_mode ?? folder.stat(entry.name)?.st_mode ?? 0
                    tree.skipped.append((child, FS.kind(mode)))   // a backup holds a regular file's data
                }
            }
        }

        for include in includes.map(\.absolute) {
            if stop() { break }
            if excluded(include, include.baseName) { continue }
            guard let st = FS.stat(include) else { failed(include, FS.failure("cannot read", include)); continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                do { try visitFolder(Folder.open(include)) } catch { failed(include, error) }
            case S_IFREG:
                guard seenFiles.insert(include).inserted else { continue }
                let folder: Folder
                do { folder = try Folder.open(include.directory) } catch { failed(include, error); continue }
                try file(File(folder: folder, name: include.baseName, path: include, status: st, isInclude: true))
            default:
                tree.skipped.append((include, FS.kind(st.st_mode)))
            }
        }
        tree.links = links.values.sorted { $0.path < $1.path }
        tree.folders = folders.values.sorted { $0.path < $1.path }
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
