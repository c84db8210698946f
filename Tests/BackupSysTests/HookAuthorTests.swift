import Foundation
import Testing
@testable import BackupSys
import TestSupport
@testable import HookVM

/// The traps a hook author met, each closed (issue: the hook author's path).
@Suite struct HookAuthorTests {
    /// An error raised by passerr in a hook concerns the operation's file: hooks 9 and 10 get its path.
    @Test func passerrInAHookCarriesTheFile() throws {
        let f = try Fixture()
        let seen = f.base + "/seen"
        try f.hook(1, "passerr(20010, 'too big')")
        try f.hook(10, "local h = io.open('\(seen)', 'w') h:write(bhin[2]) h:close()")
        let path = try f.file("big.bin", "x")
        let e = expectError(20010) { try f.bd.newbu(path) }
        let handled = f.bd.handle(try #require(e))
        #expect(handled.path == Path(path) && (try? f.read(seen)) == path)
    }

    /// closebd() without openbd() would store a fresh list over everyone's hooks: error 40.
    @Test func closebdWithoutOpenbdIsError40AndKeepsTheHooks() throws {
        let f = try Fixture()
        try f.hook(2, "x = 1")
        expectError(40) { _ = try f.bd.runScript("bhooks = {'y = 2'} closebd()", name: "=t") }
        expectError(40) { _ = try f.bd.runScript("regbd('F', 'd')", name: "=t") }
        #expect(try f.bd.bhooks()?[1] == "x = 1")
        // Inside a hook the database is open: closebd() there leaves bhooks as stored.
        try f.hook(1, "bhooks = nil closebd()")
        try f.bd.newbu(try f.file("a.txt", "a"))
        #expect(try f.bd.bhooks()?[1] == "x = 1")
    }

    /// An error from `bfvar[i] = v` names the hook's line, and hook 1 says why it is too early.
    @Test func aFieldWriteInHook1NamesTheHooksLineAndWhy() throws {
        let f = try Fixture()
        try f.bd.registerField("early", type: "d")
        try f.hook(1, "getbd('early', 'd')\nbfvar[bhin[4]] = 'x'")
        let e = expectError(13) { try f.bd.newbu(try f.file("a.txt", "a")) }
        #expect(e?.place == "hook1:2" && e?.message.contains("set fields in hook 2") == true, "\(String(describing: e))")
    }

    /// backups() has the keys of `show --json`, versions included.
    @Test func backupsHasVersions() throws {
        let f = try Fixture()
        let i = try f.bd.newbu(try f.file("a.txt", "a"))
        try f.bd.newver(i, comment: "one")
        let r = try f.bd.runScript("return #backups()[1].versions, backups()[1].versions[1].comment", name: "=t")
        #expect(r == [1, "one"])
    }

    /// A run whose only news is the failures the last snapshot had records none.
    @Test func theSameFailuresAgainRecordNoSnapshot() throws {
        let s = try SnapshotFixture()
        try s.f.hook(1, "if bhin[1]:match('b%.txt$') then error('not this one') end")
        let first = try s.run(at: Date(timeIntervalSinceNow: -3600))
        #expect(first.sid != nil && first.failedFiles == 1)
        s.resetCalls()
        let again = try s.run()
        #expect(again.sid == nil && again.failedFiles == 1)
        #expect(try s.f.bd.snapshots().count == 1)
        #expect(try s.reasons() == ["7", "1", "4(6)", "2", "8"])
    }

    /// Hook 9's bhout is an error number: 1.5 is error 31 (a warning; the original error stands).
    @Test func aNonIntegerErrorNumberFromHook9IsError31() throws {
        let f = try Fixture()
        try f.hook(9, "bhout = 1.5")
        let e = f.bd.handle(BMError(10, "gone"))
        #expect(e.number == 10)
        #expect(f.messages.contains { $0.contains("error 31") }, "\(f.messages)")
    }

    /// With hooks off and a hook 4 set, a restore would write the stored bytes (ciphertext): only with --raw.
    @Test func noHooksWithAHook4NeedsRaw() throws {
        var o = SessionOptions()
        let f = try Fixture(options: o)
        try f.hook(4, "bhout = nil")
        let i = try f.bd.newbu(try f.file("a.txt", "a"))
        o.hooks = false
        f.bd.options.hooks = false
        expectError(22) { try f.bd.restbu(i, to: f.work + "/back.txt") }
        #expect(!FS.exists(f.work + "/back.txt"))
        f.bd.options.raw = true
        #expect(try f.bd.restbu(i, to: f.work + "/back.txt") == f.work + "/back.txt")
    }

    /// A file named `1` is `name:1`; `#2` and `index:2` are indices only.
    @Test func unambiguousBackupReferences() throws {
        let f = try Fixture()
        let a = try f.bd.newbu(try f.file("a.txt", "a"))
        let one = try f.bd.newbu(try f.file("1", "named one"))
        #expect(try f.bd.resolve("1").index == a)
        #expect(try f.bd.resolve("name:1").index == one)
        #expect(try f.bd.resolve("#\(one)").index == one && f.bd.resolve("index:\(a)").index == a)
        #expect(try f.bd.resolve("path:" + f.work + "/1").index == one)
        expectError(13) { _ = try f.bd.resolve("name:nope") }
    }
}

@Suite struct ScriptErrorTests {
    /// A script's Lua error says it is the script's, with a traceback, as lua.c does;
    /// a bmlua error keeps its number and place.
    @Test func aScriptErrorIsTheScriptsWithATraceback() throws {
        let f = try Fixture()
        let e = expectError(30) { _ = try f.bd.runScript("for i, b in ipairs(backups) do end", name: "=report") }
        #expect(e?.message.hasPrefix("Lua error in the script: ") == true && e?.message.contains("stack traceback:") == true
                && e?.message.contains("report:1: in main chunk") == true, "\(e?.message ?? "")")
        let own = expectError(13) { _ = try f.bd.runScript("local ok = pcall(delbu, 98)\ndelbu(99)", name: "=report") }
        #expect(own?.place == "report:2" && own?.message.contains("traceback") == false, "\(String(describing: own))")
    }

