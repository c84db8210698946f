import Synchronization
import Foundation
import Testing
@testable import HookVM

struct Refused: Error, LuaRaisable {
    var luaMessage: String { "refused on purpose" }
}

@Suite struct SwiftFunctionTests {
    @Test func swiftFunctionsTakeAndReturnValues() throws {
        let vm = LuaVM()
        vm.register("add") { args in [.integer((args[0].integerValue ?? 0) + (args[1].integerValue ?? 0)), "second"] }
        #expect(try vm.run("return add(40, 2)", chunkName: "=t") == [42, "second"])
    }

    @Test func thrownErrorsBecomeLuaErrorsWithAPlace() throws {
        let vm = LuaVM()
        vm.register("refuse") { _ in throw Refused() }
        let r = try vm.run("local ok, e = pcall(function()\n refuse()\n end)\nreturn ok, e", chunkName: "=script")
        #expect(r[0] == false)
        #expect(r[1].stringValue == "script:2: refused on purpose")
    }

    /// A table raised by Lua code, caught by Swift (a host function that ran
    /// that code) and thrown on, reaches the Lua code around it as the same table.
    @Test func anErrorTableTravelsBackThroughSwiftUnchanged() throws {
        let vm = LuaVM()
        vm.register("inner") { [unowned vm] args in try vm.call(args[0]) }
        let r = try vm.run("""
            local mine = {why = 'mine'}
            local ok, e = pcall(inner, function() error(mine) end)
            return ok, rawequal(e, mine), type(e) == 'table' and e.why
            """, chunkName: "=t")
        #expect(r == [false, true, "mine"])
        let e = #expect(throws: LuaError.self) { try vm.run("error({})", chunkName: "=t") }
        #expect(e?.message == "(error object is a table value)")
    }

    @Test func uncaughtSwiftErrorReachesTheHostIntact() {
        let vm = LuaVM()
        vm.register("refuse") { _ in throw Refused() }
        #expect(throws: Refused.self) { try vm.run("refuse()", chunkName: "=t") }
    }

    /// Every error thrown from Swift is released again, and the Lua heap does not grow.
    @Test func throwing100kTimesInsidePcallLeaksNothing() throws {
        let vm = LuaVM()
        vm.register("refuse") { _ in throw TrackedError() }
        let code = "local n = 0 for i = 1, 100000 do if not pcall(refuse, i, 'x') then n = n + 1 end end return n"
        _ = try vm.run(code, chunkName: "=warm")   // reach a steady state first
        _ = try vm.run("collectgarbage()", chunkName: "=gc")
        let luaBefore = vm.memoryInUse
        #expect(try vm.run(code, chunkName: "=t") == [100_000])
        _ = try vm.run("collectgarbage()", chunkName: "=gc")
        let luaGrowth = Int(vm.memoryInUse) - Int(luaBefore)
        #expect(luaGrowth < 16 * 1024, "Lua heap grew by \(luaGrowth) bytes")
        #expect(TrackedError.Token.live.load(ordering: .relaxed) <= 1, "\(TrackedError.Token.live.load(ordering: .relaxed)) thrown errors are still alive")
    }

    @Test func luaErrorPassesThroughASwiftFunctionUnchanged() throws {
        let vm = LuaVM()
        vm.register("through") { args in try vm.call(args[0]) }
        let code = """
            local sentinel = {code = 7}
            local ok, e = pcall(through, function() error(sentinel) end)
            local ok2, e2 = pcall(through, function() error("plain", 0) end)
            return ok, e == sentinel, e.code, ok2, e2
            """
        #expect(try vm.run(code, chunkName: "=t") == [false, true, 7, false, "plain"])
    }

    @Test func functionsCanLiveInATable() throws {
        let vm = LuaVM()
        vm.register("twice", in: "util") { args in [.integer((args[0].integerValue ?? 0) * 2)] }
        #expect(try vm.run("return util.twice(21)", chunkName: "=t") == [42])
    }

    @Test func swiftFunctionsWorkFromCoroutines() throws {
        let vm = LuaVM()
        vm.register("echo") { args in args }
        let code = "local co = coroutine.wrap(function(a) local b = coroutine.yield(echo(a)) return echo(b, 'z') end) return co('x'), co('y')"
        #expect(try vm.run(code, chunkName: "=t") == ["x", "y", "z"])
    }
}

/// An error that counts its live instances: a leak of thrown errors shows up as a count.
struct TrackedError: Error, LuaRaisable {
    final class Token: Sendable {
        static let live = Atomic<Int>(0)
        init() { Token.live.add(1, ordering: .relaxed) }
        deinit { Token.live.subtract(1, ordering: .relaxed) }
    }
    let token = Token()
    var luaMessage: String { "tracked" }
}
