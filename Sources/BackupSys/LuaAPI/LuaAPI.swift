import Foundation
import GRDB
import HookVM

/// design.md, "The Lua API": the functions every Lua context sees (hooks, `run`, `eval`, `shell`).
enum LuaAPI {
    /// Lua-side helpers: `bfvar` is a proxy whose reads and writes go to the catalog.
    static let prelude = """
        local fieldget, fieldset = bm.fieldget, bm.fieldset
        bm.fieldget, bm.fieldset = nil, nil
        local proxies = {}   -- one a field: hdtstamp calls getbd in every hook call
        local function fieldproxy(name)
          local proxy = proxies[name]
          if proxy then return proxy end
          proxy = setmetatable({}, {
            __name = "bfvar",
            __index = function(_, owner) return fieldget(name, owner) end,
            __newindex = function(_, owner, value) fieldset(name, owner, value) end,
          })
          proxies[name] = proxy
          return proxy
        end
        bm.fieldproxy = fieldproxy
        -- getbd and regbd check the catalog and return the field's name; bfvar
        -- is set here, where its proxy is at hand (from Swift, every call
        -- copied the whole of bm to find it).
        local checkbd, makebd = getbd, regbd
        function getbd(...) bfvar = fieldproxy(checkbd(...)) end
        function regbd(...) bfvar = fieldproxy(makebd(...)) end
        """

