import CSystem
import Crypto
import Foundation
import Synchronization

/// Content-addressed, immutable data: `objects/ab/<sha256>`, read-only.
///
/// Data is streamed once: hashed while it is copied into `tmp/`, then renamed
/// into place, or dropped when the object already exists (dedup). Durability
/// is batched: `sync()` makes every object written since the last call
/// durable at once, and must run before the catalog commit that names them.
final class ObjectStore {
    let root: String
    private let tmp: String
    /// Opens one of the repository's own folders (never through a link: error 21).
    private let openFolder: (String) throws -> Folder
    private var rootFolderStorage: Folder?, tmpFolderStorage: Folder?
    /// `objects/` and `tmp/`, opened once: objects are made, named, read and removed relative to them.
    private func rootFolder() throws -> Folder {
        if let f = rootFolderStorage { return f }
        let f = try openFolder("objects")
        rootFolderStorage = f
        return f
    }
    private func tmpFolder() throws -> Folder {
        if let f = tmpFolderStorage { return f }
        let f = try openFolder("tmp")
        tmpFolderStorage = f
        return f
    }
    /// Fan-out folders known to exist: each is made (or found) once a process, not tried per object.
    private var fanOut = Set<UInt16>()
    private var pendingFiles = 0
    private var pendingDirs: Set<String> = []
    /// Objects this store created since `beginTracking()`: removed again if the operation rolls back.
    private(set) var created: [String] = []

    static let chunkSize = 1 << 20
    /// Objects this process stored or found intact since it took the writer
    /// lock: while it holds it, no other process's delete and gc can remove them.
    /// One set, shared with the workers: a copy each group (as before) cost
    /// a copy of every id the run had stored, once a group.
    let known = KnownObjects()

    /// The writer lock was let go: another process may remove objects now.
    func forgetKnown() { known.removeAll() }

    /// Set when root writes into another user's repository: its objects and folders become theirs.
    var owner: Owner?

    /// Source files read for storing: lets tests prove unchanged files are not
    /// read and new ones are read once.
    private(set) var sourceReads = 0

    init(repositoryRoot: String, openFolder: @escaping (String) throws -> Folder) {
        root = repositoryRoot + "/objects"
        tmp = repositoryRoot + "/tmp"
        self.openFolder = openFolder
    }

