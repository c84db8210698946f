import GRDB

/// Reads one catalog row by position, trusting nothing in it: a catalog may
/// come from a repository another user can write. A value of the wrong type,
/// a path that is not clean and absolute, an object id or a snapshot id not of
/// its form is error 21 naming the table and the row, never a crash (GRDB's
/// own subscript stops the process on a value it cannot convert) and never a
/// path that leaves the tree it names.
struct RowReader {
    let row: Row
    let table: String

    private var key: String { row.count > 0 ? "\(row[0] as DatabaseValue)" : "?" }

    func corrupt(_ what: String) -> BMError {
        BMError(21, "catalog table \(table), row \(key): \(what)")
    }

    func value<T: DatabaseValueConvertible>(_ i: Int, _ column: String = "") throws -> T {
        let v: DatabaseValue = row[i]
        guard let t = T.fromDatabaseValue(v) else { throw corrupt("column \(i + 1)\(column.isEmpty ? "" : " (\(column))") holds \(v), not a \(T.self)") }
        return t
    }

    func optional<T: DatabaseValueConvertible>(_ i: Int) throws -> T? {
        let v: DatabaseValue = row[i]
        if v.isNull { return nil }
        guard let t = T.fromDatabaseValue(v) else { throw corrupt("column \(i + 1) holds \(v), not a \(T.self)") }
        return t
    }

    /// A path to a file of the user's tree: absolute, with no empty, `.` or `..` name.
    func path(_ i: Int) throws -> Path {
        let p: Path = try value(i, "path")
        guard p.isClean else { throw corrupt("\(FS.shown(p)) is not a clean absolute path") }
        return p
    }

    func objectID(_ i: Int) throws -> String {
        let id: String = try value(i, "object")
        guard ObjectStore.isValid(id) else { throw corrupt("\(id.debugDescription) is not an object id (64 hex digits)") }
        return id
    }

    func sid(_ i: Int) throws -> String {
        let sid: String = try value(i, "sid")
        guard Snapshot.isValid(sid) else { throw corrupt("\(sid.debugDescription) is not a snapshot id (YYYYMMDD-HHMMSS-NNN)") }
        return sid
    }
}

extension Path {
    /// Absolute and normalised, as bmlua records every path: `/`, or `/` and
    /// names joined by single slashes, none of them `.` or `..`, no NUL.
    var isClean: Bool {
        guard isAbsolute, !bytes.contains(0) else { return false }
        if bytes == [Path.slash] { return true }
        let parts = bytes.dropFirst().split(separator: Path.slash, omittingEmptySubsequences: false)
        return parts.allSatisfy { !$0.isEmpty && $0.elementsEqual([0x2E]) == false && $0.elementsEqual([0x2E, 0x2E]) == false }
    }
}

extension Snapshot {
    /// `YYYYMMDD-HHMMSS-NNN`.
    static func isValid(_ sid: String) -> Bool {
        let u = Array(sid.utf8)
        guard u.count == 19, u[8] == UInt8(ascii: "-"), u[15] == UInt8(ascii: "-") else { return false }
        return u.enumerated().allSatisfy { i, c in i == 8 || i == 15 || (c >= 0x30 && c <= 0x39) }
    }
}
