// bmlua-bench: the cost of a hook call, against Lua's own floor, in one run.
//
//   (a) raw:  lua_rawgeti + lua_pcall of a cached empty chunk, on a bare state
//   (b) hook: LuaVM.callHook with a six-value bhin, bhout/bhout2 read back
//
// Prints the median per-call time of each over many batches and their ratio.
import CLua
import Foundation
import HookVM

let rounds = Int(ProcessInfo.processInfo.environment["BMLUA_BENCH_ROUNDS"] ?? "") ?? 301
let perBatch = 2_000

func nanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Nanoseconds per call of one batch.
func batch(_ body: () -> Void) -> Double {
    let t = nanos()
    for _ in 0..<perBatch { body() }
    return Double(nanos() - t) / Double(perBatch)
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

// (a) raw
let limits = UnsafeMutablePointer<bmlua_Limits>.allocate(capacity: 1)
limits.initialize(to: bmlua_Limits())
let L = bmlua_newstate(limits)!
luaL_openlibs(L)
_ = luaL_loadstring(L, "")
let chunk = luaL_ref(L, bmlua_registryindex())
let raw = {
    lua_rawgeti(L, bmlua_registryindex(), lua_Integer(chunk))
    _ = bmlua_pcall(L, 0, 0, 0)
}

// (c) the same protocol steps driven from C-ready bytes, no Swift values:
// Lua's own floor for them (a fresh bhin table, four strings, the globals).
let cStrings: [[CChar]] = ["/home/user/notes.txt", "/home/user/notes.txt", "notes.txt", "weekly"].map { Array($0.utf8CString) }
let pureC = {
    let base = lua_gettop(L)
    _ = bmlua_hookbegin(L, limits, 6)
    cStrings[0].withUnsafeBufferPointer { _ = lua_pushlstring(L, $0.baseAddress, $0.count - 1) }; lua_rawseti(L, -2, 1)
    cStrings[1].withUnsafeBufferPointer { _ = lua_pushlstring(L, $0.baseAddress, $0.count - 1) }; lua_rawseti(L, -2, 2)
    cStrings[2].withUnsafeBufferPointer { _ = lua_pushlstring(L, $0.baseAddress, $0.count - 1) }; lua_rawseti(L, -2, 3)
    lua_pushinteger(L, 12); lua_rawseti(L, -2, 4)
    cStrings[3].withUnsafeBufferPointer { _ = lua_pushlstring(L, $0.baseAddress, $0.count - 1) }; lua_rawseti(L, -2, 5)
    lua_pushinteger(L, 3); lua_rawseti(L, -2, 6)
    bmlua_hookload(L, limits, base, chunk)
    _ = bmlua_limitedcall(L, limits, 0, 0)
    bmlua_hookresults(L, limits, base)
    lua_settop(L, base)
}

// (b) a full hook call
let vm = LuaVM()
let bhin: [LuaValue] = ["/home/user/notes.txt", "/home/user/notes.txt", "notes.txt", 12, "weekly", 3]
let signature = HookSignature(bhout: .string, bhout2: .string)
let hook = {
    _ = try! vm.callHook(6, code: "", bhin: bhin, returns: signature)
}
let hookWithOutputs = {
    _ = try! vm.callHook(7, code: "bhout = bhin[1] bhout2 = bhin[5]", bhin: bhin, returns: signature)
}

// The machine is shared: its speed drifts within a run.  So the subjects take
// turns, one batch each per round, and the ratio is the median of each
// round's own ratio, not a ratio of medians measured minutes apart.
let subjects: [(label: String, body: () -> Void)] = [
    ("(a) raw lua_pcall, cached empty chunk", raw),
    ("(c) same protocol steps from C bytes", pureC),
    ("(b) hook call, empty hook, 6-value bhin", hook),
    ("(b') hook call setting bhout and bhout2", hookWithOutputs),
]
for s in subjects { for _ in 0..<20 { s.body() } }   // warm up
var samples = Array(repeating: [Double](), count: subjects.count)
for _ in 0..<rounds {
    for (i, s) in subjects.enumerated() { samples[i].append(batch(s.body)) }
}
func ratios(_ i: Int) -> Double { median(zip(samples[i], samples[0]).map { $0 / $1 }) }

func show(_ label: String, _ ns: Double) {
    print(label.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%8.1f ns", ns))
}
print("bmlua-bench: medians of \(rounds) rounds of \(perBatch) calls each")
for (i, s) in subjects.enumerated() { show(s.label, median(samples[i])) }
print(String(format: "ratio to (a), median per round:  (c) %.2fx   (b) %.2fx   (b') %.2fx", ratios(1), ratios(2), ratios(3)))
print("target: (b) <= 500 ns and <= 5x (a)")
