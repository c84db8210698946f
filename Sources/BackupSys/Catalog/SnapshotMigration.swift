import GRDB

/// Schema v5: each snapshot's rows (a row per file, link and folder) become
/// its tree, built as a snapshot run builds one.
enum SnapshotMigration {
    private enum Item {
        case file(Path, backup: Int64, version: Int64, hardlink: Int64?)
        case link(SnapshotLink)
        case folder(SnapshotFolder)

        var key: [UInt8] {
            switch self {
            case .file(let p, _, _, _): p.bytes
            case .link(let l): l.path.bytes
            case .folder(let f): f.path.walkKey(isFolder: true)
            }
        }
    }

    static func convert(_ db: Database) throws {
        for sid in try String.fetchAll(db, sql: "SELECT sid FROM snapshot ORDER BY sid") {
            var items: [Item] = try Row.fetchAll(db, sql: """
                SELECT b.path, e.backup, e.version, e.hardlink FROM snapshot_entry e JOIN backup b ON b.idx = e.backup WHERE e.sid = ?
                """, arguments: [sid]).map { row in
                    let r = RowReader(row: row, table: "snapshot_entry")
                    return .file(try r.path(0), backup: try r.value(1, "backup"), version: try r.value(2, "version"), hardlink: try r.optional(3))
                }
            items += try Row.fetchAll(db, sql: "SELECT path, target, mtime_ns, uid, gid FROM snapshot_link WHERE sid = ?", arguments: [sid]).map { row in
                let r = RowReader(row: row, table: "snapshot_link")
                return .link(SnapshotLink(path: try r.path(0), target: try r.value(1, "target"), mtimeNs: try r.value(2, "mtime_ns"),
                                          owner: Owner(uid: try r.value(3, "uid") as Int64, gid: try r.value(4, "gid") as Int64)!))
            }
            items += try Row.fetchAll(db, sql: "SELECT path, mode, mtime_ns, uid, gid, xattrs FROM snapshot_folder WHERE sid = ?", arguments: [sid]).map { row in
                let r = RowReader(row: row, table: "snapshot_folder")
                return .folder(SnapshotFolder(path: try r.path(0), mode: try r.value(1, "mode"), mtimeNs: try r.value(2, "mtime_ns"),
                                              owner: Owner(uid: try r.value(3, "uid") as Int64, gid: try r.value(4, "gid") as Int64)!,
                                              xattrs: ExtendedAttributes(encoded: try r.optional(5))))
            }
            var builder = TreeBuilder(db)
            for item in items.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                switch item {
                case let .file(path, backup, version, hardlink): try builder.file(path, backup: backup, version: version, hardlink: hardlink)
                case .link(let l): try builder.link(l)
                case .folder(let f): try builder.folder(f)
                }
            }
            let (root, _) = try builder.finish()
            try db.execute(sql: "UPDATE snapshot SET root = ?, files = ?, links = ? WHERE sid = ?",
                           arguments: [root, builder.files, builder.links, sid])
            try Catalog.addTreeReference(db, root)
        }
    }
}
