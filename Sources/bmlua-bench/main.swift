// bmlua-bench: the cost of a hook call, against Lua's own floor, in one run.
//
//   (a) raw:  lua_rawgeti + lua_pcall of a cached empty chunk (a state of its own)
//   (d) floor: what design.md, "The hook call" demands at the least, in C: a fresh six-value
//       bhin table, then the raw call of (a)
//   (c) C:    every step of the protocol, in C, no Swift
//   (b) hook: LuaVM.callHook with a six-value bhin, bhout/bhout2 read back
//   (b') (b) with outputs set; (c") and (b") with six integers in bhin
//
// Prints each subject's median time per call and its median ratio to (a).
import CLua
import LuaHost
import Foundation
import HookVM

let rounds = Int(ProcessInfo.processInfo.environment["BMLUA_BENCH_ROUNDS"] ?? "") ?? 301
let perBatch = 2_000

@MainActor func nanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Nanoseconds per call of one batch.
@MainActor func batch(_ body: () -> Void) -> Double {
    let t = nanos()
    for _ in 0..<perBatch { body() }
    return Double(nanos() - t) / Double(perBatch)
}

@MainActor func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

// (a) raw
var opened: OpaquePointer?
let L = bmlua_open(&opened)!
let limits = opened!
_ = luaL_loadstring(L, "")
let chunk = luaL_ref(L, bmlua_registryindex())
let raw = {
    lua_rawgeti(L, bmlua_registryindex(), lua_Integer(chunk))
    _ = lua_pcallk(L, 0, 0, 0, 0, nil)
}

// The sample bhins of (b) and (b"), and the same values as C sees them: bytes
// copied out once, so the C subjects touch no Swift value while timed.
let bhin: [LuaValue] = ["/home/user/notes.txt", "/home/user/notes.txt", "notes.txt", 12, "weekly", 3]
let integers: [LuaValue] = [1, 2, 3, 12, 5, 3]

enum CValue {
    case bytes(UnsafeMutablePointer<CChar>, Int)
    case integer(lua_Integer)
}
/// A buffer, not an array: passing it around retains nothing.
@MainActor func cValues(_ values: [LuaValue]) -> UnsafeBufferPointer<CValue> {
    let buffer = UnsafeMutableBufferPointer<CValue>.allocate(capacity: values.count)
    _ = buffer.initialize(from: values.map { v in
        if case .integer(let n) = v { return .integer(lua_Integer(n)) }
        let s = v.stringValue!
        return .bytes(strdup(s)!, s.utf8.count)
    })
    return UnsafeBufferPointer(buffer)
}
let cBhin = cValues(bhin)
let cIntegers = cValues(integers)

/// Fills the table on top with `values`; a string that repeats the one
/// before is taken from the table, unhashed, as callHook does.
@MainActor func fill(_ values: UnsafeBufferPointer<CValue>) {
    for (i, v) in values.enumerated() {
        switch v {
        case .bytes(let p, let n):
            if i > 0, case .bytes(let q, let m) = values[i - 1], m == n, memcmp(p, q, n) == 0 {
                lua_rawgeti(L, -1, lua_Integer(i))
            } else {
                _ = lua_pushlstring(L, p, n)
            }
        case .integer(let n): lua_pushinteger(L, n)
        }
        lua_rawseti(L, -2, lua_Integer(i + 1))
    }
}

// (c) every protocol step, in C: bhtemp, bhin, bhout, bhout2, the call, the outputs.
@MainActor func protocolInC(_ values: UnsafeBufferPointer<CValue>) {
    let base = lua_gettop(L)
    _ = bmlua_hookbegin(L, limits, Int32(values.count))
    fill(values)
    bmlua_hookload(L, limits, base, chunk)
    var stopped: Int32 = 0
    _ = bmlua_call(L, limits, 0, 0, 0, &stopped)
    bmlua_hookresults(L, limits, base)
    lua_settop(L, base)
}
let pureC = { protocolInC(cBhin) }
let pureCIntegers = { protocolInC(cIntegers) }

