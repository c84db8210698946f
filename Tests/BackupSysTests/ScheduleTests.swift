import Foundation
import Testing
@testable import BackupSys

/// `bmlua schedule`: systemd user units that run a profile's snapshots.
@Suite struct ScheduleTests {
    @Test func setListAndRemoveWriteUnitsSystemdAccepts() throws {
        let f = try Fixture()
        let env = ["XDG_CONFIG_HOME": f.base + "/xdg"]
        let set = try CommandLineTests.bmlua(["schedule", "set", "daily", "--no-enable"], repo: f.root, environment: env)
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
        #expect(try CommandLineTests.bmlua(["schedule", "list"], repo: f.root, environment: env).stdout == "profile 1\tdaily\n")
        let bad = try CommandLineTests.bmlua(["schedule", "set", "every full moon", "--no-enable"], repo: f.root, environment: env)
        #expect(bad.status == 1 && bad.stderr.contains("error 22"))
        #expect(try CommandLineTests.bmlua(["schedule", "remove"], repo: f.root, environment: env).status == 0)
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
