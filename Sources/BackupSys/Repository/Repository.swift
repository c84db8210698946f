import Foundation
import Glibc
import CSQLite
import GRDB
import HookVM

/// A repository on disk (design.md, "The repository"): the catalog, the objects, the browse
/// views of snapshots, a staging folder and the writer lock.
public final class Repository {
    public let root: String
    let dbQueue: DatabaseQueue
    let objects: ObjectStore
    private var lockFD: Int32 = -1

    /// `--repo`, else `$BMLUA_REPO`, else `$XDG_DATA_HOME/bmlua` (`~/.local/share/bmlua`).
    public static func location(_ explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit, !explicit.isEmpty { return FS.absolute(explicit) }
        if let env = environment["BMLUA_REPO"], !env.isEmpty { return FS.absolute(env) }
        return FS.absolute(XDG.data(environment)) + "/bmlua"
    }

    static func catalogPath(_ root: String) -> String { root + "/catalog.sqlite" }

    public static func exists(at root: String) -> Bool { FS.exists(catalogPath(root)) }

    /// `bmlua init`: a new repository, mode 0700. Error 22 if one is there already.
    @discardableResult
    public static func create(at root: String) throws -> Repository {
        if exists(at: root) { throw BMError(22, "a repository already exists at \(FS.shown(root))", path: root) }
        try FS.makeDirectories(FS.directory(root))
        try FS.mkdir(root)
        try FS.requireFolder(root)
        // As borg: a folder with other things in it is not taken over (nor
        // its mode changed). An empty one is fine, and so is what an init
        // that was cut short left.
        let ours: Set = ["objects", "snapshots", "tmp", "lock", "catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"]
        if let entries = try? Folder.open(Path(root)).entries(), !ours.isSuperset(of: entries.map { $0.name.string ?? "" }) {
            throw BMError(22, "\(FS.shown(root)) is not empty; bmlua init wants a new or empty folder (try: bmlua init --repo \(FS.shown(root))/bmlua)", path: root)
        }
        chmod(root, 0o700)
        for sub in ["objects", "snapshots", "tmp"] { try FS.mkdir(root + "/" + sub) }
        for fan in ObjectStore.fanOutNames { try FS.mkdir(root + "/objects/" + fan) }
        let repo = try Repository(root: root, creating: true)
        FS.fsync(path: root, directory: true)
        return repo
    }

    /// Only `init` makes a catalog: one that is missing (or empty) beside
    /// `objects/` is a lost catalog (21), never a new empty one that would let gc
    /// delete every object.
    /// No repository is at `root`: Lua code runs all the same (`eval`,
    /// `run`, `shell`), and whatever needs the database is error 40.
    public private(set) var isAbsent = false

    static func absent(at root: String) throws -> Repository { try Repository(absentAt: root) }

    private init(absentAt root: String) throws {
        self.root = root
        dbQueue = try DatabaseQueue()
        isAbsent = true
        objects = ObjectStore(repositoryRoot: root) { _ in throw Repository.missing(root) }
    }

    static func missing(_ root: String) -> BMError {
        BMError(40, "no repository at \(FS.shown(root)) (create one with: bmlua init --repo \(FS.shown(root)))", path: root)
    }

    public static func open(at root: String) throws -> Repository {
        let catalog = catalogPath(root)
        guard let st = FS.stat(catalog) else {
            if FS.isDirectory(root + "/objects") {
                throw BMError(21, "\(FS.shown(root)) has objects/ but no catalog.sqlite: its catalog is lost (restore it from a copy; bmlua will not make an empty one)", path: root)
            }
            throw BMError(40, "no repository at \(FS.shown(root)) (create one with: bmlua init --repo \(FS.shown(root)))", path: root)
        }
        guard st.st_size > 0 else {
            throw BMError(21, "\(FS.shown(catalog)) is empty: the catalog is lost (restore it from a copy; bmlua will not make an empty one)", path: catalog)
        }
        return try Repository(root: root)
    }

    /// Who owns the repository, when bmlua runs as root in another user's:
    /// what it writes there is given to them, so that they can still read it.
    lazy var foreignOwner: Owner? = {
        guard geteuid() == 0, let st = FS.stat(root), st.st_uid != 0 else { return nil }
        return Owner(st)
    }()

    /// The repository's folder as a file's identity: a walk that meets it passes it by.
    var identity: Inode? { FS.stat(root).map(Inode.init) }

    /// Whether `path` (absolute) lies inside the repository, links resolved on both sides.
    func contains(_ path: Path) -> Bool {
        func real(_ p: Path) -> Path? {
            guard let r = p.withCString({ realpath($0, nil) }) else { return nil }
            defer { free(r) }
            return Path(bytes: UnsafeRawBufferPointer(start: r, count: strlen(r)))
        }
        guard let repo = real(Path(root)) else { return false }
        let here = real(path) ?? real(path.directory).map { $0.appending(path.baseName) } ?? path
        return here.isAtOrUnder(repo)
    }

