import Foundation
import GRDB
import HookVM

/// The version operations of DESIGN §5 (newver, cmtver, delver).
extension BackupDatabase {
    public func versions(of index: Int64) throws -> [Version] {
        try read { try Catalog.versions($0, backup: index) }
    }

    // MARK: newver — hook 6

    /// A new version of backup `index` from its original file. Returns its index.
    @discardableResult
    public func newver(_ index: Int64, comment: String = "") throws -> Int64 {
        try write { db in
            guard let b = try Catalog.backup(db, index: index) else { throw BMError(13, "no backup has index \(index)") }
            let st = try original(of: b)
            let v = b.nextVersion
            var actual = b.path, comment = comment
            if let out = try runHook(6, [.string(b.path), .string(b.path), .string(b.name), .integer(index), .string(comment), .integer(v)]) {
                if let file = out.bhout.stringValue { actual = file }
                if let c = out.bhout2.stringValue { comment = c }
            }
            let stored = try objects.put(file: actual)
            try Catalog.insertVersion(db, backup: index, index: v, object: stored.id, size: stored.size,
                                      mode: UInt32(st.st_mode & 0o7777), mtimeNs: FS.nanoseconds(st.st_mtim), owner: Owner(st),
                                      xattrs: ExtendedAttributes.read(b.path), comment: comment, now: Date())
            try Catalog.setSource(db, index: index, SourceState(st))
            return v
        }
    }

    // MARK: cmtver — hook 7

    /// Returns the comment stored: hook 7 may choose another.
    @discardableResult
    public func cmtver(_ index: Int64, _ version: Int64, comment: String) throws -> String {
        try write { db in
            let (b, v) = try backupAndVersion(db, index, version)
            var comment = comment
            if let out = try runHook(7, [.string(b.path), .string(b.path), .string(b.name), .integer(index), .string(comment), .integer(v.index)]),
               let c = out.bhout.stringValue {
                comment = c
            }
            try Catalog.setComment(db, backup: index, index: version, comment: comment)
            return comment
        }
    }

    // MARK: delver — hook 8

    public func delver(_ index: Int64, _ version: Int64) throws {
        try write { db in
            let (b, v) = try backupAndVersion(db, index, version)
            let users = try Catalog.snapshotsUsing(db, backup: index, version: version)
            if !users.isEmpty {
                throw BMError(22, "version \(version) of \(b.name) is part of snapshot \(users.joined(separator: ", ")) (remove the snapshot first)", path: b.path)
            }
            _ = try runHook(8, [.string(b.path), .string(b.path), .string(b.name), .integer(index), .integer(v.index)])
            try Catalog.deleteVersion(db, backup: index, index: version)
        }
    }

    func backupAndVersion(_ db: Database, _ index: Int64, _ version: Int64) throws -> (Backup, Version) {
        guard let b = try Catalog.backup(db, index: index) else { throw BMError(13, "no backup has index \(index)") }
        guard let v = try Catalog.version(db, backup: index, index: version) else {
            throw BMError(14, "backup \(index) (\(b.name)) has no version \(version)", path: b.path)
        }
        return (b, v)
    }
}
