import Foundation
import Testing
@testable import BackupSys
import TestSupport
@testable import HookVM

/// The ported Backup Manager 3 examples in hooks/examples, installed as a user would.
@Suite struct ExampleHookTests {
    static let examples = packageRoot + "/hooks/examples"

    func install(_ routine: String, in f: Fixture) throws {
        try f.bd.setRoutine(routine, code: String(contentsOfFile: "\(Self.examples)/\(routine).lua", encoding: .utf8))
        let script = try String(contentsOfFile: "\(Self.examples)/install-\(routine).lua", encoding: .utf8)
        _ = try f.bd.runScript(script, name: "@install-\(routine).lua")
    }

    static let scenario = "openbd(); local ok = pcall(passerr, 15000); if not ok then errh(\"foo/bar\", true, false) end; closebd()"

    @Test func hnewerrNamesError15000() throws {
        let f = try Fixture()
        try install("hnewerr", in: f)
        #expect(try f.bd.bhooks()?[9] == "hnewerr(10)")
        _ = try f.bd.runScript(Self.scenario, name: "=eval")
        #expect(f.messages.contains { $0.hasSuffix("Not enough RAM to compress bar") }, "\(f.messages)")
    }

    @Test func withoutTheHook15000IsABug() throws {
        let f = try Fixture()
        _ = try f.bd.runScript(Self.scenario, name: "=eval")
        #expect(f.messages.contains { $0.hasSuffix("Unknown error 15000--probably a bug.") }, "\(f.messages)")
    }

    @Test func errhReturnsAndPassesTheHandledError() throws {
        let f = try Fixture()
        try install("hnewerr", in: f)
        let r = try f.bd.runScript("errornum = 15000; return errh('a/b.txt', false, false)", name: "=t")
        #expect(r == [15000, "Not enough RAM to compress b.txt"])
        expectError(15000) { _ = try f.bd.runScript("errornum = 15000; errh('a/b.txt', false, true)", name: "=t") }
    }

    @Test func hdtstampStampsBackupAndUpdate() throws {
        let f = try Fixture()
        try install("hdtstamp", in: f)
        let stamp = { () -> String in
            let d = DateFormatter()
            d.dateFormat = "yyyy-MM-dd HH:mm"
            return d.string(from: Date())
        }
        // The minute the hook ran in: the one before or the one after the call (the clock may turn a minute in between).
        func stamped(by call: () throws -> Void) throws -> Bool {
            let before = stamp()
            try call()
            let after = stamp()
            guard let value = try f.bd.details(1).fields.first(where: { $0.name == "DTStamp" })?.value.stringValue else { return false }
            return value.hasPrefix(before) || value.hasPrefix(after)
        }
        let path = try f.file("a.txt", "x")
        #expect(try stamped { _ = try f.bd.newbu(path) })
        try f.bd.setFieldValue("DTStamp", owner: 1, .string(Array("old".utf8)))
        #expect(try stamped { try f.bd.updbu(1) })
    }

    @Test func installersRefuseToReplaceAnotherHook() throws {
        let f = try Fixture()
        try f.hook(2, "someone_elses_hook()")
        expectError(35) { try install("hdtstamp", in: f) }
        #expect(try f.bd.bhooks()?[1] == "someone_elses_hook()")
        // All slots or none: hook 2 free and 3 taken leaves 2 free.
        let g = try Fixture()
        try g.hook(3, "someone_elses_hook()")
        expectError(35) { try install("hdtstamp", in: g) }
        #expect(try g.bd.bhooks()?[1] == "" && g.bd.bhooks()?[2] == "someone_elses_hook()")
        // Installing again over its own slots is fine.
        try install("hnewerr", in: f)
        try install("hnewerr", in: f)
        #expect(try f.bd.bhooks()?[9] == "hnewerr(10)")
    }

    @Test func gzipPairStoresGzipAndRestoresTheOriginal() throws {
        let f = try Fixture()
        try install("hgzip", in: f)
        let text = String(repeating: "compressible line of text\n", count: 2000)
        let path = try f.file("big.txt", text)
        let i = try f.bd.newbu(path)
        let b = try f.bd.backup(i)
        let stored = try Data(contentsOf: URL(fileURLWithPath: f.bd.objects.path(of: b.data.object)))
        #expect(stored.prefix(2) == Data([0x1f, 0x8b]))
        #expect(stored.count < text.utf8.count / 10)
        let v = try f.bd.newver(i, comment: "gz")
        unlink(path)
        try f.bd.restbu(i, version: v)
        #expect(try f.read(path) == text)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.root + "/tmp").isEmpty)
    }
}

@Suite struct LuaAPITests {
    @Test func closebdRefusesBadListsAndKeepsTheStoredOne() throws {
        let f = try Fixture()
        try f.hook(2, "x = 1")
        let stored = try f.bd.bhooks()
        expectError(22) { _ = try f.bd.runScript("openbd() bhooks = 'no' closebd()", name: "=t") }
        expectError(22) { _ = try f.bd.runScript("openbd() bhooks = {'','','','','','','','','','',''} closebd()", name: "=t") }
        expectError(34) { _ = try f.bd.runScript("openbd() bhooks[3] = 'if then' closebd()", name: "=t") }
        expectError(22) { _ = try f.bd.runScript("openbd() bhooks[4] = 7 closebd()", name: "=t") }
        #expect(try f.bd.bhooks() == stored)
    }