    /// An object id: 64 lowercase hex digits (a catalog's value is checked
    /// before it names a file).
    static func isValid(_ id: String) -> Bool {
        id.utf8.count == 64 && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// The 256 fan-out folders `ab/` (a new repository has them all).
    static let fanOutNames = (0..<256).map { String(format: "%02x", $0) }

    func path(of id: String) -> String { "\(root)/\(id.prefix(2))/\(id)" }
    private func relative(_ id: String) -> Path { Path("\(id.prefix(2))/\(id)") }

    func exists(_ id: String) -> Bool {
        (try? rootFolder().stat(relative(id))) != nil
    }

    /// The status of object `id`'s file (nil, errno set, if there is none).
    func status(of id: String) throws -> stat? { try rootFolder().stat(relative(id)) }

    /// Opens object `id` for reading, never through a link; error 21 if it is missing.
    func open(_ id: String) throws -> Int32 {
        guard Self.isValid(id) else { throw BMError(21, "\(id.debugDescription) is not an object id") }
        let fd = try rootFolder().openFile(relative(id))
        guard fd >= 0 else {
            if errno == ENOENT { throw BMError(21, "object \(id) is missing", path: Path(path(of: id))) }
            throw FS.failure("cannot read", path(of: id))
        }
        return fd
    }

    /// Removes object `id` (gc); whether it was there.
    func remove(_ id: String) -> Bool {
        guard Self.isValid(id), let folder = try? rootFolder() else { return false }
        return folder.unlink(relative(id))
    }

    struct Stored {
        var id: String
        var size: Int64
    }

    /// Stores the bytes of the file at `source` (a hook's `bhout`: links
    /// followed, as the hook named it). Errors: 10, 11, 12 for the source, 20 for the repository.
    func put(file source: Path) throws -> Stored {
        try put(try SourceFile.open(path: source))
    }

    /// Stores the data of `source` from its start.
    func put(_ source: SourceFile) throws -> Stored {
        try commit(try stage(source, known: known), ofSource: true)
    }

    /// A large object's write-back is started every this many bytes.
    static let writeBackStep = 8 << 20

    /// How far past its size at open a source is read.
    static let growthMargin = 16 << 20

    func put(from input: Int32, name: Path, expectedSize: Int? = nil, limit: Int = .max) throws -> Stored {
        try commit(try Self.stage(from: input, name: name, expectedSize: expectedSize, limit: limit, known: known,
                                  into: tmpFolder(), owner: owner, naming: tempNames), ofSource: false)
    }

    /// An object's bytes read, hashed and written to a temp file, not yet in
    /// the store: what the many threads of a snapshot do at once. `commit`
    /// then names it, on the thread that owns the store.
    struct Staged: Sendable {
        let id: String
        let size: Int
        /// Where the bytes are: nothing when the object is one this process
        /// already stored (a small file read whole); else a file with no name
        /// yet, or, where the file system has none, a temp file in `tmp/`.
        let temp: Temp?

        enum Temp: Sendable {
            case unnamed(Int32)
            case named(Path)
            /// The worker named it already (a new object: the link said no
            /// such object was there) and closed it. It is this staging's
            /// until committed; dropped, it goes.
            case placed
        }
    }

    /// The part of `put` that touches nothing shared but the tmp folder's
    /// descriptor and the temp-name counter: safe on any thread, for sources
    /// each thread owns.
    func stage(_ source: SourceFile, known: KnownObjects) throws -> Staged {
        if source.consumed { lseek(source.fd, 0, SEEK_SET) }   // stored before: hook 6 wants it stored again
        source.consumed = true
        // A source is read up to its size when it was opened and a margin, no
        // further: a file that grows meanwhile (a log) is stored as far as
        // that, and a file of /proc that reads without end does not fill the repository.
        let size = Int(source.status.st_size)
        return try Self.stage(from: source.fd, name: source.path, expectedSize: size, limit: size + Self.growthMargin, known: known,
                              into: tmpFolder(), owner: owner, naming: tempNames, placingIn: rootFolder())
    }

    /// Opens `tmp/` now: `stage` on other threads must find it open.
    func prepareToStage() throws { _ = try tmpFolder(); _ = try rootFolder() }

    /// `expectedSize` (what fstat said) lets a short read end a small file
    /// without a second read to see its end; a file that grew meanwhile is read on to its end.
    /// `placingIn`: `objects/`, where a new object is named as soon as it is
    /// written, off the thread that commits (one link fewer on that thread a new file).
    private static func stage(from input: Int32, name: Path, expectedSize: Int?, limit: Int, known: KnownObjects,
                              into tmpFolder: Folder, owner: Owner?, naming: TempNames, placingIn objects: Folder? = nil) throws -> Staged {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var size = try fill(buffer, from: input, name: name, expecting: expectedSize)
        let head = UnsafeRawBufferPointer(rebasing: buffer[0..<size])
        hasher.update(bufferPointer: head)
        let whole = size < buffer.count
        // A small file whose object this process stored or verified already (a
        // run's many empty or equal files) is known without a temp file or a look.
        let early = whole ? hasher.finalize().hex : nil
        if let early, known.contains(early) {
            return Staged(id: early, size: size, temp: nil)
        }
        // Read-only from the start (the descriptor still writes): no chmod
        // afterwards. With no name until it is committed: nothing to clean up
        // after a crash, and no name made and changed in a folder every thread shares.
        // Made in the folder it will be named in, where that is known and
        // made already: the file system finds its inode near that folder's, as
        // it does for rsync's files in theirs, not every new inode near tmp/'s
        // (on ext4, a search through one crowded group for each).
        let temp: Staged.Temp, output: Int32
        if let early, let objects, let fd = objects.createUnnamed(in: Path(String(early.prefix(2))), mode: 0o444) {
            (temp, output) = (.unnamed(fd), fd)
        } else if let fd = tmpFolder.createUnnamed(mode: 0o444) {
            (temp, output) = (.unnamed(fd), fd)
        } else {
            let (fd, name) = try tmpFolder.createTemp(mode: 0o444, naming: naming.next)
            (temp, output) = (.named(name), fd)
        }
        if let owner { fchown(output, owner.uid, owner.gid) }
        var keep = false
        defer {
            switch temp {
            case .named(let name):
                close(output)
                if !keep { _ = tmpFolder.unlink(name) }
            case .unnamed: if !keep { close(output) }   // committed, it is named through its descriptor
            case .placed: break   // made below, from an unnamed one
            }
        }
        var out = SparseOutput(fd: output, name: tmpFolder.path.appending(Path("(new object)")))
        try out.write(head)
        let id: String
        if let early {
            id = early   // read whole, hashed already
        } else {
            // A large file's write-back starts as it is written, not all at the
            // sync that makes it durable: the disk writes while the rest is read.
            let large = (expectedSize ?? 0) >= ChunkHasher.threadedFrom
            let rest = ChunkHasher(continuing: hasher, first: buffer, threaded: large)
            defer { rest.drain() }   // before `buffer` goes
            var writtenBack = 0
            while size < limit {
                let slot = rest.buffer()
                let n = try fill(slot, from: input, name: name)
                try out.write(rest.hashed(min(n, limit - size)))
                size += min(n, limit - size)
                if large && size - writtenBack >= Self.writeBackStep {
                    _ = bmlua_start_writeback(output, off_t(writtenBack), off_t(size - writtenBack))
                    writtenBack = size
                }
                if n < slot.count { break }
            }
            id = rest.finalize().hex
        }
        try out.finish()
        keep = true
        // The link fails where the object is there already: commit sees to it.
        if case .unnamed(let fd) = temp, let objects, !known.contains(id), objects.link(unnamed: fd, as: Path("\(id.prefix(2))/\(id)")) {
            close(fd)   // here, not on the thread that commits
            return Staged(id: id, size: size, temp: .placed)
        }
        return Staged(id: id, size: size, temp: temp)
    }

    /// Puts a staged object in its place (or finds it there: dedup);
    /// `ofSource`: it was read from a source file (counted in `sourceReads`).
    func commit(_ staged: Staged, ofSource: Bool) throws -> Stored {
        if ofSource { sourceReads += 1 }
        let id = staged.id, size = staged.size
        guard let temp = staged.temp else { return Stored(id: id, size: Int64(size)) }
        if case .placed = temp {
            if known.insert(id) {   // else an equal file's commit found it there first, and keeps it
                pendingFiles += 1
                pendingDirs.insert(String(id.prefix(2)))
                created.append(id)
            }
            return Stored(id: id, size: Int64(size))
        }
        let tmpFolder = try tmpFolder(), rootFolder = try rootFolder()
        var named: Path?   // the temp name in tmp/ the object has, if any
        if case .named(let name) = temp { named = name }
        defer {
            switch temp {
            case .unnamed(let fd): close(fd)
            case .named: if let named { _ = tmpFolder.unlink(named) }
            case .placed: break
            }
        }
        // Staged on another thread before an equal file of the same batch was committed.
        if known.contains(id) { return Stored(id: id, size: Int64(size)) }
        try makeFanOut(for: id)
        // Not looked up first: the link or rename itself says whether the
        // object is there (dedup), so a new object costs no failed stat.
        let placed: Bool
        switch temp {
        case .unnamed(let fd): placed = rootFolder.link(unnamed: fd, as: relative(id))
        case .placed: preconditionFailure("a placed object is committed above")
        case .named(let name):
            placed = name.withCString { t in relative(id).withCString { bmlua_renameat2(tmpFolder.fd, t, rootFolder.fd, $0, UInt32(BMLUA_RENAME_NOREPLACE)) } } == 0
        }
        if !placed && (errno == EEXIST || errno == EINVAL && exists(id)) {
            // There already. Shared only if it holds these bytes: a power cut
            // can leave a file with other (or no) bytes under a content name
            // that no row references yet. Then ours replaces it.
            if intact(id, size: size) {
                _ = known.insert(id)
                return Stored(id: id, size: Int64(size))
            }
        }
        if !placed {
            if case .unnamed(let fd) = temp {   // named in tmp/ first, to be renamed over the damaged one
                let name = tempNames.next()
                guard tmpFolder.link(unnamed: fd, as: name) else { throw FS.failure("cannot store object in", root) }
                named = name
            }
            let moved = named!.withCString { t in relative(id).withCString { renameat(tmpFolder.fd, t, rootFolder.fd, $0) } } == 0
            guard moved else { throw FS.failure("cannot store object in", root) }
        }
        named = nil
        pendingFiles += 1
        pendingDirs.insert(String(id.prefix(2)))
        created.append(id)
        _ = known.insert(id)
        return Stored(id: id, size: Int64(size))
    }

    /// A staged object that will not be committed (its file failed, or a hook chose another).
    func discard(_ staged: Staged) {
        stagedDropped += 1
        switch staged.temp {
        case .unnamed(let fd): close(fd)
        case .placed:
            // Named by the worker, and by no file committed since: it goes (an
            // equal file staged meanwhile links its own copy when committed).
            if !known.contains(staged.id) { _ = remove(staged.id) }
        case .named(let name): if let folder = try? tmpFolder() { _ = folder.unlink(name) }
        case nil: break
        }
    }

    /// Staged objects dropped so far: how often reading ahead was wasted.
    private(set) var stagedDropped = 0

    /// Temp names no other writer uses (they wait for the lock) and no
    /// earlier run left (tmp/ is emptied at the first lock): a counter, not a
    /// random draw, shared by the threads that stage.
    final class TempNames: Sendable {
        private let counter = Atomic<Int>(0)
        private let prefix = "obj-\(getpid())-"
        func next() -> Path { Path(prefix + String(counter.add(1, ordering: .relaxed).newValue)) }
    }
    private let tempNames = TempNames()

    /// Object `id` has `size` bytes that hash to `id`.
    private func intact(_ id: String, size: Int) -> Bool {
        guard let st = try? status(of: id), Int(st.st_size) == size, let fd = try? open(id) else { return false }
        defer { close(fd) }
        return (try? hash(fd: fd, name: Path(path(of: id)))) == id
    }

    private func makeFanOut(for id: String) throws {
        guard let key = UInt16(id.prefix(2), radix: 16), !fanOut.contains(key) else { return }
        let rootFolder = try rootFolder()
        let made = Path(String(id.prefix(2))).withCString { mkdirat(rootFolder.fd, $0, 0o700) } == 0
        if !made && errno != EEXIST { throw FS.failure("cannot create", root + "/" + id.prefix(2)) }
        if made, let owner { _ = Path(String(id.prefix(2))).withCString { fchownat(rootFolder.fd, $0, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) } }
        fanOut.insert(key)
    }

    /// Makes every object written since the last sync durable. Many files: one
    /// `syncfs`; a few: fsync each and their directories.
    func sync() {
        guard pendingFiles > 0 else { return }
        if let rootFolder = try? rootFolder() {
            if pendingFiles > 32 {
                _ = bmlua_syncfs(rootFolder.fd)
            } else {
                for id in created.suffix(pendingFiles) {
                    let fd = rootFolder.openFile(relative(id))
                    if fd >= 0 { fsync(fd); close(fd) }
                }
                for d in pendingDirs { if let f = try? rootFolder.folder(Path(d)) { f.sync() } }
                rootFolder.sync()
            }
        }
        pendingFiles = 0
        pendingDirs.removeAll()
    }

    func beginTracking() { created.removeAll() }

    /// Removes the objects created since `beginTracking()`: the operation that wrote them failed.
    func discardCreated() {
        for id in created { _ = remove(id) }
        known.removeAll()   // what this operation verified may be unreferenced again
        created.removeAll()
        pendingFiles = 0
    }

    /// Removes the objects created since `created` had `mark` of them: a
    /// savepoint that made them rolled back.
    func discardCreated(since mark: Int) {
        guard mark < created.count else { return }
        for id in created[mark...] {
            _ = remove(id)
            known.remove(id)
        }
        pendingFiles = max(0, pendingFiles - (created.count - mark))
        created.removeSubrange(mark...)
    }

    /// Streams object `id` to `fd`, verifying its hash; error 21 if it does not match.
    /// `size`: what the catalog says the object holds. A read that ends just
    /// there needs no second read to find the end (a restore made two reads
    /// a file); one that does not reads on. The hash decides what is written,
    /// never the size.
    func copy(_ id: String, size: Int64? = nil, to fd: Int32, destination: Path) throws {
        let source = path(of: id)
        let input = try open(id)
        defer { close(input) }
        let expected = size.map { Int(clamping: $0) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        let hasher = ChunkHasher(continuing: SHA256(), first: buffer, threaded: (expected ?? 0) >= ChunkHasher.threadedFrom)
        defer { hasher.drain() }   // before `buffer` goes
        var out = SparseOutput(fd: fd, name: destination)
        var done = 0
        while true {
            let slot = hasher.buffer()
            let n = try fill(slot, from: input, name: Path(source), expecting: expected.map { $0 - done })
            try out.write(hasher.hashed(n))
            done += n
            if n < slot.count { break }
        }
        try out.finish()
        let actual = hasher.finalize().hex
        guard actual == id else { throw BMError(21, "object \(id) does not match its hash", path: Path(source)) }
    }

    /// The SHA-256 of a whole file, streamed.
    func hash(of path: String) throws -> String {
        let input = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw FS.failure("cannot read", path) }
        defer { close(input) }
        return try hash(fd: input, name: Path(path))
    }

    func hash(fd input: Int32, name: Path) throws -> String {
        var hasher = SHA256()
        try stream(input, name: name) { hasher.update(bufferPointer: $0) }
        return hasher.finalize().hex
    }

    /// Every object id present, for check and gc (names not of an object's form are left alone).
    func allObjects() -> [String] {
        guard let rootFolder = try? rootFolder() else { return [] }
        var ids: [String] = []
        for fan in (try? rootFolder.entries()) ?? [] where fan.name.string.map({ $0.utf8.count == 2 }) == true {
            guard let folder = try? rootFolder.folder(fan.name) else { continue }
            for e in (try? folder.entries()) ?? [] {
                if let id = e.name.string, Self.isValid(id), id.hasPrefix(fan.name.string!) { ids.append(id) }
            }
        }
        return ids
    }
}

/// Hands `body` the rest of `fd`, a buffer's worth at a time.
func stream(_ fd: Int32, name: Path, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ObjectStore.chunkSize, alignment: 16)
    defer { buffer.deallocate() }
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

/// The objects a process stored or found intact while it holds the writer
/// lock, by their 32 bytes rather than their 64 hex digits: a million new
/// files' worth is a few tens of MB. The session's thread adds; workers look.
final class KnownObjects: Sendable {
    private struct Key: Hashable {
        var a: UInt64, b: UInt64, c: UInt64, d: UInt64
    }
    private let keys = Mutex<Set<Key>>([])

