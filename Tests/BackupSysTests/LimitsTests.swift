import Crypto
import Foundation
import Testing
@testable import BackupSys
import TestSupport
@testable import HookVM

/// Destructive options take only meaningful values, and prune keeps per profile.
@Suite struct OptionLimitsTests {
    @Test(arguments: [
        ["prune", "--keep-daily=-1"], ["prune", "--keep-last=-1", "--dry-run"], ["prune", "--keep-last", "99999999999999999999"],
        ["hooks", "limits", "--memory", "9223372036854775807"], ["hooks", "limits", "--time", "nan"], ["hooks", "limits", "--time", "-1"],
        ["snapshot", "--callback-timeout", "nan"], ["snapshot", "--callback-timeout", "-1"], ["backup", "x", "--group=-5"],
        ["restore", "1", "--version=-1"], ["list", "--lock-wait", "inf"], ["prune", "--keep-last", "1", "--profile", "0"],
    ])
    func nonsenseIsAUsageErrorAndChangesNothing(args: [String]) throws {
        let f = try Fixture()
        try f.bd.newbu(try f.file("x", "x"))
        let before = try f.state(), limits = try f.bd.hookLimits()
        let r = try Program.bmlua(args, repo: f.root)
        #expect(r.status == 2, "\(args): \(r.status) \(r.stderr)")
        #expect(try f.state() == before)
        #expect(try f.bd.hookLimits() == limits)
    }

    /// restic's rule: keep rules apply to each profile's snapshots apart.
    @Test func pruneKeepsTheNewestOfEachProfile() throws {
        let s = try SnapshotFixture()
        let trees = (2...3).map { s.f.work + "/tree\($0)" }
        var profiles = s.config.profiles
        for (i, t) in trees.enumerated() {
            try FileManager.default.createDirectory(atPath: t, withIntermediateDirectories: true)
            try Data("p\(i)".utf8).write(to: URL(fileURLWithPath: t + "/f.txt"))
            profiles.append(Profile(id: Int64(i + 2), name: "p\(i + 2)", include: [t]))
        }
        s.config = ProfileConfig(path: s.config.path, profiles: profiles)
        var newest: [Int64: String] = [:]
        for round in 0..<2 {
            for profile in Int64(1)...3 {
                let when = Date(timeIntervalSinceNow: Double(-7200 + round * 3600) + Double(profile))
                if profile == 1 { try s.write("a.txt", "round \(round)") } else { try Data("r\(round)".utf8).write(to: URL(fileURLWithPath: trees[Int(profile) - 2] + "/f.txt")) }
                let summary = try s.run(profile: profile, at: when)
                let sid: String = try #require(summary.sid)
                newest[profile] = sid
            }
        }
        let plan = try Retention(s.f.bd).prune(.init(last: 1), dryRun: true)
        #expect(plan.removed.count == 3)
        _ = try Retention(s.f.bd).prune(.init(last: 1))
        #expect(Set(try s.f.bd.snapshots().map(\.sid)) == Set(newest.values))
    }
}


/// What a restore gives back is the file as it was: its time to the nanosecond
/// (before 1970 too) and its holes.
@Suite struct ExactMetadataTests {
    @Test func aTimeBefore1970WithNanosecondsRoundTrips() throws {
        let f = try Fixture()
        let path = try f.file("old.txt", "from 1969")
        var times = [timespec(tv_sec: 0, tv_nsec: Int(UTIME_OMIT)), timespec(tv_sec: -12_345_679, tv_nsec: 123_456_789)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let i = try f.bd.newbu(path)
        let back = try f.bd.restbu(i, to: f.work + "/back.txt")
        let st = try #require(FS.stat(back))
        #expect(st.st_mtim.tv_sec == -12_345_679 && st.st_mtim.tv_nsec == 123_456_789)
    }

    @Test func aSparseFileIsStoredAndRestoredSparse() throws {
        let f = try Fixture()
        let path = f.work + "/disk.img"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        #expect(pwrite(fd, "head", 4, 0) == 4 && pwrite(fd, "tail", 4, 200 << 20) == 4)
        close(fd)
        let i = try f.bd.newbu(path)
        let b = try f.bd.backup(i)
        #expect(b.data.size == (200 << 20) + 4)
        let object = try #require(FS.stat(f.bd.objects.path(of: b.data.object)))
        #expect(Int(object.st_blocks) * 512 < 1 << 20, "the object keeps the holes: \(object.st_blocks) blocks")
        let back = try f.bd.restbu(i, to: f.work + "/back.img")
        let st = try #require(FS.stat(back))
        #expect(Int(st.st_size) == (200 << 20) + 4 && Int(st.st_blocks) * 512 < 1 << 20, "\(st.st_blocks) blocks")
        #expect(try f.bd.objects.hash(of: back) == b.data.object)
    }

    /// A large file is hashed on a thread of its own while it is read and
    /// written: every chunk must reach the hash in order, and none be refilled
    /// before it is hashed. Its id is checked against a plain one-thread hash.
    @Test func aLargeFileIsStoredAndRestoredWhole() throws {
        let f = try Fixture()
        let path = f.work + "/large.bin"
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        let bytes = random.readData(ofLength: ChunkHasher.threadedFrom * 3 + 12_345)
        try bytes.write(to: URL(fileURLWithPath: path))
        let i = try f.bd.newbu(path)
        let b = try f.bd.backup(i)
        #expect(b.data.object == (try f.bd.objects.hash(of: path)))
        let back = try f.bd.restbu(i, to: f.work + "/back.bin")
        #expect(try Data(contentsOf: URL(fileURLWithPath: back)) == bytes)
    }

    /// A large file whose read fails part-way takes a slot it never hands to
    /// the hash: that file fails, and its hasher is freed with the slot out
    /// (libdispatch stopped the process when a semaphore was freed so).
    @Test func aHasherLeftWithASlotTakenIsFreed() {
        let first = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 10, alignment: 16)
        defer { first.deallocate() }
        var hasher: ChunkHasher? = ChunkHasher(continuing: SHA256(), first: first, threaded: true)
        _ = hasher?.buffer()   // then the read throws
        hasher?.drain()
        hasher = nil
        #expect(hasher == nil)
    }
}

