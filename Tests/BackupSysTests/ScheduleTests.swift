import Foundation
import Testing
@testable import BackupSys
import TestSupport

/// `bmlua schedule`: systemd user units that run a profile's snapshots.
@Suite struct ScheduleTests {
    @Test func setListAndRemoveWriteUnitsSystemdAccepts() throws {
        let f = try Fixture()
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg"]
        let set = try Program.bmlua(["schedule", "set", "daily", "--no-enable"], repo: f.root, environment: env)
        #expect(set.status == 0, "\(set.stderr)")
        let units = f.base + "/xdg/systemd/user/"
        let service = try f.read(units + "bmlua-snapshot@1.service"), timer = try f.read(units + "bmlua-snapshot@1.timer")
        #expect(timer.contains("OnCalendar=daily\n") && timer.contains("Persistent=true\n") && timer.contains("WantedBy=timers.target"))
        #expect(service.contains("Type=oneshot") && service.contains(" --repo \(f.root) ") && service.hasSuffix("snapshot --profile 1\nNice=10\nIOSchedulingClass=idle\n"), "\(service)")
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
            p.arguments = ["verify", units + "bmlua-snapshot@1.timer", units + "bmlua-snapshot@1.service"]
            let err = Pipe()
            p.standardError = err
            try p.run()
            let said = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0 && !said.contains("bmlua-snapshot"), "\(said)")
        }
        #expect(try Program.bmlua(["schedule", "list"], repo: f.root, environment: env).stdout == "profile 1\tdaily\n")
        let bad = try Program.bmlua(["schedule", "set", "every full moon", "--no-enable"], repo: f.root, environment: env)
        #expect(bad.status == 1 && bad.stderr.contains("error 22"))
        #expect(try Program.bmlua(["schedule", "remove"], repo: f.root, environment: env).status == 0)
        #expect(!FS.exists(units + "bmlua-snapshot@1.timer") && !FS.exists(units + "bmlua-snapshot@1.service"))
    }

    @Test func execStartQuotesWhatSystemdWouldSplit() {
        #expect(Schedule.quoted("/a b/bmlua") == "\"/a b/bmlua\"")
        #expect(Schedule.quoted("100%") == "100%%")
        #expect(Schedule.quoted("/plain") == "/plain")
    }
}

/// config.toml is TOML, whoever wrote it.
@Suite struct ConfigFileTests {
    @Test func aHandWrittenConfigIsReadAndKeptBesideARewrite() throws {
        let f = try Fixture()
        let path = f.base + "/config.toml"
        let good = """
            # my profiles
            profile = [
              { id = 2, name = 'Documents', include = [
                  "/home/me/Documents",   # all of it
                  '/home/me/C:\\raw',
                ], exclude = ["*.tmp"] },
            ]
            """
        try Data(good.utf8).write(to: URL(fileURLWithPath: path))
        var config = try ProfileConfig.load(path)
        #expect(config.profile(2)?.include == ["/home/me/Documents", "/home/me/C:\\raw"] && config.profile(2)?.exclude == ["*.tmp"])
        try config.update(2) { $0.include.append("/home/me/Music") }
        #expect(try ProfileConfig.load(path).profile(2)?.include.last == "/home/me/Music")
        #expect(try f.read(path + "~") == good, "the file as the user wrote it, comments and all")
    }

    @Test func anUnknownKeyOrASyntaxErrorIsNamed() throws {
        let f = try Fixture()
        let path = f.base + "/config.toml"
        try Data("[[profile]]\nid = 1\nnmae = \"typo\"\n".utf8).write(to: URL(fileURLWithPath: path))
        let typo = expectError(22) { _ = try ProfileConfig.load(path) }
        #expect(typo?.message.contains("nmae") == true, "\(typo?.message ?? "")")
        try Data("[[profile]]\nid = 1\nname = \"unterminated\n".utf8).write(to: URL(fileURLWithPath: path))
        let syntax = expectError(22) { _ = try ProfileConfig.load(path) }
        #expect(syntax?.message.contains("config.toml:3:") == true, "\(syntax?.message ?? "")")
    }
}

/// Back In Time's profiles, brought over.
@Suite struct BackInTimeImportTests {
    static let sample = """
        config.version=6
        profiles=1:2
        profile1.snapshots.path=/media/usb
        profile1.snapshots.mode=local
        profile1.snapshots.include.1.value=/home/me
        profile1.snapshots.include.1.type=0
        profile1.snapshots.include.2.value=/etc/fstab
        profile1.snapshots.include.2.type=1
        profile1.snapshots.include.size=2
        profile1.snapshots.exclude.1.value=.gvfs
        profile1.snapshots.exclude.2.value=*.backup*
        profile1.snapshots.exclude.size=2
        profile1.schedule.mode=20
        profile2.name=Server
        profile2.snapshots.mode=ssh
        profile2.snapshots.include.1.value=/srv
        profile2.snapshots.include.size=1
        profile2.schedule.mode=19
        """

    @Test func aBackInTimeConfigGivesTheProfiles() throws {
        let imported = BackInTimeImport(text: Self.sample)
        #expect(imported.profiles.map(\.profile) == [
            Profile(id: 1, name: "Main profile", repo: "/media/usb/bmlua", include: ["/home/me", "/etc/fstab"], exclude: [".gvfs", "*.backup*"]),
            Profile(id: 2, name: "Server", repo: nil, include: ["/srv"], exclude: []),
        ])
        #expect(imported.profiles[0].schedule == "bmlua schedule set --profile 1 daily")
        #expect(imported.notes.count == 2 && imported.notes[0].contains("ssh") && imported.notes[1].contains("mode 19"), "\(imported.notes)")
    }

    @Test func importBackintimeWritesThemAndCopiesTheCallback() throws {
        let f = try Fixture()
        let bit = f.base + "/xdg/backintime"
        try FileManager.default.createDirectory(atPath: bit, withIntermediateDirectories: true)
        try Data(Self.sample.utf8).write(to: URL(fileURLWithPath: bit + "/config"))
        try Fixture.script("#!/bin/sh\nexit 0\n", at: bit + "/user-callback")
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg"]
        let r = try Program.bmlua(["profile", "import-backintime", "--copy-user-callback"], repo: f.root, environment: env)
        #expect(r.status == 0 && r.stderr.contains("ssh"), "\(r.stdout) \(r.stderr)")
        let config = try ProfileConfig.load(f.base + "/xdg/bmlua/config.toml")
        #expect(config.profile(2)?.name == "Server" && config.profile(1)?.include == ["/home/me", "/etc/fstab"])
        #expect(FS.exists(f.base + "/xdg/bmlua/user-callback"))
    }
}
