import Foundation
import Glibc

/// A file about to be stored, opened once: its status and extended attributes
/// come from the descriptor its data is read from, so a file swapped for
/// another between a look and a read is never stored with the other's
/// metadata, and one that is no longer a regular file is its own error.
final class SourceFile {
    let fd: Int32
    /// The file's path, as the catalog and the hooks name it.
    let path: Path
    let status: stat
    /// Its data was read once already (the object store rewinds it to read it again).
    var consumed = false
    private var attributes: ExtendedAttributes??

    private init(fd: Int32, path: Path, status: stat) {
        self.fd = fd
        self.path = path
        self.status = status
    }

    deinit { Glibc.close(fd) }

    /// `name` in `folder`, which a walk met as a regular file: no link is
    /// followed, and a FIFO put there since does not block the open.
    static func open(_ name: Path, in folder: Folder) throws -> SourceFile {
        try open(path: folder.path.appending(name)) { flags in
            name.withCString { openat(folder.fd, $0, flags | O_NOFOLLOW) }
        }
    }

    /// The file the user named (links followed, as the user named it).
    static func open(path: Path) throws -> SourceFile {
        guard !path.isEmpty else { throw BMError(22, "an empty path names no file") }
        return try open(path: path) { flags in path.withCString { Glibc.open($0, flags) } }
    }

    private static func open(path: Path, _ call: (Int32) -> Int32) throws -> SourceFile {
        // O_NOATIME keeps a backup from touching the user's access times; the
        // kernel allows it only to the file's owner (and root).
        let flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK
        var fd = call(flags | O_NOATIME)
        if fd < 0 && errno == EPERM { fd = call(flags) }
        guard fd >= 0 else {
            if errno == ELOOP { throw BMError(12, "\(FS.shown(path)) is a symbolic link", path: path) }
            throw FS.failure("cannot read", path)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let failure = FS.failure("cannot read", path)
            Glibc.close(fd)
            throw failure
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            Glibc.close(fd)
            throw BMError(12, "\(FS.shown(path)) is \(FS.kind(st.st_mode))", path: path)
        }
        return SourceFile(fd: fd, path: path, status: st)
    }

    /// Its extended attributes (read once, from the descriptor).
    var xattrs: ExtendedAttributes? {
        if let attributes { return attributes }
        let read = ExtendedAttributes.read(fd: fd)
        attributes = .some(read)
        return read
    }

    /// What is stored of it besides the data.
    func metadata(object: String, size: Int64) -> StoredData {
        StoredData(object: object, size: size, mode: UInt32(status.st_mode & 0o7777), mtimeNs: FS.nanoseconds(status.st_mtim),
                   owner: Owner(status), xattrs: xattrs)
    }

    var state: SourceState { SourceState(status) }

    /// Whether the file changed since it was opened (a hook wrote to it):
    /// bytes read before then are not the ones to store.
    var changedSinceOpened: Bool {
        var now = stat()
        guard fstat(fd, &now) == 0 else { return true }
        return SourceState(now) != state
    }
}

/// Not exported by Swift's Glibc module (fcntl.h, Linux).
let O_NOATIME: Int32 = 0o1000000