    static func install(in state: LuaVM, database: BackupDatabase) {
        // The session owns its VM, the VM the functions: they hold both unowned,
        // so closing the session frees all three.
        unowned let vm = state, bd = database
        /// Runs an API function; a BMError sets `errornum` and is remembered for `errh`.
        func api(_ name: String, in table: String? = nil, _ body: @escaping ([LuaValue]) throws -> [LuaValue]) {
            vm.register(name, in: table) { args in
                do {
                    return try body(args)
                } catch let e as BMError {
                    bd.lastLuaError = e
                    vm[global: "errornum"] = .integer(Int64(e.number))
                    throw e
                }
            }
        }

        // MARK: the database
        api("openbd") { _ in
            bd.openInLua = true
            vm[global: "bhooks"] = try bd.bhooks().map { .list($0.map { .string($0) }) } ?? .nil
            return []
        }
        /// A script opens the database before it uses it (Backup Manager's
        /// rule); inside a hook it is open already. Error 40 otherwise: an
        /// installer that forgot openbd() would store a fresh `bhooks` over everyone's.
        func requireOpen(_ fn: String) throws {
            guard bd.openInLua || bd.db != nil else {
                throw BMError(40, "\(fn) needs the database opened first: call openbd() at the start of the script")
            }
        }
        api("closebd") { _ in
            // Inside a hook that did not call openbd() itself, closebd() does
            // nothing: the operation owns the database, and bhooks stays as stored.
            guard bd.openInLua else {
                if bd.db != nil { return [] }
                try requireOpen("closebd()")
                return []
            }
            try bd.storeBhooks(vm[global: "bhooks"])
            bd.openInLua = false
            vm.clearTemp()
            return []
        }
        api("regbd") { args in
            try requireOpen("regbd()")
            let field = try fieldArgs(args, "regbd")
            try bd.write { db in
                if try Catalog.field(db, name: field.name) != nil {
                    throw BMError(19, "field \(field.name) is already registered")
                }
                try Catalog.registerField(db, field)
            }
            return [.string(field.name)]
        }
        api("getbd") { args in
            try requireOpen("getbd()")
            let field = try fieldArgs(args, "getbd")
            guard let existing = try bd.read({ try Catalog.field($0, name: field.name) }), existing.kind == field.kind else {
                throw BMError(18, "no field \(field.name) of type \"\(field.kind.rawValue)\" is registered")
            }
            return [.string(field.name)]
        }
        api("fieldget", in: "bm") { args in
            try requireOpen("bfvar")
            let (name, owner) = try (string(args, 0, "bfvar"), integer(args, 1, "bfvar index"))
            return [LuaValue(try bd.read { try Catalog.fieldValue($0, field: name, owner: owner) })]
        }
        api("fieldset", in: "bm") { args in
            try requireOpen("bfvar")
            let (name, owner) = try (string(args, 0, "bfvar"), integer(args, 1, "bfvar index"))
            let value = try FieldValue.fromLua(args.count > 2 ? args[2] : .nil)
            try bd.setFieldValue(name, owner: owner, value)
            return []
        }

        // MARK: errors
        api("passerr") { args in
            if let n = args.first?.integerValue { vm[global: "errornum"] = .integer(n) }
            guard let n = vm[global: "errornum"].integerValue else { throw BMError(22, "passerr: errornum is not set") }
            var error = bd.lastLuaError.flatMap { $0.number == n ? $0 : nil } ?? BMError(Int(n))
            if let text = args.count > 1 ? args[1].stringValue : nil { error = BMError(number: Int(n), message: text) }
            error.raisedByUser = error.place == nil   // passed on: it keeps the place it came from
            throw error
        }
        api("errh") { args in
            let path = args.first?.pathValue ?? ""
            let dialog = args.count > 1 ? args[1].isTruthy : true
            let pass = args.count > 2 ? args[2].isTruthy : false
            guard let n = vm[global: "errornum"].integerValue else { return [.nil, .nil] }
            var error = bd.lastLuaError.flatMap { $0.number == n ? $0 : nil } ?? BMError(Int(n))
            error.path = path
            let handled = bd.handle(error, dialog: dialog, pass: pass)
            if dialog { bd.options.diagnostics("bmlua: \(handled)") }
            if pass {
                var passed = handled
                passed.raisedByUser = passed.place == nil
                bd.lastLuaError = passed
                vm[global: "errornum"] = .integer(Int64(handled.number))
                throw passed
            }
            return [.integer(Int64(handled.number)), .string(handled.message)]
        }

        // MARK: operations (§5), hooks included
        api("newbu") { args in
            var opts = BackupDatabase.NewBackupOptions()
            if args.count > 1, case .map(let m) = args[1] {
                opts.group = m["group"]?.integerValue ?? 0
                opts.storeAway = m["storedaway"]?.isTruthy ?? false
            }
            return [.integer(try bd.newbu(try path(args, 0, "newbu path"), opts))]
        }
        api("updbu") { args in try bd.updbu(try index(args, 0)); return [] }
        api("restbu") { args in
            let path = try bd.restbu(try index(args, 0), version: args.count > 1 ? try integer(args, 1, "version") : 0,
                                     overwrite: args.count > 2 && args[2].isTruthy, to: args.count > 3 ? args[3].pathValue : nil)
            return [.path(path)]
        }
        api("delbu") { args in try bd.delbu(try index(args, 0), deleteStoredAway: args.count > 1 && args[1].isTruthy); return [] }
        api("newver") { args in
            [.integer(try bd.newver(try index(args, 0), comment: args.count > 1 ? args[1].stringValue ?? "" : ""))]
        }
        api("cmtver") { args in
            try bd.cmtver(try index(args, 0), try integer(args, 1, "version"), comment: try string(args, 2, "comment"))
            return []
        }
        api("delver") { args in try bd.delver(try index(args, 0), try integer(args, 1, "version")); return [] }
        api("backups") { _ in [.list(try bd.read { db in try Catalog.backups(db).map { LuaValue(try bd.details($0, db, versions: true)) } })] }
        api("backup") { args in
            let b = try bd.backup(try index(args, 0))
            return [LuaValue(try bd.read { try bd.details(b, $0, versions: true) })]
        }

        // MARK: helpers
        api("log", in: "bm") { args in
            bd.log(args.map { $0.stringValue ?? $0.description }.joined(separator: "\t"))
            return []
        }
        // Installers set their slots with the rule `hooks set` has: all or none,
        // and never over another program's hook (error 35) unless forced.
        api("sethooks", in: "bm") { args in
            guard case .map(let t)? = args.first else { throw BMError(22, "bad argument #1 to bm.sethooks: a table {[slot] = code} expected") }
            var slots: [Int: String] = [:]
            for (k, v) in t {
                guard let n = k.integerValue, let code = v.stringValue else {
                    throw BMError(22, "bad argument #1 to bm.sethooks: slots are numbers and their code strings")
                }
                slots[Int(n)] = code
            }
            try bd.setHooks(slots, force: args.count > 1 && args[1].isTruthy)
            return []
        }
        api("tempfile", in: "bm") { _ in [.string(try vm.makeTempFile())] }
        api("isClkOn") { _ in [true] }
        api("getDtStr") { _ in [.string(clock("%Y-%m-%d"))] }
        api("getTmStr") { _ in [.string(clock("%H:%M:%S"))] }

        func index(_ args: [LuaValue], _ i: Int) throws -> Int64 {
            if let n = i < args.count ? args[i].integerValue : nil { return n }
            if let s = i < args.count ? args[i].pathValue : nil { return try bd.resolve(s).index }
            throw BMError(22, "bad argument #\(i + 1): a backup index, name or path expected")
        }
        _ = try? vm.run(prelude, chunkName: "=bmlua")
    }

