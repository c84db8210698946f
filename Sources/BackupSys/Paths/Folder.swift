import CSystem
import Foundation
import Glibc
import Synchronization

/// An open folder: everything in it is reached relative to its descriptor
/// (`openat`, `fstatat`, `mkdirat`, `linkat`, …). No path is ever resolved
/// whole, so no PATH_MAX applies (only the kernel's 255 bytes a name), and a
/// name met below a folder is never taken through a link unless asked.
final class Folder {
    let fd: Int32
    /// Where it is, for messages, hooks and the catalog; not used to reach it.
    let path: Path
    /// `makeFolder` made it (it was not there): it held nothing when opened.
    private(set) var isNew = false

    private init(fd: Int32, path: Path) {
        self.fd = fd
        self.path = path
    }

    deinit { Glibc.close(fd) }

    static let directoryFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC

    /// Opens the folder at `path`. With `follow`, links on the way are taken
    /// (a path the user gave); without, none is, the last name included.
    /// A path longer than the kernel takes is opened a part at a time.
    static func open(_ path: Path, follow: Bool = true) throws -> Folder {
        let path = path.absolute
        if follow && path.bytes.count < Int(PATH_MAX) - 1 {
            let fd = path.withCString { Glibc.open($0, directoryFlags) }
            if fd >= 0 { return Folder(fd: fd, path: path) }
            if errno != ENAMETOOLONG { throw FS.failure("cannot open the folder", path) }
        }
        var folder = Folder(fd: Glibc.open("/", directoryFlags), path: .root)
        for name in path.components { folder = try folder.folder(name, follow: follow) }
        return folder
    }

    /// The folder `names` below this one, none taken through a link.
    func descend(_ names: [Path]) throws -> Folder {
        var folder = self
        for name in names { folder = try folder.folder(name) }
        return folder
    }

    /// `mkdir -p`: the folder at `path`, with the folders missing on the way
    /// made (0777 less the umask). Links met are taken as `open` takes them.
    static func make(_ path: Path, follow: Bool = true) throws -> Folder {
        do {
            return try open(path, follow: follow)
        } catch let e as BMError where e.number == 10 && path.absolute != .root {
            let path = path.absolute
            return try make(path.directory, follow: follow).makeFolder(path.baseName)
        }
    }

    /// The folder `name` in this one; error 12 if it is something else (with
    /// `follow` false, a link too).
    func folder(_ name: Path, follow: Bool = false) throws -> Folder {
        let fd = name.withCString { openat(self.fd, $0, Self.directoryFlags | (follow ? 0 : O_NOFOLLOW)) }
        guard fd >= 0 else {
            let err = errno
            if err == ELOOP || err == ENOTDIR, let st = stat(name, follow: false) {
                throw BMError(12, "\(FS.shown(path.appending(name))) is \(FS.kind(st.st_mode)), not a folder", path: path.appending(name))
            }
            throw FS.failure("cannot open the folder", path.appending(name), errno: err)
        }
        return Folder(fd: fd, path: path.appending(name))
    }

    /// The folder `name`, made (mode 0777 less the umask, or `mode`) if it is missing.
    func makeFolder(_ name: Path, mode: mode_t = 0o777) throws -> Folder {
        let made = name.withCString({ mkdirat(fd, $0, mode) }) == 0
        if !made && errno != EEXIST {
            throw FS.failure("cannot create", path.appending(name))
        }
        let folder = try folder(name)
        folder.isNew = made
        return folder
    }

    /// The status of `name` here; nil (errno set) if there is none.
    func stat(_ name: Path, follow: Bool = false) -> Foundation.stat? {
        var st = Foundation.stat()
        let rc = name.withCString { fstatat(fd, $0, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) }
        return rc == 0 ? st : nil
    }

    /// The folder's own status.
    func status() throws -> Foundation.stat {
        var st = Foundation.stat()
        guard fstat(fd, &st) == 0 else { throw FS.failure("cannot read", path) }
        return st
    }

    struct Entry {
        var name: Path
        /// readdir's type (DT_REG, DT_DIR, DT_LNK, …); DT_UNKNOWN where the file system does not say.
        var type: UInt8
    }

