import CLua
import LuaHost

/// A Lua value copied into Swift.
///
/// Strings are byte arrays because Lua strings are: they may hold NUL bytes
/// and bytes that are not UTF-8 (file names on Linux are such strings).
/// Tables whose keys are exactly 1...n become `.list`, all others `.map`.
/// Functions, userdata and threads stay in Lua and are held by reference.
public enum LuaValue: Hashable {
    case `nil`
    case boolean(Bool)
    case integer(Int64)
    case number(Double)
    case string([UInt8])
    case list([LuaValue])
    case map([LuaValue: LuaValue])
    case opaque(LuaRef)

    public static func string(_ s: String) -> LuaValue { .string(Array(s.utf8)) }

    public var isNil: Bool { if case .nil = self { true } else { false } }

    /// The value as text, for strings (decoded leniently) only.
    public var stringValue: String? {
        if case .string(let b) = self { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    /// Whether both are strings of the same bytes (a table is never "the same").
    @inline(__always)
    func isString(equalTo other: LuaValue) -> Bool {
        if case .string(let a) = self, case .string(let b) = other { return a == b }
        return false
    }

    public var bytesValue: [UInt8]? {
        if case .string(let b) = self { return b }
        return nil
    }

    /// Integers, and floats with an exact integer value (Lua's own rule for `math.tointeger`).
    public var integerValue: Int64? {
        switch self {
        case .integer(let i): return i
        case .number(let d):
            guard d.rounded() == d, let i = Int64(exactly: d) else { return nil }
            return i
        default: return nil
        }
    }

    /// Lua truthiness: everything but nil and false.
    public var isTruthy: Bool {
        switch self {
        case .nil: return false
        case .boolean(let b): return b
        default: return true
        }
    }

    public var type: LuaType {
        switch self {
        case .nil: return .nil
        case .boolean: return .boolean
        case .integer, .number: return .number
        case .string: return .string
        case .list, .map: return .table
        case .opaque(let r): return r.type
        }
    }
}

/// Lua's type names, as `type()` prints them.
public enum LuaType: String, Sendable {
    case `nil`, boolean, number, string, table, function, userdata, thread
}

extension LuaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral
{
    public init(stringLiteral s: String) { self = .string(s) }
    public init(integerLiteral i: Int64) { self = .integer(i) }
    public init(floatLiteral d: Double) { self = .number(d) }
    public init(booleanLiteral b: Bool) { self = .boolean(b) }
    public init(arrayLiteral elements: LuaValue...) { self = .list(elements) }
}

extension LuaValue: CustomStringConvertible {
    /// A Lua-literal rendering, used by traces and `hooks test`.
    public var description: String {
        switch self {
        case .nil: return "nil"
        case .boolean(let b): return b ? "true" : "false"
        case .integer(let i): return String(i)
        case .number(let d):
            if d.isFinite, d.rounded() == d, abs(d) < 1e15 { return String(format: "%.1f", d) }
            return "\(d)"
        case .string(let b): return quoteLua(b)
        case .list(let a): return "{" + a.map(\.description).joined(separator: ", ") + "}"
        case .map(let m):
            let items = m.map { "[\($0.key)] = \($0.value)" }.sorted()
            return "{" + items.joined(separator: ", ") + "}"
        case .opaque(let r): return "<\(r.type.rawValue)>"
        }
    }
}

private func quoteLua(_ bytes: [UInt8]) -> String {
    var out = "\""
    for b in bytes {
        switch b {
        case UInt8(ascii: "\""): out += "\\\""
        case UInt8(ascii: "\\"): out += "\\\\"
        case UInt8(ascii: "\n"): out += "\\n"
        case 0x20..<0x7f: out.unicodeScalars.append(Unicode.Scalar(b))
        default: out += "\\\(b)"
        }
    }
    return out + "\""
}

/// A Lua value kept alive in the registry of its state (functions, userdata,
/// threads, and error objects that must travel back to Lua unchanged).
public final class LuaRef: Hashable {
    weak var vm: LuaVM?
    let ref: Int32
    public let type: LuaType

    init(vm: LuaVM, ref: Int32, type: LuaType) {
        self.vm = vm
        self.ref = ref
        self.type = type
    }

    deinit { vm?.release(ref) }

    public static func == (a: LuaRef, b: LuaRef) -> Bool { a === b }
    public func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(self)) }
}

// MARK: - Moving values across the boundary (never raising: see luahost.h)

extension LuaVM {
    /// Pushes `v` on `L`. Uses only raw, non-raising API calls.
    ///
    /// Always inlined, tables aside: a hook call pushes each value of its
    /// `bhin` (strings and integers), and an outlined call costs each value a
    /// copy and a destroy around it.
    @inline(__always)
    func push(_ v: LuaValue, on L: OpaquePointer) {
        switch v {
        case .nil: lua_pushnil(L)
        case .boolean(let b): lua_pushboolean(L, b ? 1 : 0)
        case .integer(let i): lua_pushinteger(L, lua_Integer(i))
        case .number(let d): lua_pushnumber(L, d)
        case .string(let b): b.withUnsafeBufferPointer { p in
            _ = p.baseAddress.map { lua_pushlstring(L, $0, p.count) } ?? lua_pushstring(L, "")
        }
        case .list(let a): pushList(a, on: L)
        case .map(let m): pushMap(m, on: L)
        case .opaque(let r):
            if r.vm === self {
                lua_rawgeti(L, bmlua_registryindex(), lua_Integer(r.ref))
            } else {
                lua_pushnil(L)
            }
        }
    }

