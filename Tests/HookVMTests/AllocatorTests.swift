import LuaHost
import Testing
@testable import HookVM

/// The allocator keeps freed small blocks for reuse (LuaHost's allocator.c):
/// data must survive every move between its size classes and malloc's.
@Suite struct AllocatorTests {
    @Test func dataSurvivesGrowingAndShrinkingAcrossEverySizeClass() throws {
        let vm = LuaVM()
        // Tables grow element by element (array parts of 16-byte slots cross
        // the 256-byte line at 17 elements), strings of every length up to 600
        // bytes are made and dropped, and a full collection runs in between.
        let code = """
            local ok = true
            for n = 1, 40 do
              local t = {}
              for i = 1, n do t[i] = string.rep(string.char(64 + i % 26), i) end
              collectgarbage()
              for i = 1, n do ok = ok and t[i] == string.rep(string.char(64 + i % 26), i) end
              for i = n, 1, -1 do t[i] = nil end
            end
            local parts = {}
            for len = 1, 600 do parts[len] = string.rep('x', len) .. len end
            collectgarbage()
            for len = 1, 600 do ok = ok and parts[len] == string.rep('x', len) .. len end
            return ok
            """
        for _ in 0..<3 { #expect(try vm.run(code, chunkName: "=alloc") == [true]) }
    }

    @Test func theKeptBlocksStayWithinTheirBudget() throws {
        let vm = LuaVM()
        try vm.run("local t = {} for i = 1, 200000 do t[i] = {i} end t = nil collectgarbage()", chunkName: "=alloc")
        #expect(vm.pooledBytes <= Int(BMLUA_POOL_BYTES))
        #expect(vm.pooledBytes > 0, "freed small blocks are kept for reuse")
        // What Lua holds is what it had before the burst: the accounting saw every free.
        #expect(vm.memoryInUse < 1 << 20)
    }
}
