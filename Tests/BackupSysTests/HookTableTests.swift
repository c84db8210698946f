import Foundation
import Testing
@testable import BackupSys
import TestSupport
@testable import HookVM

/// Each hook gets exactly the bhin of design.md, "Operations and their hooks", and its outputs take effect.
@Suite struct HookTableTests {
    let record = "recorded = recorded or {}; recorded[#recorded + 1] = bhin"

    func recorded(_ f: Fixture) throws -> [LuaValue] {
        guard case .list(let calls) = try f.global("recorded") else { return [] }
        return calls
    }

    @Test func newbuGivesHooks1And2TheirBhin() throws {
        let f = try Fixture()
        let path = try f.file("notes.txt", "hello")
        try f.hook(1, record)
        try f.hook(2, record)
        let i = try f.bd.newbu(path)
        let calls = try recorded(f)
        #expect(calls.count == 2)
        #expect(calls[0] == [.string(path), .string(path), "notes.txt", .integer(0), false])
        #expect(calls[1] == [.string(path), .string(path), "notes.txt", .integer(i), false])
        if case .list(let b) = calls[1] { #expect(b[3].type == .number && b[4].type == .boolean) }
    }

    @Test func updbuGivesHook3ItsBhin() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "1")
        let i = try f.bd.newbu(path)
        try f.hook(3, record)
        try f.bd.updbu(i)
        #expect(try recorded(f) == [[.string(path), .string(path), "a.txt", .integer(i)]])
    }

    @Test func restbuGivesHook4ItsBhin() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "1")
        let i = try f.bd.newbu(path)
        let v = try f.bd.newver(i)
        try f.hook(4, record)
        try f.bd.restbu(i, version: v, overwrite: true)
        let object = f.bd.objects.path(of: try f.bd.versions(of: i)[0].data.object)
        #expect(try recorded(f) == [[.string(path), .string(object), "a.txt", .integer(i), .integer(v), true]])
    }

    @Test func delbuGivesHook5ItsBhin() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "1")
        let i = try f.bd.newbu(path)
        try f.hook(5, record)
        try f.bd.delbu(i)
        #expect(try recorded(f) == [[.string(path), .string(path), "a.txt", .integer(i), false]])
    }

    @Test func versionHooks6To8GetTheirBhin() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "1")
        let i = try f.bd.newbu(path)
        for n in 6...8 { try f.hook(n, record) }
        let v = try f.bd.newver(i, comment: "first")
        try f.bd.cmtver(i, v, comment: "renamed")
        try f.bd.delver(i, v)
        #expect(try recorded(f) == [
            [.string(path), .string(path), "a.txt", .integer(i), "first", .integer(1)],
            [.string(path), .string(path), "a.txt", .integer(i), "renamed", .integer(1)],
            [.string(path), .string(path), "a.txt", .integer(i), .integer(1)],
        ])
    }

    @Test func errorHooks9And10GetTheirBhin() throws {
        let f = try Fixture()
        try f.hook(9, record)
        try f.hook(10, record)
        _ = f.bd.handle(BMError(13, "x", path: "/a/b"), dialog: true, pass: false)
        _ = f.bd.handle(BMError(number: 15000, message: "?", path: "/c"), dialog: false, pass: true)
        #expect(try recorded(f) == [
            [.integer(13), "/a/b", true, false],
            [.integer(15000), "/c", false, true],
            [.integer(15000), "/c", false, true],
        ])
    }

    // MARK: outputs

    static let upcase = """
        local src = assert(io.open(bhin[2], "rb")); local data = src:read("a"); src:close()
        bhtemp = bm.tempfile()
        local out = assert(io.open(bhtemp, "wb")); out:write(data:upper()); out:close()
        bhout = bhtemp
        """

    @Test func hook1ReturningAFileStoresThatFile() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "quiet words")
        try f.hook(1, Self.upcase)
        let b = try f.bd.backup(try f.bd.newbu(path))
        #expect(try f.objectBytes(b.data.object) == "QUIET WORDS")
        #expect(try f.read(path) == "quiet words")
    }

    @Test func hook3And6ReturningAFileStoreThatFile() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "one")
        let i = try f.bd.newbu(path)
        try f.hook(3, Self.upcase)
        try f.hook(6, Self.upcase + "\nbhout2 = 'from hook 6'")
        try f.file("a.txt", "two")
        try f.bd.updbu(i)
        #expect(try f.objectBytes(f.bd.backup(i).data.object) == "TWO")
        let v = try f.bd.newver(i, comment: "asked")
        let version = try f.bd.versions(of: i).first { $0.index == v }!
        #expect(try f.objectBytes(version.data.object) == "TWO")
        #expect(version.comment == "from hook 6")
    }

    @Test func hook4ReturningAFileRestoresThoseBytes() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "stored")
        let i = try f.bd.newbu(path)
        try f.hook(4, Self.upcase)
        try f.bd.restbu(i, overwrite: true)
        #expect(try f.read(path) == "STORED")
    }

    @Test func hook7BhoutIsTheCommentSaved() throws {
        let f = try Fixture()
        let i = try f.bd.newbu(try f.file("a.txt", "x"))
        let v = try f.bd.newver(i, comment: "a")
        try f.hook(7, "bhout = '[' .. bhin[5] .. ']'")
        try f.bd.cmtver(i, v, comment: "b")
        #expect(try f.bd.versions(of: i)[0].comment == "[b]")
    }

    @Test func hook9RemappingANumberChangesTheMessage() throws {
        let f = try Fixture()
        try f.hook(9, "if bhin[1] == 13 then bhout = 14 end")
        let e = f.bd.handle(BMError(13, "no backup has index 9"))
        #expect(e.number == 14)
        #expect(e.message == "Version not found")
        try f.hook(9, "bhout2 = 'custom: ' .. bhin[2]")
        #expect(f.bd.handle(BMError(10, path: "/x/y")).message == "custom: /x/y")
    }

    @Test func hook10NamesUnknownErrorsAndOtherwiseTheyAreBugs() throws {
        let f = try Fixture()
        #expect(f.bd.handle(BMError(number: 15000, message: "")).message == "Unknown error 15000--probably a bug.")
        try f.hook(10, "if bhin[1] == 15000 then bhout = 15000; bhout2 = 'Not enough RAM' end")
        let e = f.bd.handle(BMError(number: 15000, message: ""))
        #expect(e.number == 15000 && e.message == "Not enough RAM")
        // A message given with the error (passerr(n, message)) stands, unless hook 10 gives one.
        try f.hook(10, "")
        #expect(f.bd.handle(BMError(number: 20001, message: "swap files are not backed up")).message == "swap files are not backed up")
        // Hook 10 is not consulted for numbers the table knows.
        #expect(f.bd.handle(BMError(13)).message == "Backup not found")
    }

    @Test func wrongOutputTypeFailsTheOperationWithError31() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "x")
        try f.hook(1, "bhout = 7")
        expectError(31) { try f.bd.newbu(path) }
        #expect(try f.bd.backups().isEmpty)
    }

    @Test func globalsSetByOneHookAreSeenByTheNext() throws {
        let f = try Fixture()
        try f.hook(1, "seen_in_1 = bhin[3]")
        try f.hook(2, "bm.log('hook 2 sees ' .. seen_in_1)")
        try f.bd.newbu(try f.file("a.txt", "x"))
        #expect(f.bd.logLines == ["hook 2 sees a.txt"])
    }
}