/// A copy out of Lua is bounded: shared tables once, cycles left in Lua.
@Suite struct BoundedCopyTests {
    @Test func aTableHoldingItselfIsCopiedOnceAndItsCycleStaysInLua() throws {
        let f = try Fixture()
        let r = try f.bd.luaVM().run("local t = {} t[1] = t t[2] = t return t", chunkName: "=t")
        guard case .list(let items) = r.first, items.count == 2, case .opaque(let ref) = items[0] else {
            Issue.record("\(r)")
            return
        }
        #expect(ref.type == .table)
    }

    /// 2^40 paths to 41 tables: converted in linear time, then cut at the limit.
    @Test func aDeeplySharedTableIsBounded() throws {
        let f = try Fixture()
        let r = try f.bd.luaVM().run("local t = {} for i = 1, 40 do t = {t, t} end return t", chunkName: "=t")
        func nodes(_ v: LuaValue) -> Int {
            switch v {
            case .list(let a): return 1 + a.reduce(0) { $0 + nodes($1) }
            default: return 1
            }
        }
        #expect(nodes(try #require(r.first)) <= 2_000_000)
    }

    @Test func aCyclicBhoutIsError31() throws {
        let f = try Fixture()
        try f.hook(1, "local t = {} t[1] = t t[2] = t bhout = t")
        let e = try f.bd.testHook(1, bhin: Hook.sample(1)!.bhin).error
        #expect(e?.number == 31, "\(String(describing: e))")
    }
}

