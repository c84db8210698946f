import Foundation
import GRDB
import GRDBSQLite

/// The values of one run of a statement a snapshot makes per file, bound
/// straight to SQLite's statement in the order of its `?`s. GRDB's arguments
/// are an array of existentials, each turned into a DatabaseValue (a Path
/// into a Data copy) before it is bound: at a new file's two inserts that
/// cost more than SQLite's own work, on the one thread every file waits for.
struct Bindings {
    fileprivate let statement: SQLiteStatement
    fileprivate var next: Int32 = 1
    fileprivate var failure: Int32 = SQLITE_OK

    private mutating func bound(_ code: Int32) {
        if code != SQLITE_OK && failure == SQLITE_OK { failure = code }
        next += 1
    }

    mutating func add(_ v: Int64) { bound(sqlite3_bind_int64(statement, next, v)) }
    mutating func add(_ v: Double) { bound(sqlite3_bind_double(statement, next, v)) }
    mutating func add(_ v: Bool) { add(v ? 1 : 0 as Int64) }
    mutating func addNull() { bound(sqlite3_bind_null(statement, next)) }
    mutating func add(_ v: Int64?) { if let v { add(v) } else { addNull() } }

    /// As GRDB stores a String: TEXT (the empty one too, not NULL).
    mutating func add(_ v: String) {
        var v = v
        bound(v.withUTF8 { u in
            u.withMemoryRebound(to: CChar.self) { c in
                c.isEmpty ? sqlite3_bind_text(statement, next, "", 0, transient) : sqlite3_bind_text(statement, next, c.baseAddress, Int32(c.count), transient)
            }
        })
    }

    /// As GRDB stores Data (and so a Path): a BLOB, the empty one too (SQLite
    /// would take a blob with no address for NULL).
    mutating func add<Bytes: ContiguousBytes>(blob v: Bytes) {
        bound(v.withUnsafeBytes { b in
            b.isEmpty ? sqlite3_bind_zeroblob(statement, next, 0) : sqlite3_bind_blob(statement, next, b.baseAddress, Int32(b.count), transient)
        })
    }

    mutating func add(_ v: Path) { add(blob: v.bytes) }

    mutating func add(_ v: Data?) { if let v { add(blob: v) } else { addNull() } }

    mutating func add(_ v: DatabaseValue) {
        switch v.storage {
        case .null: addNull()
        case .int64(let i): add(i)
        case .double(let d): add(d)
        case .string(let s): add(s)
        case .blob(let d): add(blob: d)
        }
    }
}

/// SQLite copies what it is given: the bindings outlive the buffers they came from.
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

extension Statement {
    /// Runs a statement that returns no rows, with the values `bind` adds
    /// (every `?`, in order). Fails as GRDB does, with a DatabaseError.
    func run(_ bind: (inout Bindings) -> Void) throws {
        try stepping(bind) { s in
            let code = sqlite3_step(s)
            if code != SQLITE_DONE { throw failure(code) }
        }
    }

    /// The first row `read` makes of the statement's rows (nil: none).
    func first<T>(table: String, _ bind: (inout Bindings) -> Void, _ read: (RowReader) throws -> T) throws -> T? {
        try stepping(bind) { s in
            switch sqlite3_step(s) {
            case SQLITE_ROW: return try read(RowReader(statement: s, table: table))
            case SQLITE_DONE: return nil
            case let code: throw failure(code)
            }
        }
    }

    /// Every row, as `read` makes it.
    func all<T>(table: String, _ bind: (inout Bindings) -> Void, _ read: (RowReader) throws -> T) throws -> [T] {
        try stepping(bind) { s in
            var rows: [T] = []
            while true {
                switch sqlite3_step(s) {
                case SQLITE_ROW: rows.append(try read(RowReader(statement: s, table: table)))
                case SQLITE_DONE: return rows
                case let code: throw failure(code)
                }
            }
        }
    }

    /// `body` on the statement with its values bound; afterwards it is reset
    /// and holds no values, as GRDB leaves the statements it runs.
    private func stepping<T>(_ bind: (inout Bindings) -> Void, _ body: (SQLiteStatement) throws -> T) throws -> T {
        let s = sqliteStatement
        sqlite3_reset(s)
        defer {
            sqlite3_reset(s)
            sqlite3_clear_bindings(s)
        }
        var b = Bindings(statement: s)
        bind(&b)
        precondition(b.next - 1 == sqlite3_bind_parameter_count(s), "\(b.next - 1) values for the \(sqlite3_bind_parameter_count(s)) of \(sql)")
        if b.failure != SQLITE_OK { throw failure(b.failure) }
        return try body(s)
    }

    private func failure(_ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqlite3_db_handle(sqliteStatement))), sql: sql)
    }
}

extension StoredData {
    /// The values of `columns`, in order.
    func bind(_ b: inout Bindings) {
        b.add(object)
        b.add(size)
        b.add(Int64(mode))
        b.add(mtimeNs)
        b.add(owner.map { Int64($0.uid) })
        b.add(owner.map { Int64($0.gid) })
        b.add(xattrs?.encoded)
    }
}

extension SourceState {
    /// The values of the `src_*` columns, in order.
    func bind(_ b: inout Bindings) {
        b.add(device)
        b.add(inode)
        b.add(size)
        b.add(mtimeNs)
        b.add(ctimeNs)
    }
}
