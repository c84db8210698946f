import Foundation
import GRDB

/// A backup with what `show` and Lua's `backup(i)` present of it: its
/// field values (its own and its group's) and, if asked, its versions.
public struct BackupDetails {
    public var backup: Backup
    /// By field name (bytewise).
    public var fields: [(name: String, value: FieldValue)]
    public var versions: [Version]?
}

extension BackupDatabase {
    public func details(_ index: Int64) throws -> BackupDetails {
        let b = try backup(index)
        return try read { try details(b, $0, versions: true) }
    }

    /// Every backup, or those of files at or under `folder`, with their fields.
    public func allDetails(under folder: Path? = nil) throws -> [BackupDetails] {
        try read { db in try backups(under: folder, db).map { try details($0, db, versions: false) } }
    }

    /// Every backup, or those of files at or under `folder`: one query.
    public func backups(under folder: Path? = nil) throws -> [Backup] {
        try read { db in try backups(under: folder, db) }
    }

    private func backups(under folder: Path?, _ db: Database) throws -> [Backup] {
        guard let folder = folder?.absolute else { return try Catalog.backups(db) }
        return try Catalog.backups(db, under: folder)
    }

    func details(_ b: Backup, _ db: Database, versions: Bool) throws -> BackupDetails {
        BackupDetails(backup: b, fields: try Catalog.fieldValues(db, backup: b.index, group: b.group),
                      versions: versions ? try Catalog.versions(db, backup: b.index) : nil)
    }
}