/// The user-callback as Back In Time runs it, with bounds.
@Suite struct UserCallbackBoundsTests {
    /// bmlua run as a program, with its peak memory (KiB).
    static func measured(_ args: [String], environment: [String: String]) throws -> (status: Int32, maxKiB: Int, stderr: String) {
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("bmlua-err-\(UUID().uuidString)").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        let argv = [Program.binary] + args
        var pid: pid_t = 0
        let c = { (s: [String]) in s.map { strdup($0) } + [nil] }
        var a = c(argv), e = c(env)
        defer { (a + e).forEach { free($0) } }
        guard posix_spawn(&pid, Program.binary, &actions, nil, &a, &e) == 0 else { throw BMError(20, "spawn failed") }
        // VmHWM of its own memory (wait4's maxrss would count the test process
        // the child was spawned from, before its exec): sampled until it exits.
        var status: Int32 = 0, peak = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kib = Int(line.split(separator: " ").dropFirst().first ?? "") {
                peak = max(peak, kib)
            }
            usleep(20_000)
        }
        defer { unlink(err) }
        return ((status >> 8) & 0xff, peak, (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    @Test(arguments: ["yes | head -c 300000000", "exec yes"])
    func aCallbackThatPrintsWithoutEndCostsLittleMemory(script: String) throws {
        let f = try Fixture()
        try f.file("tree/a.txt", "a")
        let calls = f.base + "/calls", callback = f.base + "/callback"
        try Fixture.script("#!/bin/sh\necho \"$3\" >> '\(calls)'\nif [ \"$3\" = 1 ]; then \(script); fi\nexit 0\n", at: callback)
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg", "XDG_RUNTIME_DIR": f.base + "/run", "BMLUA_REPO": f.root]
        #expect(try Program.bmlua(["profile", "include", f.work + "/tree"], repo: f.root, environment: env).status == 0)
        let r = try Self.measured(["snapshot", "--user-callback", callback, "--callback-timeout", "5"], environment: env)
        #expect(r.maxKiB < 100 << 10, "peak \(r.maxKiB) KiB")
        #expect(try f.read(calls).split(separator: "\n").last == "8", "reason 8 unmounts what 7 mounted")
    }

    /// A callback that can't be run is logged, and the snapshot is taken (Back In Time's rule).
    @Test func aCallbackThatCannotRunIsLoggedAndTheRunGoesOn() throws {
        let s = try SnapshotFixture()
        chmod(s.callback, 0o644)
        var r = SnapshotRun(config: s.config, defaultRepository: s.f.root)
        r.callbackPath = s.callback
        r.lockDirectory = s.f.base + "/locks"
        let said = Fixture.Sink()
        r.options.diagnostics = { said.lines.append($0) }
        let summary = try r.run()
        #expect(summary.sid != nil)
        #expect(said.lines.contains { $0.contains("cannot be run") }, "\(said.lines)")
    }

    /// A callback that exits at once but leaves a daemon writing to its stdout ends when it exits.
    @Test func aDaemonTheCallbackLeftIsNotWaitedFor() throws {
        let s = try SnapshotFixture(callbackScript: "(setsid sh -c 'while :; do echo tick; sleep 0.1; done' &)")
        let said = Fixture.Sink()
        let summary = try s.run(timeLimit: 8, saying: said)
        #expect(summary.sid != nil)
        #expect(!said.lines.contains { $0.contains("ran past") }, "no call was taken for one that ran past its limit: \(said.lines)")
        // The daemon is left running, as Back In Time leaves it; the test ends it (no pkill on a bare machine).
        for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(pid) != nil {
            if ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").contains("echo tick") { kill(Int32(pid)!, SIGKILL) }
        }
    }
}

/// design.md, "The hook call": the time limit always holds, for code Lua runs with its hooks
/// off and for programs that detach. Each runs bmlua under a 60 s guard that
/// a hang would hit (the guard's kill is status 137).
@Suite struct TimeLimitAlwaysHoldsTests {
    static func guarded(_ args: [String], repo: String) throws -> Program.Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        p.arguments = ["-s", "KILL", "60", Program.binary] + args + ["--repo", repo]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Program.Result(status: p.terminationStatus, stdout: "", stderr: String(decoding: data, as: UTF8.self))
    }

    @Test(arguments: [
        "xpcall(error, function() while true do end end)",
        "setmetatable({}, {__gc = function() while true do end end}) collectgarbage()",
        "setmetatable({}, {__gc = function() while true do end end})",
        "io.open(FIFO)",
    ])
    func codeThatCannotBeInterruptedEndsBmluaWithError32(code: String) throws {
        let f = try Fixture()
        let fifo = f.base + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        try f.bd.setHookLimits(time: 1, memoryMiB: nil)
        try f.hook(1, code.replacingOccurrences(of: "FIFO", with: "'\(fifo)'"))
        f.bd.close()
        let r = try Self.guarded(["backup", try f.file("a.txt", "a")], repo: f.root)
        #expect(r.status == 1 && r.stderr.contains("error 32"), "\(r.status) \(r.stderr)")
        #expect(try Program.bmlua(["check", "--read-data"], repo: f.root).status == 0)
        #expect(try Program.bmlua(["backup", try f.file("b.txt", "b"), "--no-hooks"], repo: f.root).status == 0, "the lock went with the process")
    }

    @Test func aProgramThatDetachesIsKilledAtTheLimit() throws {
        let f = try Fixture()
        try f.bd.setHookLimits(time: 1, memoryMiB: nil)
        try f.hook(1, "io.popen('(setsid sleep 25.4321 &) ; echo x'):read('a')")
        f.bd.close()
        let r = try Self.guarded(["backup", try f.file("a.txt", "a")], repo: f.root)
        #expect(r.status == 1 && r.stderr.contains("error 32") && r.stderr.contains("time limit exceeded"), "\(r.status) \(r.stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: "/proc").filter { Int($0) != nil }.filter { pid in
            ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").contains("25.4321")
        }
        #expect(left.isEmpty, "left running: \(left)")
    }
}

/// No blocking open and no endless read of something that is not a file.
@Suite struct NotAFileTests {
    @Test(arguments: [1, 3, 4, 6]) func aBhoutThatIsAFIFOOrADeviceIsError12(hook: Int) throws {
        let f = try Fixture()
        let fifo = f.base + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let i = try f.bd.newbu(try f.file("a.txt", "a"))
        for target in [fifo, "/dev/zero"] {
            try f.hook(hook, "bhout = '\(target)'")
            expectError(12) {
                switch hook {
                case 1: try f.bd.newbu(try f.file("b.txt", "b"))
                case 3: try f.bd.updbu(i)
                case 4: try f.bd.restbu(i, to: f.work + "/back.txt")
                default: try f.bd.newver(i)
                }
            }
        }
    }

    /// /proc/kmsg reads as a regular file that blocks: opened without
    /// blocking, it is error 12 at once.
    @Test func aProcFileThatWouldBlockIsError12() throws {
        guard geteuid() == 0, FS.exists("/proc/kmsg") else { return }
        let f = try Fixture()
        expectError(12) { try f.bd.newbu("/proc/kmsg") }
    }
}