    /// The entries (without `.` and `..`), sorted by name, bytewise.
    func entries() throws -> [Entry] {
        let copy = dup(fd)
        guard copy >= 0, let dir = fdopendir(copy) else {
            if copy >= 0 { Glibc.close(copy) }
            throw FS.failure("cannot list the folder", path)
        }
        defer { closedir(dir) }
        rewinddir(dir)   // the copy shares the descriptor's offset, which an earlier listing left at the end
        var out: [Entry] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw FS.failure("cannot list the folder", path) }
                return out.sorted { $0.name < $1.name }
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Path(bytes: $0.prefix { $0 != 0 }) }
            if name.isDotOrDotDot { continue }
            out.append(Entry(name: name, type: entry.pointee.d_type))
        }
    }

    /// What the symbolic link `name` says, verbatim (any bytes).
    func linkTarget(_ name: Path, size: Int = Int(PATH_MAX)) throws -> Path {
        var buffer = [UInt8](repeating: 0, count: max(size, 1) + 1)
        let n = name.withCString { readlinkat(fd, $0, &buffer, buffer.count) }
        guard n >= 0 else { throw FS.failure("cannot read the link", path.appending(name)) }
        return Path(bytes: buffer[..<n])
    }

    /// Opens `name` here for reading (no link followed).
    func openFile(_ name: Path, flags: Int32 = O_RDONLY) -> Int32 {
        name.withCString { openat(fd, $0, flags | O_CLOEXEC | O_NOFOLLOW) }
    }

    func unlink(_ name: Path, folder: Bool = false) -> Bool {
        name.withCString { unlinkat(fd, $0, folder ? AT_REMOVEDIR : 0) } == 0
    }

    /// Makes `name` here by `make(folder, tempName)` at a free temp name and renames it
    /// into place: what was at `name` is replaced whole or not at all. With
    /// `replacing` false, something at `name` is kept and the result is error 15.
    func replace(_ name: Path, replacing: Bool = true, making make: (Int32, Path) -> Int32) throws {
        for _ in 0..<100 {
            let temp = Self.tempName(for: name)
            guard make(fd, temp) == 0 else {
                if errno == EEXIST { continue }
                throw FS.failure("cannot write in", path)
            }
            try rename(temp, to: name, replacing: replacing)
            return
        }
        throw BMError(20, "cannot find a free temp name in \(FS.shown(path))", path: path)
    }

    /// Renames `temp` to `name`; without `replacing`, only if nothing is at
    /// `name` (renameat2's RENAME_NOREPLACE: nothing that appeared since a check is
    /// replaced). `temp` is removed if the rename fails.
    func rename(_ temp: Path, to name: Path, replacing: Bool) throws {
        let rc = temp.withCString { t in
            name.withCString { n in replacing ? renameat(fd, t, fd, n) : bmlua_renameat2(fd, t, fd, n, UInt32(BMLUA_RENAME_NOREPLACE)) }
        }
        if rc != 0 && errno == EINVAL && !replacing {
            // A file system without RENAME_NOREPLACE: a hard link fails as well on what is there.
            let linked = temp.withCString { t in name.withCString { linkat(fd, t, fd, $0, 0) } }
            if linked == 0 || errno == EEXIST {
                _ = unlink(temp)
                if linked == 0 { return }
                throw BMError(15, "\(FS.shown(path.appending(name))) exists", path: path.appending(name))
            }
        }
        guard rc == 0 else {
            let err = errno
            _ = unlink(temp)
            if err == EEXIST { throw BMError(15, "\(FS.shown(path.appending(name))) exists", path: path.appending(name)) }
            throw FS.failure("cannot replace", path.appending(name), errno: err)
        }
    }

    /// `.<name>.bmlua-tmp-<random>`: a restore's temp file beside the file it
    /// becomes. A restore that was killed leaves it; the next one into this
    /// folder knows it by this form (`removeStaleTemps`).
    static func tempName(for name: Path) -> Path {
        var bytes = [UInt8(ascii: ".")] + name.bytes.prefix(200) + tempMarker
        bytes += Array(String(tempSuffixes.next(), radix: 36).utf8)
        return Path(bytes)
    }

    /// Suffixes that differ from one call to the next and from another
    /// process's, with no system call each (`UInt32.random` is a getrandom
    /// call, once a restored file): a seed drawn once, then a counter
    /// spread over the 32 bits. O_EXCL makes a name unique all the same.
    private final class TempSuffixes: Sendable {
        private let seed = UInt32.random(in: .min ... .max)
        private let counter = Atomic<UInt32>(0)
        func next() -> UInt32 { seed &+ counter.add(1, ordering: .relaxed).newValue &* 2_654_435_761 }
    }
    private static let tempSuffixes = TempSuffixes()

    static let tempMarker = Array(".bmlua-tmp-".utf8)

    static func isTempName(_ name: Path) -> Bool {
        let b = name.bytes
        guard b.first == UInt8(ascii: "."), let r = b.indices.reversed().first(where: { b[$0...].starts(with: tempMarker) }), r > 0 else { return false }
        let suffix = b[(r + tempMarker.count)...]
        return !suffix.isEmpty && suffix.count <= 7 && suffix.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) }
    }

    /// Removes what an earlier, killed restore left here: only names of a
    /// restore's temp form, only files and links this user owns, only those
    /// made before `cutoff` (a restore running now keeps its own). Returns how many.
    @discardableResult
    func removeStaleTemps(before cutoff: timespec) -> Int {
        var removed = 0
        for e in (try? entries()) ?? [] where Self.isTempName(e.name) {
            guard let st = stat(e.name), st.st_uid == geteuid(),
                  st.st_mode & S_IFMT == S_IFREG || st.st_mode & S_IFMT == S_IFLNK,
                  (st.st_ctim.tv_sec, st.st_ctim.tv_nsec) < (cutoff.tv_sec, cutoff.tv_nsec) else { continue }
            if unlink(e.name) { removed += 1 }
        }
        return removed
    }

    /// A new file here at the first free name `naming` gives, open for
    /// writing, made with `mode`: its descriptor and its name.
    func createTemp(mode: mode_t = 0o600, naming: () -> Path) throws -> (fd: Int32, name: Path) {
        for _ in 0..<100 {
            let name = naming()
            let fd = createFile(name, mode: mode)
            if fd >= 0 { return (fd, name) }
            if errno != EEXIST { throw FS.failure("cannot write in", path) }
        }
        throw BMError(20, "cannot find a free temp name in \(FS.shown(path))", path: path)
    }

    /// A file with no name yet (O_TMPFILE), open for writing: it is gone with
    /// its descriptor unless `link` names it. Nil where the file system has no
    /// such files (then: `createTemp` and a rename).
    func createUnnamed(in folder: Path = Path("."), mode: mode_t) -> Int32? {
        let fd = folder.withCString { bmlua_open_unnamed(self.fd, $0, mode) }
        return fd >= 0 ? fd : nil
    }

    /// Names an unnamed file `name` here; fails with EEXIST if the name is taken.
    func link(unnamed fd: Int32, as name: Path) -> Bool {
        // AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH; /proc's link to the descriptor does not.
        "/proc/self/fd/\(fd)".withCString { p in name.withCString { linkat(AT_FDCWD, p, self.fd, $0, AT_SYMLINK_FOLLOW) } } == 0
    }

    /// Now, as the kernel stamps a file's ctime: what `removeStaleTemps` compares with.
    static func wallClock() -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now
    }

    /// A new file `name` here, open for writing, made with `mode` (0 to 0777).
    func createFile(_ name: Path, mode: mode_t = 0o600) -> Int32 {
        name.withCString { openat(fd, $0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode) }
    }

    func sync() { _ = fsync(fd) }

    /// Removes `name` here and, if it is a folder, all it holds: nothing is
    /// taken through a link (a link is removed, not what it points to).
    /// Returns whether `name` is gone.
    @discardableResult
    func removeTree(_ name: Path) -> Bool {
        if unlink(name) || errno == ENOENT { return true }
        guard errno == EISDIR || errno == EPERM, let inner = try? folder(name) else { return false }
        for entry in (try? inner.entries()) ?? [] {
            if entry.type == UInt8(DT_DIR) || entry.type == UInt8(DT_UNKNOWN) { inner.removeTree(entry.name) } else { _ = inner.unlink(entry.name) }
        }
        return unlink(name, folder: true)
    }
}

