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
    /// `objects/` and `tmp/`, opened once: objects are made and named relative to them.
    private lazy var rootFolder: Folder? = try? Folder.open(Path(root), follow: false)
    private lazy var tmpFolder: Folder? = try? Folder.open(Path(tmp), follow: false)
    /// Fan-out folders known to exist: each is made (or found) once a process, not tried per object.
    private var fanOut = Set<UInt16>()
    private var pendingFiles = 0
    private var pendingDirs: Set<String> = []
    /// Objects this store created since `beginTracking()`: removed again if the operation rolls back.
    private(set) var created: [String] = []

    static let chunkSize = 1 << 20
    /// Source files read for storing: lets tests prove unchanged files are not
    /// read and new ones are read once.
    private(set) var sourceReads = 0

    init(repositoryRoot: String) {
        root = repositoryRoot + "/objects"
        tmp = repositoryRoot + "/tmp"
    }

    /// The 256 fan-out folders `ab/` (a new repository has them all).
    static let fanOutNames = (0..<256).map { String(format: "%02x", $0) }

    func path(of id: String) -> String { "\(root)/\(id.prefix(2))/\(id)" }
    private func relative(_ id: String) -> Path { Path("\(id.prefix(2))/\(id)") }

    func exists(_ id: String) -> Bool {
        guard let folder = rootFolder else { return FS.exists(path(of: id)) }
        return folder.stat(relative(id)) != nil
    }

    struct Stored {
        var id: String
        var size: Int64
        var isNew: Bool
    }

    /// Stores the bytes of the file at `source` (a hook's `bhout`: links
    /// followed, as the hook named it). Errors: 10, 11, 12 for the source, 20 for the repository.
    func put(file source: Path) throws -> Stored {
        try put(try SourceFile.open(path: source))
    }

    /// Stores the data of `source` from its start.
    func put(_ source: SourceFile) throws -> Stored {
        sourceReads += 1
        if source.consumed { lseek(source.fd, 0, SEEK_SET) }   // stored before: hook 6 wants it stored again
        source.consumed = true
        return try put(from: source.fd, name: source.path, expectedSize: Int(source.status.st_size))
    }

    /// `expectedSize` (what fstat said) lets a short read end a small file
    /// without a second read to see its end; a file that grew meanwhile is read on to its end.
    func put(from input: Int32, name: Path, expectedSize: Int? = nil) throws -> Stored {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var size = try fill(buffer, from: input, name: name, expecting: expectedSize)
        let head = UnsafeRawBufferPointer(rebasing: buffer[0..<size])
        hasher.update(bufferPointer: head)
        let whole = size < buffer.count
        guard let tmpFolder, let rootFolder else { throw FS.failure("cannot open", tmp) }
        // Read-only from the start (the descriptor still writes): no chmod afterwards.
        var temp = Path(""), output: Int32 = -1
        for _ in 0..<100 where output < 0 {
            temp = nextTempName()
            output = tmpFolder.createFile(temp, mode: 0o444)
            if output < 0 && errno != EEXIST { throw FS.failure("cannot write in", tmp) }
        }
        var keep = false
        defer {
            close(output)
            if !keep { _ = tmpFolder.unlink(temp) }
        }
        try writeAll(output, head, to: temp)
        if !whole {
            try stream(input, name: name, through: buffer) { chunk in
                hasher.update(bufferPointer: chunk)
                try writeAll(output, chunk, to: temp)
                size += chunk.count
            }
        }
        let id = hasher.finalize().hex
        try makeFanOut(for: id)
        // Not looked up first: the rename itself says whether the object is
        // there (dedup), so a new object costs no failed stat.
        let renamed = temp.withCString { t in relative(id).withCString { renameat2(tmpFolder.fd, t, rootFolder.fd, $0, 1 /* RENAME_NOREPLACE */) } }
        if renamed != 0 && errno == EEXIST { return Stored(id: id, size: Int64(size), isNew: false) }
        if renamed != 0 && errno == EINVAL && exists(id) { return Stored(id: id, size: Int64(size), isNew: false) }
        let moved = renamed == 0 || temp.withCString { t in relative(id).withCString { renameat(tmpFolder.fd, t, rootFolder.fd, $0) } } == 0
        guard moved else { throw FS.failure("cannot store object in", root) }
        keep = true
        pendingFiles += 1
        pendingDirs.insert(String(id.prefix(2)))
        created.append(id)
        return Stored(id: id, size: Int64(size), isNew: true)
    }

    /// A temp name no other writer uses (they wait for the lock) and no
    /// earlier run left (tmp/ is emptied at the first lock): a counter, not a random draw.
    private var tempCounter = 0
    private let tempPrefix = "obj-\(getpid())-"
    private func nextTempName() -> Path {
        tempCounter += 1
        return Path(tempPrefix + String(tempCounter))
    }

    private func makeFanOut(for id: String) throws {
        guard let key = UInt16(id.prefix(2), radix: 16), !fanOut.contains(key), let rootFolder else { return }
        if Path(String(id.prefix(2))).withCString({ mkdirat(rootFolder.fd, $0, 0o700) }) != 0 && errno != EEXIST {
            throw FS.failure("cannot create", root + "/" + id.prefix(2))
        }
        fanOut.insert(key)
    }

    /// Makes every object written since the last sync durable. Many files: one
    /// `syncfs`; a few: fsync each and their directories.
    func sync() {
        guard pendingFiles > 0 else { return }
        if pendingFiles > 32, let rootFolder {
            _ = syncfs(rootFolder.fd)
        } else {
            for id in created.suffix(pendingFiles) { FS.fsync(path: path(of: id)) }
            for d in pendingDirs { FS.fsync(path: root + "/" + d, directory: true) }
            FS.fsync(path: root, directory: true)
        }
        pendingFiles = 0
        pendingDirs.removeAll()
    }

    func beginTracking() { created.removeAll() }

    /// Removes the objects created since `beginTracking()`: the operation that wrote them failed.
    func discardCreated() {
        for id in created { unlink(path(of: id)) }
        created.removeAll()
        pendingFiles = 0
    }

    /// Streams object `id` to `fd`, verifying its hash; error 21 if it does not match.
    func copy(_ id: String, to fd: Int32, destination: Path) throws {
        let source = path(of: id)
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw BMError(21, "object \(id) is missing", path: Path(source)) }
        defer { close(input) }
        var hasher = SHA256()
        try stream(input, name: Path(source)) { chunk in
            hasher.update(bufferPointer: chunk)
            try writeAll(fd, chunk, to: destination)
        }
        let actual = hasher.finalize().hex
        guard actual == id else { throw BMError(21, "object \(id) does not match its hash", path: Path(source)) }
    }

    /// The SHA-256 of a whole file, streamed.
    func hash(of path: String) throws -> String {
        let input = open(path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw FS.failure("cannot read", path) }
        defer { close(input) }
        return try hash(fd: input, name: Path(path))
    }

    func hash(fd input: Int32, name: Path) throws -> String {
        var hasher = SHA256()
        try stream(input, name: name) { hasher.update(bufferPointer: $0) }
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

func stream(_ fd: Int32, name: Path, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ObjectStore.chunkSize, alignment: 16)
    defer { buffer.deallocate() }
    try stream(fd, name: name, through: buffer, body)
}

/// Hands `body` the rest of `fd`, a buffer's worth at a time.
func stream(_ fd: Int32, name: Path, through buffer: UnsafeMutableRawBufferPointer,
            _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    while true {
        let n = try fill(buffer, from: fd, name: name)
        if n > 0 { try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
        if n < buffer.count { return }
    }
}

/// Reads into `buffer` until it is full or the data ends: fewer bytes than it
/// holds means the end. Having read `expected` bytes and hit a short read, a
/// regular file is at its end: no further read is needed to see it.
func fill(_ buffer: UnsafeMutableRawBufferPointer, from fd: Int32, name: Path, expecting expected: Int? = nil) throws -> Int {
    var n = 0
    while n < buffer.count {
        if let expected, n == expected, n > 0 { break }
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

func writeAll(_ fd: Int32, _ data: UnsafeRawBufferPointer, to name: Path) throws {
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
