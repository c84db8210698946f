import Foundation
import Testing
@testable import HookVM

let fileHook = HookSignature(bhout: .string)
let errorHook = HookSignature(bhout: .number, bhout2: .string)

@Suite struct HookProtocolTests {
    @Test func bhinIsSetAndOutputsAreRead() throws {
        let vm = LuaVM()
        let out = try vm.callHook(6, code: "bhout = bhin[1] .. '.gz'; bhout2 = bhin[5] .. '!' ",
                                  bhin: ["/a/b", "/a/b", "b", 3, "note", 2], returns: HookSignature(bhout: .string, bhout2: .string))
        #expect(out.bhout == "/a/b.gz")
        #expect(out.bhout2 == "note!")
    }

    /// The fresh sequence of design.md, "The hook call": a hook that keeps `bhin` finds it as it was.
    @Test func bhinIsAFreshTableOnEveryCall() throws {
        let vm = LuaVM()
        _ = try vm.callHook(1, code: "kept = bhin", bhin: ["/first", "/first", "first", 0, false], returns: fileHook)
        let out = try vm.callHook(1, code: "bhout = tostring(kept ~= bhin) .. ' ' .. kept[1] .. ' ' .. #kept",
                                  bhin: ["/second", "/second", "second", 0], returns: fileHook)
        #expect(out.bhout == "true /first 5")
    }

    /// A string repeated from the value before is passed once; a repeated
    /// table is still a table of its own.
    @Test func repeatedValuesInBhinArriveIntact() throws {
        let vm = LuaVM()
        let out = try vm.callHook(6, code: """
            assert(#bhin == 8 and not rawequal(bhin[7], bhin[8]))
            bhout = table.concat({bhin[1], bhin[2], bhin[3], bhin[4], bhin[5], bhin[6], bhin[7][1], bhin[8][1]}, ',')
            """, bhin: ["/a/b", "/a/b", "", "", .string([0, 1]), .string([0, 1]), ["x"], ["x"]], returns: fileHook)
        #expect(out.bhout == .string(Array("/a/b,/a/b,,,".utf8) + [0, 1, UInt8(ascii: ","), 0, 1] + Array(",x,x".utf8)))
    }

    @Test func outputsStartNilOnEveryCall() throws {
        let vm = LuaVM()
        _ = try vm.callHook(1, code: "bhout = 'x'", bhin: [], returns: fileHook)
        let out = try vm.callHook(1, code: "assert(bhout == nil and bhout2 == nil)", bhin: [], returns: fileHook)
        #expect(out.bhout == .nil)
    }

    @Test func bhtempIsClearedBetweenCalls() throws {
        let vm = LuaVM()
        _ = try vm.callHook(2, code: "bhtemp = 'kept?'", bhin: [], returns: HookSignature())
        let out = try vm.callHook(1, code: "bhout = tostring(bhtemp)", bhin: [], returns: fileHook)
        #expect(out.bhout == "nil")
    }

    @Test func hostTempFileInBhtempIsDeletedByTheNextCall() throws {
        try withScratchDirectory { dir in
            let vm = LuaVM(tempDirectory: dir)
            vm.register("tempfile", in: "bm") { [unowned vm] _ in [.string(try vm.makeTempFile())] }   // as BackupSys does
            let out = try vm.callHook(1, code: "bhtemp = bm.tempfile(); bhout = bhtemp", bhin: [], returns: fileHook)
            let temp = try #require(out.bhout.stringValue)
            #expect(temp.hasPrefix(dir))
            #expect(FileManager.default.fileExists(atPath: temp))
            _ = try vm.callHook(2, code: "", bhin: [], returns: HookSignature())
            #expect(!FileManager.default.fileExists(atPath: temp))
        }
    }

    @Test func aUserFileInBhtempIsNeverDeleted() throws {
        try withScratchDirectory { dir in
            let mine = dir + "/mine.txt"
            try "precious".write(toFile: mine, atomically: true, encoding: .utf8)
            let vm = LuaVM(tempDirectory: dir)
            vm.register("tempfile", in: "bm") { [unowned vm] _ in [.string(try vm.makeTempFile())] }   // as BackupSys does
            _ = try vm.callHook(1, code: "bhtemp = bhin[1]", bhin: [.string(mine)], returns: fileHook)
            _ = try vm.callHook(1, code: "", bhin: [], returns: fileHook)
            vm.close()
            #expect(try String(contentsOfFile: mine, encoding: .utf8) == "precious")
        }
    }

