import Foundation
import GRDB
import HookVM

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

    public func fieldValues(_ name: String, owner: Int64?) throws -> [(Int64, LuaValue)] {
        try read { db in
            guard try Catalog.field(db, name: name) != nil else { throw BMError(18, "no field \(name)") }
            if let owner { return [(owner, try Catalog.fieldValue(db, field: name, owner: owner))] }
            return try Catalog.fieldValues(db, field: name).map { ($0.owner, $0.value) }
        }
    }

    public func setFieldValue(_ name: String, owner: Int64, _ value: LuaValue) throws {
        try write { db in
            guard let f = try Catalog.field(db, name: name) else { throw BMError(18, "no field \(name)") }
            if f.kind == .backup, try Catalog.backup(db, index: owner) == nil { throw BMError(13, "no backup has index \(owner)") }
            try Catalog.setFieldValue(db, field: name, owner: owner, value)
        }
    }

    public func describe(_ index: Int64) throws -> LuaValue {
        let b = try backup(index)
        return try read { try describe(b, $0, versions: true) }
    }

    /// Every backup, or those of files at or under `folder`.
    public func describeAll(under folder: Path? = nil) throws -> [LuaValue] {
        let folder = folder?.absolute
        return try read { db in
            try Catalog.backups(db).filter { b in folder.map { b.path.isAtOrUnder($0) } ?? true }
                .map { try describe($0, db, versions: false) }
        }
    }
}
