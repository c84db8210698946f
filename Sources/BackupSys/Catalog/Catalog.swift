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

    /// The statements made from the records' column lists, made once: a
    /// statement's text is the key of GRDB's cache, and these run per file.
    private enum SQL {
        static let backupByIndex = "SELECT \(Backup.columns) FROM backup WHERE idx = ?"
        static let backupByPath = "SELECT \(Backup.columns) FROM backup WHERE path = ?"
        static let backupByName = "SELECT \(Backup.columns) FROM backup WHERE name = ?"
        static let headByIndex = "SELECT \(BackupHead.columns) FROM backup WHERE idx = ?"
        static let insertBackup = """
            INSERT INTO backup (path, name, grp, stored_away, \(StoredData.columns), created, updated,
                                src_dev, src_ino, src_size, src_mtime_ns, src_ctime_ns)
            VALUES (?, ?, ?, ?, \(placeholders(StoredData.count)), ?, ?, ?, ?, ?, ?, ?)
            """
        /// A snapshot's new file: its backup with version 1 to follow, unless
        /// another backup has its name (nothing inserted then).
        static let insertBackupWithVersion = """
            INSERT INTO backup (path, name, grp, stored_away, \(StoredData.columns), created, updated,
                                src_dev, src_ino, src_size, src_mtime_ns, src_ctime_ns, next_version)
            VALUES (?, ?, ?, ?, \(placeholders(StoredData.count)), ?, ?, ?, ?, ?, ?, ?, 2)
            ON CONFLICT (name) DO NOTHING
            """
        static let updateData = """
            UPDATE backup SET (\(StoredData.columns)) = (\(placeholders(StoredData.count))), updated = ? WHERE idx = ?
            """
        static let versions = "SELECT \(Version.columns) FROM version WHERE backup = ? ORDER BY idx"
        static let version = "SELECT \(Version.columns) FROM version WHERE backup = ? AND idx = ?"
        static let insertVersion = """
            INSERT INTO version (backup, idx, \(StoredData.columns), comment, time) VALUES (?, ?, \(placeholders(StoredData.count)), ?, ?)
            """
        static let snapshotFile = """
            SELECT b.path, \(StoredData.columns.split(separator: ", ").map { "v." + $0 }.joined(separator: ", ")) FROM backup b
            LEFT JOIN version v ON v.backup = b.idx AND v.idx = ?2 WHERE b.idx = ?1
            """
    }

    // MARK: Backups

    static func backup(_ db: Database, index: Int64) throws -> Backup? {
        try Row.fetchOne(db.cachedStatement(sql: SQL.backupByIndex), arguments: [index]).map(Backup.init)
    }

    /// The backup an operation was asked for: error 13 names the index it lacks.
    static func existingBackup(_ db: Database, index: Int64) throws -> Backup {
        guard let b = try backup(db, index: index) else { throw noBackup(index) }
        return b
    }

    /// `existingBackup` without its copy's data.
    static func existingHead(_ db: Database, index: Int64) throws -> BackupHead {
        guard let h = try db.cachedStatement(sql: SQL.headByIndex).first(table: "backup", { $0.add(index) }, BackupHead.init) else {
            throw noBackup(index)
        }
        return h
    }

    static func noBackup(_ index: Int64) -> BMError { BMError(13, "no backup has index \(index)", path: "") }

    static func backup(_ db: Database, path: Path) throws -> Backup? {
        try Row.fetchOne(db.cachedStatement(sql: SQL.backupByPath), arguments: [path]).map(Backup.init)
    }

    /// Whether `path` has a backup, from the path index alone (no row decoded).
    static func backupIndex(_ db: Database, path: Path) throws -> Int64? {
        try db.cachedStatement(sql: "SELECT idx FROM backup WHERE path = ?").first(table: "backup", { $0.add(path) }) { try $0.value(0) }
    }

    static func backup(_ db: Database, name: Path) throws -> Backup? {
        try Row.fetchOne(db.cachedStatement(sql: SQL.backupByName), arguments: [name]).map(Backup.init)
    }

    static func backups(_ db: Database) throws -> [Backup] {
        try Row.fetchAll(db, sql: "SELECT \(Backup.columns) FROM backup ORDER BY idx").map(Backup.init)
    }

    /// Up to `limit` backups from `path` on, in bytewise order of paths, with
    /// what tells whether each one's file changed and the object of its
    /// newest version (KnownFiles' window).
    static func knownFiles(_ db: Database, from path: Path, limit: Int) throws -> [KnownFiles.Known] {
        try db.cachedStatement(sql: """
            SELECT b.idx, b.path, b.src_dev, b.src_ino, b.src_size, b.src_mtime_ns, b.src_ctime_ns, v.idx, v.object
            FROM backup b LEFT JOIN version v ON v.backup = b.idx AND v.idx = (SELECT max(idx) FROM version WHERE backup = b.idx)
            WHERE b.path >= ? ORDER BY b.path LIMIT ?
            """).all(table: "backup", { $0.add(path); $0.add(Int64(limit)) }) { r in
                KnownFiles.Known(index: try r.value(0), path: try r.path(1), source: try SourceState(r, at: 2),
                                 newest: r[7].isNull ? nil : (try r.value(7), try r.objectID(8)))
            }
    }

    /// The backups of files at or under `folder`, by index: a range of the path index, not every backup.
    static func backups(_ db: Database, under folder: Path) throws -> [Backup] {
        guard folder != .root else { return try backups(db) }
        let inside = folder.bytes + [Path.slash], beyond = folder.bytes + [Path.slash + 1]
        return try Row.fetchAll(db, sql: "SELECT \(Backup.columns) FROM backup WHERE path = ? OR (path >= ? AND path < ?) ORDER BY idx",
                                arguments: [folder, Data(inside), Data(beyond)]).map(Backup.init)
    }

    static func backupExists(_ db: Database, index: Int64) throws -> Bool {
        try db.cachedStatement(sql: "SELECT 1 FROM backup WHERE idx = ?").first(table: "backup", { $0.add(index) }) { _ in true } ?? false
    }

    static func nameExists(_ db: Database, _ name: Path) throws -> Bool {
        try db.cachedStatement(sql: "SELECT 1 FROM backup WHERE name = ?").first(table: "backup", { $0.add(name) }) { _ in true } ?? false
    }

    struct NewBackup {
        var path: Path
        var name: Path
        var group: Int64
        var storedAway: Bool
        var data: StoredData
        var source: SourceState

        /// The values of `SQL.insertBackup` (and of `insertBackupWithVersion`).
        func bind(_ b: inout Bindings, now: Date) {
            b.add(path)
            b.add(name)
            b.add(group)
            b.add(storedAway)
            data.bind(&b)
            b.add(now.timeIntervalSince1970)
            b.add(now.timeIntervalSince1970)
            source.bind(&b)
        }
    }

    static func insert(_ db: Database, _ b: NewBackup, now: Date) throws -> Int64 {
        try db.cachedStatement(sql: SQL.insertBackup).run { b.bind(&$0, now: now) }
        return db.lastInsertedRowID
    }

    /// A new backup and its version 1, as newbu then newver make them, in two
    /// statements (no `nameExists` before, no `next_version` update after):
    /// nil, and nothing inserted, when another backup has `b.name`. If the
    /// version fails, the backup is deleted again: both or neither, with no
    /// savepoint around them.
    static func insertWithFirstVersion(_ db: Database, _ b: NewBackup, comment: String, now: Date) throws -> Int64? {
        try db.cachedStatement(sql: SQL.insertBackupWithVersion).run { b.bind(&$0, now: now) }
        guard db.changesCount == 1 else { return nil }
        let index = db.lastInsertedRowID
        do {
            try db.cachedStatement(sql: SQL.insertVersion).run { bindVersion(&$0, backup: index, index: 1, b.data, comment: comment, now: now) }
        } catch {
            // Where SQLite rolled the whole transaction back (a full disk), the row is gone already.
            if db.isInsideTransaction { try deleteBackup(db, index: index) }
            throw error
        }
        return index
    }

    /// The backup's copy replaced (updbu). Its source state stays what its
    /// newest version was read from: a copy is no version, and a snapshot
    /// that took the file for unchanged since then would hold the old bytes.
    static func updateData(_ db: Database, index: Int64, _ data: StoredData, now: Date) throws {
        try db.cachedStatement(sql: SQL.updateData).run {
            data.bind(&$0)
            $0.add(now.timeIntervalSince1970)
            $0.add(index)
        }
    }

    static func placeholders(_ n: Int) -> String { Array(repeating: "?", count: n).joined(separator: ", ") }

    static func setSource(_ db: Database, index: Int64, _ s: SourceState) throws {
        try db.cachedStatement(sql: "UPDATE backup SET src_dev = ?, src_ino = ?, src_size = ?, src_mtime_ns = ?, src_ctime_ns = ? WHERE idx = ?")
            .run {
                s.bind(&$0)
                $0.add(index)
            }
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
        try Row.fetchAll(db.cachedStatement(sql: SQL.versions), arguments: [backup]).map(Version.init)
    }

    static func version(_ db: Database, backup: Int64, index: Int64) throws -> Version? {
        try Row.fetchOne(db.cachedStatement(sql: SQL.version), arguments: [backup, index]).map(Version.init)
    }

    /// The version an operation was asked for: error 14 names the backup and the version.
    static func existingVersion(_ db: Database, of b: Backup, index: Int64) throws -> Version {
        guard let v = try version(db, backup: b.index, index: index) else {
            throw BMError(14, "backup \(b.index) (\(FS.shown(b.name))) has no version \(index)", path: b.path)
        }
        return v
    }

    static func insertVersion(_ db: Database, backup: Int64, index: Int64, _ data: StoredData, comment: String, now: Date) throws {
        try db.cachedStatement(sql: SQL.insertVersion).run { bindVersion(&$0, backup: backup, index: index, data, comment: comment, now: now) }
        try db.cachedStatement(sql: "UPDATE backup SET next_version = ? WHERE idx = ?").run {
            $0.add(index + 1)
            $0.add(backup)
        }
    }

    /// The values of `SQL.insertVersion`.
    private static func bindVersion(_ b: inout Bindings, backup: Int64, index: Int64, _ data: StoredData, comment: String, now: Date) {
        b.add(backup)
        b.add(index)
        data.bind(&b)
        b.add(comment)
        b.add(now.timeIntervalSince1970)
    }

    static func setComment(_ db: Database, backup: Int64, index: Int64, comment: String) throws {
        try db.execute(sql: "UPDATE version SET comment = ? WHERE backup = ? AND idx = ?", arguments: [comment, backup, index])
    }

    static func deleteVersion(_ db: Database, backup: Int64, index: Int64) throws {
        try db.execute(sql: "DELETE FROM version WHERE backup = ? AND idx = ?", arguments: [backup, index])
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
        try db.cachedStatement(sql: "SELECT name, type FROM field WHERE name = ?").first(table: "field", { $0.add(name) }, Field.init)
    }

    static func fields(_ db: Database) throws -> [Field] {
        try Row.fetchAll(db, sql: "SELECT name, type FROM field ORDER BY name").map { try Field(RowReader(row: $0, table: "field")) }
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
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO field_value (field, owner, kind, value) VALUES (?, ?, ?, ?)").run {
            bindFieldValue(&$0, field: field, owner: owner, v)
        }
    }

    /// A backup's value of a per-backup field, in one statement where the
    /// field is one and the backup exists (a hook's `bfvar[bhin[4]] = v`, a
    /// new file at a time): false, and nothing written, otherwise.
    static func setBackupFieldValue(_ db: Database, field: String, owner: Int64, _ v: FieldValue) throws -> Bool {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO field_value (field, owner, kind, value) SELECT ?1, ?2, ?3, ?4
            WHERE EXISTS (SELECT 1 FROM field WHERE name = ?1 AND type = 'd') AND EXISTS (SELECT 1 FROM backup WHERE idx = ?2)
            """).run { bindFieldValue(&$0, field: field, owner: owner, v) }
        return db.changesCount > 0
    }

    /// The values of a field_value row: field, owner, kind, value.
    private static func bindFieldValue(_ b: inout Bindings, field: String, owner: Int64, _ v: FieldValue) {
        let (kind, value) = StoredValue.encode(v)
        b.add(field)
        b.add(owner)
        b.add(kind)
        b.add(value)
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
        try Row.fetchAll(db, sql: "SELECT sid, profile, time, status, files, links FROM snapshot ORDER BY sid").map(snapshot)
    }

    static func snapshot(_ db: Database, sid: String) throws -> Snapshot? {
        try Row.fetchOne(db, sql: "SELECT sid, profile, time, status, files, links FROM snapshot WHERE sid = ?", arguments: [sid]).map(snapshot)
    }

    private static func snapshot(_ row: Row) throws -> Snapshot {
        let r = RowReader(row: row, table: "snapshot")
        return Snapshot(sid: try r.sid(0), profile: try r.value(1, "profile"), time: Date(timeIntervalSince1970: try r.value(2, "time")),
                        status: try r.value(3, "status"), files: try r.value(4, "files"), links: try r.value(5, "links"))
    }

    /// Every snapshot's id and the id of its root folder's node.
    static func snapshotRoots(_ db: Database) throws -> [(sid: String, root: Int64)] {
        try Row.fetchAll(db, sql: "SELECT sid, root FROM snapshot ORDER BY sid").map { row in
            let r = RowReader(row: row, table: "snapshot")
            return (try r.sid(0), try r.value(1, "root"))
        }
    }

    static func snapshotRoot(_ db: Database, sid: String) throws -> Int64? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT root FROM snapshot WHERE sid = ?"), arguments: [sid]) else { return nil }
        return try RowReader(row: row, table: "snapshot").value(0, "root")
    }

    /// The newest snapshot of a profile.
    static func lastSnapshot(_ db: Database, profile: Int64) throws -> String? {
        try String.fetchOne(db, sql: "SELECT sid FROM snapshot WHERE profile = ? ORDER BY sid DESC LIMIT 1", arguments: [profile])
    }

    /// A snapshot whose id starts with `stamp` (YYYYMMDD-HHMMSS): one taken that second.
    static func snapshot(_ db: Database, stamped stamp: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT sid FROM snapshot WHERE sid LIKE ? ORDER BY sid", arguments: [stamp + "-%"])
    }

    /// Records a snapshot whose tree is interned already: it holds its root from now on.
    static func insertSnapshot(_ db: Database, _ s: Snapshot, root: Int64) throws {
        try db.execute(sql: "INSERT INTO snapshot (sid, profile, time, status, root, files, links) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       arguments: [s.sid, s.profile, s.time.timeIntervalSince1970, s.status, root, s.files, s.links])
        try addTreeReference(db, root)
    }

    /// A snapshot's tree was rewritten (a backup taken out of it): it holds the new root, the old one is released.
    static func setSnapshotRoot(_ db: Database, sid: String, root: Int64, filesRemoved: Int) throws {
        try db.execute(sql: "UPDATE snapshot SET root = ?, files = files - ? WHERE sid = ?", arguments: [root, filesRemoved, sid])
    }

    static func deleteSnapshot(_ db: Database, sid: String) throws {
        let root = try snapshotRoot(db, sid: sid)
        try db.execute(sql: "DELETE FROM snapshot WHERE sid = ?", arguments: [sid])
        if let root { try TreeStore(db).release(root) }
    }

    // MARK: Snapshot trees

    /// A node's content, by id.
    static func tree(_ db: Database, id: Int64) throws -> (content: [UInt8], refs: Int64)? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT content, refs FROM tree WHERE id = ?"), arguments: [id]) else { return nil }
        let r = RowReader(row: row, table: "tree")
        return ([UInt8](try r.value(0, "content") as Data), try r.value(1, "refs"))
    }

    static func treeShape(_ db: Database, id: Int64) throws -> [UInt8]? {
        try Data.fetchOne(db.cachedStatement(sql: "SELECT shape FROM tree WHERE id = ?"), arguments: [id]).map { [UInt8]($0) }
    }

    /// The node stored under `hash`, with its shape.
    static func tree(_ db: Database, hash: [UInt8]) throws -> (id: Int64, shape: [UInt8])? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, shape FROM tree WHERE hash = ?"), arguments: [Data(hash)]) else { return nil }
        let r = RowReader(row: row, table: "tree")
        return (try r.value(0, "id"), [UInt8](try r.value(1, "shape") as Data))
    }

    /// A new node, held by nothing yet.
    static func insertTree(_ db: Database, hash: [UInt8], shape: [UInt8], content: [UInt8]) throws -> Int64 {
        try db.cachedStatement(sql: "INSERT INTO tree (hash, shape, refs, content) VALUES (?, ?, 0, ?)")
            .execute(arguments: [Data(hash), Data(shape), Data(content)])
        return db.lastInsertedRowID
    }

    static func addTreeReference(_ db: Database, _ id: Int64, _ delta: Int64 = 1) throws {
        try db.cachedStatement(sql: "UPDATE tree SET refs = refs + ? WHERE id = ?").execute(arguments: [delta, id])
    }

    static func deleteTree(_ db: Database, id: Int64) throws {
        try db.cachedStatement(sql: "DELETE FROM tree WHERE id = ?").execute(arguments: [id])
    }

    /// Every node, for check.
    static func trees(_ db: Database) throws -> [(id: Int64, hash: [UInt8], refs: Int64, content: [UInt8])] {
        try Row.fetchAll(db, sql: "SELECT id, hash, refs, content FROM tree ORDER BY id").map { row in
            let r = RowReader(row: row, table: "tree")
            return (try r.value(0, "id"), [UInt8](try r.value(1, "hash") as Data), try r.value(2, "refs"), [UInt8](try r.value(3, "content") as Data))
        }
    }

    /// Nodes nothing holds: left by a run that stopped before recording its snapshot.
    static func unheldTrees(_ db: Database) throws -> [Int64] {
        try Int64.fetchAll(db, sql: "SELECT id FROM tree WHERE refs <= 0 ORDER BY id")
    }

    /// Where a snapshot's file goes and what it holds: the backup's path, and
    /// the data of the version (nil if that version is gone).
    static func snapshotFile(_ db: Database, backup: Int64, version: Int64) throws -> (path: Path, data: StoredData?)? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: SQL.snapshotFile), arguments: [backup, version]) else { return nil }
        let r = RowReader(row: row, table: "backup")
        return (try r.path(0), (row[1] as DatabaseValue).isNull ? nil : try StoredData(r, at: 1))
    }

    static func integrityCheck(_ db: Database) throws -> String {
        try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "?"
    }

    /// A text dump of the whole catalog: tests compare it before and after a failed operation.
    static func dump(_ db: Database) throws -> String {
        var out = ""
        for table in ["backup", "version", "field", "field_value", "bhook", "routine", "setting", "snapshot", "tree"] {
            for row in try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1, 2") {
                out += "\(table): \(row)\n"
            }
        }
        return out
    }
}
