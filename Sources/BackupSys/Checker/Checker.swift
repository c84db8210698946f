import Foundation
import GRDB

/// `bmlua check` (restic's checker): the catalog read by the rules every
/// command reads it by, and the objects it names against their sizes and hashes.
public struct Checker {
    let session: BackupDatabase

    public init(_ session: BackupDatabase) { self.session = session }

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
        let integrity = try session.read(Catalog.integrityCheck)
        if integrity != "ok" { report.problems.append("catalog: \(integrity)") }
        report.problems += try session.read(Self.catalogProblems)
        guard report.problems.isEmpty else { return report }   // the objects are checked against a catalog that can be read
        var seen: Set<String> = []
        let distinct = try session.read(Catalog.referencedObjects).filter { seen.insert($0.object).inserted }   // shared objects once
        for (object, size, owner) in distinct {
            report.objectsChecked += 1
            defer { progress?(report.objectsChecked, distinct.count) }
            guard let st = try session.objects.status(of: object) else {
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
                    let fd = try session.objects.open(object)
                    defer { Glibc.close(fd) }
                    let actual = try session.objects.hash(fd: fd, name: Path(session.objects.path(of: object)))
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
                _ = try SnapshotContents.files(db, sid: s.sid)
                _ = try SnapshotContents.links(db, sid: s.sid)
                _ = try SnapshotContents.folders(db, sid: s.sid)
            }
        }
        return problems
    }
}