    static func fieldArgs(_ args: [LuaValue], _ fn: String) throws -> Field {
        let name = try string(args, 0, "\(fn) field name")
        let type = args.count > 1 ? args[1].stringValue ?? "" : "d"
        guard let kind = Field.Kind(rawValue: type) else {
            throw BMError(22, "\(fn): field type must be \"d\" (per backup) or \"g\" (per group), not \"\(type)\"")
        }
        return Field(name: name, kind: kind)
    }

    static func string(_ args: [LuaValue], _ i: Int, _ what: String) throws -> String {
        guard i < args.count, let s = args[i].stringValue else { throw BMError(22, "bad argument #\(i + 1): \(what) (a string) expected") }
        return s
    }

    /// A path argument: its bytes as they are.
    static func path(_ args: [LuaValue], _ i: Int, _ what: String) throws -> Path {
        guard i < args.count, let p = args[i].pathValue else { throw BMError(22, "bad argument #\(i + 1): \(what) (a string) expected") }
        return p
    }

    static func integer(_ args: [LuaValue], _ i: Int, _ what: String) throws -> Int64 {
        guard i < args.count, let n = args[i].integerValue else { throw BMError(22, "bad argument #\(i + 1): \(what) (an integer) expected") }
        return n
    }

    /// The local time in a strftime `format`. (A DateFormatter made per call
    /// cost 60–80 µs, and hdtstamp asks twice for every file.)
    static func clock(_ format: String) -> String {
        var now = time(nil), local = tm()
        localtime_r(&now, &local)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, format, &local)
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension LuaValue {
    /// `t[key]` of a map value.
    public func field(_ key: String) -> LuaValue {
        if case .map(let m) = self { return m[.string(key)] ?? .nil }
        return .nil
    }
}

extension BackupDatabase {
    /// `closebd`'s rule (design.md, "The Lua API"): a table of at most 10 strings, each of which
    /// compiles, is stored (missing slots are ""); nil removes the list.
    func storeBhooks(_ value: LuaValue) throws {
        var list: [String]
        switch value {
        case .nil:
            try setBhooks(nil)
            return
        case .list(let items):
            guard items.count <= 10 else { throw BMError(22, "bhooks has \(items.count) elements; at most 10") }
            list = try items.enumerated().map { i, v in
                guard let s = v.stringValue else { throw BMError(22, "bhooks[\(i + 1)] is a \(v.type.rawValue), not a string") }
                return s
            }
        case .map(let m):
            list = Array(repeating: "", count: 10)
            for (k, v) in m {
                guard let i = k.integerValue, i >= 1, i <= 10 else { throw BMError(22, "bhooks has the key \(k); only 1 to 10 are allowed") }
                guard let s = v.stringValue else { throw BMError(22, "bhooks[\(i)] is a \(v.type.rawValue), not a string") }
                list[Int(i) - 1] = s
            }
        default:
            throw BMError(22, "bhooks must be a table of at most 10 strings (or nil), not a \(value.type.rawValue)")
        }
        list += Array(repeating: "", count: 10 - list.count)
        for (i, code) in list.enumerated() { try checkCompiles(code, chunkName: "=hook\(i + 1)") }
        try setBhooks(list)
    }

