import Foundation
import Synchronization
import Testing
@testable import HookVM

@Suite struct LimitTests {
    @Test(arguments: ["while true do end", "while true do pcall(function() while true do end end) end",
                      "repeat local ok = pcall(error, 'x') until false"])
    func endlessLoopStopsWithError32(code: String) throws {
        let vm = LuaVM(limits: .init(time: 0.5))
        vm.setWatchdogClock(steppingClock)
        let error = #expect(throws: LuaError.self) { try vm.callHook(1, code: code, bhin: [], returns: fileHook) }
        #expect(error?.kind == .timeLimit)
        #expect(error?.message.hasPrefix("hook1: time limit exceeded") == true)
        // The state is usable afterwards, and the next call has its own full budget.
        #expect(try vm.callHook(1, code: "bhout = 'ok'", bhin: [], returns: fileHook).bhout == "ok")
    }

    /// Lua's hooks are per thread: code in a coroutine is stopped too, be the
    /// coroutine made before the limit was reached or after. Each loop ends
    /// by itself after 2 to 3 s, so a limit that misses it fails instead of hanging.
    @Test(arguments: [
        "coroutine.wrap(function() local t = os.time() while os.time() - t < 3 do end end)()",
        "local co = coroutine.create(function() local t = os.time() while os.time() - t < 3 do pcall(function() end) end end) repeat until not coroutine.resume(co) or coroutine.status(co) == 'dead'",
        "local co = coroutine.wrap(function() while true do coroutine.yield() end end) local t = os.time() while os.time() - t < 3 do pcall(co) end",
        "coroutine.wrap(function() coroutine.wrap(function() local t = os.time() while os.time() - t < 3 do end end)() end)()",
    ])
    func codeInACoroutineStopsWithError32(code: String) throws {
        let vm = LuaVM(limits: .init(time: 0.5))
        let error = #expect(throws: LuaError.self) { try vm.callHook(1, code: code, bhin: [], returns: fileHook) }
        #expect(error?.kind == .timeLimit, "\(String(describing: error))")
        #expect(try vm.callHook(1, code: "bhout = coroutine.wrap(function() return 'ok' end)()", bhin: [], returns: fileHook).bhout == "ok")
    }

