import Foundation
import GRDB
import HookVM

/// Every query of bmlua (the connection's pragmas are set where it is opened,
/// in Repository). Functions take the `Database` of the
/// transaction they belong to; statements are cached (prepared once).
enum Catalog {
    /// A failure of SQLite as a bmlua error: a full disk or an I/O error is 20
    /// (the write did not happen; nothing is damaged), only damage is 21.
    static func failure(_ e: DatabaseError, _ path: String) -> BMError {
        let number: Int
        switch e.resultCode {
        case .SQLITE_CORRUPT, .SQLITE_NOTADB: number = 21
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH: number = 11
        // A table or column that is not there: a damaged or foreign catalog, not a full disk.
        case .SQLITE_ERROR where (e.message ?? "").hasPrefix("no such"): number = 21
        default: number = 20
        }
        return BMError(number, "catalog \(FS.shown(path)): \(e.message ?? "\(e)")", path: path)
    }

    // MARK: Backups

    static func backup(_ db: Database, index: Int64) throws -> Backup? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Backup.columns) FROM backup WHERE idx = ?"), arguments: [index]).map(Backup.init)
    }

    /// The backup an operation was asked for: error 13 names the index it lacks.
    static func existingBackup(_ db: Database, index: Int64) throws -> Backup {
        guard let b = try backup(db, index: index) else {
            throw BMError(13, "no backup has index \(index)", path: "")
        }
        return b
    }

    static func backup(_ db: Database, path: Path) throws -> Backup? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Backup.columns) FROM backup WHERE path = ?"), arguments: [path]).map(Backup.init)
    }

    static func backup(_ db: Database, name: Path) throws -> Backup? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Backup.columns) FROM backup WHERE name = ?"), arguments: [name]).map(Backup.init)
    }

    static func backups(_ db: Database) throws -> [Backup] {
        try Row.fetchAll(db, sql: "SELECT \(Backup.columns) FROM backup ORDER BY idx").map(Backup.init)
    }

    static func nameExists(_ db: Database, _ name: Path) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM backup WHERE name = ?)"), arguments: [name]) ?? false
    }

    struct NewBackup {
        var path: Path
        var name: Path
        var group: Int64
        var storedAway: Bool
        var data: StoredData
        var source: SourceState
    }

    static func insert(_ db: Database, _ b: NewBackup, now: Date) throws -> Int64 {
        try db.cachedStatement(sql: """
            INSERT INTO backup (path, name, grp, stored_away, \(StoredData.columns), created, updated,
                                src_dev, src_ino, src_size, src_mtime_ns, src_ctime_ns)
            VALUES (?, ?, ?, ?, \(placeholders(StoredData.count)), ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: StatementArguments([b.path, b.name, b.group, b.storedAway] + b.data.arguments
                + [now.timeIntervalSince1970, now.timeIntervalSince1970] + b.source.arguments))
        return db.lastInsertedRowID
    }

    static func updateData(_ db: Database, index: Int64, _ data: StoredData, source: SourceState, now: Date) throws {
        try db.cachedStatement(sql: """
            UPDATE backup SET (\(StoredData.columns)) = (\(placeholders(StoredData.count))), updated = ?,
                src_dev = ?, src_ino = ?, src_size = ?, src_mtime_ns = ?, src_ctime_ns = ?
            WHERE idx = ?
            """).execute(arguments: StatementArguments(data.arguments + [now.timeIntervalSince1970] + source.arguments + [index]))
    }

    static func placeholders(_ n: Int) -> String { Array(repeating: "?", count: n).joined(separator: ", ") }

    static func setSource(_ db: Database, index: Int64, _ s: SourceState) throws {
        try db.cachedStatement(sql: "UPDATE backup SET src_dev = ?, src_ino = ?, src_size = ?, src_mtime_ns = ?, src_ctime_ns = ? WHERE idx = ?")
            .execute(arguments: StatementArguments(s.arguments + [index]))
    }

    /// The original is back in place: the backup no longer holds the only copy.
    static func clearStoredAway(_ db: Database, index: Int64) throws {
        try db.execute(sql: "UPDATE backup SET stored_away = 0 WHERE idx = ?", arguments: [index])
    }

    static func deleteBackup(_ db: Database, index: Int64) throws {
        try db.execute(sql: "DELETE FROM field_value WHERE owner = ? AND field IN (SELECT name FROM field WHERE type = 'd')", arguments: [index])
        try db.execute(sql: "DELETE FROM backup WHERE idx = ?", arguments: [index])
    }

    // MARK: Versions

    static func versions(_ db: Database, backup: Int64) throws -> [Version] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT \(Version.columns) FROM version WHERE backup = ? ORDER BY idx"), arguments: [backup]).map(Version.init)
    }

    /// The newest version of every backup that has one: backup → version index.
    static func latestVersions(_ db: Database) throws -> [Int64: Int64] {
        let rows = try Row.fetchAll(db, sql: "SELECT backup, max(idx) AS v FROM version GROUP BY backup")
        return try Dictionary(rows.map { row in
            let r = RowReader(row: row, table: "version")
            return (try r.value(0) as Int64, try r.value(1) as Int64)
        }, uniquingKeysWith: { a, _ in a })
    }

    static func version(_ db: Database, backup: Int64, index: Int64) throws -> Version? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Version.columns) FROM version WHERE backup = ? AND idx = ?"), arguments: [backup, index]).map(Version.init)
    }

    /// The version an operation was asked for: error 14 names the backup and the version.
    static func existingVersion(_ db: Database, of b: Backup, index: Int64) throws -> Version {
        guard let v = try version(db, backup: b.index, index: index) else {
            throw BMError(14, "backup \(b.index) (\(FS.shown(b.name))) has no version \(index)", path: b.path)
        }
        return v
    }

    static func insertVersion(_ db: Database, backup: Int64, index: Int64, _ data: StoredData, comment: String, now: Date) throws {
        try db.cachedStatement(sql: """
            INSERT INTO version (backup, idx, \(StoredData.columns), comment, time) VALUES (?, ?, \(placeholders(StoredData.count)), ?, ?)
            """).execute(arguments: StatementArguments([backup, index] + data.arguments + [comment, now.timeIntervalSince1970]))
        try db.cachedStatement(sql: "UPDATE backup SET next_version = ? WHERE idx = ?").execute(arguments: [index + 1, backup])
    }

    static func setComment(_ db: Database, backup: Int64, index: Int64, comment: String) throws {
        try db.execute(sql: "UPDATE version SET comment = ? WHERE backup = ? AND idx = ?", arguments: [comment, backup, index])
    }

    static func deleteVersion(_ db: Database, backup: Int64, index: Int64) throws {
        try db.execute(sql: "DELETE FROM version WHERE backup = ? AND idx = ?", arguments: [backup, index])
    }

    /// Snapshots whose entries hold any version of `backup`.
    static func snapshotsHolding(_ db: Database, backup: Int64) throws -> [String] {
        try Row.fetchAll(db, sql: "SELECT DISTINCT sid FROM snapshot_entry WHERE backup = ? ORDER BY sid", arguments: [backup])
            .map { try RowReader(row: $0, table: "snapshot_entry").sid(0) }
    }

    /// Snapshots whose entries use version `index` of `backup`.
    static func snapshotsUsing(_ db: Database, backup: Int64, version: Int64) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT sid FROM snapshot_entry WHERE backup = ? AND version = ? ORDER BY sid", arguments: [backup, version])
    }

    /// Every object the catalog names, for check and gc.
    static func referencedObjects(_ db: Database) throws -> [(object: String, size: Int64, owner: String)] {
        try Row.fetchAll(db, sql: """
            SELECT object, size, 'backup ' || idx AS owner FROM backup
            UNION ALL SELECT object, size, 'version ' || backup || '/' || idx FROM version
            """).map { row in
                let r = RowReader(row: row, table: "backup or version")
                return (try r.objectID(0), try r.value(1, "size"), try r.value(2))
            }
    }

    // MARK: Fields

    static func field(_ db: Database, name: String) throws -> Field? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT name, type FROM field WHERE name = ?"), arguments: [name]).map(Field.init)
    }

    static func fields(_ db: Database) throws -> [Field] {
        try Row.fetchAll(db, sql: "SELECT name, type FROM field ORDER BY name").map(Field.init)
    }

    static func registerField(_ db: Database, _ f: Field) throws {
        try db.execute(sql: "INSERT INTO field (name, type) VALUES (?, ?)", arguments: [f.name, f.kind.rawValue])
    }

    static func fieldValue(_ db: Database, field: String, owner: Int64) throws -> FieldValue? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT kind, value FROM field_value WHERE field = ? AND owner = ?"),
                                         arguments: [field, owner]) else { return nil }
        return StoredValue.decode(kind: try RowReader(row: row, table: "field_value").value(0, "kind"), row[1])
    }

    static func setFieldValue(_ db: Database, field: String, owner: Int64, _ v: FieldValue?) throws {
        guard let v else {
            try db.cachedStatement(sql: "DELETE FROM field_value WHERE field = ? AND owner = ?").execute(arguments: [field, owner])
            return
        }
        let (kind, value) = StoredValue.encode(v)
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO field_value (field, owner, kind, value) VALUES (?, ?, ?, ?)")
            .execute(arguments: [field, owner, kind, value])
    }

    /// Every value of one field: owner → value.
    static func fieldValues(_ db: Database, field: String) throws -> [FieldEntry] {
        try Row.fetchAll(db, sql: "SELECT owner, kind, value FROM field_value WHERE field = ? ORDER BY owner", arguments: [field])
            .map { row in
                let r = RowReader(row: row, table: "field_value")
                return FieldEntry(owner: try r.value(0, "owner"), value: StoredValue.decode(kind: try r.value(1, "kind"), row[2]))
            }
    }

    /// The field values that apply to one backup, by field name: its own `d`
    /// values and its group's `g` values (field names are unique across types).
    static func fieldValues(_ db: Database, backup: Int64, group: Int64) throws -> [(name: String, value: FieldValue)] {
        let rows = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT v.field, v.kind, v.value FROM field_value v JOIN field f ON f.name = v.field
            WHERE v.owner IN (?1, ?2) AND ((f.type = 'd' AND v.owner = ?1) OR (f.type = 'g' AND v.owner = ?2))
            """), arguments: [backup, group])
        return try rows.compactMap { row in
            let r = RowReader(row: row, table: "field_value")
            return try StoredValue.decode(kind: try r.value(1, "kind"), row[2]).map { (try r.value(0, "field") as String, $0) }
        }.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    // MARK: Hooks, routines, settings

    /// The stored bhooks list: nil when none was ever stored, else 10 strings.
    static func bhooks(_ db: Database) throws -> [String]? {
        let rows = try Row.fetchAll(db.cachedStatement(sql: "SELECT slot, code FROM bhook"))
        guard !rows.isEmpty else { return nil }
        var list = Array(repeating: "", count: 10)
        for row in rows {
            let r = RowReader(row: row, table: "bhook")
            let slot: Int64 = try r.value(0, "slot")
            guard (1...10).contains(slot) else { throw r.corrupt("slot \(slot) is not a hook number (1 to 10)") }
            list[Int(slot) - 1] = try r.value(1, "code")
        }
        return list
    }

    static func setBhooks(_ db: Database, _ list: [String]?) throws {
        try db.execute(sql: "DELETE FROM bhook")
        guard let list else { return }
        for (i, code) in list.enumerated() {
            try db.execute(sql: "INSERT INTO bhook (slot, code) VALUES (?, ?)", arguments: [i + 1, code])
        }
    }

    static func routines(_ db: Database) throws -> [Routine] {
        try Row.fetchAll(db, sql: "SELECT name, code FROM routine ORDER BY name").map { row in
            let r = RowReader(row: row, table: "routine")
            return Routine(name: try r.value(0, "name"), code: try r.value(1, "code"))
        }
    }

    static func setRoutine(_ db: Database, name: String, code: String?) throws {
        if let code {
            try db.execute(sql: "INSERT OR REPLACE INTO routine (name, code) VALUES (?, ?)", arguments: [name, code])
        } else {
            try db.execute(sql: "DELETE FROM routine WHERE name = ?", arguments: [name])
        }
    }

    static func setting(_ db: Database, _ key: String) throws -> DatabaseValue? {
        try DatabaseValue.fetchOne(db, sql: "SELECT value FROM setting WHERE key = ?", arguments: [key])
    }

    static func setSetting(_ db: Database, _ key: String, _ value: DatabaseValueConvertible?) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO setting (key, value) VALUES (?, ?)", arguments: [key, value])
    }

    // MARK: Snapshots

    static func snapshots(_ db: Database) throws -> [Snapshot] {
        try Row.fetchAll(db, sql: """
            SELECT s.sid, s.profile, s.time, s.status, (SELECT count(*) FROM snapshot_entry e WHERE e.sid = s.sid) AS files,
                   (SELECT count(*) FROM snapshot_link l WHERE l.sid = s.sid) AS links
            FROM snapshot s ORDER BY s.sid
            """).map { row in
                let r = RowReader(row: row, table: "snapshot")
                return Snapshot(sid: try r.sid(0), profile: try r.value(1, "profile"), time: Date(timeIntervalSince1970: try r.value(2, "time")),
                                status: try r.value(3, "status"), files: try r.value(4), links: try r.value(5))
            }
    }

    static func snapshotEntries(_ db: Database, sid: String) throws -> [(backup: Int64, version: Int64)] {
        try Row.fetchAll(db, sql: "SELECT backup, version FROM snapshot_entry WHERE sid = ? ORDER BY backup", arguments: [sid])
            .map { row in
                let r = RowReader(row: row, table: "snapshot_entry")
                return (try r.value(0, "backup"), try r.value(1, "version"))
            }
    }

    /// A snapshot's files, by original path, with the data of each one's
    /// version (nil if that version is gone) and its hard-link group, if any:
    /// one query for a whole restore, not two per file.
    static func snapshotFiles(_ db: Database, sid: String)
        throws -> [SnapshotFile]
    {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT b.path, e.backup, e.version, e.hardlink, v.\(StoredData.columns.replacingOccurrences(of: ", ", with: ", v.")) FROM snapshot_entry e
            JOIN backup b ON b.idx = e.backup
            LEFT JOIN version v ON v.backup = e.backup AND v.idx = e.version
            WHERE e.sid = ? ORDER BY b.path
            """), arguments: [sid]).map { row in
                let r = RowReader(row: row, table: "snapshot_entry")
                let data = (row[4] as DatabaseValue).isNull ? nil : try StoredData(r, at: 4)
                return SnapshotFile(path: try r.path(0), backup: try r.value(1), version: try r.value(2), data: data, hardlink: try r.optional(3))
            }
    }

    static func snapshotLinks(_ db: Database, sid: String) throws -> [SnapshotLink] {
        try Row.fetchAll(db, sql: "SELECT path, target, mtime_ns, uid, gid FROM snapshot_link WHERE sid = ? ORDER BY path", arguments: [sid])
            .map { row in
                let r = RowReader(row: row, table: "snapshot_link")
                return SnapshotLink(path: try r.path(0), target: try r.value(1, "target"), mtimeNs: try r.value(2, "mtime_ns"),
                                    owner: Owner(uid: try r.value(3, "uid") as Int64, gid: try r.value(4, "gid") as Int64)!)
            }
    }

    static func snapshotFolders(_ db: Database, sid: String) throws -> [SnapshotFolder] {
        try Row.fetchAll(db, sql: "SELECT path, mode, mtime_ns, uid, gid, xattrs FROM snapshot_folder WHERE sid = ? ORDER BY path", arguments: [sid])
            .map { row in
                let r = RowReader(row: row, table: "snapshot_folder")
                return SnapshotFolder(path: try r.path(0), mode: try r.value(1, "mode"), mtimeNs: try r.value(2, "mtime_ns"),
                                      owner: Owner(uid: try r.value(3, "uid") as Int64, gid: try r.value(4, "gid") as Int64)!,
                                      xattrs: ExtendedAttributes(encoded: try r.optional(5)))
            }
    }

    /// The newest snapshot of a profile.
    static func lastSnapshot(_ db: Database, profile: Int64) throws -> String? {
        try String.fetchOne(db, sql: "SELECT sid FROM snapshot WHERE profile = ? ORDER BY sid DESC LIMIT 1", arguments: [profile])
    }

    /// A snapshot whose id starts with `stamp` (YYYYMMDD-HHMMSS): one taken that second.
    static func snapshot(_ db: Database, stamped stamp: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT sid FROM snapshot WHERE sid LIKE ? ORDER BY sid", arguments: [stamp + "-%"])
    }

    /// `hardlinks`: backup → the number its group of hard-linked files shares.
    static func insertSnapshot(_ db: Database, _ s: Snapshot, entries: [(backup: Int64, version: Int64)],
                               hardlinks: [Int64: Int64] = [:], links: [SnapshotLink] = [], folders: [SnapshotFolder] = []) throws {
        try db.execute(sql: "INSERT INTO snapshot (sid, profile, time, status) VALUES (?, ?, ?, ?)",
                       arguments: [s.sid, s.profile, s.time.timeIntervalSince1970, s.status])
        let insert = try db.cachedStatement(sql: "INSERT INTO snapshot_entry (sid, backup, version, hardlink) VALUES (?, ?, ?, ?)")
        for e in entries { try insert.execute(arguments: [s.sid, e.backup, e.version, hardlinks[e.backup]]) }
        let insertLink = try db.cachedStatement(sql: "INSERT INTO snapshot_link (sid, path, target, mtime_ns, uid, gid) VALUES (?, ?, ?, ?, ?, ?)")
        for l in links { try insertLink.execute(arguments: [s.sid, l.path, l.target, l.mtimeNs, Int64(l.owner.uid), Int64(l.owner.gid)]) }
        let insertFolder = try db.cachedStatement(sql: """
            INSERT INTO snapshot_folder (sid, path, mode, mtime_ns, uid, gid, xattrs) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        for f in folders {
            try insertFolder.execute(arguments: [s.sid, f.path, f.mode, f.mtimeNs, Int64(f.owner.uid), Int64(f.owner.gid), f.xattrs?.encoded])
        }
    }

    static func deleteSnapshot(_ db: Database, sid: String) throws {
        try db.execute(sql: "DELETE FROM snapshot WHERE sid = ?", arguments: [sid])
    }

    static func integrityCheck(_ db: Database) throws -> String {
        try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "?"
    }

    /// A text dump of the whole catalog: tests compare it before and after a failed operation.
    static func dump(_ db: Database) throws -> String {
        var out = ""
        for table in ["backup", "version", "field", "field_value", "bhook", "routine", "setting", "snapshot", "snapshot_entry", "snapshot_link", "snapshot_folder"] {
            for row in try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1, 2") {
                out += "\(table): \(row)\n"
            }
        }
        return out
    }
}
