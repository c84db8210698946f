import CSystem
import Foundation
import Glibc

/// Thin POSIX helpers: each returns or throws a BMError with the number of
/// design.md, "Errors". Users' files are reached through `Folder`; the `String` forms
/// here are for the repository's own paths, which bmlua names itself.
enum FS {
    static func errorNumber(_ err: Int32) -> Int {
        switch err {
        case ENOENT, ENOTDIR: return 10
        case EACCES, EPERM: return 11
        // EAGAIN: a file opened without blocking that has nothing to read now
        // (/proc/kmsg): not data a backup can hold.
        case EISDIR, ELOOP, EAGAIN: return 12
        case ENAMETOOLONG, EINVAL: return 22
        case ENOSPC, EDQUOT, EIO, EROFS: return 20
        default: return 20
        }
    }

    static func failure(_ what: String, _ path: Path, errno err: Int32 = errno) -> BMError {
        BMError(errorNumber(err), "\(what) \(shown(path)): \(String(cString: strerror(err)))", path: path)
    }

    static func failure(_ what: String, _ path: String, errno err: Int32 = errno) -> BMError {
        failure(what, Path(path), errno: err)
    }

    /// A path as a message shows it (see `Path.escaped`): quoted when it has spaces or quotes.
    static func shown(_ path: Path) -> String {
        let text = path.description
        return text.contains(where: { $0 == " " || $0 == "\"" }) ? "\"" + text + "\"" : text
    }

    static func shown(_ path: String) -> String { shown(Path(path)) }

    static func stat(_ path: Path, follow: Bool = true) -> Foundation.stat? {
        var st = Foundation.stat()
        let rc = path.withCString { fstatat(AT_FDCWD, $0, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) }
        return rc == 0 ? st : nil
    }

    static func stat(_ path: String, follow: Bool = true) -> Foundation.stat? { stat(Path(path), follow: follow) }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFCHR, S_IFBLK: return "a device"
        case S_IFLNK: return "a symbolic link"
        default: return "not a regular file"
        }
    }

    static func exists(_ path: Path) -> Bool { stat(path, follow: false) != nil }
    static func exists(_ path: String) -> Bool { exists(Path(path)) }

    static func isDirectory(_ path: Path) -> Bool {
        stat(path).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
    }

    static func isDirectory(_ path: String) -> Bool { isDirectory(Path(path)) }

    static func fsync(path: String, directory: Bool = false) {
        let fd = Glibc.open(path, (directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = Foundation.fsync(fd)
        Glibc.close(fd)
    }

    /// Makes what was written under `folders` durable at once: one syncfs per
    /// file system they are on, instead of an fsync for each file.
    static func syncFileSystems(holding folders: [Folder]) {
        var synced: Set<UInt64> = []
        for folder in folders {
            guard let st = try? folder.status(), synced.insert(UInt64(st.st_dev)).inserted else { continue }
            _ = bmlua_syncfs(folder.fd)
        }
    }

    /// Bytes free for an unprivileged writer on the file system holding `path` (nil if unknown).
    static func freeBytes(_ path: String) -> UInt64? {
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else { return nil }
        return UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
    }

    static func mkdir(_ path: String, mode: mode_t = 0o700) throws {
        if Glibc.mkdir(path, mode) != 0 && errno != EEXIST { throw failure("cannot create", path) }
    }

    /// `mkdir -p` for a user's folders (mode 0777 less the umask), with the errno's error number.
    static func makeDirectories(_ path: String) throws {
        if isDirectory(path) { return }
        let parent = directory(path)
        if parent != path { try makeDirectories(parent) }
        if Glibc.mkdir(path, 0o777) != 0 && errno != EEXIST { throw failure("cannot create", path) }
        try requireFolder(path)
    }

    /// Error 22 for a path the user gave as a folder that is something else.
    static func requireFolder(_ path: String) throws {
        guard !isDirectory(path) else { return }
        throw BMError(22, "\(shown(path)) is a file, not a folder", path: Path(path))
    }

    /// A folder's entries (without `.` and `..`): for the repository's own folders, whose names bmlua made.
    static func folderEntries(_ path: String) throws -> [String] {
        try Folder.open(Path(path)).entries().map { String(decoding: $0.name.bytes, as: UTF8.self) }
    }

    static func nanoseconds(_ t: timespec) -> Int64 { Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec) }

    /// Nanoseconds since 1970 as a timespec, whose tv_nsec is 0…999,999,999
    /// also before 1970 (-1.5 s is -2 s + 0.5 s): truncating would make an
    /// invalid time that futimens refuses.
    static func timespecOf(_ ns: Int64) -> timespec {
        let (q, r) = ns.quotientAndRemainder(dividingBy: 1_000_000_000)
        return r < 0 ? timespec(tv_sec: Int(q - 1), tv_nsec: Int(r + 1_000_000_000)) : timespec(tv_sec: Int(q), tv_nsec: Int(r))
    }

    /// An absolute, normalised form of a path bmlua keeps as text (a
    /// repository, a profile's paths in its TOML configuration).
    static func absolute(_ path: String) -> String { String(decoding: Path(path).absolute.bytes, as: UTF8.self) }

    static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    static func directory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

let UTIME_OMIT = (1 << 30) - 2

/// An absolute, normalised path kept as text (a profile's include in its TOML configuration).
public func absolutePath(_ path: String) -> String { FS.absolute(path) }
