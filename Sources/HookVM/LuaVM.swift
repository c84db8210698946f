import CLua
import LuaHost
import CSystem
import Foundation

/// A Swift function callable from Lua. Throwing raises a Lua error (from C, see luahost.h).
public typealias LuaFunction = ([LuaValue]) throws -> [LuaValue]

/// One Lua 5.4 state and everything the host keeps beside it.
///
/// Not thread-safe: one VM belongs to one thread (the watchdog only ever
/// touches it through `lua_sethook`, which Lua allows asynchronously).
public final class LuaVM {
    public struct Limits: Sendable, Equatable {
        /// Seconds one hook call may run; nil for none.
        public var time: Double?
        /// Bytes the whole state may hold while user code runs; nil for none.
        public var memory: Int?
        public init(time: Double? = 10, memory: Int? = 256 << 20) {
            self.time = time
            self.memory = memory
        }
    }

    public var limits: Limits {
        didSet { apply(limits) }
    }

    /// The C side's limits of this state (opaque: only C reads and writes them).
    let lim: OpaquePointer
    private let main: OpaquePointer
    /// The state of the innermost running Swift frame: a coroutine's when Lua
    /// called Swift from inside one, so stacks are never mixed.
    var current: OpaquePointer
    private var boxes: [FunctionBox] = []
    private var chunks: [ChunkKey: Int32] = [:]
    // The two properties every hook call reads skip the run-time exclusivity
    // check (a call into the Swift runtime each): one thread owns a VM, and
    // no access to them spans a call out.
    /// The last code run by each hook number: the hot path of `callHook`.
    @exclusivity(unchecked) private var hookChunks: [(code: String, ref: Int32)?] = []
    private var lastThrown: (value: LuaValue, error: Error)?
    private var tempFiles: Set<String> = []
    private let tempDirectory: String
    public private(set) var isClosed = false