// (d) the least any host can do with a fresh six-value bhin (design.md, "The hook call"):
// build the table and call the chunk; no globals, no bhtemp, no outputs.
let floor = {
    lua_createtable(L, Int32(cBhin.count), 0)
    fill(cBhin)
    bmlua_pop(L, 1)
    lua_rawgeti(L, bmlua_registryindex(), lua_Integer(chunk))
    _ = lua_pcallk(L, 0, 0, 0, 0, nil)
}

// (b) a full hook call
let vm = LuaVM()
let signature = HookSignature(bhout: .string, bhout2: .string)
let hook = {
    _ = try! vm.callHook(6, code: "", bhin: bhin, returns: signature)
}
// The same call when bhin holds no strings: what interning four strings costs.
let hookIntegers = {
    _ = try! vm.callHook(8, code: "", bhin: integers, returns: signature)
}
let hookWithOutputs = {
    _ = try! vm.callHook(7, code: "bhout = bhin[1] bhout2 = bhin[5]", bhin: bhin, returns: signature)
}

// The machine is shared: its speed drifts within a run.  So the subjects take
// turns, one batch each per round, and the ratio is the median of each
// round's own ratio, not a ratio of medians measured minutes apart.
let subjects: [(label: String, body: () -> Void)] = [
    ("(a) raw lua_pcall, cached empty chunk", raw),
    ("(d) C: fresh 6-value table + raw pcall", floor),
    ("(c) C: every protocol step, no Swift", pureC),
    ("(b) hook call, empty hook, 6-value bhin", hook),
    ("(b') hook call setting bhout and bhout2", hookWithOutputs),
    ("(c\") C: every step, bhin of 6 integers", pureCIntegers),
    ("(b\") hook call, bhin of 6 integers", hookIntegers),
]
// BMLUA_BENCH_ONLY=b (a label's letters) runs that subject alone,
// BMLUA_BENCH_CALLS times (100,000), and prints nothing: for instruction
// counts under callgrind (scripts/bench-instructions.sh).
if let only = ProcessInfo.processInfo.environment["BMLUA_BENCH_ONLY"],
   let s = subjects.first(where: { $0.label.hasPrefix("(\(only))") }) {
    let calls = Int(ProcessInfo.processInfo.environment["BMLUA_BENCH_CALLS"] ?? "") ?? 100_000
    for _ in 0..<calls { s.body() }
    exit(0)
}
for s in subjects { for _ in 0..<20 { s.body() } }   // warm up
var samples = Array(repeating: [Double](), count: subjects.count)
for _ in 0..<rounds {
    for (i, s) in subjects.enumerated() { samples[i].append(batch(s.body)) }
}
@MainActor func ratios(_ i: Int) -> Double { median(zip(samples[i], samples[0]).map { $0 / $1 }) }

@MainActor func show(_ label: String, _ ns: Double) {
    print(label.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%8.1f ns", ns))
}
print("bmlua-bench: medians of \(rounds) rounds of \(perBatch) calls each")
for (i, s) in subjects.enumerated() { show(s.label, median(samples[i])) }
print("ratio to (a), median per round:  " + (1..<subjects.count).map { i in
    String(subjects[i].label.prefix { $0 != " " }) + String(format: " %.2fx", ratios(i))
}.joined(separator: "  "))
let (b, c) = (3, 2)   // their places in `subjects`
let hookNs = median(samples[b]), hookRatio = ratios(b)
print(String(format: "target: (b) <= 500 ns: %@ (%.1f ns); (b) <= 5x (a): %@ (%.2fx); (b)/(c), the host's own share: %.2fx",
             hookNs <= 500 ? "met" : "not met", hookNs, hookRatio <= 5 ? "met" : "not met", hookRatio,
             median(zip(samples[b], samples[c]).map { $0 / $1 })))
