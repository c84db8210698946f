import Crypto
import Foundation

/// Content-addressed, immutable data: `objects/ab/<sha256>`, read-only.
///
/// Data is streamed once: hashed while it is copied into `tmp/`, then renamed
/// into place, or dropped when the object already exists (dedup). Durability
/// is batched: `sync()` makes every object written since the last call
/// durable at once, and must run before the catalog commit that names them.
final class ObjectStore {
    let root: String
    private let tmp: String
    private var pendingFiles: [String] = []
    private var pendingDirs: Set<String> = []
    /// Objects this store created since `beginTracking()`: removed again if the operation rolls back.
    private(set) var created: [String] = []

    static let chunkSize = 1 << 20
    /// Source files opened for storing: lets tests prove unchanged files are not read.
    private(set) var sourceReads = 0

    init(repositoryRoot: String) {
        root = repositoryRoot + "/objects"
        tmp = repositoryRoot + "/tmp"
    }

    func path(of id: String) -> String { "\(root)/\(id.prefix(2))/\(id)" }

    func exists(_ id: String) -> Bool { FS.exists(path(of: id)) }

    struct Stored {
        var id: String
        var size: Int64
        var isNew: Bool
    }

    /// Stores the bytes of `source` (a regular file). Errors: 10, 11, 12 for the
    /// source, 20 for the repository.
    func put(file source: String) throws -> Stored {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw FS.failure("cannot read", source) }
        defer { close(input) }
        sourceReads += 1
        var st = Foundation.stat()
        guard fstat(input, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw BMError(12, "\(FS.shown(source)) is \(FS.kind(st.st_mode))", path: source)
        }
        return try put(from: input, name: source)
    }

    func put(from input: Int32, name: String) throws -> Stored {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var size = try fill(buffer, from: input, name: name)
        let head = UnsafeRawBufferPointer(rebasing: buffer[0..<size])
        hasher.update(bufferPointer: head)
        // A file that fits in one chunk is hashed before anything is written,
        // so storing a duplicate makes no temp file: a snapshot's newver of
        // each file newbu just stored would otherwise create and unlink one
        // per file, and ext4 then searches ever longer for a free inode.
        let whole = size < buffer.count
        if whole, case let id = hasher.finalize().hex, exists(id) {
            return Stored(id: id, size: Int64(size), isNew: false)
        }
        let (output, tempPath) = try FS.makeTemp(in: tmp, prefix: "obj-")
        var keep = false
        defer {
            close(output)
            if !keep { unlink(tempPath) }
        }
        try writeAll(output, head, to: tempPath)
        if !whole {
            try stream(input, name: name, through: buffer) { chunk in
                hasher.update(bufferPointer: chunk)
                try writeAll(output, chunk, to: tempPath)
                size += chunk.count
            }
        }
        let id = hasher.finalize().hex
        let final = path(of: id)
        if exists(id) { return Stored(id: id, size: Int64(size), isNew: false) }
        let dir = FS.directory(final)
        try FS.mkdir(dir)
        fchmod(output, 0o444)
        guard rename(tempPath, final) == 0 else { throw FS.failure("cannot store object in", dir) }
        keep = true
        pendingFiles.append(final)
        pendingDirs.insert(dir)
        created.append(final)
        return Stored(id: id, size: Int64(size), isNew: true)
    }

    /// Makes every object written since the last sync durable. Many files: one
    /// `syncfs`; a few: fsync each and their directories.
    func sync() {
        guard !pendingFiles.isEmpty else { return }
        if pendingFiles.count > 32 {
            let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 { _ = syncfs(fd); close(fd) }
        } else {
            for f in pendingFiles { FS.fsync(path: f) }
            for d in pendingDirs { FS.fsync(path: d, directory: true) }
            FS.fsync(path: root, directory: true)
        }
        pendingFiles.removeAll()
        pendingDirs.removeAll()
    }

    func beginTracking() { created.removeAll() }

    /// Removes the objects created since `beginTracking()`: the operation that wrote them failed.
    func discardCreated() {
        for f in created { unlink(f) }
        created.removeAll()
        pendingFiles.removeAll()
    }

    /// Streams object `id` to `fd`, verifying its hash; error 21 if it does not match.
    func copy(_ id: String, to fd: Int32, destination: String) throws {
        let source = path(of: id)
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw BMError(21, "object \(id) is missing", path: source) }
        defer { close(input) }
        var hasher = SHA256()
        try stream(input, name: source) { chunk in
            hasher.update(bufferPointer: chunk)
            try writeAll(fd, chunk, to: destination)
        }
        let actual = hasher.finalize().hex
        guard actual == id else { throw BMError(21, "object \(id) does not match its hash", path: source) }
    }

    /// The SHA-256 of a whole file, streamed.
    func hash(of path: String) throws -> String {
        let input = open(path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw FS.failure("cannot read", path) }
        defer { close(input) }
        var hasher = SHA256()
        try stream(input, name: path) { hasher.update(bufferPointer: $0) }
        return hasher.finalize().hex
    }

    /// Every object id present, for check and gc.
    func allObjects() -> [String] {
        var ids: [String] = []
        let fm = FileManager.default
        for dir in (try? fm.contentsOfDirectory(atPath: root)) ?? [] {
            for file in (try? fm.contentsOfDirectory(atPath: "\(root)/\(dir)")) ?? [] where file.hasPrefix(dir) {
                ids.append(file)
            }
        }
        return ids
    }
}

func stream(_ fd: Int32, name: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ObjectStore.chunkSize, alignment: 16)
    defer { buffer.deallocate() }
    try stream(fd, name: name, through: buffer, body)
}

/// Hands `body` the rest of `fd`, a buffer's worth at a time.
func stream(_ fd: Int32, name: String, through buffer: UnsafeMutableRawBufferPointer,
            _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    while true {
        let n = try fill(buffer, from: fd, name: name)
        if n > 0 { try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
        if n < buffer.count { return }
    }
}

/// Reads into `buffer` until it is full or the data ends: fewer bytes than it holds means the end.
func fill(_ buffer: UnsafeMutableRawBufferPointer, from fd: Int32, name: String) throws -> Int {
    var n = 0
    while n < buffer.count {
        let r = read(fd, buffer.baseAddress! + n, buffer.count - n)
        if r < 0 {
            if errno == EINTR { continue }
            throw FS.failure("cannot read", name)
        }
        if r == 0 { break }
        n += r
    }
    return n
}

func writeAll(_ fd: Int32, _ data: UnsafeRawBufferPointer, to name: String) throws {
    var offset = 0
    while offset < data.count {
        let n = write(fd, data.baseAddress! + offset, data.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            throw FS.failure("cannot write", name)
        }
        offset += n
    }
}

extension SHA256.Digest {
    /// Lowercase hex: an object's id. (String(format:) per byte is slow on a snapshot's worth of files.)
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