    /// `hooks test` without --bhin runs the hook on a real file.
    @Test func hooksTestRunsOnARealSampleFile() throws {
        let f = try Fixture()
        #expect(try Program.bmlua(["hooks", "set", "1", "local h = assert(io.open(bhin[2])) bm.log(h:read('l')) h:close()"], repo: f.root).status == 0)
        let r = try Program.bmlua(["hooks", "test", "1"], repo: f.root)
        #expect(r.status == 0 && r.stdout.contains("sample: a temporary file") && r.stdout.contains("log    | Notes for trying a hook"), "\(r.stdout) \(r.stderr)")
    }
}

@Suite struct CommandCleanUpTests {
    /// A failing command still runs its clean-up: the shell calls reason 6
    /// although the repository could not be opened.
    @Test func theShellCallsReason6WhenTheRepositoryFails() throws {
        let f = try Fixture()
        let calls = f.base + "/calls", callback = f.base + "/callback"
        try Fixture.script("#!/bin/sh\necho \"$3\" >> '\(calls)'\n", at: callback)
        f.bd.close()
        #expect(truncate(f.root + "/catalog.sqlite", 0) == 0)   // a lost catalog: error 21
        let r = try Program.bmlua(["shell", "--user-callback", callback], repo: f.root, input: "")
        #expect(r.status == 1 && r.stderr.contains("error 21"), "\(r.stderr)")
        #expect(try f.read(calls) == "5\n6\n")
    }

    /// Lua runs without a repository; only what needs the database is error 40.
    @Test func luaRunsWithoutARepository() throws {
        let f = try Fixture()
        let nowhere = f.base + "/nowhere"
        let sum = try Program.bmlua(["eval", "return 1 + 1"], repo: nowhere)
        #expect(sum.status == 0 && sum.stdout == "2\n", "\(sum.stderr)")
        let needs = try Program.bmlua(["eval", "return #backups()"], repo: nowhere)
        #expect(needs.status == 1 && needs.stderr.contains("error 40") && needs.stderr.contains("bmlua init"), "\(needs.stderr)")
        let shell = try Program.bmlua(["shell"], repo: nowhere, input: "print(2 * 21)\n")
        #expect(shell.status == 0 && shell.stdout.contains("42"), "\(shell.stdout) \(shell.stderr)")
        #expect(!FS.exists(nowhere))
    }
}
