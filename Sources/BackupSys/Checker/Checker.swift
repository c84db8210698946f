import Foundation
import GRDB

/// `bmlua check` and `bmlua gc`: the catalog against the objects.
extension BackupDatabase {
    public struct CheckReport {
        public var objectsChecked = 0
        /// Objects whose data was read and hashed.
        public var objectsRead = 0
        public var problems: [String] = []
        public var ok: Bool { problems.isEmpty }
    }

    /// Which objects' data a check reads, as restic's `--read-data-subset`.
    public enum DataSubset: Sendable, Equatable {
        case all
        /// Part `n` of `of` (1-based): each object always falls in the same
        /// part, so checking 1/7 … 7/7 on seven days reads everything once.
        case part(Int, of: Int)
        /// About this share (0…1) of the objects, picked at random each time.
        case fraction(Double)

        /// `n/t` or `x%`; nil if it is neither.
        public init?(_ text: String) {
            if text.hasSuffix("%"), let x = Double(text.dropLast()), x > 0, x <= 100 {
                self = .fraction(x / 100)
                return
            }
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let n = Int(parts[0]), let t = Int(parts[1]), t >= 1, n >= 1, n <= t else { return nil }
            self = .part(n, of: t)
        }

        func includes(_ id: String) -> Bool {
            switch self {
            case .all: return true
            case .part(let n, let t): return Int(id.prefix(8), radix: 16).map { $0 % t == n - 1 } ?? true
            case .fraction(let x): return Double.random(in: 0..<1) < x
            }
        }
    }

    /// Every object the catalog names exists with the size the catalog records (a
    /// truncated copy shows without reading it); with `readData`, the bytes of
    /// those in `subset` match their hash.
    /// `progress` hears (objects checked, objects in all) after each object.
    public func check(readData: Bool = false, subset: DataSubset = .all, progress: ((Int, Int) -> Void)? = nil) throws -> CheckReport {
        var report = CheckReport()
        let integrity = try read(Catalog.integrityCheck)
        if integrity != "ok" { report.problems.append("catalog: \(integrity)") }
        report.problems += try read(Self.catalogProblems)
        guard report.problems.isEmpty else { return report }   // the objects are checked against a catalog that can be read
        var seen: Set<String> = []
        let distinct = try read(Catalog.referencedObjects).filter { seen.insert($0.object).inserted }   // shared objects once
        for (object, size, owner) in distinct {
            report.objectsChecked += 1
            defer { progress?(report.objectsChecked, distinct.count) }
            guard let st = try objects.status(of: object) else {
                report.problems.append("\(owner): object \(object) " + (errno == ENOENT ? "is missing" : "cannot be read: \(String(cString: strerror(errno)))"))
                continue
            }
            if Int64(st.st_size) != size {
                report.problems.append("\(owner): object \(object) has \(st.st_size) bytes, not \(size)")
                continue
            }
            if readData && subset.includes(object) {
                report.objectsRead += 1
                do {
                    let fd = try objects.open(object)
                    defer { Glibc.close(fd) }
                    let actual = try objects.hash(fd: fd, name: Path(objects.path(of: object)))
                    if actual != object { report.problems.append("\(owner): object \(object) is corrupt (its data hashes to \(actual))") }
                } catch {
                    report.problems.append("\(owner): object \(object) cannot be read: \(BMError.wrap(error).message)")
                }
            }
        }
        return report
    }

    /// What is wrong in the catalog beyond SQLite's own check: a schema that is
    /// not the one its migrations make, and every row read by the rules every
    /// command reads it by (RowReader): a crafted row shows here, not as a crash later.
    static func catalogProblems(_ db: Database) throws -> [String] {
        var problems: [String] = []
        if try Schema.migrator.hasSchemaChanges(db) {
            problems.append("catalog: its schema is not the one bmlua's migrations make (a table or an index was changed or is missing)")
            return problems
        }
        func validate(_ body: () throws -> Void) {
            do { try body() } catch let e as BMError { problems.append(e.message) } catch { problems.append("catalog: \(error)") }
        }
        validate { _ = try Catalog.backups(db) }
        validate { _ = try Row.fetchAll(db, sql: "SELECT \(Version.columns) FROM version").map(Version.init) }
        validate { _ = try Catalog.fields(db) }
        validate { _ = try Catalog.bhooks(db) }
        validate { _ = try Catalog.routines(db) }
        validate {
            for s in try Catalog.snapshots(db) {
                _ = try Catalog.snapshotFiles(db, sid: s.sid)
                _ = try Catalog.snapshotLinks(db, sid: s.sid)
                _ = try Catalog.snapshotFolders(db, sid: s.sid)
            }
        }
        return problems
    }

    /// Removes objects no backup or version names (left by interrupted or failed
    /// runs), and browse views no snapshot record names: a `.SID.partial` a
    /// crash left half-built, or one renamed into place just before a crash
    /// undid its commit. Their hard links would keep removed data on the disk.
    /// `progress` hears (objects looked at, objects in all).
    public func gc(progress: ((Int, Int) -> Void)? = nil) throws -> GCSummary {
        try write { db in
            let sids = Set(try Catalog.snapshots(db).map(\.sid))
            var views = 0
            let root = try repository.folder(["snapshots"])   // a link there is error 21: nothing is deleted
            for entry in try root.entries() where !sids.contains(String(decoding: entry.name.bytes, as: UTF8.self)) {
                if root.removeTree(entry.name) { views += 1 }
            }
            let used = Set(try Catalog.referencedObjects(db).map(\.object))
            var removed = 0
            var bytes: Int64 = 0
            let all = objects.allObjects()
            for (n, id) in all.enumerated() {
                progress?(n + 1, all.count)
                guard !used.contains(id) else { continue }
                let size = (try? objects.status(of: id)).flatMap { $0 }.map { Int64($0.st_size) } ?? 0
                if objects.remove(id) {
                    removed += 1
                    bytes += size
                }
            }
            return GCSummary(removed: removed, bytes: bytes, views: views)
        }
    }

    /// The catalog as text, for comparing states (tests, debugging).
    public func dumpCatalog() throws -> String { try read(Catalog.dump) }
}