    /// - Parameter tempDirectory: where `bm.tempfile()` makes its files.
    public init(limits: Limits = Limits(), tempDirectory: String? = nil) {
        self.limits = limits
        self.tempDirectory = tempDirectory ?? (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp")
        var lim: OpaquePointer?
        guard let L = bmlua_open(&lim), let lim else { fatalError("bmlua: cannot create a Lua state") }
        self.lim = lim
        main = L
        current = L
        apply(limits)
    }

    private func apply(_ limits: Limits) {
        bmlua_setmemorylimit(lim, limits.memory.map { max(0, $0) } ?? 0)
        bmlua_settimelimit(lim, limits.time.map { max(0, $0) } ?? -1)
    }

    /// For a program whose only children in a hook call are the hook's
    /// programs (bmlua is one): it becomes their subreaper, and a time trip
    /// also kills what they left behind detached (`setsid cmd &`). A host with
    /// children of its own does not call it: those would count as left behind.
    public static func adoptOrphans() { bmlua_adoptorphans() }

    /// How the watchdog names the failure when a call does not stop and it
    /// ends the process (the host's error number goes here).
    public func setOvertimeLabel(_ label: String) { bmlua_setovertimelabel(lim, label) }

    /// Bytes the state holds now, and bytes of freed blocks kept for reuse.
    var memoryInUse: Int { bmlua_memoryused(lim) }
    var pooledBytes: Int { bmlua_pooled(lim) }

    /// The watchdog's clock (nanoseconds), for tests that drive the time limit.
    func setWatchdogClock(_ now: (@convention(c) () -> UInt64)?) { bmlua_setwatchclock(lim, now) }

    deinit { close() }

    /// Clears `bhtemp` (design.md, "The hook call"), deletes the host's temp files and closes the state.
    public func close() {
        guard !isClosed else { return }
        clearTemp()
        for path in tempFiles { unlink(path) }
        tempFiles.removeAll()
        chunks.removeAll()
        hookChunks.removeAll()
        heldErrors.removeAll()
        boxes.removeAll()
        isClosed = true
        bmlua_close(main, lim)
    }

    // MARK: Globals

    public subscript(global name: String) -> LuaValue {
        get {
            let L = current
            bmlua_rawgetglobal(L, name)
            defer { bmlua_pop(L, 1) }
            return value(at: -1, on: L)
        }
        set {
            push(newValue, on: current)
            bmlua_rawsetglobal(current, name)
        }
    }

    /// Makes `fn` the global `name`, or the field `name` of the global table `table`.
    public func register(_ name: String, in table: String? = nil, _ fn: @escaping LuaFunction) {
        let L = current
        let box = FunctionBox(fn, vm: self)
        boxes.append(box)
        if let table {
            bmlua_rawgetglobal(L, table)
            if lua_type(L, -1) != LUA_TTABLE {
                bmlua_pop(L, 1)
                lua_createtable(L, 0, 4)
                lua_pushvalue(L, -1)
                bmlua_rawsetglobal(L, table)
            }
            bmlua_pushswiftfunction(L, dispatch, Unmanaged.passUnretained(box).toOpaque())
            bmlua_rawsetfield(L, -2, name)
            bmlua_pop(L, 1)
        } else {
            bmlua_pushswiftfunction(L, dispatch, Unmanaged.passUnretained(box).toOpaque())
            bmlua_rawsetglobal(L, name)
        }
    }

    // MARK: Running code

    /// Compiles `code` (text only) once per distinct (chunk name, code) and
    /// returns its registry ref.
    func compiled(_ code: String, chunkName: String) throws -> Int32 {
        let key = ChunkKey(name: chunkName, code: code)
        if let ref = chunks[key] { return ref }
        let L = current
        try load(code, chunkName: chunkName, on: L)
        let ref = luaL_ref(L, bmlua_registryindex())
        chunks[key] = ref
        return ref
    }

    func hookChunk(_ number: Int, code: String) throws -> Int32 {
        if number >= 0 && number < hookChunks.count, let cached = hookChunks[number], cached.code == code {
            return cached.ref
        }
        let ref = try compiled(code, chunkName: "=hook\(number)")
        if number >= 0 && number < 64 {
            if number >= hookChunks.count { hookChunks += Array(repeating: nil, count: number + 1 - hookChunks.count) }
            hookChunks[number] = (code, ref)
        }
        return ref
    }

    /// Checks that `code` compiles, without running it (a `.syntax` error if not).
    public func checkSyntax(_ code: String, chunkName: String) throws {
        try load(code, chunkName: chunkName, on: current)
        bmlua_pop(current, 1)
    }

    private func load(_ code: String, chunkName: String, on L: OpaquePointer) throws {
        var code = code
        let status = code.withUTF8 { p in
            UnsafeRawBufferPointer(p).withMemoryRebound(to: CChar.self) { c in
                luaL_loadbufferx(L, c.baseAddress, c.count, chunkName, "t")
            }
        }
        if status != LUA_OK {
            let message = value(at: -1, on: L).stringValue ?? "cannot compile \(chunkName)"
            bmlua_pop(L, 1)
            throw LuaError(status == LUA_ERRMEM ? .memoryLimit : .syntax, message)
        }
    }

    /// Runs `code` as a chunk with `...` = `args` and returns its results.
    /// Scripts are not timed (only hook calls are) and not cached (they run once).
    @discardableResult
    /// With `traceback`, a Lua error's message ends with the stack, as lua.c prints it (scripts).
    public func run(_ code: String, chunkName: String, args: [LuaValue] = [], traceback: Bool = false) throws -> [LuaValue] {
        let L = current
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        try load(code, chunkName: chunkName, on: L)
        return try call(on: L, base: base, args: args, traceback: traceback)
    }

    /// Calls a Lua function held by reference (for Swift functions given callbacks).
    @discardableResult
    public func call(_ function: LuaValue, _ args: [LuaValue] = []) throws -> [LuaValue] {
        let L = current
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        push(function, on: L)
        return try call(on: L, base: base, args: args)
    }

    /// The globals there are now (Lua's standard library, the API): names a routine may not take.
    public private(set) var reservedNames: Set<String> = []

    public func reserveGlobals() {
        let names = (try? run("local t = {} for k in pairs(_G) do if type(k) == 'string' then t[#t + 1] = k end end return table.concat(t, ' ')",
                              chunkName: "=bmlua")) ?? []
        reservedNames = Set((names.first?.stringValue ?? "").split(separator: " ").map(String.init))
            .union(["bhin", "bhout", "bhout2", "bhtemp", "bhooks", "errornum", "bfvar", "arg"])
    }

    /// Defines global `name` as the compiled `code` (a vararg function): a routine.
    public func define(_ name: String, code: String, chunkName: String? = nil) throws {
        let L = current
        lua_rawgeti(L, bmlua_registryindex(), lua_Integer(try compiled(code, chunkName: chunkName ?? "=\(name)")))
        bmlua_rawsetglobal(L, name)
    }

    /// The function is at base+1; pushes args, calls, returns the results.
    private func call(on L: OpaquePointer, base: Int32, args: [LuaValue], traceback: Bool = false) throws -> [LuaValue] {
        guard lua_checkstack(L, Int32(clamping: args.count + 2)) != 0 else {
            throw LuaError(.runtime, "too many arguments")
        }
        for a in args { push(a, on: L) }
        try execute(on: L, nargs: Int32(args.count), nresults: LUA_MULTRET, timed: false, traceback: traceback)
        let top = lua_gettop(L)
        return top > base ? (base + 1...top).map { value(at: $0, on: L) } : []
    }

    /// Stops the Lua code this VM runs now, as lua.c's Ctrl-C does: it fails
    /// with "interrupted!" (a `LuaError` marked `interrupted`), and a pcall
    /// inside cannot swallow it. Does nothing while no code runs. Safe from
    /// another thread, as the watchdog's trip is.
    public func interrupt() { bmlua_interrupt(lim) }

    /// The one place user code runs: a protected call under the limits (C
    /// owns the call from start to end, see call.c). On failure the error
    /// value is popped and thrown as a Swift error.
    func execute(on L: OpaquePointer, nargs: Int32, nresults: Int32, timed: Bool, traceback: Bool = false) throws {
        var stopped: Int32 = 0
        let flags = (timed ? Int32(BMLUA_CALL_TIMED) : 0) | (traceback ? Int32(BMLUA_CALL_TRACEBACK) : 0)
        let status = bmlua_call(L, lim, nargs, nresults, flags, &stopped)
        guard status != LUA_OK else { return }
        defer { bmlua_pop(L, 1) }

        if stopped == Int32(BMLUA_TRIP_TIME) {
            throw LuaError(.timeLimit, "time limit exceeded (\(formatSeconds(self.limits.time ?? 0)) s)")
        }
        if stopped == Int32(BMLUA_TRIP_MEMORY) {
            throw LuaError(.memoryLimit, "not enough memory (limit \(self.limits.memory.map { "\($0 >> 20) MiB" } ?? "none"))")
        }
        if stopped == Int32(BMLUA_TRIP_INTERRUPT) {
            lastThrown = nil
            var e = LuaError(.runtime, "interrupted!")
            e.interrupted = true
            throw e
        }
        if let thrown = lastThrown {
            push(thrown.value, on: L)
            let same = lua_rawequal(L, -1, -2) != 0
            bmlua_pop(L, 1)
            lastThrown = nil
            if same { throw thrown.error }
        }
        if lua_type(L, -1) == LUA_TSTRING, let bytes = value(at: -1, on: L).bytesValue {
            throw LuaError(.runtime, String(decoding: bytes, as: UTF8.self), raised: .string(bytes))
        }
        let held = reference(at: -1, on: L)
        throw LuaError(.runtime, "(error object is a \(held.type.rawValue) value)", raised: .held(hold(held)))
    }

    /// Error values that are not strings, newest last, for `raisedValue`: a
    /// few, since an error goes back to Lua (if at all) while it is new.
    private var heldErrors: [(token: UInt64, value: LuaRef)] = []
    private var lastErrorToken: UInt64 = 0

    private func hold(_ value: LuaRef) -> UInt64 {
        lastErrorToken += 1
        heldErrors.append((lastErrorToken, value))
        if heldErrors.count > 16 { heldErrors.removeFirst() }
        return lastErrorToken
    }

    /// The value `error` stands for, as Lua code raised it.
    public func raisedValue(_ error: LuaError) -> LuaValue {
        switch error.raised {
        case .string(let bytes): return .string(bytes)
        case .held(let token): return heldErrors.last { $0.token == token }.map { .opaque($0.value) } ?? .string(Array(error.message.utf8))
        }
    }

    // MARK: Swift called from Lua

    /// Called through the C trampoline: returns a result count, or -1 with the
    /// error value pushed (the trampoline raises it).
    fileprivate func invoke(_ box: FunctionBox, on L: OpaquePointer) -> Int32 {
        let saved = current
        current = L
        defer { current = saved }
        let n = lua_gettop(L)
        var args: [LuaValue] = []
        args.reserveCapacity(Int(n))
        if n > 0 { for i in 1...n { args.append(value(at: i, on: L)) } }
        do {
            let results = try box.fn(args)
            guard lua_checkstack(L, Int32(clamping: results.count + 1)) != 0 else {
                lua_pushstring(L, "too many results")
                return -1
            }
            for r in results { push(r, on: L) }
            return Int32(results.count)
        } catch let error as LuaError {
            // A Lua error coming back through Swift travels on unchanged.
            let raised = raisedValue(error)
            lastThrown = (raised, error)
            push(raised, on: L)
            return -1
        } catch {
            let at = place(on: L)
            let raisable = error as? LuaRaisable
            let raised = LuaValue.string(at + (raisable?.luaMessage ?? "\(error)"))
            lastThrown = (raised, at.isEmpty ? error : raisable?.raised(at: String(at.dropLast(2))) ?? error)
            push(raised, on: L)
            return -1
        }
    }

    /// `chunk:line: ` of the user's Lua code that called the running Swift
    /// function: the first frame not in a chunk of the host's own (`=bmlua`,
    /// as the `bfvar` proxy), so an error names the hook's line, not bmlua's.
    private func place(on L: OpaquePointer) -> String {
        var ar = lua_Debug()
        var level: Int32 = 1
        while lua_getstack(L, level, &ar) != 0, lua_getinfo(L, "Sl", &ar) != 0 {
            level += 1
            let src = withUnsafeBytes(of: &ar.short_src) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if src == Self.hostChunk || ar.currentline <= 0 { continue }
            return "\(src):\(ar.currentline): "
        }
        return ""
    }

    /// The chunk name of the host's own Lua code (short_src of `=bmlua`).
    public static let hostChunk = "bmlua"

    func release(_ ref: Int32) {
        guard !isClosed else { return }
        luaL_unref(main, bmlua_registryindex(), ref)
    }

    // MARK: Temp files and bhtemp

    /// `bm.tempfile()` names its files `bmlua-hook-PID-XXXXXX`: the pid tells a
    /// clean-up of their folder that a running process may still use one.
    static let tempFilePrefix = "bmlua-hook-"

    /// Whether `name` is a `bm.tempfile()` file of a process that is still running.
    public static func isLiveTempFile(_ name: String) -> Bool {
        guard name.hasPrefix(tempFilePrefix),
              let pid = pid_t(name.dropFirst(tempFilePrefix.count).prefix { $0 != "-" }), pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// A new empty file owned by the host: deleted when `bhtemp` naming it is cleared, or at close.
    public func makeTempFile() throws -> String {
        var template = Array("\(tempDirectory)/\(Self.tempFilePrefix)\(getpid())-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { bmlua_mkostemp($0.baseAddress!, O_CLOEXEC) }
        guard fd >= 0 else { throw LuaError(.runtime, "bm.tempfile: cannot create a file in \(tempDirectory): \(String(cString: strerror(errno)))") }
        Foundation.close(fd)
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        tempFiles.insert(path)
        return path
    }

    /// Sets `bhtemp` to nil; deletes the file it named if the host made it.
    public func clearTemp() {
        let L = current
        bmlua_rawgetglobal(L, "bhtemp")
        deleteIfHostTemp(value(at: -1, on: L))
        bmlua_pop(L, 1)
        lua_pushnil(L)
        bmlua_rawsetglobal(L, "bhtemp")
    }

    /// Only files made by `bm.tempfile()` are ever deleted: a user path in bhtemp is left alone.
    func deleteIfHostTemp(_ v: LuaValue) {
        if let path = v.stringValue, tempFiles.remove(path) != nil { unlink(path) }
    }
}

private struct ChunkKey: Hashable {
    let name: String
    let code: String
}

final class FunctionBox {
    let fn: LuaFunction
    unowned let vm: LuaVM
    init(_ fn: @escaping LuaFunction, vm: LuaVM) {
        self.fn = fn
        self.vm = vm
    }
}

private let dispatch: bmlua_SwiftFunction = { L, box in
    let box = Unmanaged<FunctionBox>.fromOpaque(box!).takeUnretainedValue()
    return box.vm.invoke(box, on: L!)
}

/// Seconds as a user wrote them: `10`, `0.5`.
public func formatSeconds(_ s: Double) -> String {
    s.rounded() == s ? String(Int(s)) : String(s)
}
