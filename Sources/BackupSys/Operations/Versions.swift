import Foundation
import GRDB
import HookVM

/// The version operations of design.md, "Operations and their hooks" (newver, cmtver, delver).
extension BackupDatabase {
    public func versions(of index: Int64) throws -> [Version] {
        try read { try Catalog.versions($0, backup: index) }
    }

    // MARK: newver — hook 6

    /// A new version of backup `index` from its original file. Returns its index.
    @discardableResult
    public func newver(_ index: Int64, comment: String = "") throws -> Int64 {
        try newver(index, comment: comment, source: nil).index
    }

    /// newver of a file already open (`source`), and, with `sharing`, the
    /// object newbu just stored from it: the version is that object, and the
    /// file is not read again, unless hook 6 names another file or changed
    /// this one (then the hook decides as ever). Returns the version's index and object.
    /// `head`: the backup's head as the caller has just read or made it, with
    /// no hook write since; it is not read again.
    /// `enclosed`: part of a step whose `write` undoes it if it fails.
    func newver(_ index: Int64, comment: String, source: SourceFile?, sharing: ObjectStore.Stored? = nil,
                staged: ObjectStore.Staged? = nil, head: BackupHead? = nil, enclosed: Bool = false) throws -> (index: Int64, object: String) {
        try part(of: enclosed) { db in
            let b = try head ?? Catalog.existingHead(db, index: index)
            let source = try source ?? original(of: b)
            let v = b.nextVersion
            var actual: Path?, comment = comment
            let out = try runHook(.beforeNewVersion(original: b.path, name: b.name, index: index, comment: comment, version: v))
            if let out {
                actual = out.bhout.pathValue
                if let c = out.bhout2.stringValue { comment = c }
            }
            let shared = out == nil || actual == nil && !source.changedSinceOpened ? sharing : nil
            let data = try store(source, hookChose: actual, reusing: shared, staged: staged, afterHook: out != nil)
            try Catalog.insertVersion(db, backup: index, index: v, data, comment: comment, now: Date())
            // newbu wrote the same state a moment ago: no update to make.
            if b.source != source.state { try Catalog.setSource(db, index: index, source.state) }
            return (v, data.object)
        }
    }

    // MARK: cmtver — hook 7

    /// Returns the comment stored: hook 7 may choose another.
    @discardableResult
    public func cmtver(_ index: Int64, _ version: Int64, comment: String) throws -> String {
        try write { db in
            let (b, v) = try backupAndVersion(db, index, version)
            var comment = comment
            if let out = try runHook(.beforeComment(original: b.path, name: b.name, index: index, comment: comment, version: v.index)),
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
            let users = try SnapshotContents.holding(db, backup: index, version: version)
            if !users.isEmpty {
                throw BMError(22, "version \(version) of \(FS.shown(b.name)) is part of snapshot \(users.joined(separator: ", ")) (remove the snapshot first)", path: b.path)
            }
            _ = try runHook(.beforeDeleteVersion(original: b.path, name: b.name, index: index, version: v.index))
            try Catalog.deleteVersion(db, backup: index, index: version)
        }
    }

    func backupAndVersion(_ db: Database, _ index: Int64, _ version: Int64) throws -> (Backup, Version) {
        let b = try Catalog.existingBackup(db, index: index)
        return (b, try Catalog.existingVersion(db, of: b, index: version))
    }
}