    @Test func closingClearsBhtempAndItsFile() throws {
        try withScratchDirectory { dir in
            let vm = LuaVM(tempDirectory: dir)
            vm.register("tempfile", in: "bm") { [unowned vm] _ in [.string(try vm.makeTempFile())] }   // as BackupSys does
            let out = try vm.callHook(1, code: "bhtemp = bm.tempfile(); bhout = bhtemp", bhin: [], returns: fileHook)
            vm.close()
            #expect(!FileManager.default.fileExists(atPath: out.bhout.stringValue!))
        }
    }

    @Test func wrongOutputTypeIsError31() {
        let vm = LuaVM()
        let e = #expect(throws: LuaError.self) { try vm.callHook(1, code: "bhout = 42", bhin: [], returns: fileHook) }
        #expect(e?.kind == .wrongType)
        #expect(e?.message.contains("bhout must be a string") == true)
        let e2 = #expect(throws: LuaError.self) { try vm.callHook(9, code: "bhout2 = {}", bhin: [], returns: errorHook) }
        #expect(e2?.kind == .wrongType)
    }

    @Test func codeThatDoesNotCompileIsError34WithItsLine() {
        let vm = LuaVM()
        let e = #expect(throws: LuaError.self) { try vm.callHook(3, code: "local a = 1\nlocal b = = 2", bhin: [], returns: fileHook) }
        #expect(e?.kind == .syntax)
        #expect(e?.message.hasPrefix("hook3:2:") == true, "\(e?.message ?? "")")
    }

    @Test func binaryChunksAreRefused() throws {
        let vm = LuaVM()
        let dumped = try vm.run("return string.dump(function() return 1 end)", chunkName: "=t")[0]
        let code = String(decoding: dumped.bytesValue!, as: UTF8.self)
        let e = #expect(throws: LuaError.self) { try vm.callHook(1, code: code, bhin: [], returns: fileHook) }
        #expect(e?.kind == .syntax)
    }

    @Test func runtimeErrorsNameTheHookAndThePlace() throws {
        let vm = LuaVM()
        try vm.define("hdtstamp", code: "local h = ...\nlocal t = nil\nreturn t.x")
        let e = #expect(throws: LuaError.self) { try vm.callHook(3, code: "hdtstamp(3)", bhin: [], returns: fileHook) }
        #expect(e?.kind == .runtime)
        #expect(e?.message.hasPrefix("hook3: hdtstamp:3: attempt to index a nil value") == true, "\(e?.message ?? "")")
    }

    @Test func routinesReceiveTheirArguments() throws {
        let vm = LuaVM()
        try vm.define("double", code: "local n = ...\nbhout = tostring(n * 2)")
        #expect(try vm.callHook(1, code: "double(21)", bhin: [], returns: fileHook).bhout == "42")
    }

    @Test func globalsPersistBetweenHooks() throws {
        let vm = LuaVM()
        _ = try vm.callHook(2, code: "counter = (counter or 0) + 1", bhin: [], returns: HookSignature())
        let out = try vm.callHook(1, code: "counter = counter + 1; bhout = tostring(counter)", bhin: [], returns: fileHook)
        #expect(out.bhout == "2")
    }

    @Test func osExitIsRemoved() throws {
        let vm = LuaVM()
        let e = #expect(throws: LuaError.self) { try vm.callHook(1, code: "os.exit(3)", bhin: [], returns: fileHook) }
        #expect(e?.kind == .runtime)
        #expect(try vm.run("return os.exit, os.time ~= nil", chunkName: "=t") == [.nil, true])
    }

    @Test func compiledChunksAreCached() throws {
        let vm = LuaVM()
        _ = try vm.callHook(1, code: "x = 1", bhin: [], returns: fileHook)
        let first = try vm.compiled("x = 1", chunkName: "=hook1")
        #expect(try vm.compiled("x = 1", chunkName: "=hook1") == first)
        #expect(try vm.compiled("x = 2", chunkName: "=hook1") != first)
    }
}

/// Runs `body` with a new directory under the system temp folder, removed afterwards
/// whatever the test left in it.
func withScratchDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bmlua-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}