    @inline(never)
    private func pushList(_ a: [LuaValue], on L: OpaquePointer) {
        guard lua_checkstack(L, 3) != 0 else { lua_pushnil(L); return }
        lua_createtable(L, Int32(clamping: a.count), 0)
        for i in a.indices {
            push(a[i], on: L)
            lua_rawseti(L, -2, lua_Integer(i + 1))
        }
    }

    @inline(never)
    private func pushMap(_ m: [LuaValue: LuaValue], on L: OpaquePointer) {
        guard lua_checkstack(L, 4) != 0 else { lua_pushnil(L); return }
        lua_createtable(L, 0, Int32(clamping: m.count))
        for (k, x) in m {
            // rawset raises on a nil or NaN key: such keys cannot exist in Lua anyway.
            if k.isNil { continue }
            if case .number(let d) = k, d.isNaN { continue }
            push(k, on: L)
            push(x, on: L)
            lua_rawset(L, -3)
        }
    }

    /// Reads the value at `idx` of `L`. Uses only raw, non-raising API calls.
    /// One copy out of Lua, bounded: a table met twice is converted once (a
    /// shared table is not copied again for every path to it), a table met
    /// inside itself stays in Lua (a cycle: `<table>`), and past `limit`
    /// values in all (counting a shared table each time it appears) the rest
    /// stays in Lua too. Without this a table holding itself twice takes
    /// exponential time and memory outside every hook limit.
    final class Copy {
        var done: [UnsafeRawPointer: (value: LuaValue, size: Int)] = [:]
        var onPath: Set<UnsafeRawPointer> = []
        var used = 0
        let limit: Int
        init(limit: Int = 1_000_000) { self.limit = limit }
    }

    func value(at idx: Int32, on L: OpaquePointer, depth: Int = 0, copy: Copy? = nil) -> LuaValue {
        let copy = copy ?? Copy()
        copy.used += 1
        switch lua_type(L, idx) {
        case LUA_TNIL, LUA_TNONE:
            return .nil
        case LUA_TBOOLEAN:
            return .boolean(lua_toboolean(L, idx) != 0)
        case LUA_TNUMBER:
            return bmlua_isinteger(L, idx) != 0 ? .integer(Int64(bmlua_tointeger(L, idx))) : .number(bmlua_tonumber(L, idx))
        case LUA_TSTRING:
            var len = 0
            guard let p = bmlua_tolstring(L, idx, &len) else { return .string([]) }
            return .string(p.withMemoryRebound(to: UInt8.self, capacity: len) { Array(UnsafeBufferPointer(start: $0, count: len)) })
        case LUA_TTABLE where depth < 64 && lua_checkstack(L, 3) != 0 && !hasMetatable(idx, on: L):
            // A table with a metatable is an object (a proxy, a class instance):
            // copying it would lose its behaviour, so it stays in Lua.
            guard let id = lua_topointer(L, idx), !copy.onPath.contains(id) else { break }
            if let earlier = copy.done[id] {
                guard copy.used + earlier.size <= copy.limit else { break }
                copy.used += earlier.size
                return earlier.value
            }
            let before = copy.used
            copy.onPath.insert(id)
            defer { copy.onPath.remove(id) }
            guard let table = table(at: lua_absindex(L, idx), on: L, depth: depth, copy: copy) else { break }
            copy.done[id] = (table, copy.used - before)
            return table
        default:
            break
        }
        return .opaque(reference(at: idx, on: L))
    }

    private func hasMetatable(_ idx: Int32, on L: OpaquePointer) -> Bool {
        guard lua_getmetatable(L, idx) != 0 else { return false }
        bmlua_pop(L, 1)
        return true
    }

    /// Nil if the copy ran past its limit inside: the table then stays in Lua.
    private func table(at t: Int32, on L: OpaquePointer, depth: Int, copy: Copy) -> LuaValue? {
        var map: [LuaValue: LuaValue] = [:]
        var maxInt: Int64 = 0
        var allPositiveInts = true
        lua_pushnil(L)
        while lua_next(L, t) != 0 {
            guard copy.used <= copy.limit else {
                bmlua_pop(L, 2)
                return nil
            }
            let k = value(at: -2, on: L, depth: depth + 1, copy: copy)
            if case .integer(let i) = k, i > 0 { maxInt = max(maxInt, i) } else { allPositiveInts = false }
            map[k] = value(at: -1, on: L, depth: depth + 1, copy: copy)
            bmlua_pop(L, 1)
        }
        if allPositiveInts && maxInt == Int64(map.count) {
            return .list((0..<map.count).map { map[.integer(Int64($0 + 1))]! })
        }
        return .map(map)
    }

    func reference(at idx: Int32, on L: OpaquePointer) -> LuaRef {
        let type = LuaType(rawValue: String(cString: lua_typename(L, lua_type(L, idx)))) ?? .userdata
        lua_pushvalue(L, idx)
        let ref = luaL_ref(L, bmlua_registryindex())
        return LuaRef(vm: self, ref: ref, type: type)
    }
}
