import Foundation
import Glibc

/// Thin POSIX helpers: each returns or throws a BMError with the number of DESIGN §6.
enum FS {
    static func errorNumber(_ err: Int32) -> Int {
        switch err {
        case ENOENT, ENOTDIR: return 10
        case EACCES, EPERM: return 11
        case EISDIR: return 12
        case ENOSPC, EDQUOT, EIO, EROFS: return 20
        default: return 20
        }
    }

    static func failure(_ what: String, _ path: String, errno err: Int32 = errno) -> BMError {
        BMError(errorNumber(err), "\(what) \(shown(path)): \(String(cString: strerror(err)))", path: path)
    }

    /// A path as a message shows it: quoted when it has spaces or control characters.
    static func shown(_ path: String) -> String {
        path.contains(where: { $0 == " " || $0.isNewline || $0 == "\"" || $0 == "\u{FFFD}" })
            ? "\"" + path.replacingOccurrences(of: "\n", with: "\\n") + "\"" : path
    }

    static func stat(_ path: String, follow: Bool = true) -> Foundation.stat? {
        var st = Foundation.stat()
        let rc = fstatat(AT_FDCWD, path, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW)
        return rc == 0 ? st : nil
    }

    /// The status of a file about to be read as a backup's source: a regular file.
    static func regularFile(_ path: String) throws -> Foundation.stat {
        guard let st = stat(path) else { throw failure("cannot read", path) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw BMError(12, "\(shown(path)) is \(kind(st.st_mode))", path: path)
        }
        return st
    }

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

    static func exists(_ path: String) -> Bool { stat(path, follow: false) != nil }

    static func isDirectory(_ path: String) -> Bool {
        stat(path).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
    }

    static func fsync(path: String, directory: Bool = false) {
        let fd = Glibc.open(path, (directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = Foundation.fsync(fd)
        Glibc.close(fd)
    }

    /// Makes what was written to `paths` durable at once: one syncfs per file
    /// system their folders are on, instead of an fsync for each file.
    static func syncFileSystems(holding paths: [String]) {
        var synced: Set<UInt64> = []
        for dir in Set(paths.map(directory)) {
            guard let st = stat(dir), synced.insert(UInt64(st.st_dev)).inserted else { continue }
            let fd = Glibc.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 { _ = syncfs(fd); Glibc.close(fd) }
        }
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
        throw BMError(22, "\(shown(path)) is a file, not a folder", path: path)
    }

    /// A new file `<directory>/<prefix>XXXXXX` open for writing.
    static func makeTemp(in directory: String, prefix: String) throws -> (fd: Int32, path: String) {
        var template = Array("\(directory)/\(prefix)XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw failure("cannot write in", directory) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)  // a user-callback must not inherit it
        return (fd, String(cString: template))
    }

    /// A folder's entries, read with readdir (without `.` and `..`). A path in
    /// bmlua is text, so a name that is not valid UTF-8 comes back apart, in
    /// `undecodable`, escaped (`caf\xE9.txt`) for the message that reports it;
    /// Foundation would have replaced its bytes and named a file that isn't there.
    static func folderEntries(_ path: String) throws -> (names: [String], undecodable: [String]) {
        guard let dir = opendir(path) else { throw failure("cannot list the folder", path) }
        defer { closedir(dir) }
        var names: [String] = [], undecodable: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw failure("cannot list the folder", path) }
                return (names, undecodable)
            }
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if bytes == [0x2E] || bytes == [0x2E, 0x2E] { continue }
            if let name = String(validating: bytes, as: UTF8.self) {
                names.append(name)
            } else {
                undecodable.append(escaped(bytes))
            }
        }
    }

    /// What the symbolic link at `path` says, verbatim. bmlua keeps paths as
    /// text: a target that is not valid UTF-8 is error 22, escaped in the message.
    static func linkTarget(_ path: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buffer.withUnsafeMutableBufferPointer { readlink(path, $0.baseAddress!, $0.count) }
        guard n >= 0 else { throw failure("cannot read the link", path) }
        let bytes = buffer[..<n].map { UInt8(bitPattern: $0) }
        guard let target = String(validating: bytes, as: UTF8.self) else {
            throw BMError(22, "\(shown(path)): the link's target \(escaped(bytes)) is not valid UTF-8, and bmlua keeps paths as text", path: path)
        }
        return target
    }

    /// Makes `path` a symbolic link to `target` with mtime `mtimeNs`, given to `owner` if any.
    static func makeLink(_ path: String, to target: String, mtimeNs: Int64, owner: Owner? = nil) throws {
        try replace(path) { temp in
            guard symlink(target, temp) == 0 else { return -1 }
            if let owner { lchown(temp, owner.uid, owner.gid) }
            var times = [timespec(tv_sec: 0, tv_nsec: Int(UTIME_OMIT)), timespecOf(mtimeNs)]
            utimensat(AT_FDCWD, temp, &times, AT_SYMLINK_NOFOLLOW)
            return 0
        }
    }

    /// Makes `path` one more hard link of `existing`.
    static func makeHardLink(_ path: String, to existing: String) throws {
        try replace(path) { link(existing, $0) }
    }

    /// Has `make` create something at a free temp name beside `path` (0, or
    /// -1 with errno set) and renames it into place: what was at `path` is
    /// replaced whole or not at all.
    static func replace(_ path: String, making make: (String) -> Int32) throws {
        let dir = directory(path)
        for _ in 0..<100 {
            let temp = "\(dir)/.\(baseName(path)).bmlua-\(String(UInt32.random(in: .min ... .max), radix: 36))"
            guard make(temp) == 0 else {
                if errno == EEXIST { continue }
                throw failure("cannot write in", dir)
            }
            guard rename(temp, path) == 0 else {
                let failed = failure("cannot replace", path)
                unlink(temp)
                throw failed
            }
            return
        }
        throw BMError(20, "cannot find a free temp name in \(shown(dir))", path: path)
    }

    /// Bytes as text: valid UTF-8 as it is, every other byte as `\xNN`.
    static func escaped(_ bytes: [UInt8]) -> String {
        var out = "", offset = 0
        var parser = Unicode.UTF8.ForwardParser()
        var input = bytes.makeIterator()
        while true {
            switch parser.parseScalar(from: &input) {
            case .valid(let scalar):
                out.unicodeScalars.append(Unicode.UTF8.decode(scalar))
                offset += scalar.count
            case .error(let length):
                for b in bytes[offset..<offset + length] { out += String(format: "\\x%02X", b) }
                offset += length
            case .emptyInput:
                return out
            }
        }
    }

    static func nanoseconds(_ t: timespec) -> Int64 { Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec) }

    static func timespecOf(_ ns: Int64) -> timespec {
        timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
    }

    /// An absolute, normalised path (no `.`, `..` or doubled slashes); symbolic links are kept.
    static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var parts: [Substring] = []
        for part in full.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { _ = parts.popLast(); continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// `path` is `folder` or lies under it (both absolute and normalised).
    static func isAtOrUnder(_ path: String, _ folder: String) -> Bool {
        path == folder || path.hasPrefix(folder == "/" ? "/" : folder + "/")
    }

    static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    static func directory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// An absolute, normalised path, as bmlua records paths (for the command line).
public func absolutePath(_ path: String) -> String { FS.absolute(path) }

/// Not exported by Swift's Glibc module.
@_silgen_name("syncfs") func syncfs(_ fd: Int32) -> Int32
let UTIME_OMIT = (1 << 30) - 2
