import Foundation
import GRDB
import Testing
import ArgumentParser
@testable import BackupSys
@testable import bmlua
import TestSupport

/// The bmlua executable as users run it: exit codes and `bmlua: error N: message`.
@Suite struct CommandLineTests {
    @Test func failuresPrintTheirNumberAndExit1() throws {
        let f = try Fixture()
        let r = try Program.bmlua(["restore", "nothing"], repo: f.root)
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("bmlua: error 13: Backup not found"))
    }

    @Test func usageErrorsExit2() throws {
        let f = try Fixture()
        #expect(try Program.bmlua(["restore"], repo: f.root).status == 2)
        #expect(try Program.bmlua(["no-such-command"], repo: f.root).status == 2)
        #expect(try Program.bmlua(["hooks", "set", "11", "x"], repo: f.root).status == 2)
    }

    /// A bmlua function that fails inside a hook names where it was called,
    /// as a Lua error does (design.md, "The hook call"); an error the user raises with passerr
    /// is theirs, and stays as they wrote it.
    @Test func anAPIErrorInAHookNamesThePlace() throws {
        let f = try Fixture()
        let i = try f.bd.newbu(try f.file("a.txt", "a"))
        try f.bd.setRoutine("tidy", code: "-- tidy\nlocal h = ...\n\ndelbu(99999)\n")
        try f.hook(3, "tidy(3)")
        let update = try Program.bmlua(["update", "\(i)"], repo: f.root)
        #expect(update.stderr == "bmlua: error 13: Backup not found: no backup has index 99999 (raised at hook3: tidy:4)\n", "\(update.stderr)")
        let eval = try Program.bmlua(["eval", "local x = 1\nnewbu(nil)"], repo: f.root)
        #expect(eval.stderr.hasSuffix("(a string) expected (raised at eval:2)\n"), "\(eval.stderr)")
        let own = try Program.bmlua(["eval", "passerr(15000, 'boom')"], repo: f.root)
        #expect(own.stderr == "bmlua: error 15000: boom\n", "\(own.stderr)")
    }

    @Test func hook9ChangesWhatTheCommandLinePrints() throws {
        let f = try Fixture()
        try f.hook(9, "if bhin[1] == 10 then bhout = 11 end")
        let r = try Program.bmlua(["backup", f.work + "/missing"], repo: f.root)
        #expect(r.status == 1)
        #expect(r.stderr.contains("bmlua: error 11: Permission denied"), "\(r.stderr)")
    }

    @Test func untrustedRepositoryRefusesHooksUnlessTold() throws {
        let f = try Fixture()
        try f.hook(1, "bm.log('ran')")
        let path = try f.file("a.txt", "x")
        chmod(f.root, 0o777)
        let r = try Program.bmlua(["backup", path], repo: f.root)
        #expect(r.status == 1)
        #expect(r.stderr.contains("error 36"), "\(r.stderr)")
        #expect(try Program.bmlua(["backup", path, "--no-hooks"], repo: f.root).status == 0)
        let path2 = try f.file("b.txt", "y")
        #expect(try Program.bmlua(["backup", path2, "--trust", "-v"], repo: f.root).stderr.contains("ran"))
    }

    /// A routine may not take a name the API or Lua's library uses: it would
    /// replace `backups` or `print` for every script.
    @Test func aRoutineMayNotTakeAReservedName() throws {
        let f = try Fixture()
        let file = f.base + "/r.lua"
        try Data("return 'mine'".utf8).write(to: URL(fileURLWithPath: file))
        for name in ["backups", "print", "pairs"] {
            let r = try Program.bmlua(["routine", "add", file, "--name", name], repo: f.root)
            #expect(r.status == 1 && r.stderr.contains("error 22") && r.stderr.contains(name), "\(r.stderr)")
        }
        #expect(try Program.bmlua(["routine", "add", file, "--name", "tidy"], repo: f.root).status == 0)
        // One that a catalog holds anyway does not run unless --trust.
        try f.bd.dbQueueForTests.write { try $0.execute(sql: "INSERT INTO routine (name, code) VALUES ('backups', 'return {1, 2, 3}')") }
        let r = try Program.bmlua(["eval", "return #backups()"], repo: f.root)
        #expect(r.status == 1 && r.stderr.contains("error 36"), "\(r.stdout) \(r.stderr)")
        #expect(try Program.bmlua(["eval", "return #backups()", "--trust"], repo: f.root).stdout == "3\n")
    }

    /// An untrusted repository's code runs from no command without --trust.
    @Test func anUntrustedRepositorysRoutinesRunNowhere() throws {
        let f = try Fixture()
        let marker = f.base + "/ran"
        try f.bd.setRoutine("tidy", code: "io.open('\(marker)', 'w'):close()")
        try f.hook(1, "tidy()")
        chmod(f.root + "/catalog.sqlite", 0o666)   // the catalog writable by others: its code is anyone's
        let script = f.base + "/s.lua"
        try Data("tidy()".utf8).write(to: URL(fileURLWithPath: script))
        for args in [["eval", "tidy()"], ["--repo", f.root, "run", script], ["hooks", "test", "1"]] {
            let r = try Program.bmlua(args, repo: f.root)
            #expect(r.status == 1 && r.stderr.contains("error 36") && r.stderr.contains("catalog.sqlite"), "\(args) \(r.stderr)")
        }
        #expect(try Program.bmlua(["shell"], repo: f.root, input: "tidy()\n").stderr.contains("error 36"))
        #expect(!FS.exists(marker))
        #expect(try Program.bmlua(["eval", "tidy()", "--trust"], repo: f.root).status == 0 && FS.exists(marker))
    }

    /// `hooks list` and `routine show` show control bytes as cat -v does: an
    /// escape sequence can't hide code from the review --trust asks for.
    @Test func storedCodeIsShownWithControlCharactersEscaped() throws {
        let f = try Fixture()
        try f.hook(2, "os.execute('evil') --\u{1B}[2K\rbm.log('harmless')")
        let r = try Program.bmlua(["hooks", "list"], repo: f.root)
        #expect(r.stdout.contains("os.execute('evil') --^[[2K^Mbm.log('harmless')") && !r.stdout.contains("\u{1B}"), "\(r.stdout)")
        try f.bd.setRoutine("tidy", code: "x = 1 --\u{1B}[2K")
        #expect(try Program.bmlua(["routine", "show", "tidy"], repo: f.root).stdout == "x = 1 --^[[2K\n")
    }

    /// Only init makes a catalog: a lost one is error 21, and nothing is deleted.
    @Test func aLostCatalogIsError21AndGCDeletesNothing() throws {
        let f = try Fixture()
        try f.bd.newbu(try f.file("a.txt", "a"))
        let objects = f.bd.objects.allObjects()
        f.bd.close()
        for suffix in ["-wal", "-shm"] { unlink(f.root + "/catalog.sqlite" + suffix) }
        #expect(truncate(f.root + "/catalog.sqlite", 0) == 0)
        for args in [["list"], ["gc"], ["check"]] {
            let r = try Program.bmlua(args, repo: f.root)
            #expect(r.status == 1 && r.stderr.contains("error 21") && r.stderr.contains("empty"), "\(args) \(r.stderr)")
        }
        unlink(f.root + "/catalog.sqlite")
        let r = try Program.bmlua(["gc"], repo: f.root)
        #expect(r.status == 1 && r.stderr.contains("error 21") && r.stderr.contains("no catalog"), "\(r.stderr)")
        #expect(!FS.exists(f.root + "/catalog.sqlite"))
        let after = try Repository.objectsForTests(f.root)
        #expect(after == objects)
    }

    /// A catalog a newer bmlua migrated is refused, not written.
    @Test func aCatalogFromANewerBmluaIsRefused() throws {
        let f = try Fixture()
        try f.bd.dbQueueForTests.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99: from the future')") }
        f.bd.close()
        let r = try Program.bmlua(["backup", try f.file("a.txt", "a")], repo: f.root)
        let newest = try #require(Schema.migrator.migrations.last?.prefix(while: { $0 != ":" }))   // "v6"
        #expect(r.status == 1 && r.stderr.contains("error 21") && r.stderr.contains("v99: from the future") && r.stderr.contains(newest), "\(r.stderr)")
        let q = try DatabaseQueue(path: f.root + "/catalog.sqlite")
        #expect(try q.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM backup") } == 0)
    }

    /// A repository this user may only read: reading commands and restores work.
    @Test func aRepositoryThatCanOnlyBeReadIsRead() throws {
        let f = try Fixture()
        try f.bd.newbu(try f.file("tree/a.txt", "alpha"))
        try f.bd.newver(1, comment: "one")
        f.bd.close()
        guard geteuid() == 0 else { return }   // needs another user to be the reader
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg", "XDG_RUNTIME_DIR": f.base + "/run"]
        #expect(try Program.bmlua(["profile", "include", f.work + "/tree"], repo: f.root, environment: env).status == 0)
        #expect(try Program.bmlua(["snapshot"], repo: f.root, environment: env).status == 0)
        // Everything readable by others, nothing writable: as a repository another user owns with mode 0755.
        _ = try FileManager.default.subpathsOfDirectory(atPath: f.root).map { chmod(f.root + "/" + $0, FS.isDirectory(f.root + "/" + $0) ? 0o755 : 0o644) }
        for p in [f.base, f.root] { chmod(p, 0o755) }
        let out = f.base + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        chown(out, 65534, 65534)
        let list = try Program.bmlua(["list"], repo: f.root, asUser: "65534")
        #expect(list.status == 0 && list.stdout.contains("a.txt"), "\(list.stderr)")
        let show = try Program.bmlua(["show", "1", "--json"], repo: f.root, asUser: "65534")
        #expect(show.status == 0 && show.stdout.contains("\"versions\""), "\(show.stderr)")
        let check = try Program.bmlua(["check", "--read-data"], repo: f.root, asUser: "65534")
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
        let sids = try Program.bmlua(["snapshots", "--json"], repo: f.root, asUser: "65534")
        let sid = try #require((try JSONSerialization.jsonObject(with: Data(sids.stdout.utf8)) as? [[String: Any]])?.first?["sid"] as? String)
        let restore = try Program.bmlua(["snapshots", "restore", sid, "--to", out], repo: f.root, asUser: "65534")
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try f.read(out + f.work + "/tree/a.txt") == "alpha")
        let single = try Program.bmlua(["restore", "1", "--version", "1", "--to", out + "/"], repo: f.root, asUser: "65534")
        #expect(single.status == 0 && (try? f.read(out + "/a.txt")) == "alpha", "\(single.stderr)")
        // A change is refused with a reason, not attempted.
        let write = try Program.bmlua(["version", "create", "1"], repo: f.root, asUser: "65534")
        #expect(write.status == 1 && write.stderr.contains("error 11") && write.stderr.contains("can only be read"), "\(write.stderr)")
    }

    /// A read-only bind mount of a repository (where this machine lets root mount).
    @Test func aReadOnlyMountOfARepositoryIsRead() throws {
        let f = try Fixture()
        try f.bd.newbu(try f.file("a.txt", "alpha"))
        f.bd.close()
        let ro = f.base + "/ro"
        try FileManager.default.createDirectory(atPath: ro, withIntermediateDirectories: true)
        func sh(_ command: String) -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", command]
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return -1 }
            p.waitUntilExit()
            return p.terminationStatus
        }
        guard geteuid() == 0, sh("mount --bind '\(f.root)' '\(ro)' && mount -o remount,ro,bind '\(ro)'") == 0 else { return }
        defer { _ = sh("umount '\(ro)'") }
        #expect(try Program.bmlua(["list"], repo: ro).stdout.contains("a.txt"))
        #expect(try Program.bmlua(["show", "1", "--json"], repo: ro).stdout.contains("\"sha256\""))
        #expect(try Program.bmlua(["check", "--read-data"], repo: ro).status == 0)
        #expect(try Program.bmlua(["restore", "1", "--to", f.base + "/back.txt"], repo: ro).status == 0)
        #expect(try f.read(f.base + "/back.txt") == "alpha")
        let write = try Program.bmlua(["backup", try f.file("b.txt", "b")], repo: ro)
        #expect(write.status == 1 && write.stderr.contains("error 11"), "\(write.stderr)")
    }

    /// Root reads every file, so as root the unreadable case runs bmlua as nobody.
    @Test func unreadableFileIsError11() throws {
        let f = try Fixture()
        let path = try f.file("secret.txt", "x", mode: 0o000)
        let r: Program.Result
        if geteuid() == 0 {
            let nobody: UInt32 = 65534
            for p in [f.base, f.work] { chmod(p, 0o755) }
            _ = try FileManager.default.subpathsOfDirectory(atPath: f.root).map { chown(f.root + "/" + $0, nobody, nobody) }
            chown(f.root, nobody, nobody)
            r = try Program.bmlua(["backup", path], repo: f.root, asUser: "65534")
        } else {
            r = try Program.bmlua(["backup", path], repo: f.root)
        }
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("bmlua: error 11: Permission denied"), "\(r.stderr)")
    }

    @Test func shellTakesMultiLineInputAndCallsReasons5And6() throws {
        let f = try Fixture()
        let calls = f.base + "/calls"
        let cb = f.base + "/cb"
        try Fixture.script("#!/bin/sh\necho \"$1 $2 $3\" >> '\(calls)'\n", at: cb)
        let r = try Program.bmlua(["shell", "--user-callback", cb], repo: f.root,
                               input: "x = 1 +\n  2\nx * 2\nfunction f(a)\n  return a .. '!'\nend\nf('hi')\nnewbu('/nope')\n",
                               environment: ["XDG_STATE_HOME": f.base + "/state"])
        #expect(r.stdout == "6\nhi!\n", "\(r.stdout)")
        #expect(r.stderr.contains("bmlua: error 10: File not found"))
        #expect(try f.read(calls) == "1 Main profile 5\n1 Main profile 6\n")
        #expect(try f.read(f.base + "/state/bmlua/history").contains("x * 2"))
    }

    @Test func showJsonHasTheDocumentedKeys() throws {
        let f = try Fixture()
        let path = try f.file("a.txt", "x")
        try Program.bmlua(["backup", path], repo: f.root)
        try Program.bmlua(["version", "create", "a.txt", "-m", "first"], repo: f.root)
        let r = try Program.bmlua(["show", "a.txt", "--json"], repo: f.root)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        for key in ["index", "name", "path", "group", "stored_away", "size", "sha256", "fields", "versions"] {
            #expect(obj[key] != nil, "missing \(key)")
        }
        let versions = obj["versions"] as! [[String: Any]]
        #expect(versions.first?["comment"] as? String == "first")
        let list = try JSONSerialization.jsonObject(with: Data(try Program.bmlua(["list", "--json"], repo: f.root).stdout.utf8)) as! [[String: Any]]
        #expect(list.count == 1 && list[0]["versions"] == nil)
    }

    /// A clash of option names is only found when the command is parsed, so parse each one (and hooks limits).
    @Test(arguments: ["init", "backup", "update", "restore", "delete", "version create", "version comment", "version delete",
                      "list", "show", "field register", "field list", "field get", "field set",
                      "hooks list", "hooks set", "hooks clear", "hooks test", "hooks limits",
                      "routine add", "routine list", "routine show", "routine remove", "run", "eval", "shell",
                      "profile list", "profile add", "profile include", "profile exclude", "snapshot",
                      "snapshots list", "snapshots show", "snapshots diff", "snapshots restore", "snapshots remove",
                      "prune", "check", "gc", "errors"])
    func everyCommandParses(_ command: String) throws {
        let r = try Program.bmlua(command.split(separator: " ").map(String.init) + ["--help"], repo: "/nonexistent")
        #expect(r.status == 0 && r.stderr.isEmpty, "\(command): \(r.stderr)")
        #expect(r.stdout.contains("USAGE: bmlua \(command)"), "\(r.stdout)")
    }

    /// Scripts parse stdout: with --json, every command that changes something says what, as JSON.
    @Test func changingCommandsPrintJSON() throws {
        let f = try Fixture()
        let file = try f.file("a.txt", "x")
        let routine = try f.file("r.lua", "return 1")
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg"]
        try f.hook(7, "bhout = bhin[5] .. '!'")
        let steps: [([String], String)] = [
            (["backup", file], "[1]"),
            (["update", "a.txt"], "[1]"),
            (["version", "create", "a.txt", "-m", "one"], #"{"index":1,"version":1}"#),
            (["version", "comment", "a.txt", "1", "two"], #"{"comment":"two!","index":1,"version":1}"#),
            (["restore", "a.txt", "--to", f.work + "/copy.txt"], #"{"index":1,"path":"\#(f.work)/copy.txt","version":0}"#),
            (["version", "delete", "a.txt", "1"], #"{"index":1,"version":1}"#),
            (["field", "register", "Owner", "d"], #"{"name":"Owner","type":"d"}"#),
            (["field", "set", "Owner", "1", "42"], #"{"id":1,"name":"Owner","value":42}"#),
            (["field", "set", "Owner", "1", "007", "--text"], #"{"id":1,"name":"Owner","value":"007"}"#),
            (["hooks", "set", "2", "x = 1"], #"{"code":"x = 1","hook":2}"#),
            (["hooks", "clear", "2"], #"{"code":"","hook":2}"#),
            (["routine", "add", routine], #"{"name":"r"}"#),
            (["routine", "remove", "r"], #"{"name":"r"}"#),
            (["profile", "include", f.work], #"{"id":1,"include":["\#(f.work)"]}"#),
            (["profile", "exclude", "*.o"], #"{"exclude":["*.o"],"id":1}"#),
            (["delete", "a.txt"], #"{"index":1,"name":"a.txt"}"#),
        ]
        for (args, expected) in steps {
            let r = try Program.bmlua(args + ["--json"], repo: f.root, environment: env)
            #expect(r.status == 0 && r.stdout == expected + "\n", "\(args): \(r.stdout)\(r.stderr)")
        }
        let created = try Program.bmlua(["init", "--json"], repo: f.base + "/second")
        #expect(created.stdout == #"{"repository":"\#(f.base)/second"}"# + "\n")
    }

    /// `bmlua --repo DIR -v list`, as with restic: the options every command takes may come first.
    @Test func globalOptionsMayComeBeforeTheCommand() throws {
        let f = try Fixture()
        try Program.bmlua(["backup", try f.file("a.txt", "x")], repo: f.root)
        let list = try Program.bmlua(["-q", "--json", "list"], repo: f.root)
        #expect(list.status == 0 && list.stdout.hasPrefix("[{"), "\(list.stdout)\(list.stderr)")
        let version = try Program.bmlua(["--repo=" + f.root, "--json", "version", "create", "a.txt"], repo: f.root)
        #expect(version.status == 0, "\(version.stderr)")
        // Each option `list` shows in its usage line (all of them global) also works first.
        let usage = try Program.bmlua(["list", "--help"], repo: f.root).stdout
        let options = usage.split(separator: "\n").first { $0.hasPrefix("USAGE:") }!
            .split(separator: " ").filter { $0.hasPrefix("[--") }     // "[--json]", or "[--repo" before "<dir>]"
            .map { $0.hasSuffix("]") ? [String($0.dropFirst().dropLast())] : [String($0.dropFirst()), $0 == "[--repo" ? f.root : "1"] }
        #expect(options.count >= 8, "\(usage)")
        for option in options + [["-v"], ["-q"]] {
            let r = try Program.bmlua(option + ["list"], repo: f.root)
            #expect(r.status == 0, "\(option) before the command: \(r.stderr)")
        }
        // A script's own arguments stay the script's, whatever they look like.
        let script = try f.file("args.lua", "return ...")
        let run = try Program.bmlua(["--repo", f.root, "run", script, "-v", "--json"], repo: f.root)
        #expect(run.stdout == "-v\n--json\n--repo\n\(f.root)\n", "\(run.stdout)\(run.stderr)")
    }

    /// Long work shows progress on stderr when it is a terminal , and
    /// only then: under `script` (a pseudo-terminal) the line is drawn and cleared.
    @Test func progressShowsOnATerminalOnly() throws {
        let f = try Fixture()
        try f.file("tree/a.txt", "a")
        try f.file("tree/b.txt", "b")
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg", "XDG_RUNTIME_DIR": f.base]
        #expect(try Program.bmlua(["profile", "include", f.work + "/tree"], repo: f.root, environment: env).status == 0)
        func onATerminal(_ c: [String]) throws -> (status: Int32, text: String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            p.arguments = ["-qec", ([Program.binary, "--repo", f.root] + c).joined(separator: " "), "/dev/null"]
            p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
            let out = Pipe()
            p.standardOutput = out
            p.standardInput = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
        let clear = "\u{1b}[K"   // what ends a progress line
        let snapshot = try onATerminal(["snapshot"])
        #expect(snapshot.status == 0 && snapshot.text.contains(clear) && snapshot.text.contains(" files, "), "\(snapshot.text.debugDescription)")
        let sid = try #require(try f.bd.snapshots().first?.sid)
        for c in [["snapshot"], ["check", "--read-data"], ["snapshots", "restore", sid, "--to", f.base + "/restored"], ["gc"]] {
            let r = try onATerminal(c)
            #expect(r.status == 0 && r.text.contains(clear), "\(c): \(r.text.debugDescription)")
        }
        // --json on a terminal: stderr keeps to errors.
        let quietJSON = try onATerminal(["check", "--read-data", "--json"])
        #expect(quietJSON.status == 0 && !quietJSON.text.contains(clear), "\(quietJSON.text.debugDescription)")
        // Not on a terminal, no progress line: not even the totals a run where nothing changed shows on one.
        for c in [["snapshot"], ["check", "--read-data"], ["snapshots", "restore", sid, "--to", f.base + "/again"]] {
            let plain = try Program.bmlua(c, repo: f.root, environment: env)
            #expect(plain.status == 0 && !plain.stderr.contains(clear), "\(c): \(plain.stderr)")
        }
        // --json: what was restored, what was already there, and what failed with its number.
        let again = f.base + "/again" + f.work + "/tree"
        try Data("edited".utf8).write(to: URL(fileURLWithPath: again + "/b.txt"))
        let json = try Program.bmlua(["--json", "snapshots", "restore", sid, "--to", f.base + "/again"], repo: f.root, environment: env)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((object?["restored"] as? [String])?.isEmpty == true)
        #expect((object?["unchanged"] as? [String]) == [again + "/a.txt"], "\(json.stdout)")
        #expect((object?["failed"] as? [[String: Any]])?.map { $0["number"] as? Int } == [15], "\(json.stdout)")
        #expect((object?["failed"] as? [[String: Any]])?.first?["path"] as? String == again + "/b.txt")
    }

    /// Including a path that is not there is allowed (a drive reason 7 mounts)
    /// but warned about: otherwise a typo shows only as failed snapshots.
    @Test func includingAMissingPathWarnsAndAddsIt() throws {
        let f = try Fixture()
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg"]
        let missing = f.base + "/not-mounted"
        let r = try Program.bmlua(["profile", "include", missing, f.work], repo: f.root, environment: env)
        #expect(r.status == 0 && r.stderr == "bmlua: warning: \(missing) does not exist (yet): snapshots count it as failed until it does\n")
        let list = try Program.bmlua(["--json", "profile", "list"], repo: f.root, environment: env)
        #expect(list.stdout.contains(missing) && list.stdout.contains(f.work))
        #expect(try Program.bmlua(["-q", "profile", "include", missing + "2"], repo: f.root, environment: env).stderr.isEmpty)
    }

    /// Text output keeps one line per item: a newline or tab in a name is
    /// escaped there, and exact in --json.
    @Test func controlCharactersInNamesAreEscapedInTextOutput() throws {
        let f = try Fixture()
        let path = try f.file("two\nlines\tand tab.txt", "x")
        #expect(try Program.bmlua(["backup", path], repo: f.root).status == 0)
        let list = try Program.bmlua(["list"], repo: f.root).stdout
        #expect(list == "1\ttwo\\nlines\\tand tab.txt\t1 B\t\(f.work)/two\\nlines\\tand tab.txt\n", "\(list)")
        let json = try Program.bmlua(["list", "--json"], repo: f.root).stdout
        let items = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
        #expect(items?.first?["path"] as? String == path)
    }

    /// `bmlua list PATH`: only the backups of files at or under PATH.
    @Test func listTakesAPathToLookUnder() throws {
        let f = try Fixture()
        for name in ["docs/a.txt", "docs/sub/b.txt", "docs-old/c.txt", "d.txt"] {
            #expect(try Program.bmlua(["backup", try f.file(name, name)], repo: f.root).status == 0)
        }
        func names(_ args: [String]) throws -> [String] {
            try Program.bmlua(["list"] + args, repo: f.root).stdout.split(separator: "\n").map { String($0.split(separator: "\t")[1]) }
        }
        #expect(try names([f.work + "/docs"]) == ["a.txt", "b.txt"])
        #expect(try names([f.work + "/docs/"]) == ["a.txt", "b.txt"])
        #expect(try names([f.work + "/d.txt"]) == ["d.txt"])
        #expect(try names([]).count == 4)
    }

    /// `bmlua run` sets `arg` as the `lua` command does, so scripts written for it work.
    @Test func runSetsArgLikeTheLuaCommand() throws {
        let f = try Fixture()
        let script = try f.file("args.lua", "return arg[0], #arg, arg[1], arg[2], select('#', ...)")
        let run = try Program.bmlua(["--repo", f.root, "run", script, "one", "two words"], repo: f.root)
        // The helper adds `--repo ROOT` last: after the script, those are the script's too.
        #expect(run.stdout == "\(script)\n4\none\ntwo words\n4\n", "\(run.stdout)\(run.stderr)")
        // An executable script's #! line is skipped; errors keep the file's line numbers.
        let executable = try f.file("exe.lua", "#!/usr/bin/env -S bmlua run\nprint('ran')\nerror('on line 3')\n")
        let exe = try Program.bmlua(["--repo", f.root, "run", executable], repo: f.root)
        #expect(exe.stdout == "ran\n" && exe.stderr.contains("exe.lua:3: on line 3"), "\(exe.stdout)\(exe.stderr)")
    }

    /// `profile add NAME --repo DIR`: the profile snapshots into DIR whatever the default repository is.
    @Test func profileAddTakesTheRepositoryItSnapshotsInto() throws {
        let f = try Fixture()
        let config = f.base + "/config.toml", nas = f.base + "/nas"
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg", "XDG_RUNTIME_DIR": f.base]
        try f.file("a.txt", "a")
        try f.file("sub/b.txt", "b")
        #expect(try Program.bmlua(["init"], repo: nas).status == 0)
        let add = try Program.bmlua(["profile", "add", "NAS", "--config", config], repo: nas)
        #expect(add.status == 0 && add.stdout == "2\n", "\(add.stderr)")
        try Program.bmlua(["profile", "include", f.work, "--profile", "2", "--config", config], repo: f.root)

        let list = try Program.bmlua(["profile", "list", "--json", "--config", config], repo: f.root)
        let profiles = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(profiles.map { $0["name"] as? String } == ["Main profile", "NAS"])
        #expect(profiles.map { $0["repo"] as? String } == [f.root, nas])
        #expect(profiles[1]["include"] as? [String] == [f.work])

        let snap = try Program.bmlua(["snapshot", "--profile", "2", "--config", config], repo: f.root, environment: env)
        #expect(snap.status == 0, "\(snap.stderr)")
        let taken = try Program.bmlua(["snapshots", "--json"], repo: nas)
        let snapshots = try #require(try JSONSerialization.jsonObject(with: Data(taken.stdout.utf8)) as? [[String: Any]])
        #expect(snapshots.count == 1 && snapshots.first?["files"] as? Int == 2 && snapshots.first?["profile"] as? Int == 2)
        #expect(try Program.bmlua(["list", "--json"], repo: f.root).stdout == "[]\n", "the default repository is untouched")
    }

    /// A name that is not UTF-8, given on the command line, is the file the
    /// kernel has under those bytes: backup, show, restore and list --json
    /// round-trip it; text shows the byte as \xe9, JSON as the lone surrogate \udce9.
    @Test func aNonUTF8NameRoundTripsThroughTheCommandLine() throws {
        let f = try Fixture()
        let raw = Array(f.work.utf8) + Array("/caf".utf8) + [0xE9]
        let fd = Path(raw).withCString { open($0, O_CREAT | O_WRONLY, 0o640) }
        try #require(fd >= 0)
        #expect(write(fd, "latin-1", 7) == 7)
        close(fd)
        let repo = [Array("--repo".utf8), Array(f.root.utf8)]
        let backup = try runRaw(arguments: [Array("backup".utf8), raw] + repo)
        #expect(backup.status == 0 && backup.stdout == "backup 1: caf\\xe9\n", "\(backup.stdout) \(backup.stderr)")
        let show = try runRaw(arguments: [Array("show".utf8), raw] + repo)
        #expect(show.status == 0 && show.stdout.contains("path        \(f.work)/caf\\xe9\n"), "\(show.stdout) \(show.stderr)")
        let list = try runRaw(arguments: [Array("list".utf8), Array("--json".utf8)] + repo)
        #expect(list.stdout.contains("\"path\":\"\(f.work)/caf\\udce9\"") && list.stdout.contains("\"name\":\"caf\\udce9\""), "\(list.stdout)")
        let out = Array(f.base.utf8) + Array("/out/".utf8)
        let restore = try runRaw(arguments: [Array("restore".utf8), raw, Array("--to".utf8), out] + repo)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try Folder.open(Path(f.base + "/out")).entries().map(\.name.bytes) == [Array("caf".utf8) + [0xE9]])
        let back = try Folder.open(Path(f.base + "/out")).openFile(Path(Array("caf".utf8) + [0xE9]))
        var data = [UInt8](repeating: 0, count: 16)
        #expect(back >= 0 && read(back, &data, 16) == 7 && data.prefix(7) == Array("latin-1".utf8)[...])
        close(back)
    }

    /// `hooks test --bhin` takes back what --json wrote: `\udce9` is the byte 0xE9.
    @Test func hooksTestTakesJSONByteEscapes() throws {
        let f = try Fixture()
        #expect(try Program.bmlua(["hooks", "set", "1", "bm.log(#bhin[1], bhin[1]:byte(-1))"], repo: f.root).status == 0)
        let r = try Program.bmlua(["hooks", "test", "1", "--bhin", #"["/a/caf\udce9", "/a/\ud83d\ude00"]"#], repo: f.root)
        #expect(r.status == 0 && r.stdout.contains("log    | 7\t233\n"), "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains(#"bhin   = {"/a/caf\233", "/a/\240\159\152\128"}"#), "\(r.stdout)")
    }

    /// A snapshot "with errors" is kept, and the run still fails as design.md, "Errors" says
    /// every error does: error 6 on stderr, exit status 1, the failed file named.
    @Test func snapshotWithErrorsExitsOneAndKeepsTheSnapshot() throws {
        let f = try Fixture()
        try f.file("tree/good.txt", "good")
        try f.file("tree/bad.txt", "bad")
        #expect(try Program.bmlua(["hooks", "set", "1", "if bhin[1]:match('bad') then error('not this one') end"], repo: f.root).status == 0)
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg", "XDG_RUNTIME_DIR": f.base]
        #expect(try Program.bmlua(["profile", "include", f.work + "/tree"], repo: f.root, environment: env).status == 0)
        let snap = try Program.bmlua(["snapshot"], repo: f.root, environment: env)
        #expect(snap.status == 1, "\(snap.stderr)")
        #expect(snap.stderr.contains("bad.txt") && snap.stderr.contains("bmlua: error 6: "), "\(snap.stderr)")
        let list = try Program.bmlua(["snapshots", "--json"], repo: f.root)
        let snapshots = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(snapshots.count == 1 && snapshots.first?["files"] as? Int == 1, "\(list.stdout)")
    }

    /// --json keeps names as bytes: two keys that differ only by Unicode
    /// normalisation stay two (a Swift String key would merge them), in byte
    /// order, and a byte that is not UTF-8 is a lone surrogate.
    @Test func jsonKeepsNamesThatDifferOnlyByNormalisation() throws {
        let f = try Fixture()
        let r = try Program.bmlua(["eval", "--json", #"return {["\u{E9}"] = 1, ["e\u{301}"] = 2, ["\xff"] = 3}, "caf\xe9""#], repo: f.root)
        #expect(r.status == 0 && Array(r.stdout.utf8) == Array("[{\"e\u{301}\":2,\"\u{E9}\":1,\"\\udcff\":3},\"caf\\udce9\"]\n".utf8), "\(r.stdout) \(r.stderr)")
    }

    /// A duration restic would not take is a usage error that says what to write.
    @Test func pruneKeepWithinWantsAResticDuration() throws {
        let f = try Fixture()
        let bad = try Program.bmlua(["prune", "--keep-within", "3w"], repo: f.root)
        #expect(bad.status == 2 && bad.stderr.contains("--keep-within wants a duration like 14d"), "\(bad.stderr)")
        let ok = try Program.bmlua(["prune", "--keep-within", "1y6m", "--keep-yearly", "3", "--keep-hourly", "24", "--json"], repo: f.root)
        #expect(ok.status == 0 && ok.stdout.contains("\"removed\":[]"), "\(ok.stdout) \(ok.stderr)")
    }

    /// `snapshots show --json` tells which files are hard links of each other.
    @Test func snapshotsShowNamesHardLinkGroups() throws {
        let f = try Fixture()
        try f.file("tree/a.txt", "a")
        try f.file("tree/c.txt", "c")
        #expect(link(f.work + "/tree/a.txt", f.work + "/tree/b.txt") == 0)
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg", "XDG_RUNTIME_DIR": f.base]
        #expect(try Program.bmlua(["profile", "include", f.work + "/tree"], repo: f.root, environment: env).status == 0)
        #expect(try Program.bmlua(["snapshot"], repo: f.root, environment: env).status == 0)
        let sid = try #require(try f.bd.snapshots().first?.sid)
        let json = try Program.bmlua(["snapshots", "show", sid, "--json"], repo: f.root)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let groups = rows.map { $0["hardlink"] as? Int }
        #expect(groups.count == 3 && groups[0] != nil && groups[0] == groups[1] && groups[2] == nil, "\(json.stdout)")
    }

    /// Links are listed and counted as links, beside the files, in text and JSON.
    @Test func snapshotsShowAndRestoreNameLinksApart() throws {
        let f = try Fixture()
        try f.file("tree/a.txt", "a")
        #expect(symlink("a.txt", f.work + "/tree/to-a") == 0)
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg", "XDG_RUNTIME_DIR": f.base]
        #expect(try Program.bmlua(["profile", "include", f.work + "/tree"], repo: f.root, environment: env).status == 0)
        let dry = try Program.bmlua(["snapshot", "--dry-run", "--json"], repo: f.root, environment: env)
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any])
        #expect(plan["new"] as? [String] == [f.work + "/tree/a.txt"] && plan["links"] as? Int == 1, "\(dry.stdout)")
        #expect(try f.bd.snapshots().isEmpty)
        let snap = try Program.bmlua(["snapshot"], repo: f.root, environment: env)
        #expect(snap.status == 0 && snap.stdout.contains("1 new") && snap.stdout.contains("1 link kept"), "\(snap.stdout)")
        let sid = try #require(try f.bd.snapshots().first?.sid)
        let show = try Program.bmlua(["snapshots", "show", sid], repo: f.root)
        #expect(show.stdout == "1/1\t\(f.work)/tree/a.txt\nlink\t\(f.work)/tree/to-a -> a.txt\n", "\(show.stdout)")
        let json = try Program.bmlua(["snapshots", "show", sid, "--json"], repo: f.root)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 2 && rows[1]["link"] as? String == "a.txt" && rows[1]["path"] as? String == f.work + "/tree/to-a")
        let list = try Program.bmlua(["snapshots"], repo: f.root)
        #expect(list.stdout.contains("\t1 file, 1 link\t"), "\(list.stdout)")
        let restore = try Program.bmlua(["snapshots", "restore", sid, "--to", f.base + "/out"], repo: f.root)
        #expect(restore.stdout == "restored 1 file and 1 link\n", "\(restore.stdout)")
    }

    /// Ctrl-C during a snapshot: it stops between files, the user-callback still
    /// gets 4 (5, …), 2 and 8 (what reason 7 mounted is unmounted), exit status 130.
    @Test func ctrlCStopsASnapshotBetweenFiles() throws {
        let f = try Fixture()
        for name in ["a", "b", "c"] { try f.file("tree/\(name).txt", name) }
        let calls = f.base + "/calls"
        try FileManager.default.createDirectory(atPath: f.base + "/xdg/bmlua", withIntermediateDirectories: true)
        try Fixture.script("#!/bin/sh\necho \"$3 $4\" >> '\(calls)'\n", at: f.base + "/xdg/bmlua/user-callback")
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg", "XDG_RUNTIME_DIR": f.base]
        #expect(try Program.bmlua(["profile", "include", f.work + "/tree"], repo: f.root, environment: env).status == 0)
        // Each file's hook 2 says it began, then takes a second of Lua: the signal lands inside the first.
        let began = f.base + "/began"
        #expect(try Program.bmlua(["hooks", "set", "2", "io.open('\(began)', 'w'):close() local t = os.clock() + 1 while os.clock() < t do end"], repo: f.root).status == 0)
        let r = try Program.bmlua(["snapshot"], repo: f.root, environment: env) { p in
            let deadline = Date(timeIntervalSinceNow: 20)
            while Date() < deadline, !FS.exists(began) { usleep(10_000) }
            kill(p.processIdentifier, SIGINT)
        }
        #expect(r.status == 130 && r.stderr.contains("bmlua: interrupted: no snapshot recorded"), "\(r.status) \(r.stderr)")
        let log = try String(contentsOfFile: calls, encoding: .utf8)
        #expect(log.split(separator: "\n").map { $0.prefix(3) } == ["7 ", "1 ", "4 5", "2 ", "8 "], "\(log)")
        #expect(try Program.bmlua(["snapshots", "--json"], repo: f.root).stdout == "[]\n")
        #expect(try Program.bmlua(["check"], repo: f.root).status == 0)
    }

    /// Ctrl-C in Lua run from the command line stops the code, as lua.c does:
    /// the shell goes on with its globals and history kept; `eval` exits 130.
    @Test func ctrlCStopsLuaCodeNotTheShell() throws {
        let f = try Fixture()
        let began = f.base + "/began"
        let env = ["XDG_STATE_HOME": f.base + "/state"]
        let loop = "io.open('\(began)', 'w'):close() while true do pcall(function() while true do end end) end"
        let interrupt = { (p: Process) in
            let deadline = Date(timeIntervalSinceNow: 20)
            while Date() < deadline, !FS.exists(began) { usleep(10_000) }
            kill(p.processIdentifier, SIGINT)
        }
        let shell = try Program.bmlua(["shell"], repo: f.root, input: "x = 5\n\(loop)\nprint(x + 1)\n", environment: env, whileRunning: interrupt)
        #expect(shell.status == 0 && shell.stdout == "6\n", "\(shell.status) \(shell.stdout) \(shell.stderr)")
        #expect(shell.stderr.contains("bmlua: interrupted: the Lua code stopped"), "\(shell.stderr)")
        #expect(try f.read(f.base + "/state/bmlua/history") == "x = 5\n\(loop)\nprint(x + 1)\n")

        unlink(began)
        let eval = try Program.bmlua(["eval", loop], repo: f.root, whileRunning: interrupt)
        #expect(eval.status == 130 && eval.stderr.contains("bmlua: interrupted"), "\(eval.status) \(eval.stderr)")
    }

    /// Code that a first Ctrl-C can't stop (a finalizer that loops runs with
    /// Lua's hooks off): bmlua says so, and a second Ctrl-C quits.
    @Test func aFirstCtrlCThatCannotStopTheCodeSaysSo() throws {
        let f = try Fixture()
        let began = f.base + "/began"
        let loop = "setmetatable({}, {__gc = function() io.open('\(began)', 'w'):close() while true do end end}) collectgarbage()"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Program.binary)
        p.arguments = ["eval", loop, "--repo", f.root]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date(timeIntervalSinceNow: 20)
        while Date() < deadline, !FS.exists(began) { usleep(10_000) }
        kill(p.processIdentifier, SIGINT)
        // The second Ctrl-C once bmlua has said the first did not stop the code.
        var said = Data()
        var pending = pollfd(fd: err.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
        while !String(decoding: said, as: UTF8.self).contains("Ctrl-C again"), poll(&pending, 1, 20_000) > 0 {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            said += chunk
        }
        kill(p.processIdentifier, SIGINT)
        said += err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let stderr = String(decoding: said, as: UTF8.self)
        #expect(p.terminationStatus == 130 && stderr.contains("has not stopped") && stderr.contains("Ctrl-C again"), "\(p.terminationStatus) \(stderr)")
    }

    /// posix_spawn with byte arguments (Foundation's Process takes only Strings).
    func runRaw(arguments: [[UInt8]]) throws -> Program.Result {
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("bmlua-err-\(UUID().uuidString)").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let outPath = errPath + ".out"
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let all = [Array(Program.binary.utf8)] + arguments
        var cArgs: [UnsafeMutablePointer<CChar>?] = all.map { bytes in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
            p[bytes.count] = 0
            return p
        } + [nil]
        defer { cArgs.forEach { $0?.deallocate() } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, Program.binary, &actions, nil, &cArgs, environ)
        posix_spawn_file_actions_destroy(&actions)
        guard rc == 0 else { throw BMError(20, "spawn failed") }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        unlink(errPath)
        unlink(outPath)
        return Program.Result(status: (status >> 8) & 0xff, stdout: stdout, stderr: stderr)
    }
}

/// Every command is named in its configuration: ArgumentParser otherwise
/// derives the name from the type's (`String(describing:)`), a scan of every
/// protocol conformance in the program per command, and that was half of
/// what `bmlua errors` executed (callgrind: 68.7M instructions, 36.7M named).
@Suite struct CommandNameTests {
    @Test func everyCommandIsNamed() {
        var unnamed: [String] = []
        func visit(_ command: any ParsableCommand.Type) {
            if command.configuration.commandName == nil { unnamed.append(String(reflecting: command)) }
            command.configuration.subcommands.forEach(visit)
        }
        visit(BMLua.self)
        #expect(unnamed.isEmpty, "\(unnamed)")
    }
}
