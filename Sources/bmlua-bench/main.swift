// bmlua-bench: the cost of a hook call, against Lua's own floor, in one run.
//
//   (a) raw:  lua_rawgeti + lua_pcall of a cached empty chunk, on a bare state
//   (b) hook: LuaVM.callHook with a six-value bhin, bhout/bhout2 read back
//
// Prints the median per-call time of each over many batches and their ratio.
import CLua
import Foundation
import HookVM

let batches = Int(ProcessInfo.processInfo.environment["BMLUA_BENCH_BATCHES"] ?? "") ?? 301
let perBatch = 2_000

func nanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func median(_ body: () -> Void) -> Double {
    var samples: [Double] = []
    for _ in 0..<20 { body() }   // warm up
    for _ in 0..<batches {
        let t = nanos()
        for _ in 0..<perBatch { body() }
        samples.append(Double(nanos() - t) / Double(perBatch))
    }
    samples.sort()
    return samples[samples.count / 2]
}

// (a) raw
let limits = UnsafeMutablePointer<bmlua_Limits>.allocate(capacity: 1)
limits.initialize(to: bmlua_Limits())
let L = bmlua_newstate(limits)!
luaL_openlibs(L)
_ = luaL_loadstring(L, "")
let chunk = luaL_ref(L, bmlua_registryindex())
let raw = median {
    lua_rawgeti(L, bmlua_registryindex(), lua_Integer(chunk))
    _ = bmlua_pcall(L, 0, 0, 0)
}

// (c) the same protocol steps driven from C-ready bytes, no Swift values:
// Lua's own floor for them (a fresh bhin table, four strings, the globals).
let cStrings: [[CChar]] = ["/home/user/notes.txt", "/home/user/notes.txt", "notes.txt", "weekly"].map { Array($0.utf8CString) }
let pureC = median {
    let base = lua_gettop(L)
    _ = bmlua_hookprepare(L, limits, 6)
    cStrings[0].withUnsafeBufferPointer { _ = lua_pushlstring(L, $0.baseAddress, $0.count - 1) }; lua_rawseti(L, -2, 1)
    cStrings[1].withUnsafeBufferPointer { _ = lua_pushlstring(L, $0.baseAddress, $0.count - 1) }; lua_rawseti(L, -2, 2)
    cStrings[2].withUnsafeBufferPointer { _ = lua_pushlstring(L, $0.baseAddress, $0.count - 1) }; lua_rawseti(L, -2, 3)
    lua_pushinteger(L, 12); lua_rawseti(L, -2, 4)
    cStrings[3].withUnsafeBufferPointer { _ = lua_pushlstring(L, $0.baseAddress, $0.count - 1) }; lua_rawseti(L, -2, 5)
    lua_pushinteger(L, 3); lua_rawseti(L, -2, 6)
    bmlua_hookload(L, limits, chunk)
    _ = bmlua_limitedcall(L, limits, 0, 0)
    bmlua_hookresults(L, limits)
    lua_settop(L, base)
}

// (b) a full hook call
let vm = LuaVM()
let bhin: [LuaValue] = ["/home/user/notes.txt", "/home/user/notes.txt", "notes.txt", 12, "weekly", 3]
let signature = HookSignature(bhout: .string, bhout2: .string)
let hook = median {
    _ = try! vm.callHook(6, code: "", bhin: bhin, returns: signature)
}
let hookWithOutputs = median {
    _ = try! vm.callHook(6, code: "bhout = bhin[1] bhout2 = bhin[5]", bhin: bhin, returns: signature)
}

func show(_ label: String, _ ns: Double) {
    print(label.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%8.1f ns", ns))
}
print("bmlua-bench: median of \(batches) batches of \(perBatch) calls")
show("(a) raw lua_pcall, cached empty chunk", raw)
show("(c) same protocol steps from C bytes", pureC)
show("(b) hook call, empty hook, 6-value bhin", hook)
show("(b') hook call setting bhout and bhout2", hookWithOutputs)
print(String(format: "ratio (b)/(a): %.2fx   (b')/(a): %.2fx", hook / raw, hookWithOutputs / raw))
print("target: (b) <= 500 ns and <= 5x (a)")