    /// Processes whose command line holds `marker`.
    func processes(_ marker: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.filter { $0.first!.isNumber }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(marker)
        }
    }

    /// A program a hook waits for is under the hook's time limit: it and all
    /// it started are killed (a simple command, a pipeline, a script's child;
    /// run by os.execute, or read or written through io.popen).
    @Test(arguments: [("os.execute('sleep 3.1')", ["sleep 3.1"]),
                      ("os.execute('sleep 3.2 | sleep 3.3')", ["sleep 3.2", "sleep 3.3"]),
                      ("os.execute([[sh -c 'sleep 3.4; true'; true]])", ["sleep 3.4"]),
                      ("bhout = io.popen('sleep 3.5; echo late'):read('a')", ["sleep 3.5"]),
                      ("local f = io.popen('sleep 3.6', 'w') f:write('x') f:close()", ["sleep 3.6"])])
    func aProgramAHookWaitsForIsKilledAtTheLimit(code: String, leftovers: [String]) throws {
        let vm = LuaVM(limits: .init(time: 0.5))
        let error = #expect(throws: LuaError.self) {
            try vm.callHook(1, code: code + " bhout = 'waited it out'", bhin: [], returns: fileHook)
        }
        #expect(error?.kind == .timeLimit, "\(String(describing: error))")
        // A killed process leaves /proc at once; an unkilled one would run on for three seconds.
        for _ in 0..<100 where leftovers.contains(where: { !processes($0).isEmpty }) { usleep(10_000) }
        for marker in leftovers { #expect(processes(marker).isEmpty, "still running: \(marker)") }
    }

    /// A program a hook left running, not waited for, is the hook's own
    /// business: a later call's limit does not kill it.
    @Test func aProgramLeftRunningOutlivesALaterTrip() throws {
        let vm = LuaVM(limits: .init(time: 0.3))
        _ = try vm.callHook(1, code: "kept = io.popen('sleep 2.9; echo done')", bhin: [], returns: fileHook)
        _ = #expect(throws: LuaError.self) { try vm.callHook(1, code: "while true do end", bhin: [], returns: fileHook) }
        #expect(try vm.run("return kept:read('a')", chunkName: "=t") == ["done\n"])
    }

    /// os.execute and io.popen answer as Lua's own do.
    @Test func osExecuteKeepsItsResults() throws {
        let vm = LuaVM()
        let code = """
            local function all(...) local t = table.pack(...) for i = 1, t.n do t[i] = tostring(t[i]) end return table.concat(t, ' ') end
            local function closed(f, ...) return all(f:close()) end
            return all(os.execute()), all(os.execute('true')), all(os.execute('exit 3')), all(os.execute('kill -9 $$')),
                   io.popen('echo hi'):read('a'), closed(io.popen('exit 4')), closed(io.popen('cat >/dev/null', 'w')),
                   select(2, pcall(io.popen, 'true', 'rw'))
            """
        #expect(try vm.run(code, chunkName: "=t") == ["true", "true exit 0", "nil exit 3", "nil signal 9",
                                                      "hi\n", "nil exit 4", "true exit 0",
                                                      "bad argument #2 to 'io.popen' (invalid mode)"])
    }

    @Test func hugeTableStopsWithError33AndTheStateStaysUsable() throws {
        let vm = LuaVM(limits: .init(memory: 32 << 20))
        for code in ["local t = {} for i = 1, 1e9 do t[i] = {i} end",
                     "local t = {} for i = 1, 1e9 do pcall(function() t[#t + 1] = string.rep('x', 100) .. i end) end"] {
            let e = #expect(throws: LuaError.self) { try vm.callHook(1, code: code, bhin: [], returns: fileHook) }
            #expect(e?.kind == .memoryLimit)
            #expect(vm.memoryInUse < 8 << 20, "garbage was collected")
            #expect(try vm.callHook(1, code: "local t = {} for i = 1, 1000 do t[i] = i end bhout = tostring(#t)", bhin: [], returns: fileHook).bhout == "1000")
        }
    }

    /// Garbage near the cap is collected (Lua's emergency collection), not an error.
    @Test func garbageNearTheCapIsNotAnError() throws {
        let vm = LuaVM(limits: .init(memory: 24 << 20))
        let code = "for i = 1, 40 do local junk = {} for j = 1, 20000 do junk[j] = {j} end end bhout = 'done'"
        #expect(try vm.callHook(1, code: code, bhin: [], returns: fileHook).bhout == "done")
    }

    @Test func aTimeoutInANestedHookStopsTheOuterCallToo() throws {
        let vm = LuaVM(limits: .init(time: 0.3))
        vm.register("inner") { _ in _ = try vm.callHook(2, code: "while true do end", bhin: [], returns: HookSignature()); return [] }
        let e = #expect(throws: LuaError.self) { try vm.callHook(1, code: "pcall(inner) while true do end", bhin: [], returns: fileHook) }
        #expect(e?.kind == .timeLimit)
        // The same from inside a coroutine, whose thread the inner hook then runs on.
        let inCoroutine = "coroutine.wrap(function() pcall(inner) local t = os.time() while os.time() - t < 3 do end end)()"
        let e2 = #expect(throws: LuaError.self) { try vm.callHook(1, code: inCoroutine, bhin: [], returns: fileHook) }
        #expect(e2?.kind == .timeLimit)
    }

    /// Ctrl-C in `bmlua shell`, `run`, `eval`: the running code stops with
    /// "interrupted!", a pcall inside (or a Swift function between, or a
    /// coroutine) cannot swallow it, and the state runs the next code normally. An interrupt
    /// while nothing runs is lost, not kept for the next code.
    @Test func interruptStopsTheRunningCodeOnly() throws {
        // Timed only so that a broken interrupt fails (error 32) instead of hanging.
        let vm = LuaVM(limits: .init(time: 5))
        vm.register("inner") { _ in try vm.run("while true do end", chunkName: "=inner") }
        // interrupt() is the one call another thread may make (a signal
        // handler's, in bmlua); the checker cannot know, so it is told.
        nonisolated(unsafe) let target = vm
        // The coroutine's loop ends by itself, so a missed interrupt fails rather than hangs.
        for (n, code) in ["while true do pcall(function() while true do end end) end", "while true do pcall(inner) end",
                          "coroutine.wrap(function() local t = os.time() while os.time() - t < 3 do end end)()"].enumerated() {
            let done = Atomic<Bool>(false), gone = Atomic<Bool>(false)
            let poker = Thread {
                while !done.load(ordering: .relaxed) { target.interrupt(); usleep(20_000) }
                gone.store(true, ordering: .relaxed)
            }
            poker.start()
            let e = #expect(throws: LuaError.self) { _ = try vm.callHook(1, code: code, bhin: [], returns: fileHook) }
            done.store(true, ordering: .relaxed)
            while !gone.load(ordering: .relaxed) { usleep(1000) }
            #expect(e?.interrupted == true && e?.message == "hook1: interrupted!", "\(String(describing: e))")
            #expect(try vm.run("x = (x or 0) + 1 return x", chunkName: "=stdin") == [.integer(Int64(n + 1))])
        }
        vm.interrupt()
        #expect(try vm.run("local n = 0 for i = 1, 1e6 do n = n + 1 end return n", chunkName: "=stdin") == [.integer(1_000_000)])
    }

    @Test func scriptsAreNotTimed() throws {
        let vm = LuaVM(limits: .init(time: 0.1))
        #expect(try vm.run("local t = os.clock() while os.clock() - t < 0.3 do end return 1", chunkName: "=t") == [1])
    }
}

