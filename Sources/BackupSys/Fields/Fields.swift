import Foundation
import GRDB

/// Extended data: named fields with a value per backup or per group.
extension BackupDatabase {
    public func registerField(_ name: String, type: String) throws {
        guard let kind = Field.Kind(rawValue: type) else { throw BMError(22, "a field's type is d (per backup) or g (per group), not \(type)") }
        try write { db in
            if try Catalog.field(db, name: name) != nil { throw BMError(19, "field \(name) is already registered") }
            try Catalog.registerField(db, Field(name: name, kind: kind))
        }
    }

    public func fields() throws -> [Field] { try read(Catalog.fields) }

    /// The values of a field: every one set, or that of one owner (nil if it has none).
    public func fieldValues(_ name: String, owner: Int64?) throws -> [FieldEntry] {
        try read { db in
            guard try Catalog.field(db, name: name) != nil else { throw BMError(18, "no field \(name)") }
            if let owner { return [FieldEntry(owner: owner, value: try Catalog.fieldValue(db, field: name, owner: owner))] }
            return try Catalog.fieldValues(db, field: name)
        }
    }

    /// Sets (or with nil removes) the value of a field for a backup or a group.
    public func setFieldValue(_ name: String, owner: Int64, _ value: FieldValue?) throws {
        // Checks, then one statement, which fails whole: inside a transaction
        // (a hook's `bfvar[i] = v`, once a new file) no savepoint of its own.
        try part(of: true) { db in
            if let value, try Catalog.setBackupFieldValue(db, field: name, owner: owner, value) { return }
            // Not a backup's value of a per-backup field: which it is, or the error.
            guard let f = try Catalog.field(db, name: name) else { throw BMError(18, "no field \(name)") }
            if f.kind == .backup {
                // Index 0 is what hook 1's bhin[4] holds: the backup is not made yet.
                if owner == 0 { throw BMError(13, "no backup has index 0: hook 1 runs before the backup exists; set fields in hook 2, where bhin[4] is its index") }
                guard try Catalog.backupExists(db, index: owner) else { throw Catalog.noBackup(owner) }
            }
            try Catalog.setFieldValue(db, field: name, owner: owner, value)
        }
    }
}

/// One owner's value of a field (a backup's index, or a group's number).
public struct FieldEntry: Sendable, Equatable {
    public var owner: Int64
    public var value: FieldValue?
}