    @Test func bhooksIsAbsentUntilStoredAndPaddedToTen() throws {
        let f = try Fixture()
        #expect(try f.bd.runScript("openbd() local t = type(bhooks) closebd() return t", name: "=t") == ["nil"])
        _ = try f.bd.runScript("openbd() bhooks = {'a = 1'} closebd()", name: "=t")
        #expect(try f.bd.bhooks() == ["a = 1"] + Array(repeating: "", count: 9))
        _ = try f.bd.runScript("openbd() bhooks = nil closebd()", name: "=t")
        #expect(try f.bd.bhooks() == nil)
    }

    @Test func aScriptLeftOpenIsClosedForIt() throws {
        let f = try Fixture()
        _ = try f.bd.runScript("openbd() bhooks = {'', 'b = 2'}", name: "=t")
        #expect(try f.bd.bhooks()?[1] == "b = 2")
    }

    @Test func hooksSetRefusesToReplaceWithoutForce() throws {
        let f = try Fixture()
        try f.bd.setHook(2, code: "first()", force: false)
        expectError(35) { try f.bd.setHook(2, code: "second()", force: false) }
        try f.bd.setHook(2, code: "first()", force: false)   // the same code is no replacement
        expectError(34) { try f.bd.setHook(2, code: "if then", force: true) }
        #expect(try f.bd.bhooks()?[1] == "first()")
    }

    @Test func hooksTestRollsBackEverything() throws {
        let f = try Fixture()
        let i = try f.bd.newbu(try f.file("a.txt", "x"))
        try f.hook(2, "regbd('Mark', 'd'); bfvar[bhin[4]] = 'set'; bm.log('marked ' .. bhin[3]); bhout = 'ignored'")
        let before = try f.state()
        let r = try f.bd.testHook(2, bhin: ["/a", "/a", "a.txt", .integer(i), false])
        #expect(r.error == nil)
        #expect(r.log == ["marked a.txt"])
        #expect(try f.state() == before)
        try f.hook(9, "bhout = 'not a number'")
        #expect(try f.bd.testHook(9, bhin: Hook.sample(9)!.bhin).error?.number == 31)
    }

    @Test func fieldsPerBackupAndPerGroup() throws {
        let f = try Fixture()
        let i = try f.bd.newbu(try f.file("a.txt", "x"), .init(group: 3))
        let other = try f.bd.newbu(try f.file("b.txt", "y"))
        let r = try f.bd.runScript("""
            openbd()
            regbd('Owner', 'g'); bfvar[3] = 'team'
            regbd('Stars', 'd'); bfvar[\(i)] = 5
            getbd('Owner', 'g'); local owner = bfvar[3]
            local ok, e = pcall(getbd, 'Nope', 'd')
            local ok2 = pcall(regbd, 'Stars', 'd')
            return owner, ok, errornum, ok2, backup(\(i)).fields.Stars, #backups()
            """, name: "=t")
        #expect(r == ["team", false, 19, false, 5, 2])
        // A backup's fields are its own d values and its group's g values.
        #expect(try f.bd.details(i).fields.map(\.name) == ["Owner", "Stars"])
        #expect(try f.bd.details(i).fields.map(\.value) == [.string(Array("team".utf8)), .integer(5)])
        #expect(try f.bd.details(other).fields.isEmpty)
    }

    @Test func operationsFromLuaAndTheirErrors() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "x")
        let r = try f.bd.runScript("""
            local i = newbu(...)
            local v = newver(i, 'one')
            cmtver(i, v, 'uno')
            local ok, e = pcall(newbu, '/nonexistent/file')
            return i, v, backup(i).versions[1].comment, ok, errornum, e
            """, name: "=t", args: [.string(path)])
        #expect(r[0] == 1 && r[1] == 1 && r[2] == "uno" && r[3] == false && r[4] == 10)
        #expect(r[5].stringValue?.contains("error 10: File not found") == true, "\(r[5])")
        expectError(10) { _ = try f.bd.runScript("newbu('/nonexistent/file')", name: "=t") }
    }

    @Test func hookLimitsArePerRepository() throws {
        let f = try Fixture()
        try f.bd.setHookLimits(time: 0.3, memoryMiB: nil)
        try f.hook(1, "while true do end")
        expectError(32) { try f.bd.newbu(try f.file("a", "x")) }
        let reopened = try BackupDatabase(at: f.root)
        #expect(try reopened.hookLimits().time == 0.3)
        expectError(22) { try f.bd.setHookLimits(time: -1, memoryMiB: nil) }
    }

    @Test func routinesAreCalledByNameWithArguments() throws {
        let f = try Fixture()
        try f.bd.setRoutine("twice", code: "local n = ... return n * 2")
        #expect(try f.bd.runScript("return twice(21)", name: "=t") == [42])
        expectError(34) { try f.bd.setRoutine("bad", code: "if then") }
        expectError(22) { try f.bd.setRoutine("not a name", code: "") }
    }
}
