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
        validate { problems += try treeProblems(db) }
        return problems
    }

    /// Every tree node read once, however many snapshots share it: it decodes,
    /// its bytes match its hash, the backups it names exist, its count of
    /// holders is the number of snapshots and nodes that name it, and no
    /// snapshot's tree loops or nests deeper than any path.
    static func treeProblems(_ db: Database) throws -> [String] {
        var problems: [String] = []
        var mentions: [Int64: Int64] = [:], children: [Int64: [Int64]] = [:], refs: [Int64: Int64] = [:]
        let roots = try Catalog.snapshotRoots(db)
        for s in roots { mentions[s.root, default: 0] += 1 }
        for row in try Catalog.trees(db) {
            let node = try TreeNode(decoding: row.content, id: row.id)
            if TreeNode.hash(row.content) != row.hash { problems.append("catalog table tree, row \(row.id): its content does not match its hash") }
            for f in node.files where try !Catalog.backupExists(db, index: f.backup) {
                problems.append("catalog table tree, row \(row.id): names backup \(f.backup), which is not in the catalog")
            }
            for f in node.folders { mentions[f.tree, default: 0] += 1 }
            children[row.id] = node.folders.map(\.tree)
            refs[row.id] = row.refs
        }
        for (id, count) in refs.sorted(by: { $0.key < $1.key }) where mentions[id, default: 0] != count {
            problems.append("catalog table tree, row \(id): counted as held \(count) times, named \(mentions[id, default: 0]) times")
        }
        for id in mentions.keys.sorted() where refs[id] == nil {
            problems.append("catalog table tree: node \(id) is named but not there")
        }
        // Each node's height, once: a node met again while its own height is
        // being found is a loop.
        var height: [Int64: Int] = [:], open: Set<Int64> = []
        func measure(_ id: Int64) -> Int? {
            if let h = height[id] { return h }
            guard open.insert(id).inserted, let below = children[id] else { return nil }
            defer { open.remove(id) }
            var h = 1
            for c in below {
                guard let hc = measure(c), hc < TreeStore.maximumDepth else { return nil }
                h = max(h, hc + 1)
            }
            height[id] = h
            return h
        }
        for s in roots where measure(s.root) == nil {
            problems.append("catalog table snapshot, row \(s.sid): its tree loops, nests deeper than any path or names a node that is not there")
        }
        return problems
    }
}