    /// Ids are checked where they are read (ObjectStore.isValid): one that is
    /// not 64 hex digits is never known.
    private static func key(_ id: String) -> Key? {
        var k = Key(a: 0, b: 0, c: 0, d: 0), count = 0
        for c in id.utf8 {
            let v: UInt64
            switch c {
            case 0x30...0x39: v = UInt64(c - 0x30)
            case 0x61...0x66: v = UInt64(c - 0x61 + 10)
            default: return nil
            }
            switch count >> 4 {
            case 0: k.a = k.a << 4 | v
            case 1: k.b = k.b << 4 | v
            case 2: k.c = k.c << 4 | v
            case 3: k.d = k.d << 4 | v
            default: return nil
            }
            count += 1
        }
        return count == 64 ? k : nil
    }

    func contains(_ id: String) -> Bool {
        guard let k = Self.key(id) else { return false }
        return keys.withLock { $0.contains(k) }
    }

    /// True if it was not known before.
    func insert(_ id: String) -> Bool {
        guard let k = Self.key(id) else { return false }
        return keys.withLock { $0.insert(k).inserted }
    }

    func remove(_ id: String) {
        guard let k = Self.key(id) else { return }
        _ = keys.withLock { $0.remove(k) }
    }

    func removeAll() { keys.withLock { $0.removeAll() } }
}