    /// Error 34 (with the line) if `code` does not compile; nothing is run.
    func checkCompiles(_ code: String, chunkName: String) throws {
        do {
            try luaVM().checkSyntax(code, chunkName: chunkName)
        } catch let e as LuaError {
            throw BMError(e)
        }
    }
}

extension LuaValue {
    /// A backup as `backup(i)` gives it to Lua.
    init(_ d: BackupDetails) {
        let b = d.backup
        var m: [LuaValue: LuaValue] = [
            "index": .integer(b.index), "name": .path(b.name), "path": .path(b.path),
            "group": .integer(b.group), "stored_away": .boolean(b.storedAway), "size": .integer(b.data.size),
            "sha256": .string(b.data.object), "mode": .integer(Int64(b.data.mode)), "mtime": .string(isoTime(nanoseconds: b.data.mtimeNs)),
            "created": .string(isoTime(b.created)), "updated": .string(isoTime(b.updated)),
        ]
        if let owner = b.data.owner {   // unknown for data stored before bmlua recorded owners
            m["uid"] = .integer(Int64(owner.uid))
            m["gid"] = .integer(Int64(owner.gid))
        }
        m["fields"] = .map(Dictionary(uniqueKeysWithValues: d.fields.map { (.string($0.name), LuaValue($0.value)) }))
        if let versions = d.versions {
            m["versions"] = .list(versions.map { v in
                .map(["index": .integer(v.index), "comment": .string(v.comment), "size": .integer(v.data.size),
                      "time": .string(isoTime(v.time)), "sha256": .string(v.data.object)])
            })
        }
        self = .map(m)
    }

    /// A field's value in Lua (nil for none).
    init(_ v: FieldValue?) {
        switch v {
        case nil: self = .nil
        case .string(let b): self = .string(b)
        case .integer(let i): self = .integer(i)
        case .number(let d): self = .number(d)
        case .boolean(let b): self = .boolean(b)
        }
    }
}

extension FieldValue {
    /// A Lua value as a field's: nil for nil, error 22 for a table or a function.
    static func fromLua(_ v: LuaValue) throws -> FieldValue? {
        switch v {
        case .nil: return nil
        case .string(let b): return .string(b)
        case .integer(let i): return .integer(i)
        case .number(let d): return .number(d)
        case .boolean(let b): return .boolean(b)
        default: throw BMError(22, "a field value must be a string, number or boolean, not a \(v.type.rawValue)")
        }
    }
}

/// ISO 8601 in the local zone, the form of every time bmlua prints
/// (`2026-12-03T18:36:05Z`, `2026-12-03T19:36:05+01:00`).
public func isoTime(_ d: Date) -> String {
    var t = time_t(d.timeIntervalSince1970.rounded(.down))
    var tm = tm()
    localtime_r(&t, &tm)
    var buf = [CChar](repeating: 0, count: 32)
    let n = strftime(&buf, buf.count, "%Y-%m-%dT%H:%M:%S", &tm)
    let stamp = String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let offset = tm.tm_gmtoff / 60
    guard offset != 0 else { return stamp + "Z" }
    let h = abs(offset) / 60, m = abs(offset) % 60
    return stamp + (offset < 0 ? "-" : "+") + (h < 10 ? "0" : "") + String(h) + ":" + (m < 10 ? "0" : "") + String(m)
}

public func isoTime(nanoseconds ns: Int64) -> String { isoTime(Date(timeIntervalSince1970: Double(ns) / 1e9)) }