/// A watchdog clock that reads no wall: each look at it is a tenth of a
/// second later, so a limit is reached after a count of looks, however busy
/// the machine (an endless loop would otherwise need the wall clock to end).
let steppingClock: @convention(c) () -> UInt64 = { WatchdogClock.stepped.add(100_000_000, ordering: .relaxed).newValue }

/// A clock only the test moves (`advance(milliseconds)` in Lua).
let manualClock: @convention(c) () -> UInt64 = { WatchdogClock.manual.load(ordering: .relaxed) }

enum WatchdogClock {
    static let stepped = Atomic<UInt64>(0)
    static let manual = Atomic<UInt64>(0)
}

/// The time limit on the watchdog's own clock: a call is stopped once that
/// clock says it ran past the limit, and never before, however long it takes
/// by the wall. One clock for the suite, so its tests take turns.
@Suite(.serialized) struct WatchdogClockTests {
    func vm(limit: Double) -> LuaVM {
        let vm = LuaVM(limits: .init(time: limit))
        vm.setWatchdogClock(manualClock)
        vm.register("advance") { args in
            WatchdogClock.manual.add(UInt64(max(0, args.first?.integerValue ?? 0)) * 1_000_000, ordering: .relaxed)
            return []
        }
        return vm
    }

    @Test func aCallIsNotStoppedBeforeItsClockReachesTheLimit() throws {
        let vm = vm(limit: 0.5)
        // Longer than the limit by the wall, shorter by the clock.
        let slow = "advance(400) local t = os.clock() while os.clock() - t < 0.6 do end bhout = 'finished'"
        #expect(try vm.callHook(1, code: slow, bhin: [], returns: fileHook).bhout == "finished")
        // Each call has its own budget: 400 ms again is still under the limit.
        #expect(try vm.callHook(1, code: slow, bhin: [], returns: fileHook).bhout == "finished")
    }

    @Test func aCallPastTheLimitOnItsClockStopsWithError32() throws {
        let vm = vm(limit: 0.5)
        // The clock moves while the call runs (the watchdog starts counting
        // when it first sees the call), at about the wall's pace: far below
        // the grace period that would end the process.
        let endless = "while true do advance(10) local t = os.clock() while os.clock() - t < 0.01 do end end"
        let e = #expect(throws: LuaError.self) { try vm.callHook(1, code: endless, bhin: [], returns: fileHook) }
        #expect(e?.kind == .timeLimit)
        #expect(e?.message.hasPrefix("hook1: time limit exceeded (0.5 s)") == true, "\(String(describing: e))")
        #expect(try vm.callHook(1, code: "bhout = 'ok'", bhin: [], returns: fileHook).bhout == "ok")
    }
}
