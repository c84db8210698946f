import Foundation
import Testing
@testable import BackupSys
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
        let r = try CommandLineTests.bmlua(args, repo: f.root)
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
        let plan = try s.f.bd.prune(.init(last: 1), dryRun: true)
        #expect(plan.removed.count == 3)
        _ = try s.f.bd.prune(.init(last: 1))
        #expect(Set(try s.f.bd.snapshots().map(\.sid)) == Set(newest.values))
    }
}

