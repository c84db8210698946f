import GRDB
import GRDBSQLite

/// Reads one catalog row by position, trusting nothing in it: a catalog may
/// come from a repository another user can write. A value of the wrong type,
/// a path that is not clean and absolute, an object id or a snapshot id not of
/// its form is error 21 naming the table and the row, never a crash (GRDB's
/// own subscript stops the process on a value it cannot convert) and never a
/// path that leaves the tree it names.
struct RowReader {
    private let source: Source
    let table: String

    /// GRDB's row, or the row a statement of `Statement.first`/`all` is on now.
    private enum Source {
        case row(Row)
        case statement(SQLiteStatement)
    }

    init(row: Row, table: String) { (source, self.table) = (.row(row), table) }

    init(statement: SQLiteStatement, table: String) { (source, self.table) = (.statement(statement), table) }

    var count: Int {
        switch source {
        case .row(let row): row.count
        case .statement(let s): Int(sqlite3_column_count(s))
        }
    }

    subscript(i: Int) -> DatabaseValue {
        switch source {
        case .row(let row): row[i]
        case .statement(let s): DatabaseValue(sqliteStatement: s, index: Int32(i))
        }
    }

    private var key: String { count > 0 ? "\(self[0])" : "?" }

    func corrupt(_ what: String) -> BMError {
        BMError(21, "catalog table \(table), row \(key): \(what)")
    }

    func value<T: DatabaseValueConvertible>(_ i: Int, _ column: String = "") throws -> T {
        let v = self[i]
        guard let t = T.fromDatabaseValue(v) else { throw corrupt("column \(i + 1)\(column.isEmpty ? "" : " (\(column))") holds \(v), not a \(T.self)") }
        return t
    }

    func optional<T: DatabaseValueConvertible>(_ i: Int) throws -> T? {
        let v = self[i]
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

    /// A backup's name ("bkup. file"): one name, not `.` or `..`, no slash or NUL.
    func name(_ i: Int) throws -> Path {
        let n: Path = try value(i, "name")
        guard n.isOneName else { throw corrupt("the name \(FS.shown(n)) is not a file name") }
        return n
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
        // One pass, no copies: every path a catalog row holds goes through it.
        guard bytes.first == Path.slash else { return false }
        if bytes.count == 1 { return true }
        var start = 1   // where the name being read began
        for i in 1...bytes.count {
            let c = i < bytes.count ? bytes[i] : Path.slash
            if c == 0 { return false }
            guard c == Path.slash else { continue }
            switch i - start {
            case 0: return false   // an empty name (`//`, or a slash at the end)
            case 1: if bytes[start] == 0x2E { return false }
            case 2: if bytes[start] == 0x2E && bytes[start + 1] == 0x2E { return false }
            default: break
            }
            start = i + 1
        }
        return true
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