/// Folders opened along one path at a time, for work that goes through a
/// tree in order of path (a browse view, a restore): a path that shares its
/// folders with the one before opens none of them again.
final class FolderCursor {
    private let base: Folder
    private var open: [Folder] = []   // open[i] is base / names[0...i]
    private var names: [Path] = []
    /// Make folders that are missing (0700 for a view, 0777 less the umask for a restore).
    let makeMode: mode_t?
    /// Called once for each folder the cursor reaches, the base included.
    private let visit: ((Folder) -> Void)?
    private var visited = Set<Path>()

    init(base: Folder, makingWith mode: mode_t? = nil, visiting visit: ((Folder) -> Void)? = nil) {
        self.base = base
        makeMode = mode
        self.visit = visit
        seen(base)
    }

    private func seen(_ folder: Folder) {
        if let visit, visited.insert(folder.path).inserted { visit(folder) }
    }

    /// The folder at `names` under the base (none followed as a link: a link
    /// where a folder belongs is error 12).
    func folder(_ names: ArraySlice<Path>) throws -> Folder {
        var common = 0
        while common < min(open.count, names.count) && self.names[common] == names[names.startIndex + common] { common += 1 }
        open.removeLast(open.count - common)
        self.names.removeLast(self.names.count - common)
        for name in names.dropFirst(common) {
            let parent = open.last ?? base
            let next: Folder
            next = try makeMode.map { try parent.makeFolder(name, mode: $0) } ?? parent.folder(name)
            open.append(next)
            self.names.append(name)
            seen(next)
        }
        return open.last ?? base
    }

    /// Makes the folder at `names` unless the cursor has been there (a cursor
    /// with a visitor keeps count): a `mkdir` that finds it costs as much as one that makes it.
    func reach(_ names: [Path]) throws {
        if visit != nil && visited.contains(names.reduce(base.path) { $0.appending($1) }) { return }
        _ = try folder(names[...])
    }

    /// The folder holding `path` (a path relative to the base, as components) and its last name.
    func parent(of components: [Path]) throws -> (Folder, Path) {
        guard let last = components.last else { throw BMError(22, "an empty path names no file") }
        return (try folder(components.dropLast()), last)
    }
}
