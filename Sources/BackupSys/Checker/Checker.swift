import Foundation
import GRDB

/// `bmlua check` and `bmlua gc`: the catalog against the objects.
extension BackupDatabase {
    public struct CheckReport {
        public var objectsChecked = 0
        public var problems: [String] = []
        public var ok: Bool { problems.isEmpty }
    }

    /// Every object the catalog names exists with the size the catalog records (a
    /// truncated copy shows without reading it); with `readData`, its bytes match its hash.
    /// `progress` hears (objects checked, objects in all) after each object.
    public func check(readData: Bool = false, progress: ((Int, Int) -> Void)? = nil) throws -> CheckReport {
        var report = CheckReport()
        let integrity = try read(Catalog.integrityCheck)
        if integrity != "ok" { report.problems.append("catalog: \(integrity)") }
        var seen: Set<String> = []
        let distinct = try read(Catalog.referencedObjects).filter { seen.insert($0.object).inserted }   // shared objects once
        for (object, size, owner) in distinct {
            report.objectsChecked += 1
            defer { progress?(report.objectsChecked, distinct.count) }
            let path = objects.path(of: object)
            guard let st = FS.stat(path, follow: false) else {
                report.problems.append("\(owner): object \(object) is missing")
                continue
            }
            if Int64(st.st_size) != size {
                report.problems.append("\(owner): object \(object) has \(st.st_size) bytes, not \(size)")
                continue
            }
            if readData {
                do {
                    let actual = try objects.hash(of: path)
                    if actual != object { report.problems.append("\(owner): object \(object) is corrupt (its data hashes to \(actual))") }
                } catch {
                    report.problems.append("\(owner): object \(object) cannot be read: \(BMError.wrap(error).message)")
                }
            }
        }
        return report
    }

    /// Removes objects no backup or version names (left by interrupted or failed
    /// runs), and browse views no snapshot record names: a `.SID.partial` a
    /// crash left half-built, or one renamed into place just before a crash
    /// undid its commit. Their hard links would keep removed data on the disk.
    public func gc() throws -> (removed: Int, bytes: Int64, views: Int) {
        try write { db in
            let sids = Set(try Catalog.snapshots(db).map(\.sid))
            let root = repository.root + "/snapshots"
            var views = 0
            for name in (try? FS.folderEntries(root).names) ?? [] where !sids.contains(name) {
                if (try? FileManager.default.removeItem(atPath: root + "/" + name)) != nil { views += 1 }
            }
            let used = Set(try Catalog.referencedObjects(db).map(\.object))
            var removed = 0
            var bytes: Int64 = 0
            for id in objects.allObjects() where !used.contains(id) {
                let path = objects.path(of: id)
                let size = FS.stat(path).map { Int64($0.st_size) } ?? 0
                if unlink(path) == 0 {
                    removed += 1
                    bytes += size
                }
            }
            return (removed, bytes, views)
        }
    }

    /// The catalog as text, for comparing states (tests, debugging).
    public func dumpCatalog() throws -> String { try read(Catalog.dump) }
}