    /// A repository bmlua may not or cannot write (a read-only mount,
    /// another user's, a full disk) is opened for reading: list, show,
    /// check and restores work; a change is error 11.
    public private(set) var isReadOnly = false
    /// Read-only because its disk is full (a change is error 20 then, not 11).
    private var isFull = false

    private init(root: String, creating: Bool = false) throws {
        self.root = root
        let catalog = Self.catalogPath(root)
        var readOnly = !creating && !Self.writable(root), full = false
        do {
            var queue: DatabaseQueue?
            if !readOnly {
                do {
                    let q = try DatabaseQueue(path: catalog, configuration: Self.configuration(readOnly: false))
                    try Self.migrate(q, catalog)
                    queue = q
                } catch let e as DatabaseError where !creating && [.SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_FULL, .SQLITE_IOERR].contains(e.resultCode) {
                    readOnly = true   // e.g. the disk is full: it can still be read
                    full = e.resultCode == .SQLITE_FULL || FS.freeBytes(root) == 0
                }
            }
            if readOnly { queue = try Self.openForReading(catalog) }
            dbQueue = queue!
        } catch let e as DatabaseError {
            throw Catalog.failure(e, catalog)
        }
        isReadOnly = readOnly
        isFull = full
        let rootPath = Path(root)
        objects = ObjectStore(repositoryRoot: root) { name in try Repository.ownFolder(rootPath, [Path(name)]) }
        objects.owner = foreignOwner
    }

    private static func configuration(readOnly: Bool) -> Configuration {
        let chunked = subJournalsInOneChunk   // before the connection starts SQLite
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.readonly = readOnly
        config.prepareDatabase { db in
            // Pages read through a mapping, not a pread each; 64 MiB of it, not
            // all: what is mapped and read counts in the process's size, and a
            // catalog of a million files is hundreds of MB.
            // A hooked file's savepoint keeps, in a sub-journal, each page it
            // changes that its batch had already changed: about twenty. See
            // subJournalsInOneChunk; where SQLite started before it could be
            // set, temp_store = MEMORY still keeps them off the disk, in 1 KB chunks.
            try db.execute(sql: readOnly ? "PRAGMA mmap_size = 67108864"
                                         : "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA mmap_size = 67108864")
            if !readOnly && !chunked { try db.execute(sql: "PRAGMA temp_store = MEMORY") }
        }
        return config
    }

    /// Sub-journals and statement journals are held in memory up to 120 KiB,
    /// in one chunk, and spill to a temporary file beyond: set once a process,
    /// before SQLite starts (false if something started it first).
    /// SQLite's default, 64 KiB, spilled a hooked file's savepoint (about
    /// 80 KB) to /var/tmp: four page writes a file. `temp_store = MEMORY`
    /// keeps them in memory but in 1 KB chunks, five allocations and frees
    /// for each page: a third of a hooked file's catalog work. Not more than
    /// 120 KiB: a spill writes the chunk in one call, and SQLite's unix VFS
    /// writes at most 0x1ffff bytes a call (3.40 fails the spill above that
    /// with "database or disk is full").
    static let subJournalsInOneChunk: Bool = bmlua_sqlite_journal_spill(120 << 10) == 0

    /// Brings the catalog to this bmlua's schema; one from a newer bmlua is refused, not written.
    private static func migrate(_ queue: DatabaseQueue, _ catalog: String) throws {
        try queue.read { db in try refuseNewer(db, catalog) }
        try Schema.migrator.migrate(queue)
    }

    private static func refuseNewer(_ db: Database, _ catalog: String) throws {
        let known = Schema.migrator.migrations
        let unknown = try Schema.migrator.appliedIdentifiers(db).subtracting(known)
        guard unknown.isEmpty else {
            throw BMError(21, "\(FS.shown(catalog)) was written by a newer bmlua (schema \(unknown.sorted().joined(separator: ", "))); this one knows up to \(known.last ?? "none"): use the newer bmlua")
        }
    }

    /// Read-only: through SQLite's own read-only mode where the WAL's shared
    /// memory file can be used, else as an immutable file (nothing can write
    /// it then: the mount is read-only or bmlua may not write).
    private static func openForReading(_ catalog: String) throws -> DatabaseQueue {
        let config = configuration(readOnly: true)
        if let q = try? DatabaseQueue(path: catalog, configuration: config), (try? q.read({ try $0.tableExists("backup") })) != nil {
            try q.read { db in try needsNothing(db, catalog) }
            return q
        }
        let encoded = catalog.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "?#%"))) ?? catalog
        let q = try DatabaseQueue(path: "file:" + encoded + "?immutable=1", configuration: config)
        try q.read { db in try needsNothing(db, catalog) }
        return q
    }

    private static func needsNothing(_ db: Database, _ catalog: String) throws {
        try refuseNewer(db, catalog)
        guard try Schema.migrator.hasCompletedMigrations(db) else {
            throw BMError(11, "\(FS.shown(catalog)) needs its schema brought up to date, and this repository can only be read here: open it once where bmlua may write to it")
        }
    }

    /// bmlua may write the repository: its folder and catalog are writable and its file system is not read-only.
    private static func writable(_ root: String) -> Bool {
        var fs = statvfs()
        if statvfs(root, &fs) == 0 && fs.f_flag & UInt(ST_RDONLY) != 0 { return false }
        return access(root, W_OK) == 0 && access(catalogPath(root), W_OK) == 0
    }

    deinit { if lockFD >= 0 { Glibc.close(lockFD) } }

    /// A folder inside the repository, reached from its root (which the user
    /// named: followed) without following a link: a repository on a shared
    /// drive may hold links planted to make bmlua write or delete elsewhere.
    func folder(_ names: [Path]) throws -> Folder { try Self.ownFolder(Path(root), names) }

    static func ownFolder(_ root: Path, _ names: [Path]) throws -> Folder {
        do {
            return try Folder.open(root).descend(names)
        } catch let e as BMError where e.number == 12 {
            throw BMError(21, "\(e.message.dropFirst(ErrorTable.message(for: 12)!.count + 2)) in the repository (its own folders are never followed)", path: e.path)
        }
    }

    private var cleanedTmp = false

    /// Takes the writer lock; error 2 if another writer still holds it after
    /// `wait` seconds. The first time, `tmp/` is emptied: what is there was
    /// left by a crash, except the `bm.tempfile()` files of running processes
    /// (a script may hold one outside any operation).
    func lockForWriting(wait: Double = 0) throws {
        if isFull { throw BMError(20, "the disk holding \(FS.shown(root)) is full: it can be read, not written (free some space)", path: root) }
        if isReadOnly { throw BMError(11, "\(FS.shown(root)) can only be read here (a read-only mount, or another user's repository)", path: root) }
        if lockFD < 0 {
            let fd = Glibc.open(root + "/lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else {
                if errno == ELOOP { throw BMError(21, "\(FS.shown(root + "/lock")) is a symbolic link (a repository's lock is never followed)", path: root + "/lock") }
                throw FS.failure("cannot open the lock of", root)
            }
            lockFD = fd
        }
        // Polled, not a blocking flock: a timer signal to end the wait could
        // land on any of the process's threads.
        let deadline = Date().addingTimeInterval(wait)
        var pause: useconds_t = 1_000
        while flock(lockFD, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw FS.failure("cannot lock", root + "/lock") }
            guard Date() < deadline else {
                throw BMError(2, "another bmlua is writing to \(FS.shown(root))"
                    + (wait > 0 ? " (waited \(String(format: "%g", wait)) s)" : "; to wait for it, add --lock-wait SECONDS"), path: root)
            }
            usleep(pause)
            pause = min(pause * 2, 100_000)
        }
        if !cleanedTmp {
            let tmp: Folder
            do { tmp = try folder(["tmp"]) } catch { unlock(); throw error }   // a link there is error 21, before anything is deleted
            cleanedTmp = true
            for e in try tmp.entries() where !LuaVM.isLiveTempFile(String(decoding: e.name.bytes, as: UTF8.self)) { _ = tmp.unlink(e.name) }
        }
    }

    func unlock() {
        if lockFD >= 0 { flock(lockFD, LOCK_UN) }
    }

    /// design.md, "Trust": hooks are code; they run only from a repository directory
    /// owned by the user and not writable by group or others.
    public var isTrusted: Bool { untrustedReason == nil }

    /// Why the rule fails, or nil if it holds. The catalog is the code's
    /// store, so it and its `-wal` and `-shm` files must pass it too.
    var untrustedReason: String? {
        let catalog = Self.catalogPath(root)
        for (path, mustExist) in [(root, true), (catalog, true), (catalog + "-wal", false), (catalog + "-shm", false)] {
            guard let st = FS.stat(path, follow: false) else {
                if mustExist { return "\(FS.shown(path)) cannot be read" }
                continue
            }
            if st.st_uid != geteuid() { return "\(FS.shown(path)) is owned by uid \(st.st_uid), not by you (uid \(geteuid()))" }
            if st.st_mode & 0o022 != 0 { return "\(FS.shown(path)) is writable by its group or by others (mode \(String(st.st_mode & 0o777, radix: 8)))" }
        }
        return nil
    }
}
